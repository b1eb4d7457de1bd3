"""The partition kernel: the engine over some of the contacts, fed their
events in order, handing on finished activity entries.

All of the engine's state is per contact, so a run splits cleanly by
contact: the contacts of one partition, with their events, give exactly the
entries that a run over every contact gives for them (docs/scale.md). Every
way of running a program over a log goes through this kernel: ``goal run``
in one process (one partition holding every contact), ``goal run --workers
N`` (hash partitions in a process pool) and Spark (``goaldsl.spark``).

What stays global is decided before partitioning, by whoever drives the
kernel: which events are duplicates (the first row with an id wins, across
all contacts), the run's window (by default the first and last event of the
whole log), and which rows are bad. The kernel gets events that are already
checked and deduplicated, in (time, seq) order: time, then the row's place
in the log.

The engine runs with a lean history (``Engine(keep_history=False)``): per
contact, only the event types some condition counts, inside the longest
window that reads them; memory depends on the partition's contacts, not on
the length of the log.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional

from .engine import ActionRequest, Engine, EngineError

#: Events handed to the engine at a time by ``run_partition``.
PIECE = 4096


class PartitionRun:
    """An engine over one partition's contacts. Feed events in time order
    with ``feed`` (each call hands back the entries of the instants it
    finished), then ``finish(until)``.

    ``start`` is the run's first instant (``--from``, by default the first
    event of the whole log); ``until``, when known from the start, its last
    (events after it are never acted on). Events before ``start`` are
    history: they count in windows, nothing acts on them.

    When the engine fails (workflows acting on each other's events for too
    many rounds, a handler that raises), ``feed`` or ``finish`` raises the
    ``EngineError``; ``entries()`` then gives what was done before, up to
    the failure."""

    def __init__(self, program, contacts: Iterable[dict] = (), *, start: int, until: Optional[int] = None,
                 handlers: Optional[dict[str, Callable[[ActionRequest], Any]]] = None):
        self.engine = Engine(program.plan, start=start, handlers=handlers, keep_history=False)
        self.until = until
        self._last: Optional[int] = None  # the time of the last event fed
        add = self.engine.add_contact_unchecked
        for rec in contacts:
            add(rec)

    def add_contact(self, record: dict) -> None:
        """A contact record, checked (``read_contacts``), before any event is fed."""
        self.engine.add_contact_unchecked(record)

    def feed(self, events: Iterable[tuple]) -> list[dict]:
        """Events ``(time, contact, type, fields)`` in time order (within one
        instant, in the log's order). The engine runs up to just before the
        last of them (more events of that instant may follow); the entries
        of the instants finished are returned."""
        eng = self.engine
        add = eng.add_event_unchecked  # checked by the reader
        last = self._last
        until = self.until
        for ev in events:
            t = ev[0]
            if last is not None and t < last:
                raise ValueError("events must be fed in time order")
            last = t
            if until is not None and t > until:
                continue  # checked by whoever read it, never acted on
            add(*ev)
        self._last = last
        if last is not None:
            bound = last - 1
            if until is not None:
                bound = min(bound, until)
            if bound >= eng.start:
                eng.run_until(bound)
        return self.entries()

    def finish(self, until: int) -> list[dict]:
        """Run every instant up to and including ``until`` (the run's end);
        the remaining entries are returned."""
        self.until = until
        if until >= self.engine.start:
            self.engine.run_until(until)
        return self.entries()

    def waiting(self) -> list[dict]:
        """After ``finish``: a ``waiting`` entry per enrollment still in a
        workflow (where each contact is when the run ends); the activity
        stream ends with them."""
        return self.engine.waiting_entries()

    def entries(self) -> list[dict]:
        """The entries written since the last call, in the order of the
        activity stream."""
        out = self.engine.activity
        self.engine.activity = []
        return out


def run_partition(program, contacts: Iterable[dict], events: Iterable[tuple], *, start: int, until: int,
                  handlers: Optional[dict[str, Callable[[ActionRequest], Any]]] = None) -> Iterator[dict]:
    """The activity entries of one partition: ``contacts`` (records) and
    their ``events`` ``(time, contact, type, fields)``, checked,
    deduplicated and in (time, seq) order, run from ``start`` to ``until``
    (both included). Entries come as they are finished, in the order of the
    activity stream (docs/spec.md section 8), then the ``waiting`` entries
    of the contacts still in a workflow; ``time`` is epoch seconds.
    ``activity_row`` (runtime/output.py) gives an entry's fixed columns.

    A failing engine raises ``EngineError`` after the entries it wrote
    before the failure have been yielded."""
    run = PartitionRun(program, contacts, start=start, until=until, handlers=handlers)
    piece: list[tuple] = []
    try:
        for ev in events:
            piece.append(ev)
            if len(piece) >= PIECE:
                yield from run.feed(piece)
                piece = []
        if piece:
            yield from run.feed(piece)
        yield from run.finish(until)
        yield from run.waiting()
    except EngineError:
        yield from run.entries()
        raise
