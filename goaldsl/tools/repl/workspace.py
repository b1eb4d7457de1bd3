"""What a REPL session works on: the program (with the session's segments)
and the contact data, how they are loaded and reloaded, and the facts the
commands and completion ask of them (contact ids, attribute paths, step and
goal names, a contact as of an instant)."""
from __future__ import annotations

import stat
import time as _time
from pathlib import Path
from typing import Callable, Iterable, Optional

import attrs

from ...runtime.engine import Contact
from ...runtime.inputs import Inputs, left_out
from ...runtime.mapping import Mapping, mapping_for
from ...runtime.plan import build_plan
from ...runtime.program import Program, read_inputs
from ...semantics import ir
from ...semantics.checker import check
from ...semantics.loader import Loaded, data_beside, data_files, data_problem, program_files
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
    events_format: Optional[str] = None  # the --input-format the events file was read with


#: What a :load changes, put back when it fails.
_LOAD_STATE = ("_base", "segments", "_segment_sources", "program", "program_path", "skip_bad", "map_given",
               "mapping", "data", "emitted", "shown")


class Workspace:
    """The program, the session's segments and the data of one session.

    The data is read as ``goal run`` reads it (``read_inputs``): every
    format, the mapping file (``map`` or ``map.toml`` beside the program),
    bad lines refused unless ``skip_bad``. At start-up a problem with the
    data raises (``InputError``, ``SourceError``, ``GoalError`` for the
    mapping file): the command says it as ``goal run`` does."""

    def __init__(self, program: Optional[str | Path] = None, contacts: Optional[str | Path] = None,
                 events: Optional[str | Path] = None, *, input_format: Optional[str] = None,
                 map: Optional[str | Path] = None, skip_bad: bool = False):
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
        # How data is read, for the whole session (:load --map and --skip-bad change them):
        self.skip_bad = skip_bad
        self.map_given: Optional[Path] = Path(map) if map else None  # --map; else map.toml beside the program
        self.mapping: Optional[Mapping] = None
        self._load_paths(program, contacts, events, input_format)

    # ------------------------------------------------------------------ loading

    def _load_paths(self, program, contacts, events, fmt: Optional[str]) -> None:
        base = Path(program) if program else None
        if base is not None and not base.exists():
            raise ReplError(f"no such file or folder: {program}")
        for given, what in ((contacts, "contacts"), (events, "events")):
            if given is not None and str(given) == "-":
                raise ReplError(f"the REPL reads what you type from standard input: give the {what} as a file")
        try:
            cpath, epath = data_files(base, contacts, events)
        except OSError as e:
            raise ReplError(str(e)) from None
        for p in (cpath, epath):
            if p is not None:
                data_file(p, "data")
        try:
            self._base = _load_program(base)
        except GoalError as e:  # start anyway: the standard library is enough to test conditions
            self.startup_errors = render_diags(e.diagnostics, e.sources)
            self._base = _load_program(None)
            self.notes.append(f"{program} has errors (above), so only the standard library is loaded; "
                              f"fix them and :load {program}")
        self.program_path = base
        self.rebuild()
        self.find_mapping()
        self.read_data(cpath, epath, fmt)

    def find_mapping(self) -> None:
        """The session's mapping file, checked against the program (raises GoalError)."""
        try:
            self.mapping = mapping_for(self.map_given, self.program_path, self.program.ir.events)
        except FileNotFoundError as e:
            raise ReplError(str(e)) from None

    def read_data(self, cpath: Optional[Path], epath: Optional[Path], fmt: Optional[str] = None) -> None:
        """Read the data as goal run does; raises InputError (bad lines,
        without skip_bad), SourceError (a file that cannot be read)."""
        inputs = read_inputs(self.program, cpath, epath, skip_bad=self.skip_bad, fmt=fmt, mapping=self.mapping)
        self.notes.extend(left_out(inputs))
        self.data = Data(inputs, cpath, epath, fmt)
        self.forget_run()

    def saved(self) -> dict:
        """What a :load may change, to put back with ``restore`` when it fails
        (a load is all or nothing)."""
        out = {k: getattr(self, k) for k in _LOAD_STATE}
        out["notes"] = list(self.notes)  # extended in place by a load
        return out

    def restore(self, saved: dict) -> None:
        for k, v in saved.items():
            setattr(self, k, v)

    def forget_run(self) -> None:
        self.emitted = []
        self.shown = {}

    def load_program(self, path: Path, contacts: Optional[Path] = None, events: Optional[Path] = None,
                     fmt: Optional[str] = None) -> tuple[list[str], bool]:
        """Load the program at ``path`` in place of the current one (the
        session's segments go; raises GoalError for a program with errors:
        the caller puts back what it ``saved``), its mapping file, and the
        data given or beside it if there is any. Returns the session
        segments dropped and whether data was read."""
        dropped = list(self.segments)
        self._base = _load_program(path)
        self.segments, self._segment_sources = {}, {}
        self.rebuild()
        self.program_path = path
        self.find_mapping()  # --map, else the new program's map.toml
        cpath, epath = data_beside(path)
        cpath = contacts if contacts is not None else cpath
        epath = events if events is not None else epath
        if cpath is not None or epath is not None:
            for p in (cpath, epath):
                if p is not None:
                    data_file(p, "data")
            self.read_data(cpath, epath, fmt)
            return dropped, True
        self.forget_run()
        return dropped, False

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


def data_file(path: Path, what: str) -> Path:
    """A contacts or events file the REPL can read, and read again at :load:
    a regular file (not a pipe, a device or a folder)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        mode = None
    if mode is not None and stat.S_ISFIFO(mode):
        raise ReplError(f"{path} is a pipe: the REPL reads its data again at :load, so give a file")
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise ReplError(f"{path} is a device, not a {what} file: give a file")
    problem = data_problem(path, what)  # not there, a folder, unreadable
    if problem:
        raise ReplError(problem)
    return path


def render_diags(diags: Iterable[Diagnostic], sources) -> str:
    out = []
    for d in diags:
        text = d.render(sources)
        if d.span is not None and d.span.file in (INPUT, "<condition>"):
            text = text[len(f"{d.span}: "):]
        out.append(text)
    return "\n".join(out)
