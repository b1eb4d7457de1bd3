"""What a REPL session works on: the program (with the session's segments)
and the contact data, how they are loaded and reloaded, and the facts the
commands and completion ask of them (contact ids, attribute paths, step and
goal names, a contact as of an instant)."""
from __future__ import annotations

import time as _time
from pathlib import Path
from typing import Callable, Iterable, Optional

import attrs

from ...runtime.engine import Contact
from ...runtime.inputs import Inputs
from ...runtime.plan import build_plan
from ...runtime.program import InputError, Program, read_inputs
from ...semantics import ir
from ...semantics.checker import check
from ...semantics.loader import Loaded, data_beside, data_files, is_pipe, program_files
from ...syntax import ast as A
from ...syntax.diagnostics import Diagnostic, GoalError
from ...syntax.parser import parse
from ..evaluate import contact_state

INPUT = "<input>"


class ReplError(Exception):
    """A user mistake in a meta-command; the message is shown as an error."""

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.hint = hint


@attrs.define
class Data:
    inputs: Inputs
    contacts_path: Optional[Path] = None
    events_path: Optional[Path] = None


class Workspace:
    """The program, the session's segments and the data of one session."""

    def __init__(self, program: Optional[str | Path] = None, contacts: Optional[str | Path] = None,
                 events: Optional[str | Path] = None):
        self.notes: list[str] = []  # things to say next (skipped bad lines)
        self.startup_errors = ""  # diagnostics of a program that did not load
        self._cache: dict[str, tuple] = {}
        self.segments: dict[str, A.Module] = {}  # session segments, by name
        self._segment_sources: dict[str, str] = {}
        self.emitted: list[tuple] = []  # (time, contact, type, fields) emitted by the last :run
        self.shown: dict[tuple, int] = {}  # activity entries already shown by :run (how many of each)
        self.program_path: Optional[Path] = None
        self._base: Program = _load_program(None)
        self.data = Data(Inputs())
        self._load_paths(program, contacts, events)

    # ------------------------------------------------------------------ loading

    def _load_paths(self, program, contacts, events) -> None:
        base = Path(program) if program else None
        if base is not None and not base.exists():
            raise ReplError(f"no such file or folder: {program}")
        try:
            cpath, epath = data_files(base, contacts, events)
        except OSError as e:
            raise ReplError(str(e)) from None
        for p in (cpath, epath):
            if p is not None and is_pipe(p):
                raise ReplError(f"{p} is a pipe: the REPL reads its data again at :load, so give a file")
        try:
            self._base = _load_program(base)
        except GoalError as e:  # start anyway: the standard library is enough to test conditions
            self.startup_errors = render_diags(e.diagnostics, e.sources)
            self._base = _load_program(None)
            self.notes.append(f"{program} has errors (above), so only the standard library is loaded; "
                              f"fix them and :load {program}")
        self.program_path = base
        self.rebuild()
        self.read_data(cpath, epath)

    def read_data(self, cpath: Optional[Path], epath: Optional[Path]) -> None:
        try:
            inputs = read_inputs(self.program, cpath, epath, skip_bad=True)
        except InputError as e:  # pragma: no cover - skip_bad never raises
            inputs = Inputs(bad=e.bad)
        for b in inputs.bad:
            self.notes.append(f"skipped bad line {b}")
        self.data = Data(inputs, cpath, epath)
        self.forget_run()

    def forget_run(self) -> None:
        self.emitted = []
        self.shown = {}

    def load_program(self, path: Path) -> tuple[list[str], bool]:
        """Load the program at ``path`` in place of the current one (the
        session's segments go; a program with errors changes nothing and
        raises GoalError), and the data beside it if there is any. Returns
        the session segments dropped and whether data was read."""
        old_base = self._base
        old_segments = (dict(self.segments), dict(self._segment_sources))
        try:
            self._base = _load_program(path)
            self.segments.clear()
            self._segment_sources.clear()
            self.rebuild()
        except GoalError:  # the session goes on with what it had
            self._base = old_base
            self.segments, self._segment_sources = old_segments
            self.rebuild()
            raise
        self.program_path = path
        cpath, epath = data_beside(path)
        if cpath is not None or epath is not None:
            self.read_data(cpath, epath)
            return list(old_segments[0]), True
        self.forget_run()
        return list(old_segments[0]), False

    def define_segment(self, text: str) -> tuple[str, bool]:
        """Add (or redefine) the session segment defined by ``text``; returns
        its name and whether it was defined before. Raises ReplError or
        GoalError (and keeps the old program) when it is wrong."""
        res = parse(text, INPUT)
        if res.module is None or any(d.is_error for d in res.diagnostics):
            raise GoalError([d for d in res.diagnostics if d.is_error], {INPUT: text})
        items = res.module.items
        if len(items) != 1 or not isinstance(items[0], A.SegmentDef):
            raise ReplError("expected one definition: segment NAME = CONDITION")
        name = items[0].name.name
        self.rebuild(res.module, name, text)  # raises GoalError; the old program stays
        redefined = name in self.segments
        # Stored under its own file name, so later diagnostics point at it.
        self.segments[name] = parse(text, f"<segment {name}>").module
        self._segment_sources[name] = text
        return name, redefined

    def rebuild(self, extra: Optional[A.Module] = None, extra_name: Optional[str] = None,
                extra_text: str = "") -> Program:
        """The program with the session segments (and ``extra``) added."""
        base = self._base.loaded
        loaded = Loaded(list(base.modules), dict(base.sources), [], set(base.stdlib_names))
        for name, mod in self.segments.items():
            if name != extra_name:
                loaded.modules.append(mod)
                loaded.sources[f"<segment {name}>"] = self._segment_sources[name]
        if extra is not None:
            loaded.modules.append(extra)
            loaded.sources[INPUT] = extra_text
        res = check(loaded)
        errors = [d for d in res.diagnostics if d.is_error]
        if errors or res.program is None:
            raise GoalError(errors, loaded.sources)
        self.program = Program(res.program, build_plan(res.program), loaded, res.diagnostics)
        return self.program

    def take_notes(self) -> str:
        notes, self.notes = self.notes, []
        return "".join(f"\nnote: {n}" for n in notes)

    # ------------------------------------------------------------------ facts

    @property
    def inputs(self) -> Inputs:
        return self.data.inputs

    def end_of_log(self) -> int:
        last = self.inputs.last_time
        if last is None:
            return int(_time.time()) // 60 * 60
        return last

    def _cached(self, name: str, compute: Callable[[], list[str]]) -> list[str]:
        """``compute()``, remembered until the data changes (completion asks
        on every key press; a large log must not make typing slow)."""
        key = (name, id(self.data), len(self.inputs.contacts), len(self.inputs.events))
        hit = self._cache.get(name)
        if hit is None or hit[0] != key:
            hit = self._cache[name] = (key, compute())
        return hit[1]

    def contact_ids(self) -> list[str]:
        return self._cached("contact_ids", self._contact_ids)

    def _contact_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.inputs.contacts:
            seen[c["id"]] = None
        for e in self.inputs.events:
            seen[e[1]] = None
        return list(seen)

    def attribute_paths(self) -> list[str]:
        """Contact attributes seen in the data, as dotted paths."""
        return self._cached("attribute_paths", self._attribute_paths)

    def _attribute_paths(self) -> list[str]:
        out: dict[str, None] = {}

        def walk(d: dict, prefix: str):
            for k, v in d.items():
                path = prefix + k
                out[path] = None
                if isinstance(v, dict):
                    walk(v, path + ".")

        for c in self.inputs.contacts:
            walk(c, "")
        effects = self.program.plan.effects
        keyed = effects.keys_fields
        for _, _, typ, fields in self.inputs.events:
            key = keyed.get(typ)
            if key is not None and isinstance(fields.get(key), dict):
                walk(fields[key], "")
        for name in effects.list_attributes:  # every contact has them
            out.setdefault(name, None)
        return sorted(out)

    def step_names(self) -> list[str]:
        return sorted({n for wf in self.program.ir.workflows for n in ir.step_names(wf)})

    def goal_names(self) -> list[str]:
        return [g.name for wf in self.program.ir.workflows for g in ir.all_goals(wf)]

    def contact_state(self, cid: str, at: int) -> Optional[Contact]:
        """The contact as of ``at``: its record, its events (and those the last
        :run emitted for it) up to ``at`` applied in time order."""
        record = next((c for c in self.inputs.contacts if c["id"] == cid), None)
        evs = [(t, 0, i, typ, f) for i, (t, c, typ, f) in enumerate(self.inputs.events) if c == cid and t <= at]
        evs += [(t, 1, i, typ, f) for i, (t, c, typ, f) in enumerate(self.emitted) if c == cid and t <= at]
        if record is None and not evs:
            return None
        evs.sort(key=lambda e: (e[0], e[1], e[2]))
        return contact_state(self.program, record, cid, [(t, typ, f) for t, _, _, typ, f in evs])


def _load_program(path: Optional[Path]) -> Program:
    from ...runtime.program import load_program
    if path is None:
        return load_program([], allow_empty=True)
    if path.is_dir() and not program_files(path):
        return load_program([], allow_empty=True)
    return load_program(path, allow_empty=True)


def render_diags(diags: Iterable[Diagnostic], sources) -> str:
    out = []
    for d in diags:
        text = d.render(sources)
        if d.span is not None and d.span.file in (INPUT, "<condition>"):
            text = text[len(f"{d.span}: "):]
        out.append(text)
    return "\n".join(out)
