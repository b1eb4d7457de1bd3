"""The ``goal`` command line (docs/spec.md section 9).

Exit codes: 0 success, 1 errors in the program or input (or files that fmt
--check would change), 2 a command-line mistake. No traceback reaches the
user: unexpected failures print one line and ask for a bug report.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")

from . import __version__

# The stages are imported by the commands that use them, once the command
# line is parsed: `goal --version` and `--help` load none of them.
if TYPE_CHECKING:
    from typing import Optional, Sequence

    from .api import Program


class UsageError(Exception):
    pass


def _err(msg: str) -> None:
    sys.stdout.flush()  # keep stdout and stderr in order when both go to one terminal or file
    sys.stderr.write(msg.rstrip("\n") + "\n")


# ---------------------------------------------------------------- PROGRAM arguments

def resolve_program(arg: Optional[str], contacts: Optional[str], events: Optional[str], *,
                    allow_empty: bool = False) -> tuple[Program, Optional[Path], Optional[Path]]:
    """A PROGRAM argument: a .goal file or a folder (with contacts.jsonl and
    events.jsonl by convention). ``-`` names standard input; a named pipe is
    read as a stream."""
    from .api import load_program
    from .semantics.loader import data_files
    base = Path(arg) if arg else None
    if base is not None and not base.exists():
        raise UsageError(f"no such file or folder: {arg}")
    if contacts == "-" and events == "-":
        raise UsageError("only one of --contacts and --events can read standard input (-)")
    try:
        cpath, epath = data_files(base, contacts, events)
    except OSError as e:
        raise UsageError(str(e)) from None
    if base is None:
        program = load_program([], allow_empty=True)
    else:
        program = load_program(base, allow_empty=allow_empty)
    return program, cpath, epath


def _mapping(args, program: Program, beside=None):
    """``--map FILE``, or ``map.toml`` beside the program (``beside``, else
    the PROGRAM argument); checked against it."""
    from .runtime.mapping import mapping_for
    where = beside if beside is not None else getattr(args, "program", None)
    try:
        return mapping_for(getattr(args, "map", None), where, program.ir.events)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None


def _reading(args, program: Program) -> dict:
    """The options of read_inputs and run_jsonl that say how to read the events."""
    return {"fmt": getattr(args, "input_format", None), "mapping": _mapping(args, program)}


def _zone_arg(name: str) -> str:
    """--timezone: an IANA name, checked before anything is read in that zone."""
    from .semantics.calendar import is_zone, known_zones
    from .syntax.diagnostics import did_you_mean
    if not is_zone(name):
        hint = did_you_mean(name, known_zones()) or 'use an IANA name like "America/New_York"'
        raise UsageError(f'unknown time zone "{name}": {hint}')
    return name


def _time_arg(text: Optional[str], tz: str = "UTC") -> Optional[int]:
    if text is None:
        return None
    from .api import InputError, parse_time
    try:
        t = parse_time(text, tz)
    except InputError as e:
        raise UsageError(e.bad[0].message) from None
    from .runtime.inputs import MAX_EVENT_TIME, MIN_EVENT_TIME
    if not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:  # the span input events may have (docs/limits.md)
        raise UsageError(f"{text!r} is out of range: give a time between the years 1900 and 8999")
    return t


# ---------------------------------------------------------------- commands

def cmd_check(args) -> int:
    # A check's objects (the trees, the checked program) live until it ends
    # and make few reference cycles: the collector's passes over them cost
    # a tenth of a check of a large file and find nothing to free.
    gc.disable()
    from .semantics.checker import check_paths  # not the API's: that imports the engine, which check never runs
    from .semantics.loader import mapping_beside, program_files, program_of_test_file, test_files
    from .semantics.schema import schema_beside
    from .syntax.diagnostics import render_all
    # A folder is one program (its files see each other), checked with its
    # test files; a file is its own, a test file is checked with its program.
    # A .toml file is a mapping file (docs/inputs.md), checked against the
    # program named before it, else the program in its folder.
    groups: list[tuple[Path, list[Path]]] = []
    mappings: list[tuple[Path, Optional[int]]] = []  # (file, index of the group named before it)
    for f in args.files:
        p = Path(f)
        if p.is_dir():
            groups.append((p, program_files(p) + test_files(p)))
        elif p.suffix.lower() == ".toml":
            mappings.append((p, len(groups) - 1 if groups else None))
        elif p.name.endswith("_test.goal") and p.is_file():
            groups.append((p, program_files(program_of_test_file(p)) + [p]))
        else:
            groups.append((p, [p]))
    if not sum(len(g) for _, g in groups) + len(mappings):
        raise UsageError("no .goal files to check")
    mapping_files: set[Path] = set()  # each counted once, however it was found
    all_diags = []
    sources: dict[str, str] = {}
    checked: list = []  # each group's checked program (None when it has errors)
    for where, group in groups:
        if not group:
            checked.append(None)
            continue
        res = check_paths(group, contact_schema=schema_beside(where))
        checked.append(res.program)
        sources.update(res_sources(res))
        all_diags.extend(d for d in res.diagnostics if d not in all_diags)
        if res.program is not None:  # the map.toml goal run would read with this program
            beside = mapping_beside(where)
            if beside is not None:
                mapping_files.add(beside.resolve())
                all_diags.extend(d for d in _check_mapping_file(beside, res.program, sources) if d not in all_diags)
    for path, before in mappings:
        if before is not None:
            program = checked[before]
        elif path.is_file():  # the program goal run would read this map.toml with: the .goal files beside it
            program = check_paths(program_files(path.parent)).program
        else:
            program = None  # a file that cannot be read: said so by the check
        mapping_files.add(path.resolve())
        all_diags.extend(d for d in _check_mapping_file(path, program, sources) if d not in all_diags)
    nfiles = sum(len(g) for _, g in groups) + len(mapping_files)
    errors = sum(d.is_error for d in all_diags)
    warnings = len(all_diags) - errors
    if args.format != "text":
        _print_document(all_diags, nfiles, args.format)
        return 1 if errors else 0
    if all_diags:
        print(render_all(all_diags, sources))
    if errors:
        _err(f"{errors} error{'s' if errors != 1 else ''}" + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""))
        return 1
    if not args.quiet:
        print(f"ok: {nfiles} file{'s' if nfiles != 1 else ''} checked"
              + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""))
    return 0


def _print_document(diags, nfiles: int, fmt: str, rules=None) -> None:
    """Diagnostics as a JSON or SARIF document on standard output."""
    from .tools.diagnostic_formats import to_json_document, to_sarif_document
    print(to_json_document(diags, nfiles) if fmt == "json" else to_sarif_document(diags, rules))


def cmd_lint(args) -> int:
    from .semantics.checker import check
    from .semantics.loader import data_files, load, program_files
    from .syntax.diagnostics import GoalError, render_all
    from .tools.lint import DESCRIPTIONS, lint, log_span
    groups: list[tuple[Path, list[Path]]] = []
    for f in args.files:
        p = Path(f)
        groups.append((p, program_files(p)))
    nfiles = sum(len(g) for _, g in groups)
    if not nfiles:
        raise UsageError("no .goal files to lint")
    found, sources = [], {}
    for where, group in groups:
        if not group:
            continue
        loaded = load(group)
        res = check(loaded)
        sources.update(loaded.sources)
        errors = [d for d in res.diagnostics if d.is_error]
        if errors or res.program is None:
            found.extend(d for d in errors if d not in found)
            continue
        try:
            _, events = data_files(where, None, args.events)
        except FileNotFoundError as e:
            raise UsageError(str(e)) from None
        span = None
        if events is not None:  # read as goal run reads it: any format, the mapping file
            from .runtime.mapping import mapping_for
            try:
                mapping = mapping_for(args.map, where, res.program.events)
            except FileNotFoundError as e:
                raise UsageError(str(e)) from None
            except GoalError as e:  # the mapping file's problems, as goal check says them
                found.extend(d for d in e.diagnostics if d not in found)
                sources.update(e.sources)
                continue
            span = log_span(events, res.program.events, fmt=args.input_format, mapping=mapping)
        found.extend(d for d in lint(loaded, res.program, own_files=loaded.roots, log_span=span) if d not in found)
    errors = sum(d.is_error for d in found)
    warnings = len(found) - errors
    if args.format != "text":
        _print_document(found, nfiles, args.format, DESCRIPTIONS)
        return 1 if found else 0
    if found:
        print(render_all(found, sources))
        parts = [f"{n} {w}{'s' if n != 1 else ''}" for n, w in ((errors, "error"), (warnings, "warning")) if n]
        _err(", ".join(parts) + (" (fix the errors first: lints need a program that checks clean)" if errors else ""))
        return 1
    if not args.quiet:
        print(f"ok: {nfiles} file{'s' if nfiles != 1 else ''} linted, no warnings")
    return 0


def _check_mapping_file(path: Path, program, sources: dict) -> list:
    """A mapping file, checked on its own and against ``program`` (an
    ``ir.Program``; None: a program with errors, the mapping alone)."""
    from .runtime.mapping import check_file
    from .runtime.program import shown_path
    shown = shown_path(path)
    diags, text = check_file(path, shown, program.events if program is not None else None)
    if text is not None:
        sources[shown] = text
    return diags


def cmd_test(args) -> int:
    import json
    from .tools.testing import (Coverage, load_suite, render_coverage, render_text, run_test, select,
                                summary_line, to_json, to_junit)
    from .syntax.diagnostics import render_all
    results, coverages, any_tests = [], [], False
    for f in args.paths:
        p = Path(f)
        if not p.exists():
            raise UsageError(f"no such file or folder: {f}")
        suite, res = load_suite(p)
        if suite is None:
            print(render_all([d for d in res.diagnostics if d.is_error], res_sources(res)), file=sys.stderr
                  if args.format != "text" else sys.stdout)
            n = sum(d.is_error for d in res.diagnostics)
            _err(f"{n} error{'s' if n != 1 else ''}")
            return 1
        any_tests = any_tests or bool(suite.tests)
        cov = Coverage(suite.program) if args.coverage else None
        for case in select(suite.tests, args.k):
            results.append(run_test(suite.program, case, plan=cov.plan if cov else None, coverage=cov))
        if cov is not None:
            coverages.append((f, cov))
    if not any_tests:
        raise UsageError("no tests found: test files are named *_test.goal, beside the program or in its tests folder")
    if not results:
        raise UsageError(f"no test name contains {args.k!r}")
    if args.format == "json":
        doc = to_json(results)
        if coverages:
            doc["coverage"] = {f: to_json([], c)["coverage"] for f, c in coverages}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    elif args.format == "junit":
        sys.stdout.write(to_junit(results))
        for _, cov in coverages:
            _err(render_coverage(cov))
    else:
        sys.stdout.write(render_text(results))
        for f, cov in coverages:
            sys.stdout.write(("" if len(coverages) == 1 else f"{f}: ") + render_coverage(cov))
        print(summary_line(results))
    return 0 if all(r.status == "passed" for r in results) else 1


def cmd_diff(args) -> int:
    """`goal diff OLD NEW`: both versions over the same contacts and events."""
    import json
    import tempfile
    from .runtime.inputs import as_source
    from .runtime.program import shown_path
    from .semantics.loader import data_files
    from .tools.diff import render_text, run_diff, to_json
    gc.disable()  # as for goal run: many long-lived objects, few cycles
    if args.examples < 0:
        raise UsageError("--examples takes a number of contacts, 0 or more")
    with tempfile.TemporaryDirectory(prefix="goal-diff-") as tmp:
        paths = [_version_path(v, Path(tmp) / side) for v, side in ((args.old, "old"), (args.new, "new"))]
        old, new = (_load_version(v, p, Path(tmp) / side)
                    for v, p, side in ((args.old, paths[0], "old"), (args.new, paths[1], "new")))
        try:
            # Given files, else those beside NEW, else those beside OLD.
            cpath, epath = data_files(None, args.contacts, args.events)
            for p in (paths[1], paths[0]):
                beside = data_files(p)
                cpath, epath = cpath or beside[0], epath or beside[1]
        except OSError as e:
            raise UsageError(str(e)) from None
        reading = {"fmt": args.input_format, "mapping": _mapping(args, new, beside=paths[1])}
        events = as_source(epath, shown_path(epath)) if epath is not None else None
        progress = _progress(events)
        try:
            res = run_diff(old, new, cpath, events, start=_time_arg(args.from_), until=_time_arg(args.until),
                           window=lambda inputs: _run_window(args, inputs), examples=args.examples,
                           skip_bad=args.skip_bad, on_batch=progress, **reading)
        finally:
            if progress is not None:
                progress.done()
    if args.format == "json":
        print(json.dumps(to_json(res, args.old, args.new), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(res, args.old, args.new))
    _report_inputs(res.inputs)
    return 1 if res.differ else 0


def _version_path(arg: str, scratch: Path) -> Path:
    """A program argument of goal diff: a path, or git:REV:PATH (that path
    as it was at revision REV of the git repository here, copied into
    ``scratch``)."""
    if not arg.startswith("git:"):
        p = Path(arg)
        if not p.exists():
            raise UsageError(f"no such file or folder: {arg}")
        return p
    try:
        _, rev, path = arg.split(":", 2)
    except ValueError:
        raise UsageError(f"{arg!r}: write git:REVISION:PATH, like git:HEAD~1:examples/invoice-paid") from None
    if not rev or rev.startswith("-"):
        raise UsageError(f"{arg!r}: name a revision, like git:HEAD~1:{path}")
    import io
    import posixpath
    import subprocess
    import tarfile
    try:
        top, prefix = subprocess.run(["git", "rev-parse", "--show-toplevel", "--show-prefix"], capture_output=True,
                                     text=True, check=True).stdout.split("\n")[:2]
        # PATH is read from the current folder, as git show REV:./PATH reads it; archived from the top.
        inside = posixpath.normpath(posixpath.join(prefix, path or "."))
        if inside == ".." or inside.startswith("../") or posixpath.isabs(path):
            raise UsageError(f"{arg!r}: {path} is outside the git repository")
        data = subprocess.run(["git", "-C", top, "archive", "--format=tar", rev, "--", inside],
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        why = getattr(e, "stderr", b"") or b""
        why = why.decode(errors="replace").strip() if isinstance(why, bytes) else str(why).strip()
        raise UsageError(f"cannot read {path or '.'} at {rev} from git: {why or e}") from None
    scratch.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4, 3.10.12 and later
            tar.extractall(scratch, filter="data")
        else:  # pragma: no cover - git archive of this repository: plain files and folders
            tar.extractall(scratch)
    return scratch / inside


def _load_version(arg: str, path: Path, scratch: Path) -> Program:
    """Load one side of goal diff; a git:REV:PATH version's diagnostics name
    its files git:REV:FILE, not the temporary copy they were read from."""
    from .api import load_program
    from .syntax.diagnostics import GoalError
    try:
        return load_program(path)
    except GoalError as e:
        if not arg.startswith("git:"):
            raise
        import attrs
        top = str(scratch.absolute()) + os.sep
        label = "git:" + arg.split(":", 2)[1] + ":"

        def name(file: str) -> str:
            return label + file[len(top):] if file.startswith(top) else file

        def span(sp):
            return attrs.evolve(sp, file=name(sp.file)) if sp is not None else None
        diags = [attrs.evolve(d, summary=d.summary.replace(top, label), span=span(d.span),
                              related=tuple(attrs.evolve(r, span=span(r.span)) for r in d.related))
                 for d in e.diagnostics]
        raise GoalError(diags, {name(k): v for k, v in e.sources.items()}) from None


def res_sources(res) -> dict[str, str]:
    return res.program.sources if res.program is not None else {}


def cmd_fmt(args) -> int:
    from .semantics.loader import read_source
    from .syntax.diagnostics import render_all
    from .syntax.formatter import format_source
    if "-" in args.files:
        if len(args.files) > 1:
            raise UsageError("- (standard input) cannot be given with other files")
        return _fmt_stdin(args)
    changed = []
    failed = 0
    for f in args.files:
        p = Path(f)
        text, problem = read_source(p, str(f))  # as goal check reads it: pipes and devices refused
        if problem is not None:
            print(render_all([problem], {}))
            failed += 1
            continue
        out, diags = format_source(text, str(f))
        if out is None:
            print(render_all(diags, {str(f): text}))
            failed += 1
            continue
        if out != text:
            changed.append(f)
            if args.diff:
                sys.stdout.write(_unified(text, out, str(f)))
            elif not args.check:
                try:
                    _replace_text(p, out)
                except OSError as e:
                    _err(f"goal fmt: cannot write {f}: {e.strerror or e}")
                    changed.pop()
                    failed += 1
    if args.check or args.diff:
        if args.check:
            for f in changed:
                print(f"would reformat {f}")
        return 1 if changed or failed else 0
    for f in changed:
        print(f"reformatted {f}")
    return 1 if failed else 0


def _fmt_stdin(args) -> int:
    """`goal fmt -`: standard input to standard output (an editor's filter).
    Diagnostics go to standard error: standard output is the program."""
    from .syntax.diagnostics import render_all
    from .syntax.formatter import format_source
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        _err(f"<stdin>: cannot read: the input is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})")
        return 1
    if text.startswith("\ufeff"):
        text = text[1:]
    out, diags = format_source(text, "<stdin>")
    if out is None:
        _err(render_all(diags, {"<stdin>": text}))
        return 1
    if args.diff:
        sys.stdout.write(_unified(text, out, "<stdin>"))
        return 1 if out != text else 0
    if args.check:
        if out != text:
            print("would reformat <stdin>")
        return 1 if out != text else 0
    sys.stdout.write(out)
    return 0


def _unified(before: str, after: str, name: str) -> str:
    import difflib
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 f"{name} (before)", f"{name} (formatted)")
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)


def _replace_text(path: Path, text: str) -> None:
    """Write a file whole or not at all: a new file beside it, renamed over
    it, so an interrupted `goal fmt` never leaves half a program. The mode is
    kept, and a symbolic link stays a link to the rewritten file."""
    import tempfile
    target = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _run_window(args, inputs) -> tuple[int, int]:
    from .semantics.calendar import format_utc
    start = _time_arg(args.from_)
    until = _time_arg(args.until)
    if start is None:
        start = inputs.first_time
    if until is None:
        until = inputs.last_time
    if start is None or until is None:
        raise UsageError("there are no events to set the run's time span: give --from and --until")
    if until < start:
        raise UsageError(f"--until ({format_utc(until)}) is before --from ({format_utc(start)})")
    return start, until


_OUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
                ".pq": "parquet"}


def _run_format(args) -> str:
    """--format, else from --out's name (.jsonl, .csv, .parquet; anything
    else is the table), else table on a terminal and jsonl otherwise."""
    if args.format:
        return args.format
    if getattr(args, "out", None):
        return _OUT_FORMATS.get(Path(args.out).suffix.lower(), "table")
    return "table" if sys.stdout.isatty() else "jsonl"


def cmd_run(args) -> int:
    # A run holds many long-lived objects and makes few reference cycles; the
    # cyclic collector would rescan them over and over (a third of the time),
    # and the modules' objects as they are imported.
    gc.disable()
    from .runtime.inputs import as_source
    from .runtime.program import shown_path
    if getattr(args, "engine", None) == "spark":
        return _run_spark(args)
    program, cpath, epath = resolve_program(args.program, args.contacts, args.events)
    workers = _workers_arg(args)
    if args.state:
        _check_state_args(args, program, epath, workers)
        return _run_state(args, program, cpath, epath)
    fmt = _run_format(args)
    if fmt == "parquet" and not args.out and sys.stdout.isatty():
        raise UsageError("Parquet is binary: give --out FILE.parquet (or redirect standard output to a file)")
    if args.summary_only and args.out:
        raise UsageError("--summary-only prints the summary on standard output: leave out --out")
    reading = _reading(args, program)
    events = as_source(epath, shown_path(epath)) if epath is not None else None
    progress = _progress(events)
    out_file = _open_out(args.out, fmt) if args.out else None
    out = out_file if out_file is not None else sys.stdout
    window: list[int] = []

    def run_window(inputs) -> tuple[int, int]:
        window[:] = _run_window(args, inputs)
        return window[0], window[1]

    result = None
    try:
        if fmt != "table" or args.summary_only:
            inputs, result = _run_streamed(args, program, cpath, events, out, fmt, workers, progress, run_window,
                                           window, reading)
        else:
            inputs, result = _run_table(args, program, cpath, events, out, workers, progress, run_window, window,
                                        reading)
    finally:
        if progress is not None:
            progress.done()
        if out_file is not None:
            out_file.close()
    if args.summary:
        _write_summary(args.summary, result)
    _report_inputs(inputs)
    return 0


def _check_state_args(args, program, epath, workers: int) -> None:
    """What goal run --state does not go with."""
    if workers > 1:
        raise UsageError("--workers does not go with --state: a state file is kept by one process "
                         "(docs/scale.md)")
    if args.format in ("csv", "parquet") or args.out:
        raise UsageError("--state writes the activity as jsonl or a table on standard output; --out and "
                         "--format csv/parquet are for runs without a state file")
    if epath is not None and not _plain_jsonl(args, program, epath):
        raise UsageError("--state reads events from an uncompressed JSON Lines file in the project's shape "
                         "(it remembers how far it has read); read other formats without --state")


# The last streamed run's engine, kept until the process ends: `goal run`
# ends with os._exit (launch.py), so it is never freed object by object.
_KEPT: list = []


def _run_streamed(args, program, cpath, events, out, fmt: str, workers: int, progress, run_window, window: list,
                  reading):
    """goal run writing the activity as it goes (or only the summary): the
    inputs read and the summary, when one was counted."""
    from .runtime.output import WRITERS
    from .runtime.summary import Summary, shapes_of, table_lines
    # Streamed: memory stays flat however long the log (docs/performance.md).
    from .runtime.backtest import run_jsonl
    # The summary on a terminal's standard error when the activity goes elsewhere
    # (docs/decisions.md); the figures are counted as the entries go by.
    want_summary = sys.stderr.isatty() and not getattr(args, "quiet", False) and not args.summary_only
    made: list[Summary] = []

    def tap():
        made.append(Summary(shapes_of(program.ir)))
        return made[-1].add
    counting = args.summary or args.summary_only or want_summary
    if workers > 1:
        from .runtime.workers import run_workers
        inputs, total = run_workers(program, cpath, events, None if args.summary_only else out,
                                    workers=workers, start=_time_arg(args.from_),
                                    until=_time_arg(args.until), window=run_window, skip_bad=args.skip_bad,
                                    on_batch=progress, writer_for=WRITERS.get(fmt),
                                    summary=bool(counting), **reading)
        made.extend([total] if total is not None else [])
    else:
        inputs = run_jsonl(program, cpath, events, None if args.summary_only else out,
                           start=_time_arg(args.from_), until=_time_arg(args.until), window=run_window,
                           skip_bad=args.skip_bad, on_batch=progress, writer_for=WRITERS.get(fmt),
                           tap=tap if counting else None, keep=_KEPT, **reading)
    if progress is not None:
        progress.done()
    result = made[-1].result(window=window) if made else None
    if args.summary_only:
        _print_summary(result, fmt)
    elif want_summary:
        _err("\n".join(table_lines(result)))
    return inputs, result


def _run_table(args, program, cpath, events, out, workers: int, progress, run_window, window: list, reading):
    """goal run writing the activity as a table, after the run (with its
    summary): the inputs read and the summary."""
    from .api import read_inputs
    from .runtime.output import write_table
    from .runtime.summary import Summary, shapes_of, table_lines
    if workers > 1:
        from .runtime.workers import run_workers
        entries: list[dict] = []
        try:
            inputs, _ = run_workers(program, cpath, events, entries, workers=workers, start=_time_arg(args.from_),
                                    until=_time_arg(args.until), window=run_window, skip_bad=args.skip_bad,
                                    on_batch=progress, writer_for=_Collect, **reading)
        finally:
            if progress is not None:
                progress.done()
        result = Summary(shapes_of(program.ir)).add_all(entries).result(window=window)
        write_table(out, entries, table_lines(result))
    else:
        inputs = read_inputs(program, cpath, events, skip_bad=args.skip_bad, on_batch=progress, **reading)
        if progress is not None:
            progress.done()
        start, until = run_window(inputs)
        from .runtime.partition import run_partition
        entries = list(run_partition(program, inputs.contacts, inputs.events, start=start, until=until))
        result = Summary(shapes_of(program.ir)).add_all(entries).result(window=window)
        write_table(out, [e for e in entries if e["type"] != "waiting"], table_lines(result))
    return inputs, result


def _run_spark(args) -> int:
    """`goal run --engine spark`: Parquet in, Parquet out, on Spark (docs/scale.md)."""
    unsupported = [o for o, v in (("--state", args.state), ("--workers", args.workers),
                                  ("--summary-only", args.summary_only)) if v]
    if args.format not in (None, "parquet"):
        unsupported.append(f"--format {args.format}")
    if args.input_format not in (None, "parquet"):
        unsupported.append(f"--input-format {args.input_format}")
    if unsupported:
        raise UsageError(f"{', '.join(unsupported)} do{'es' if len(unsupported) == 1 else ''} not go with --engine "
                         "spark: it reads Parquet and writes the activity as Parquet to --out (docs/scale.md)")
    if not args.events or not args.out:
        raise UsageError("--engine spark needs --events PATH (Parquet: a file or a folder of them, any path Spark "
                         "reads) and --out PATH (a folder Spark writes the activity to)")
    program = resolve_program(args.program, None, None)[0]
    try:
        importlib.import_module("pyspark")
    except ImportError:
        _err("goal run: --engine spark needs PySpark, which is not installed; install it with: "
             "pip install 'goaldsl[spark]' (and Java 17 or later)")
        return 1
    from . import spark as gs
    from .runtime.engine import EngineError
    mapping = _mapping(args, program)
    session = gs.session()
    try:
        events = session.read.parquet(args.events)
        contacts = session.read.parquet(args.contacts) if args.contacts else None
        window: list[int] = []
        try:
            activity = gs.run(program, events, contacts, start=_time_arg(args.from_), until=_time_arg(args.until),
                              skip_bad=args.skip_bad, mapping=mapping, shown=args.events, window=window)
        except EngineError as e:
            e.activity.orderBy("order").write.parquet(args.out)  # what was done before the failure
            raise
        activity.orderBy("order").write.parquet(args.out)
        if args.summary:
            _write_summary(args.summary, gs.summary(activity, program, window=tuple(window)))
    finally:
        session.stop()
    return 0


def _workers_arg(args) -> int:
    n = getattr(args, "workers", None)
    if n is None:
        return 1
    from .runtime.workers import MAX_WORKERS
    if not 1 <= n <= MAX_WORKERS:
        raise UsageError(f"--workers takes a number from 1 to {MAX_WORKERS}, not {n}")
    return n


class _Collect:
    """A writer that keeps the entries (the table is written once the run is done)."""

    def __init__(self, out: list):
        self.out = out

    def __call__(self, e: dict) -> None:
        self.out.append(e)

    def flush(self) -> None:
        pass


def _print_summary(result: dict, fmt: str) -> None:
    """``--summary-only``: the table's summary lines, or the figures as one JSON object on one line."""
    if fmt == "table":
        from .runtime.summary import table_lines
        for line in table_lines(result):
            sys.stdout.write(line + "\n")
    else:
        import json
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


def _write_summary(path: str, result: dict) -> None:
    import json
    try:
        Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write the summary to {path}: {e.strerror or e}") from None


def _plain_jsonl(args, program, epath: Path) -> bool:
    """An events file --state can read: a regular, uncompressed JSON Lines file, no mapping."""
    from .runtime.inputs import as_source
    from .runtime.sources import GZIP_MAGIC, ZSTD_MAGIC, detect_format
    src = as_source(epath)
    if str(epath) == "-" or not src.is_regular() or args.input_format or _mapping(args, program) is not None:
        return False
    with open(epath, "rb") as f:
        head = f.read(4)
    return not head.startswith(GZIP_MAGIC) and not head.startswith(ZSTD_MAGIC) and detect_format(src) == "jsonl"


def _open_out(path: str, fmt: str):
    try:
        if fmt in ("parquet", "csv", "jsonl"):
            return open(path, "wb")
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _progress(source):
    """Progress on standard error when it is a terminal (docs/cli.md)."""
    if source is None or not sys.stderr.isatty() or os.environ.get("GOAL_PROGRESS", "1") == "0":
        return None
    from .runtime.progress import Progress
    return Progress(source, sys.stderr)


def _report_inputs(inputs, duplicates: bool = True) -> None:
    """What was left out of the input, on standard error: nothing is dropped silently."""
    from .runtime.inputs import left_out
    for line in left_out(inputs, duplicates):
        _err(line)


def _run_state(args, program, cpath, epath) -> int:
    """`goal run --state FILE`: the run kept in an SQLite file (docs/durability.md)."""
    from .durable.commands import run_command
    if args.summary_only:
        raise UsageError("--summary-only does not go with --state; "
                         f"`goal report --from-run {args.state} --format json` gives the state's figures")
    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    try:
        every = float(os.environ.get("GOAL_CHECKPOINT_SECONDS", "2"))
    except ValueError:
        raise UsageError("GOAL_CHECKPOINT_SECONDS must be a number of seconds") from None
    code = run_command(args.state, program, cpath, epath, start=_time_arg(args.from_), until=_time_arg(args.until),
                       fmt=fmt, skip_bad=args.skip_bad, out=sys.stdout, err=sys.stderr, checkpoint_seconds=every)
    if args.summary and code == 0:
        from .durable.commands import state_summary
        _write_summary(args.summary, state_summary(args.state, program))
    return code


def cmd_log(args) -> int:
    from .runtime.output import write_table
    from .durable.commands import stored_activity, stored_entries
    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    if fmt == "jsonl":
        for line in stored_activity(args.file):
            sys.stdout.write(line + "\n")
    else:
        from .runtime.output import summary
        entries, names = stored_entries(args.file)
        write_table(sys.stdout, entries, summary(entries, names, {}))
    return 0


def cmd_pause(args) -> int:
    from .durable.commands import set_paused
    pause = args.command == "pause"
    changed, busy = set_paused(args.file, args.workflow, pause)
    word = "paused" if pause else "unpaused"
    if not changed:
        print(f'workflow "{args.workflow}" is already {word} in {args.file}')
    else:
        print(f'{word} workflow "{args.workflow}" in {args.file}: it takes effect when `goal run ... --state '
              f'{args.file}` next runs' + (" (a run is using the file now: it goes on as it was)" if busy else ""))
    return 0


def cmd_eval(args) -> int:
    gc.disable()  # as for goal run: few reference cycles; the collector ran through the imports
    from .tools.evaluate import evaluate_condition
    program, cpath, epath = resolve_program(args.program, args.contacts, args.events, allow_empty=True)
    args.timezone = _zone_arg(args.timezone)
    if args.all:
        return _eval_all(args, program, cpath, epath)
    if not args.contact:
        raise UsageError("give --contact ID, or --all for every contact")
    inputs = _one_contact(args, program, cpath, epath, args.contact)
    at = _time_arg(args.at, args.timezone)
    if at is None:
        at = inputs.last_time
    if at is None:
        raise UsageError("there are no events to take the time from: give --at")
    result = evaluate_condition(program, inputs, args.condition, args.contact, at, args.timezone)
    print("true" if result.value else "false")
    for line in result.lines():
        print(line)
    return 0


def _one_contact(args, program, cpath, epath, cid: str):
    """One contact's inputs (the engine's state is per contact): the whole
    log is read and checked, only this contact's events are kept."""
    from .runtime.contact_slice import read_one_contact
    from .runtime.program import InputError
    inputs = read_one_contact(program, cpath, epath, cid, **_reading(args, program))
    if inputs.bad and not args.skip_bad:
        raise InputError(inputs.bad)
    _report_inputs(inputs, duplicates=False)  # what --skip-bad or the mapping left out, on standard error
    return inputs


def _eval_all(args, program, cpath, epath) -> int:
    """`goal eval COND --all`: the contacts for which the condition holds at --at."""
    from .api import read_inputs
    from .semantics.calendar import format_utc
    from .tools.evaluate import evaluate_all
    if args.contact:
        raise UsageError("give either --contact ID or --all, not both")
    inputs = read_inputs(program, cpath, epath, skip_bad=args.skip_bad, **_reading(args, program))
    _report_inputs(inputs, duplicates=False)
    at = _time_arg(args.at, args.timezone)
    if at is None:
        at = inputs.last_time
    if at is None:
        raise UsageError("there are no events to take the time from: give --at")
    matching, total = evaluate_all(program, inputs, args.condition, at, args.timezone)
    if args.count:
        print(len(matching))
        return 0
    print(f"{len(matching):,} of {total:,} contacts at {format_utc(at)}")
    for cid in matching:
        print(cid)
    return 0


def cmd_explain(args) -> int:
    gc.disable()  # as in cmd_eval
    import json
    from .tools.explain import ExplainError, explain, find_goal, render_text, to_json
    program, cpath, epath = resolve_program(args.program, args.contacts, args.events)
    try:
        find_goal(program, args.goal, args.workflow)  # an unknown goal is said before the log is read
    except ExplainError as e:
        raise UsageError(str(e)) from None
    inputs = _one_contact(args, program, cpath, epath, args.contact)
    try:
        wf, _, _ = find_goal(program, args.goal, args.workflow)
        ex = explain(program, inputs, args.contact, args.goal, at=_time_arg(args.at, wf.timezone),
                     start=_time_arg(args.from_, wf.timezone), workflow=args.workflow)
    except ExplainError as e:
        raise UsageError(str(e)) from None
    if args.format == "json":
        print(json.dumps(to_json(ex), indent=2, ensure_ascii=False, default=str))
    else:
        sys.stdout.write(render_text(ex))
    return 0


def cmd_report(args) -> int:
    """`goal report`: the run's figures as an HTML page, JSON or chart images (docs/reports.md)."""
    from .tools.report import ReportError, figures_of_file, figures_of_program, render_html, title_of, write_images
    gc.disable()  # as in cmd_run: a run makes few reference cycles
    images = args.png or args.svg
    drawing = args.format == "html" or bool(images)
    if args.from_run:
        extra = [o for o, v in (("--contacts", args.contacts), ("--events", args.events), ("--from", args.from_),
                                ("--until", args.until), ("--input-format", args.input_format),
                                ("--map", args.map)) if v]
        if extra:
            raise UsageError(f"{', '.join(extra)} do{'es' if len(extra) == 1 else ''} not go with --from-run: "
                             "a stored run is reported as it was run")
        if not Path(args.from_run).is_file():
            raise UsageError(f"no such file: {args.from_run}")
    elif not args.program:
        raise UsageError("give a PROGRAM to run, or --from-run FILE to report on a stored run")
    if drawing:
        from .tools.charts import Painter, available, charts_of
        if not available():
            _err("goal report: drawing the charts needs matplotlib, which is not installed; install it with: "
                 "pip install '.[report]' (or use --format json for the figures alone)")
            return 1
    with (Painter() if drawing else contextlib.nullcontext()) as painter:  # its worker starts during the run
        inputs = None
        if args.from_run:
            program = resolve_program(args.program, None, None)[0] if args.program else None
            try:
                figures = figures_of_file(Path(args.from_run), program)
            except ReportError as e:
                _err(f"goal report: {e}")
                return 1
        else:
            program, cpath, epath = resolve_program(args.program, args.contacts, args.events)
            figures, inputs = figures_of_program(program, cpath, epath, start=_time_arg(args.from_),
                                                 until=_time_arg(args.until), window=lambda i: _run_window(args, i),
                                                 skip_bad=args.skip_bad, **_reading(args, program))
        charts = svgs = None
        if drawing:
            charts = charts_of(figures)
            if args.format == "html":
                svgs = painter.render(charts, "svg")
            if images:
                fmt = "png" if args.png else "svg"
                data = svgs if fmt == "svg" and svgs is not None else painter.render(charts, fmt)
                try:
                    paths = write_images(charts, data, Path(images), fmt)
                except OSError as e:
                    raise UsageError(f"cannot write the charts to {images}: {e.strerror or e}") from None
                _err(f"wrote {len(paths)} chart{'s' if len(paths) != 1 else ''} to {images}")
    if args.format == "json":
        import json
        text = json.dumps(figures, indent=2, ensure_ascii=False) + "\n"
        out = args.out
    else:
        text = render_html(figures, charts, svgs, title_of(args.program, args.from_run))
        out = args.out or "report.html"
    if out is None or out == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
        _err(f"wrote {out}")
    if inputs is not None:
        _report_inputs(inputs)
    return 0


def cmd_repl(args) -> int:
    from .tools.repl import run_repl
    return run_repl(args.program, args.contacts, args.events, input_format=args.input_format, map=args.map,
                    skip_bad=args.skip_bad)


def cmd_lsp(args) -> int:
    try:
        from .tools.lsp import serve  # pygls: a dependency of goal, missing only from a broken install
    except ImportError as e:
        _err(f"goal lsp: the language server needs pygls, which is installed with goal ({e}); install it into "
             f"this environment with: pip install pygls (or reinstall goal: pip install . from its checkout)")
        return 1
    serve(log_file=args.log_file, verbose=args.verbose)
    return 0


# ---------------------------------------------------------------- main

class _Unbuilt:
    """Stands for the parser of a command not being run: its arguments are
    not built (building every command's parser cost a tenth of `goal check`)."""

    def add_argument(self, *args, **kwargs):
        return None

    def add_mutually_exclusive_group(self, *args, **kwargs):
        return self

    def set_defaults(self, **kwargs):
        return None


class _OnlyOne:
    """The subparsers action, building the parser of one command only."""

    def __init__(self, sub, only: str):
        self.sub, self.only = sub, only
        self.choices = sub.choices

    def add_parser(self, name: str, **kwargs):
        return self.sub.add_parser(name, **kwargs) if name == self.only else _Unbuilt()


# Over 80 lines on purpose: the whole command line declared in one place,
# one block per command in the order `goal --help` lists them.
def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only``, the parser of that command
    alone (``_goal_subparsers`` then holds it only, or nothing when there is
    no such command)."""
    ap = argparse.ArgumentParser(prog="goal", description="The goal language: check, format and run marketing-automation goals.")
    ap.add_argument("--version", action="version", version=f"goal {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    if only is not None:
        sub = _OnlyOne(sub, only)

    p = sub.add_parser("check", help="parse and check .goal files (and mapping files, .toml)")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="a .goal file, a folder (one program), or a mapping file (.toml, docs/inputs.md)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when all is well")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (default), json, or sarif (SARIF 2.1.0, for code-review tools)")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("lint", help="warn about goals that can never fire, dead steps and branches, and more")
    p.add_argument("files", nargs="+", metavar="FILE", help="a .goal file or a folder (one program)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when all is well")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text (default), json, or sarif (SARIF 2.1.0, for code-review tools)")
    p.add_argument("--events", metavar="F", help="the event log whose time span windows are compared with "
                                                 "(default: events.jsonl beside the program); any format goal run reads")
    p.add_argument("--input-format", choices=("jsonl", "segment", "csv", "parquet"),
                   help="the events' format (default: from the file name; docs/inputs.md)")
    p.add_argument("--map", metavar="FILE", help="a mapping file for events in another shape (default: "
                                                 "PROGRAM/map.toml when there is one)")
    p.set_defaults(fn=cmd_lint)

    p = sub.add_parser("diff", help="run two versions of a program over the same data and compare them")
    p.add_argument("old", metavar="OLD", help="a .goal file or folder, or git:REV:PATH")
    p.add_argument("new", metavar="NEW", help="a .goal file or folder, or git:REV:PATH")
    _io_args(p)
    p.add_argument("--from", dest="from_", metavar="T", help="first instant (default: the earliest event)")
    p.add_argument("--until", metavar="T", help="last instant (default: the latest event)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--examples", type=int, default=3, metavar="N",
                   help="example contacts shown per change of outcome (default 3)")
    p.set_defaults(fn=cmd_diff)

    p = sub.add_parser("test", help="run the tests of a program (test blocks in *_test.goal files)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a program folder or file, or a test file")
    p.add_argument("-k", metavar="PATTERN", help="run only the tests whose name contains PATTERN (case ignored)")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text",
                   help="text (default), json, or junit (JUnit XML, for CI systems)")
    p.add_argument("--coverage", action="store_true",
                   help="report which goals, then-if branches, steps and if branches the tests exercised")
    p.set_defaults(fn=cmd_test)

    p = sub.add_parser("fmt", help="format .goal files in the canonical style")
    p.add_argument("files", nargs="+", metavar="FILE", help="files to format; - reads standard input")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    mode.add_argument("--diff", action="store_true", help="change nothing; print the changes as a unified diff")
    p.set_defaults(fn=cmd_fmt)

    p = sub.add_parser("run", help="run workflows over an event log")
    p.add_argument("program", metavar="PROGRAM", help="a .goal file or a folder")
    _io_args(p)
    _window_args(p)
    p.add_argument("--format", choices=("table", "jsonl", "csv", "parquet"),
                   help="table (default on a terminal), jsonl (default otherwise), csv or parquet")
    p.add_argument("--out", metavar="FILE", help="write the output to FILE (its format from the name: .jsonl, "
                                                 ".csv, .parquet, else the table)")
    p.add_argument("--state", metavar="FILE", help="keep the run in this SQLite file; run again to resume it")
    p.add_argument("--engine", choices=("local", "spark"),
                   help="spark: run on Spark, Parquet in and out (--events, --contacts, --out PATH); docs/scale.md")
    p.add_argument("--workers", type=int, metavar="N", help="run over N processes, the contacts split among them "
                                                            "(the same output as one process; docs/scale.md)")
    p.add_argument("--summary", metavar="FILE", help="also write the run's figures to FILE as JSON (docs/reports.md)")
    p.add_argument("--summary-only", action="store_true",
                   help="print the summary instead of the activity (text, or one JSON object with --format jsonl)")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("report", help="a report of a run: funnels, conversion, time to goal (HTML, JSON, images)")
    p.add_argument("program", metavar="PROGRAM", nargs="?", help="a .goal file or a folder")
    _io_args(p)
    _window_args(p)
    p.add_argument("--from-run", metavar="FILE",
                   help="report on a stored run: goal run's JSON Lines, or a state file (PROGRAM optional)")
    p.add_argument("--out", metavar="FILE", help="where to write (default: report.html; JSON: standard output; -: stdout)")
    p.add_argument("--format", choices=("html", "json"), default="html", help="html (default) or json")
    images = p.add_mutually_exclusive_group()
    images.add_argument("--png", metavar="DIR", help="also write each chart as a PNG image in DIR")
    images.add_argument("--svg", metavar="DIR", help="also write each chart as an SVG image in DIR")
    p.set_defaults(fn=cmd_report)

    p = sub.add_parser("log", help="print the activity stream kept in a state file")
    p.add_argument("file", metavar="FILE", help="a state file written by goal run --state")
    p.add_argument("--format", choices=("table", "jsonl"), help="table (default on a terminal) or jsonl")
    p.set_defaults(fn=cmd_log)

    for name, what in (("pause", "pause a workflow in a state file (it stops acting; contacts keep their places)"),
                       ("unpause", "unpause a workflow in a state file")):
        p = sub.add_parser(name, help=what)
        p.add_argument("file", metavar="FILE", help="a state file written by goal run --state")
        p.add_argument("workflow", metavar="WORKFLOW", help="the workflow's name")
        p.set_defaults(fn=cmd_pause)

    p = sub.add_parser("eval", help="evaluate a condition for one contact, or count the contacts it holds for")
    p.add_argument("condition", metavar="CONDITION")
    p.add_argument("program", metavar="PROGRAM", nargs="?", help="a .goal file or a folder")
    p.add_argument("--contact", metavar="ID", help="the contact to evaluate the condition for")
    p.add_argument("--all", action="store_true", help="every contact: how many the condition holds for, and which")
    p.add_argument("--count", action="store_true", help="with --all: print only the number")
    p.add_argument("--at", metavar="T", help="the instant (default: the latest event)")
    p.add_argument("--timezone", default="UTC", metavar="TZ", help="for calendar windows (default UTC)")
    _io_args(p)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("explain", help="why a goal did or did not fire for one contact")
    p.add_argument("program", metavar="PROGRAM", help="a .goal file or a folder")
    p.add_argument("--contact", required=True, metavar="ID")
    p.add_argument("--goal", required=True, metavar="NAME", help="the goal's name")
    p.add_argument("--workflow", metavar="NAME", help="the goal's workflow, when several have a goal of that name")
    p.add_argument("--at", metavar="T", help="the instant (default: the latest event; no offset: the workflow's zone)")
    p.add_argument("--from", dest="from_", metavar="T", help="where the run starts (default: the earliest event)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    _io_args(p)
    p.set_defaults(fn=cmd_explain)

    p = sub.add_parser("repl", help="test conditions interactively against contact data")
    p.add_argument("program", metavar="PROGRAM", nargs="?", help="a .goal file or a folder")
    _io_args(p)
    p.set_defaults(fn=cmd_repl)

    p = sub.add_parser("lsp", help="run the language server (for editors) over stdio")
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default and only transport)")
    p.add_argument("--log-file", metavar="F", help="write the server's log to F (default: stderr)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.set_defaults(fn=cmd_lsp)
    ap._goal_subparsers = sub.choices  # for intermixed parsing below
    return ap


def _window_args(p) -> None:
    p.add_argument("--from", dest="from_", metavar="T", help="first instant (default: the earliest event)")
    p.add_argument("--until", metavar="T", help="last instant (default: the latest event)")


def _io_args(p) -> None:
    p.add_argument("--contacts", metavar="F", help="contacts: JSON Lines, CSV or Parquet, - for standard input "
                                                   "(default: PROGRAM/contacts.jsonl)")
    p.add_argument("--events", metavar="F", help="events: JSON Lines, Segment JSON Lines, CSV or Parquet, .gz or .zst, "
                                                 "- for standard input (default: PROGRAM/events.jsonl)")
    p.add_argument("--input-format", choices=("jsonl", "segment", "csv", "parquet"),
                   help="the events' format (default: from the file name; docs/inputs.md)")
    p.add_argument("--map", metavar="FILE", help="a mapping file for events in another shape (default: "
                                                 "PROGRAM/map.toml when there is one)")
    p.add_argument("--skip-bad", action="store_true", help="skip bad input lines instead of stopping")


def _writable_streams() -> None:
    """Text that the terminal's encoding cannot show (PYTHONIOENCODING=ascii,
    a C locale) is written as backslash escapes (``Caf\\xe9``), not an error:
    names and messages may hold any character. JSON Lines output is written
    as UTF-8 bytes whatever the encoding. Input it cannot decode (the REPL's)
    is read the same way."""
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) in ("strict", None):
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that cannot change
                pass


class _Never(Exception):
    """Matches no error: stands for an error class whose module was never imported."""


def _imported(module: str, name: str):
    """A function returning the class ``name`` of ``module`` if that module has
    been imported by then, else ``_Never`` (an ``except`` clause evaluates it
    only when an error is being handled, after the command imported what it uses)."""
    def cls():
        m = sys.modules.get(module)
        return getattr(m, name) if m is not None else _Never
    return cls


def main(argv: Optional[Sequence[str]] = None) -> int:
    _writable_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser(only=argv[0] if argv else None)
    if not (argv and argv[0] in ap._goal_subparsers):
        ap = build_parser()  # no command, or an unknown one: help and errors list every command
    if argv and argv[0] in ap._goal_subparsers:
        # Options may come before or after positionals (`eval COND --at T PROGRAM`).
        args = ap._goal_subparsers[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
    else:
        args = ap.parse_args(argv)
    if not getattr(args, "fn", None):
        ap.print_help()
        return 2
    from .syntax.diagnostics import GoalError, render_all
    # The other errors a command may raise are defined in modules only some
    # commands import (the engine's, the input readers'): an error of a
    # module never imported cannot have been raised, so look them up, do
    # not import them (`goal check` would pay for importing the engine).
    InputError = _imported("goaldsl.runtime.inputs", "InputError")
    SourceError = _imported("goaldsl.runtime.sources", "SourceError")
    EngineError = _imported("goaldsl.runtime.engine", "EngineError")
    # goal diff says "different" with 1, as diff(1) does, and trouble with 2.
    trouble = 2 if getattr(args, "command", None) == "diff" else 1
    try:
        return args.fn(args)
    except GoalError as e:
        print(render_all(e.diagnostics, e.sources))
        n = sum(d.is_error for d in e.diagnostics)
        _err(f"{n} error{'s' if n != 1 else ''}")
        return trouble
    except InputError() as e:
        from .runtime.inputs import refused
        loading = args.command == "repl"  # the REPL loads its data; it runs nothing
        for line in refused(e.bad, "loaded" if loading else "run"):
            _err(line)
        _err(f"fix the lines, or pass --skip-bad to {'load' if loading else 'run'} without them")
        return trouble
    except SourceError() as e:
        _err(f"goal {args.command}: {e}")
        return trouble
    except UsageError as e:
        _err(f"goal {args.command}: {e}")
        return 2
    except EngineError() as e:
        _err(f"goal {args.command}: {e}")
        return trouble
    except KeyboardInterrupt:  # called in process; the `goal` command handles signals in launch.py
        _err(f"goal {args.command}: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        from .durable.statefile import StateError  # imported here: most commands never touch a state file
        if isinstance(e, StateError):
            _err(f"goal {args.command}: {e}")
            return trouble
        import sqlite3
        if isinstance(e, sqlite3.DatabaseError) and getattr(args, "command", None) in ("log", "pause", "unpause",
                                                                                       "run"):
            # SQLite could not read the state file (found by fuzzing it): a damaged file, not a bug
            _err(f"goal {args.command}: the state file cannot be read: {e}; it is damaged: keep a copy for a "
                 f"report and start again with a new state file")
            return 1
        # a bug; say so without a traceback
        if os.environ.get("GOAL_DEBUG"):
            raise
        _err(f"goal {args.command}: internal error: {type(e).__name__}: {e}")
        _err("this is a bug in goal; run again with GOAL_DEBUG=1 for details and report it")
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
