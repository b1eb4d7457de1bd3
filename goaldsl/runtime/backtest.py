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
(``Engine.waiting_entries``): where each contact is when the run ends, for
the per-step figures (runtime/summary.py).
"""
from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable, Optional

from .program import InputError, Program, read_inputs, shown_path
from .engine import Engine, EngineError
from .inputs import Inputs, as_source, iter_events, read_contacts
from .output import JsonlWriter

PIECE = 4096

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
            inputs, eng = _streamed(program, contacts, events, on_activity, start, until, window, skip_bad, fmt,
                                    mapping, on_batch)
        except _Unsorted:
            tmp.seek(0)
            tmp.truncate()
            writer = make_writer(tmp) if out is not None else None
            on_activity = _tee(writer, tap)
            inputs = read_inputs(program, contacts, events, skip_bad=skip_bad, fmt=fmt, mapping=mapping)
            first, last = window(inputs)
            eng = _engine(program, inputs, first, on_activity)
            for ev in inputs.events:
                eng.add_event_unchecked(*ev)
            inputs.events.clear()
            eng.run_until(last)
        except EngineError:
            if writer is not None:
                _copy(writer, tmp, out)  # what was done before the failure, as an unstreamed run shows it
            raise
        for e in eng.waiting_entries():
            on_activity(e)
        if writer is not None:
            _copy(writer, tmp, out)
    return inputs


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


def _engine(program: Program, inputs: Inputs, start: int, on_activity) -> Engine:
    eng = Engine(program.plan, start=start, on_activity=on_activity, keep_history=False)
    for rec in inputs.contacts:  # checked by read_contacts
        eng.add_contact_unchecked(rec)
    return eng


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
              window: Window, skip_bad: bool, fmt: Optional[str], mapping, on_batch) -> "tuple[Inputs, Engine]":
    inputs = Inputs()
    if contacts is not None:
        read_contacts(contacts, None, inputs, mapping=mapping)
    eng: Optional[Engine] = None
    failed: Optional[EngineError] = None
    piece: list[tuple] = []
    last: Optional[int] = None

    def feed(piece: list[tuple], bound: int) -> Engine:
        nonlocal eng
        if eng is None:
            eng = _engine(program, inputs, start if start is not None else inputs.first_time, on_activity)
        add = eng.add_event_unchecked  # checked by iter_events
        for ev in piece:
            add(*ev)
        if until is not None:
            bound = min(bound, until)
        if bound >= eng.start:
            eng.run_until(bound)
        eng.activity.clear()
        return eng

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
                    feed(piece, t - 1)
                except EngineError as e:
                    failed = e
                piece = []
    inputs.last_time = last
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    if failed is not None:
        raise failed
    first, final = window(inputs)
    if eng is not None and eng.start != first:  # pragma: no cover - start is --from or the first event
        raise AssertionError("the run started at another instant than its window")
    return inputs, feed(piece, final)
