"""`goal run` over an event log, streamed.

The log is read in pieces of a few thousand events. After each piece the
engine runs up to just before the last event read (later events of that
instant may follow in the next piece), so it never holds the whole log: the
engine keeps, per contact, only the events some condition counts, inside the
longest window that reads them (``Engine(keep_history=False)``).

Three things make this the same run as reading everything first:

* the log must be in time order. When it is not, the streamed run is dropped
  and the log is read whole and sorted (stably) before running; that costs
  memory in proportion to the log, and time for the part already streamed;
* bad lines refuse the whole run unless ``--skip-bad``: the output is held
  in a temporary file and copied out only when the log was good to its end,
  so a refused run shows nothing;
* events after ``--until`` are checked but never fed to the engine.

The stream ends with a ``waiting`` entry per enrollment still in a workflow
(``PartitionRun.waiting``): where each contact is when the run ends, for
the per-step figures (runtime/summary.py).
"""
from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable, Optional

from .program import InputError, Program, read_inputs, shown_path
from .engine import EngineError
from .inputs import Inputs, as_source, iter_events, read_contacts
from .output import JsonlWriter
from . import partition as kernel
from .partition import PartitionRun

PIECE = kernel.PIECE  # events read before the engine runs

Window = Callable[[Inputs], "tuple[int, int]"]
Tap = Callable[[], Callable[[dict], None]]


class _Unsorted(Exception):
    pass


def run_jsonl(program: Program, contacts, events, out: Optional[IO], *,
              start: Optional[int], until: Optional[int], window: Window, skip_bad: bool = False,
              fmt: Optional[str] = None, mapping=None, on_batch=None, writer_for=None,
              tap: Optional[Tap] = None) -> Inputs:
    """Run and write the activity stream to ``out`` as JSON Lines (or with
    the writer ``writer_for(file)`` makes: CSV, Parquet; ``out`` None: write
    nothing).

    ``start`` and ``until`` are the run's bounds when given; ``window(inputs)``
    gives the final bounds once the log is read (the first and last event
    times by default) and raises if they are unusable. ``contacts`` and
    ``events`` are paths (``-`` for standard input) or ``Source`` objects;
    ``on_batch(rows_read)`` is called as events are read (progress).
    ``tap()``, when given, makes a function that is called with every entry
    as well (a run that starts over, for an unsorted log, calls ``tap()``
    again)."""
    contacts = as_source(contacts, shown_path(contacts)) if contacts is not None else None
    events = as_source(events, shown_path(events)) if events is not None else None
    make_writer = writer_for or JsonlWriter
    if out is None:
        held = io.BytesIO()
    else:
        try:
            held = tempfile.TemporaryFile()
        except OSError:  # no writable temporary folder: hold the output in memory
            held = io.BytesIO()
    with held as tmp:
        writer = make_writer(tmp) if out is not None else None
        on_activity = _tee(writer, tap)
        try:
            try:
                inputs, run = _streamed(program, contacts, events, on_activity, start, until, window, skip_bad, fmt,
                                        mapping, on_batch)
            except _Unsorted:
                tmp.seek(0)
                tmp.truncate()
                writer = make_writer(tmp) if out is not None else None
                on_activity = _tee(writer, tap)
                inputs, run = _whole(program, contacts, events, on_activity, window, skip_bad, fmt, mapping)
        except EngineError:
            if writer is not None:
                _copy(writer, tmp, out)  # what was done before the failure, as an unstreamed run shows it
            raise
        _write(on_activity, run.waiting())
        if writer is not None:
            _copy(writer, tmp, out)
    return inputs


def _whole(program: Program, contacts, events, on_activity, window: Window, skip_bad: bool, fmt: Optional[str],
           mapping) -> "tuple[Inputs, PartitionRun]":
    """The log read whole and sorted (stably, by time), then run."""
    inputs = read_inputs(program, contacts, events, skip_bad=skip_bad, fmt=fmt, mapping=mapping)
    first, last = window(inputs)
    run = PartitionRun(program, inputs.contacts, start=first, until=last)
    try:
        _write(on_activity, run.feed(inputs.events))
        inputs.events.clear()
        _write(on_activity, run.finish(last))
    except EngineError:
        _write(on_activity, run.entries())  # what was done before the failure
        raise
    return inputs, run


def _write(on_activity, entries: list[dict]) -> None:
    for e in entries:
        on_activity(e)


def _tee(writer: Optional[JsonlWriter], tap: Optional[Tap]) -> Callable[[dict], None]:
    f = tap() if tap is not None else None
    if writer is None:
        return f if f is not None else _ignore
    if f is None:
        return writer

    def both(e: dict) -> None:
        writer(e)
        f(e)
    return both


def _ignore(e: dict) -> None:
    pass


def _copy(writer, tmp, out: IO) -> None:
    writer.flush()
    tmp.seek(0)
    binary = getattr(out, "buffer", None)
    out.flush()
    if binary is None and not isinstance(out, io.TextIOBase):  # a binary file (--out)
        binary = out
    if binary is not None:
        shutil.copyfileobj(tmp, binary)
        binary.flush()
    else:  # a text stream only (io.StringIO): whole lines, so no character is cut in two
        for line in tmp:
            out.write(line.decode())
        out.flush()


def _streamed(program: Program, contacts, events, on_activity, start: Optional[int], until: Optional[int],
              window: Window, skip_bad: bool, fmt: Optional[str], mapping,
              on_batch) -> "tuple[Inputs, PartitionRun]":
    inputs = Inputs()
    if contacts is not None:
        read_contacts(contacts, None, inputs, mapping=mapping)
    run: Optional[PartitionRun] = None
    failed: Optional[EngineError] = None
    piece: list[tuple] = []
    last: Optional[int] = None

    def partition() -> PartitionRun:
        nonlocal run
        if run is None:  # the run starts at --from, else at the first event
            run = PartitionRun(program, inputs.contacts, start=start if start is not None else inputs.first_time,
                               until=until)
        return run

    def feed(piece: list[tuple], final: Optional[int] = None) -> None:
        run = partition()
        try:
            _write(on_activity, run.feed(piece))
            if final is not None:
                _write(on_activity, run.finish(final))
        except EngineError:
            _write(on_activity, run.entries())  # what was done before the failure
            raise

    if events is not None:
        for ev in iter_events(events, program.ir.events, None, inputs, fmt=fmt, mapping=mapping, on_batch=on_batch):
            t = ev[0]
            if last is not None and t < last:
                raise _Unsorted()
            if last is None:
                inputs.first_time = t
            last = t
            if failed is not None or (until is not None and t > until):
                continue  # still read to the end: every bad line is reported
            piece.append(ev)
            if len(piece) >= PIECE:
                try:
                    feed(piece)
                except EngineError as e:
                    failed = e
                piece = []
    inputs.last_time = last
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    if failed is not None:
        raise failed
    first, final = window(inputs)
    if partition().engine.start != first:  # pragma: no cover - start is --from or the first event
        raise AssertionError("the run started at another instant than its window")
    feed(piece, final)
    return inputs, partition()
