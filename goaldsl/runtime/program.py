"""A loaded program and its inputs: load, check and compile a program, read
input files, build an engine with them fed in.

Everything here raises ``GoalError`` (carrying diagnostics) for a bad
program and ``InputError`` for bad input lines; nothing else escapes for
user mistakes. The public face of this module is ``goaldsl.api``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import attrs

from ..semantics.calendar import parse_local_datetime
from ..semantics.checker import Checker, Context, check
from .compiler import Compiler
from ..syntax.diagnostics import Diagnostic, GoalError, error
from .engine import ActionRequest, Engine
from .inputs import InputError, Inputs, read_contacts, read_events, refuse
from ..semantics.loader import Loaded, data_problem, load, program_files
from ..syntax.parser import parse_condition
from .plan import Plan, build_plan


@attrs.define(eq=False)
class Program:
    """A checked, compiled program."""
    ir: ir.Program
    plan: Plan
    loaded: Loaded
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def sources(self) -> dict[str, str]:
        return self.loaded.sources

    @property
    def workflows(self) -> list[str]:
        return [w.name for w in self.ir.workflows]

    def dumps(self) -> bytes:
        """The program as bytes that travel to another process or machine
        (a Spark executor, a worker of ``goal run --workers``): its source
        texts, standard library included, in load order. Plans are built with
        ``exec`` and cannot be pickled; ``loads_program`` parses, checks and
        compiles the texts again, with no file system, and refuses bytes
        written by another version of goal."""
        import json
        from .. import __version__
        payload = {"format": DUMP_FORMAT, "goal": __version__, "roots": list(self.loaded.roots),
                   "stdlib": sorted(self.loaded.stdlib_names), "sources": list(self.loaded.sources.items())}
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def condition(self, text: str, *, timezone: str = "UTC"):
        """Compile a condition typed by a user (``goal eval``, the REPL).
        Returns ``(ir_condition, compiled)``; raises GoalError."""
        cond_ast, diags = parse_condition(text, "<condition>")
        if cond_ast is None or any(d.is_error for d in diags):
            raise GoalError(diags, {"<condition>": text})
        checker = Checker(self.loaded)
        checker.run()
        cond = checker.cond(cond_ast, Context())
        errors = [d for d in checker.diags if d.span and d.span.file == "<condition>"]
        if any(d.is_error for d in errors):
            raise GoalError(errors, {"<condition>": text})
        return cond, Compiler(self.ir, timezone).cond(cond)


#: The layout of ``Program.dumps``; a change to it makes old bytes unreadable on purpose.
DUMP_FORMAT = "goal-program/1"


def loads_program(data: bytes) -> Program:
    """A program from ``Program.dumps()``: the same sources parsed, checked
    and compiled again in this process. Raises ``InputError`` for bytes that
    are not a dumped program or were written by another version of goal (a
    program's meaning is the interpreter's: both sides must be the same
    version), ``GoalError`` if the texts no longer check."""
    import json
    from .. import __version__
    from ..syntax.parser import parse
    try:
        payload = json.loads(bytes(data).decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview))
                             else data)
    except (TypeError, ValueError):
        payload = None
    if not isinstance(payload, dict) or payload.get("format") != DUMP_FORMAT or not _pairs(payload.get("sources")):
        raise refuse("loads_program", "these bytes are not a program written by Program.dumps()")
    if payload.get("goal") != __version__:
        raise refuse("loads_program", f"the program was written by goal {payload.get('goal')}, and this is goal "
                                      f"{__version__}: install the same version of goal on both sides")
    loaded = Loaded()
    loaded.roots = [str(r) for r in payload.get("roots", [])]
    loaded.stdlib_names = set(payload.get("stdlib", []))
    for name, text in payload["sources"]:  # load order: each file's module where the loader put it
        loaded.sources[name] = text
        res = parse(text, name)
        loaded.diagnostics.extend(res.diagnostics)
        if res.module is not None:
            loaded.modules.append(res.module)
    res = check(loaded)
    if not res.ok or res.program is None:
        raise GoalError([d for d in res.diagnostics], loaded.sources)
    return Program(res.program, build_plan(res.program), loaded, res.diagnostics)


def _pairs(sources) -> bool:
    return isinstance(sources, list) and all(
        isinstance(x, list) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in sources)


def load_program(path: str | Path | Sequence[str | Path], *, allow_empty: bool = False) -> Program:
    """Load, check and compile a program: a .goal file, a folder of them, or
    a list of files. Raises ``GoalError`` with every diagnostic on errors."""
    if not isinstance(path, (str, Path)) and not (isinstance(path, (list, tuple))
                                                  and all(isinstance(x, (str, Path)) for x in path)):
        raise GoalError([error("E0101", f"load_program takes a path (a .goal file or a folder) or a list of "
                                        f"paths, not {type(path).__name__}")])
    if isinstance(path, (str, Path)):
        p = Path(path)
        files = program_files(p)
        if not files and not allow_empty:
            raise GoalError([error("E0101", f"{p} holds no .goal files")])
    else:
        files = [Path(x) for x in path]
    loaded = load(files)
    res = check(loaded)
    if not res.ok or res.program is None:
        raise GoalError([d for d in res.diagnostics], loaded.sources)
    return Program(res.program, build_plan(res.program), loaded, res.diagnostics)


def read_inputs(program: Program, contacts, events, *, skip_bad: bool = False, fmt: str | None = None,
                mapping=None, on_batch=None) -> Inputs:
    """Read and validate input files (paths, ``-`` for standard input, or
    ``Source`` objects). ``fmt`` is the events' format (default: from the
    file name, docs/inputs.md) and ``mapping`` a ``Mapping`` for events in
    another shape. Raises ``InputError`` listing every bad line unless
    ``skip_bad``."""
    inputs = Inputs()
    for p, what in ((contacts, "contacts"), (events, "events")):
        if isinstance(p, (str, Path)) and str(p) != "-":  # a path: one that cannot be read is said so, once
            problem = data_problem(Path(p), what)
            if problem:
                raise refuse("read_inputs", problem)
    if contacts is not None:
        read_contacts(contacts, shown_path(contacts), inputs, mapping=mapping)
    if events is not None:
        read_events(events, program.ir.events, shown_path(events), inputs, fmt=fmt, mapping=mapping,
                    on_batch=on_batch)
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    return inputs


def shown_path(p) -> str:
    import os
    from .sources import Source
    if isinstance(p, Source):
        return p.shown
    if str(p) == "-":
        return "<stdin>"
    try:
        rel = os.path.relpath(p)
        return rel if not rel.startswith("..") else str(p)
    except ValueError:
        return str(p)


def engine_for(program: Program, inputs: Inputs, *, start: int,
               handlers: dict[str, Callable[[ActionRequest], Any]] | None = None,
               on_activity: Callable[[dict], None] | None = None, exhaustive: bool = False) -> Engine:
    """An engine with the inputs' contacts and events fed in."""
    eng = Engine(program.plan, start=start, handlers=handlers, on_activity=on_activity, exhaustive=exhaustive)
    for rec in inputs.contacts:  # checked by read_inputs
        eng.add_contact_unchecked(rec)
    for t, cid, typ, fields in inputs.events:
        eng.add_event_unchecked(t, cid, typ, fields)
    return eng


def parse_time(text: str, tz: str = "UTC") -> int:
    """A command-line instant; without an offset it is read in ``tz``.
    Raises ``InputError`` (a ``ValueError``) for text that is not one."""
    if not isinstance(text, str):
        raise refuse("parse_time", f"a time is text like 2026-11-16T14:00:00Z, not {type(text).__name__}")
    if not isinstance(tz, str):
        raise refuse("parse_time", f"a time zone is text like America/New_York, not {type(tz).__name__}")
    try:
        return parse_local_datetime(text, tz)
    except (ValueError, OverflowError, OSError) as e:
        why = "" if str(e) in ("", "not a date-time") else f" ({e})"
        raise refuse("parse_time", f"{text!r} is not a date-time{why}; write it like 2026-11-16T14:00:00Z") from e


