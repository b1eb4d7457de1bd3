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

import bisect
import zlib
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from .engine import ActionRequest, Engine, EngineError
from .inputs import in_time_order
from .order import key_time

_time = itemgetter(0)

#: Events handed to the engine at a time by ``run_partition``.
PIECE = 4096


def partition_of(contact: str, partitions: int) -> int:
    """The partition (0 to ``partitions`` - 1) a contact's events and
    entries belong to: CRC-32 of its id's UTF-8 bytes, modulo the count.
    The same in every process and on every machine (Python's ``hash`` of a
    text is not)."""
    return zlib.crc32(contact.encode("utf-8", "surrogatepass")) % partitions


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
    the failure.

    ``keyed``: the partition is one of several of a run over more contacts.
    Contacts come as ``(rank, record)``, rank the record's place in the
    whole contacts file; events as ``(time, contact, type, fields, seq)``,
    seq the event's place in the whole log; and every entry handed back
    comes as ``(key, entry)``: its order key, by which ``merge`` puts the
    entries of all partitions into the order one process writes them;
    ``batches`` (with ``keyed``): each call hands back one batch ``(keys,
    entries)`` instead, as ``merge`` takes them (no pair per entry).

    ``owns``: whether a contact is this partition's, for a caller that
    splits the log by something it cannot be sure of (``goal run
    --workers``, by each line's contact decoded cheaply): an event whose
    contact has no record here and is not the partition's raises
    ``ForeignContact`` (checked once per contact, as the engine meets it)."""

    def __init__(self, program, contacts: Iterable = (), *, start: int, until: Optional[int] = None,
                 handlers: Optional[dict[str, Callable[[ActionRequest], Any]]] = None, keyed: bool = False,
                 batches: bool = False, owns: Optional[Callable[[str], bool]] = None):
        self.engine = Engine(program.plan, start=start, handlers=handlers, keep_history=False, order_keys=keyed)
        self.engine.owns = owns
        self.keyed = keyed
        self.batches = keyed and batches
        self.until = until
        self._last: Optional[int] = None  # the time of the last event fed
        add = self.engine.add_contact_unchecked
        if keyed:
            for rank, rec in contacts:
                add(rec, rank)
        else:
            for rec in contacts:
                add(rec)

    def feed(self, events: Iterable[tuple], ordered: bool = False) -> list[dict]:
        """Events ``(time, contact, type, fields)`` in time order (within one
        instant, in the log's order). The engine runs up to just before the
        last of them (more events of that instant may follow); the entries
        of the instants finished are returned. ``ordered``: the caller has
        found the list in time order already (``backtest.stream``), so it is
        not looked through again here nor in the engine; that it does not go
        back from the last piece's events is still checked."""
        eng = self.engine
        events = events if isinstance(events, list) else list(events)
        if events:
            first, last = events[0][0], events[-1][0]
            if (self._last is not None and first < self._last) or (
                    not ordered and not in_time_order(list(map(_time, events)))):
                raise ValueError("events must be fed in time order")
            self._last = last
            if self.until is not None and last > self.until:
                # checked by whoever read them, never acted on
                events = events[:bisect.bisect_right(events, self.until, key=_time)]
            if self.keyed and events and first > (eng.start - 1 if eng.now is None else max(eng.start - 1, eng.now)):
                eng.add_events_unchecked(events, ordered=ordered)  # none late: queued as they are, each with its place in the whole log
            elif self.keyed:  # each with its place in the whole log (a late one's key is made as it is recorded)
                add = eng.add_event_unchecked
                for ev in events:
                    add(*ev)
            else:
                eng.add_events_unchecked(events, ordered=True)  # checked by the reader, and its order above
        last, until = self._last, self.until
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

    def waiting(self) -> list:
        """After ``finish``: a ``waiting`` entry per enrollment still in a
        workflow (where each contact is when the run ends); the activity
        stream ends with them."""
        if not self.keyed:
            return self.engine.waiting_entries()
        keys: list = []
        entries = self.engine.waiting_entries(keys)
        return (keys, entries) if self.batches else list(zip(keys, entries))

    def entries(self) -> list:
        """The entries written since the last call, in the order of the
        activity stream."""
        eng = self.engine
        out = eng.activity
        eng.activity = []
        if not self.keyed:
            return out
        keys = eng.keys
        eng.keys = []
        return (keys, out) if self.batches else list(zip(keys, out))


def run_partition(program, contacts: Iterable, events: Iterable[tuple], *, start: int, until: int,
                  handlers: Optional[dict[str, Callable[[ActionRequest], Any]]] = None,
                  keyed: bool = False) -> Iterator:
    """The activity entries of one partition: ``contacts`` (records) and
    their ``events`` ``(time, contact, type, fields)``, checked,
    deduplicated and in (time, seq) order, run from ``start`` to ``until``
    (both included). Entries come as they are finished, in the order of the
    activity stream (docs/spec.md section 8), then the ``waiting`` entries
    of the contacts still in a workflow; ``time`` is epoch seconds.
    ``activity_row`` (runtime/output.py) gives an entry's fixed columns.

    A failing engine raises ``EngineError`` after the entries it wrote
    before the failure have been yielded. ``keyed``: contacts, events and
    entries as ``PartitionRun(keyed=True)`` takes and gives them."""
    run = PartitionRun(program, contacts, start=start, until=until, handlers=handlers, keyed=keyed)
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


_KEY = itemgetter(0)
_ENTRY = itemgetter(1)

def merge(streams: Sequence[Iterable[tuple[list, list]]]) -> Iterator[tuple[list, list]]:
    """The entries of several keyed partitions in key order: the order one
    process writes them in (docs/scale.md). Each stream gives batches
    ``(keys, entries)``, in key order as a partition writes them; so does
    the merge (of equal keys, the earlier stream's first). A batch at a
    time, sorted in C (the batches' parts are sorted runs, which Python's
    sort merges), not an entry at a time; it holds a batch or so per
    stream."""
    streams = [iter(s) for s in streams]
    bufs = []  # per stream with entries left: [keys, entries, the stream, whether it has ended]
    for it in streams:
        b = [[], [], it, False]
        if _refill(b):
            bufs.append(b)
    while bufs:
        live = [b for b in bufs if not b[3]]
        # every entry before the least of the live streams' last keys can go: what they give later is not before it
        bound = min(b[0][-1] for b in live) if live else None
        keys, entries = take_below(bufs, bound)
        if keys:
            yield keys, entries
        for b in live:
            if b[0] and b[0][-1] == bound or not b[0]:
                _refill(b)  # its entries at the bound wait for what comes after them
        bufs = [b for b in bufs if b[0]]


def take_below(bufs: Sequence[list], bound, keys_too: bool = True) -> tuple[list, list]:
    """The step of a merge: from buffers ``[keys, entries, ...]`` (each in
    key order) the entries whose keys are below ``bound`` (None: all), taken
    out of the buffers, in key order (of equal keys, the earlier buffer's
    first): each buffer's part is a sorted run, which Python's sort merges
    in C. ``merge`` and the merge while the workers run (``workers``) take
    this step; the latter writes only the entries (``keys_too`` False: the
    keys handed back are not put in order)."""
    keys: list = []
    entries: list = []
    runs = 0
    for b in bufs:
        k = len(b[0]) if bound is None else bisect.bisect_left(b[0], bound)
        if k:
            keys += b[0][:k]
            entries += b[1][:k]
            del b[0][:k], b[1][:k]
            runs += 1
    if runs > 1:
        order = sorted(range(len(keys)), key=keys.__getitem__)  # stable: of equal keys, the earlier buffer's
        if keys_too:
            keys = list(map(keys.__getitem__, order))
        entries = list(map(entries.__getitem__, order))
    return keys, entries


def _refill(b: list) -> bool:
    """The next non-empty batch of a stream added to its buffer (``merge``); False when it has none."""
    for keys, entries in b[2]:
        if keys:
            b[0] += keys
            b[1] += entries
            return True
    b[3] = True
    return bool(b[0])


def pairs_of(batches: Iterable[tuple[list, list]]) -> Iterator[tuple]:
    """Batches ``(keys, entries)`` as ``(key, entry)`` pairs."""
    for keys, entries in batches:
        yield from zip(keys, entries)


def cut_at_failure(pairs: Iterable[tuple], failures: Iterable[Optional[int]]) -> Iterator[tuple]:
    """When partitions failed at the given instants (``EngineError.instant``),
    what one process would have written before failing: it stops at the
    earliest of them, after finishing every round that instant could run,
    so the entries up to and including that instant and no waiting entries."""
    known = [t for t in failures if t is not None]
    if not known:
        yield from pairs
        return
    last = min(known)
    for pair in pairs:
        if key_time(pair[0]) > last:
            return
        yield pair


def first_failure(errors: Iterable[EngineError]) -> Optional[EngineError]:
    """Of the partitions' failures, the one a single process meets first
    (the earliest instant); None when none failed."""
    errors = [e for e in errors if e is not None]
    if not errors:
        return None
    return min(errors, key=lambda e: (e.instant is None, e.instant or 0))


def keyed_inputs(contacts: Iterable[dict], events: Iterable[tuple], partitions: int
                 ) -> tuple[list[list], list[list]]:
    """Contacts (records in file order) and events (checked, deduplicated,
    in (time, seq) order) split into ``partitions`` hash partitions, as
    ``PartitionRun(keyed=True)`` takes them: ``(rank, record)`` and
    ``(time, contact, type, fields, seq)``."""
    cs: list[list] = [[] for _ in range(partitions)]
    es: list[list] = [[] for _ in range(partitions)]
    for rank, rec in enumerate(contacts):
        cs[partition_of(str(rec["id"]), partitions)].append((rank, rec))
    for seq, ev in enumerate(events):
        es[partition_of(ev[1], partitions)].append((ev[0], ev[1], ev[2], ev[3], seq))
    return cs, es


def run_partitioned(program, contacts: Iterable[dict], events: Iterable[tuple], *, start: int, until: int,
                    partitions: int) -> Iterator[dict]:
    """``run_partition`` over every contact, done as ``partitions`` hash
    partitions run one after the other in this process and merged: the
    same entries in the same order, the same failure. The reference for
    every engine that runs partitions elsewhere (``goal run --workers``,
    Spark)."""
    cs, es = keyed_inputs(contacts, events, partitions)
    outs: list[list] = []
    errors: list[Optional[EngineError]] = []
    for c, e in zip(cs, es):
        out: list = []
        err = None
        try:
            out.extend(run_partition(program, c, e, start=start, until=until, keyed=True))
        except EngineError as x:
            err = x
        outs.append(out)
        errors.append(err)
    failed = first_failure(errors)
    pairs = pairs_of(merge([[(list(map(_KEY, out)), list(map(_ENTRY, out)))] for out in outs]))
    if failed is not None:
        pairs = cut_at_failure(pairs, [failed.instant])
    for _, entry in pairs:
        yield entry
    if failed is not None:
        raise failed
