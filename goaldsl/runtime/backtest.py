"""`goal run` over an event log, streamed.

The log is read in pieces of a few thousand events (``stream``: the one
reader of ``goal run``, ``goal report`` and ``goal diff``, which feeds each
piece to two versions' partitions). After each piece the engine runs up to just before the last event read (later events of that
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

import bisect
import functools
import gc
import io
import tempfile
from operator import itemgetter
from typing import IO, Callable, Optional, Protocol

from .program import InputError, Program, read_inputs, shown_path
from .engine import EngineError
from .inputs import Inputs, as_source, event_pieces, in_time_order, read_contacts
from .output import JsonlWriter, copy_held
from . import partition as kernel
from .partition import PartitionRun

PIECE = kernel.PIECE  # events read before the engine runs

_time = itemgetter(0)

Window = Callable[[Inputs], "tuple[int, int]"]
Tap = Callable[[], Callable[[dict], None]]


class Runs(Protocol):
    """What ``stream`` feeds: one partition for ``goal run``, two versions'
    for ``goal diff``."""

    def feed(self, piece: list[tuple]) -> None:
        """Checked events in time order (``PartitionRun.feed``)."""

    def finish(self, until: int) -> None:
        """The run's end, ``until`` included; then the ``waiting`` entries."""


# begin(inputs, start, until): the runs, with the contacts read, from ``start``
# (``until``: --until when given, else None); called once before the first
# piece, and again when an unsorted log makes the run start over.
Begin = Callable[[Inputs, int, Optional[int]], Runs]


class _Unsorted(Exception):
    pass


def run_jsonl(program: Program, contacts, events, out: Optional[IO], *,
              start: Optional[int], until: Optional[int], window: Window, skip_bad: bool = False,
              fmt: Optional[str] = None, mapping=None, on_batch=None, writer_for=None,
              tap: Optional[Tap] = None, keep: Optional[list] = None) -> Inputs:
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
    again). ``keep``, when given, gets the run (its engine and all it
    holds) in place of what it held: for a caller that ends the process
    without freeing it (``goal run`` ends with ``os._exit``; freeing every
    contact's state one object at a time took about 1.5% of a run)."""
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
        writer = None
        run: Optional[_Written] = None

        def begin(inputs: Inputs, first: int, until: Optional[int]) -> _Written:
            nonlocal writer, run
            tmp.seek(0)  # a run that starts over (an unsorted log) drops what it wrote
            tmp.truncate()
            if run is not None:  # and its engine: generated recorders hold it in a cycle,
                run = None       # which goal run's disabled collector would not free
                if keep is not None:
                    keep.clear()
                gc.collect()
            writer = make_writer(tmp) if out is not None else None
            run = _Written(PartitionRun(program, inputs.contacts, start=first, until=until), _tee(writer, tap))
            if keep is not None:
                keep[:] = [run]
            inputs.contacts = []  # the engine keeps its own copy of each: one copy in memory, not two
            return run

        failed: Optional[EngineError] = None
        try:
            inputs = stream(program, contacts, events, begin, start=start, until=until, window=window,
                            skip_bad=skip_bad, fmt=fmt, mapping=mapping, on_batch=on_batch)
        except EngineError as e:
            failed = e  # what was done before the failure is written, as an unstreamed run shows it
        if writer is not None:
            writer.flush()
            copy_held(tmp, out)
        if failed is not None:
            raise failed
    return inputs


def stream(program: Program, contacts, events, begin: Begin, *, start: Optional[int], until: Optional[int],
           window: Window, skip_bad: bool = False, fmt: Optional[str] = None, mapping=None,
           on_batch=None) -> Inputs:
    """Read the contacts, then the events in pieces, and feed each piece to
    what ``begin`` makes: the one reading of a log that every streamed run
    shares (``goal run``, ``goal report``, ``goal diff``). The events are
    checked against ``program``'s declarations; bad lines refuse the run
    (``InputError``) unless ``skip_bad``. An unsorted log is read again,
    whole, and sorted (stably, by time); ``begin`` is then called again."""
    contacts = as_source(contacts, shown_path(contacts)) if contacts is not None else None
    events = as_source(events, shown_path(events)) if events is not None else None
    try:
        return _streamed(program, contacts, events, begin, start, until, window, skip_bad, fmt, mapping, on_batch)
    except _Unsorted:
        pass  # (read again after the except block: its traceback would keep the first run alive)
    inputs = read_inputs(program, contacts, events, skip_bad=skip_bad, fmt=fmt, mapping=mapping)
    first, last = window(inputs)
    runs = begin(inputs, first, last)
    runs.feed(inputs.events)
    inputs.events.clear()
    runs.finish(last)
    return inputs


class _Written:
    """``goal run``'s one partition, every contact in it, its entries handed
    to ``on_activity`` (a list at a time) as they are finished; when the
    engine fails, what was done before the failure is handed on, then the
    error raised."""

    def __init__(self, run: PartitionRun, on_activity: Callable[[list[dict]], None]):
        self.run = run
        self.on_activity = on_activity

    def feed(self, piece: list[tuple]) -> None:
        self._hand_on(self._feed, piece)

    def _feed(self, piece: list[tuple]) -> list:
        return self.run.feed(piece, ordered=True)  # stream() found it in time order

    def finish(self, until: int) -> None:
        self._hand_on(self.run.finish, until)
        self.on_activity(self.run.waiting())

    def _hand_on(self, step, arg) -> None:
        try:
            self.on_activity(step(arg))
        except EngineError:
            self.on_activity(self.run.entries())  # what was done before the failure
            raise


def _tee(writer: Optional[JsonlWriter], tap: Optional[Tap]) -> Callable[[list[dict]], None]:
    """What takes each list of entries: the writer (all at once when it
    can), and the tap's function for each entry."""
    f = tap() if tap is not None else None
    write_all = getattr(writer, "write_all", None)
    if write_all is None and writer is not None:
        def write_all(entries: list[dict]) -> None:
            for e in entries:
                writer(e)
    if f is None:
        if isinstance(writer, JsonlWriter):  # no one else reads the entries: the writer may change them
            return functools.partial(writer.write_all, owned=True)
        return write_all if write_all is not None else _ignore

    def both(entries: list[dict]) -> None:
        if write_all is not None:
            write_all(entries)
        for e in entries:
            f(e)
    return both


def _ignore(entries: list[dict]) -> None:
    pass


def _streamed(program: Program, contacts, events, begin: Begin, start: Optional[int], until: Optional[int],
              window: Window, skip_bad: bool, fmt: Optional[str], mapping, on_batch) -> Inputs:
    inputs = Inputs()
    if contacts is not None:
        read_contacts(contacts, None, inputs, mapping=mapping)
    runs: Optional[Runs] = None
    began: Optional[int] = None
    failed: Optional[EngineError] = None
    piece: list[tuple] = []
    last: Optional[int] = None

    def started() -> Runs:
        nonlocal runs, began
        if runs is None:  # the run starts at --from, else at the first event
            began = start if start is not None else inputs.first_time
            runs = begin(inputs, began, until)
        return runs

    if events is not None:
        for piece in event_pieces(events, program.ir.events, None, inputs, fmt=fmt, mapping=mapping,
                                  on_batch=on_batch):
            if not piece:
                continue
            times = list(map(_time, piece))
            if (last is not None and times[0] < last) or not in_time_order(times):
                raise _Unsorted()
            if last is None:
                inputs.first_time = times[0]
            last = times[-1]
            if failed is not None:
                continue  # still read to the end: every bad line is reported
            if until is not None and last > until:
                piece = piece[:bisect.bisect_right(times, until)]  # checked, never acted on
            if piece:
                try:
                    started().feed(piece)
                except EngineError as e:
                    failed = e
        piece = []
    inputs.last_time = last
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    if failed is not None:
        raise failed
    first, final = window(inputs)
    runs = started()
    if began != first:  # pragma: no cover - start is --from or the first event
        raise AssertionError("the run started at another instant than its window")
    runs.feed(piece)
    runs.finish(final)
    return inputs
