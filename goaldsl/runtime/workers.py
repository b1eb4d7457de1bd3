"""`goal run --workers N`: one run over every core of one machine.

The engine's state is per contact, so the run splits by contact into N hash
partitions (``partition.partition_of``), each run by the partition kernel
in a process of its own. Each worker writes its entries, with their order
keys, to a spill file; the files are merged by key (``partition.merge``'s
order; while the workers still run, ``_Streamed``), which puts the entries
into the order one process writes them: the output is byte for byte that
of ``goal run`` without ``--workers`` (docs/scale.md).

The workers are fed in one of two ways:

* **lines** (an events file of the project's JSON Lines, the usual case):
  this process scans the log. A cheap scan decodes each piece of the file
  in one call into just each line's contact and id, which tells each line's
  partition and which ids earlier lines took (every line is seen, in file
  order, so the first row with an id wins across all contacts); each worker
  is told which lines of each piece are its own (with their ids), reads
  them from the file itself (``_Pieces``; a compressed file's pieces are
  sent as bytes), and hands a piece's lines at once to the reader's batch
  reader (``JsonlReader.batch``), which decodes and checks them as one
  process does. Every worker reads its own
  contacts of the contacts file (the lines of its partition's ids, each
  ranked by its line: the contacts' order is the file's; ``_own_contacts``)
  and finds the log's first good line (the run's start, unless ``--from``). When all have read
  their lines, this process gathers the rest of what is global: the bad
  lines, the duplicates counted, the last time (the run's end, unless
  ``--until``). So the costly part of reading, decoding and checking every
  field, is split among the workers. (``scanned``: each worker scans the
  whole log itself, and this process only starts them and merges; kept to
  measure against, ``$GOAL_WORKERS_WAY=scanned``: it costs more CPU in all.)
* **dealt** (standard input, CSV, Parquet, a mapping file; and whenever
  the scan could not decide as the reader does): this process reads and
  checks the log and deals each contact's events to its worker.

The scan decides as the reader does only when what it assumed holds; each
worker checks it, and when it does not hold the run is done again, dealt:
each owner's check of a line agrees with the scan on the line's id (a
blank line: no id; so the scan need not make sure its rows were one a line,
``_Scan.route``); each owner's engine takes in only contacts of its
partition (``PartitionRun(owns=...)``: checked as the engine meets a
contact it has no record of, once per contact, so an event the scan sent
by a contact it decoded otherwise is found without a look at every
event's; told when the worker is done); each worker's events are in time
order, none before the log's first good line (then the log is one
process's streamed run for every partition); and, with ``--skip-bad``, no
bad line had an id (the scan counted its id as taken; the reader does
not).

The program travels to the workers as ``Program.dumps()``. A worker
formats JSON Lines itself (the lines are merged as bytes); for the other
formats it hands back the entries and this process writes them. The
summary is computed per partition and the partitions' summaries are added
(``Summary.merge``): counts add, and every time to goal is kept, so the
quantiles stay exact.

``$GOAL_WORKER_TIMES``, when set, names a file this process writes the
run's CPU seconds to, per process, as JSON (for ``bench/scale.py``: the
critical path of a run, which a busy machine does not change);
``$GOAL_WORKERS_WAY`` (``scanned``, ``dealt``) picks another way for a log
of JSON Lines, to compare them.
"""
from __future__ import annotations

import bisect
import io
import json
import marshal
import multiprocessing
import os
import pickle
import struct
import sys
import tempfile
import time
import traceback
from itertools import compress
from operator import attrgetter, itemgetter
from typing import IO, Any, Callable, Iterator, Optional, Sequence

import msgspec

from ..syntax import codecache
from .engine import EngineError, ForeignContact
from .inputs import (EventValidator, Inputs, JsonlReader, SeenIds, as_source, decode_line, event_pieces,
                     in_time_order, numbered_lines, read_contacts)
from .output import JsonlWriter, copy_held
from .partition import (PIECE, PartitionRun, cut_at_failure, first_failure, merge, pairs_of, partition_of,
                        take_below)
from .program import InputError, Program, read_inputs, shown_path
from .summary import Summary, shapes_of

Window = Callable[[Inputs], "tuple[int, int]"]

#: The most workers a run may ask for.
MAX_WORKERS = 256

#: Bytes of the log scanned at a time: a piece for the workers. A quarter
#: of a MiB: a piece, its rows and a worker's share of them stay in a core's
#: cache between the steps (1 MiB pieces took 10% more CPU in all at 1M
#: events, docs/performance.md).
CHUNK = 1 << 18


class WorkerFailed(Exception):
    """A worker process died or raised something that is not an EngineError: a bug, or the machine (memory)."""


class _Unsorted(Exception):
    pass


class _Again(Exception):
    """The scan could not decide as the reader does: run again, dealt."""


def run_workers(program: Program, contacts, events, out: Optional[IO], *, workers: int,
                start: Optional[int], until: Optional[int], window: Window, skip_bad: bool = False,
                fmt: Optional[str] = None, mapping=None, on_batch=None, writer_for=None,
                summary: bool = False) -> "tuple[Inputs, Optional[Summary]]":
    """``backtest.run_jsonl`` over ``workers`` processes: the same output on
    ``out`` (JSON Lines, or what ``writer_for(out)`` writes; ``out`` None:
    nothing), the same errors. Returns the inputs read and, with
    ``summary``, the run's summary."""
    contacts = as_source(contacts, shown_path(contacts)) if contacts is not None else None
    events = as_source(events, shown_path(events)) if events is not None else None
    lines = writer_for is None or writer_for is JsonlWriter
    mode = "lines" if lines else "entries"
    times: dict[str, Any] = {"workers": workers}
    try:
        return _run(program, contacts, events, out, workers, start, until, window, skip_bad, fmt, mapping, on_batch,
                    writer_for, summary, lines, mode, times)
    finally:
        times["parent"] = time.process_time()
        _write_times(times)


def _run(program, contacts, events, out, workers, start, until, window, skip_bad, fmt, mapping, on_batch, writer_for,
         summary, lines, mode, times):
    again = _unscannable(events, fmt, mapping)
    stream = lines and out is not None  # JSON Lines to a stream: merged while the workers run
    way = os.environ.get("GOAL_WORKERS_WAY", "lines")  # for bench/scale.py, which measures the ways
    if again is None and way == "dealt":
        again = "$GOAL_WORKERS_WAY"
    if again is None:
        fed = way != "scanned"
        pool = _Pool(program, workers, mode, summary,
                     scan=(contacts, events, start, until, on_batch is not None, fed), stream=stream)
        try:
            times["way"] = "lines" if fed else "scanned"
            if fed:
                times["parent began sending"] = time.process_time()
                _send_lines(pool, events, program.ir.events, on_batch)
                times["parent sent"] = time.process_time()
            inputs = _scanned(pool, window, skip_bad, on_batch, events)
            return _merged(pool, program, inputs, out, lines, writer_for, summary, times)
        except _Again as e:
            again = str(e)
        finally:
            pool.close()
    times["way"], times["why dealt"] = "dealt", again
    pool = _Pool(program, workers, mode, summary, stream=stream)
    try:
        try:
            inputs = _dealt(pool, program, contacts, events, start, until, window, skip_bad, fmt, mapping, on_batch)
        except _Unsorted:
            pool.close()
            pool = _Pool(program, workers, mode, summary, stream=stream)
            inputs = read_inputs(program, contacts, events, skip_bad=skip_bad, fmt=fmt, mapping=mapping)
            first, last = window(inputs)
            pool.begin(inputs.contacts, first, last)
            evs = inputs.events
            for at in range(0, len(evs), PIECE):
                pool.deal(evs[at:at + PIECE], at)
            evs.clear()
            pool.finish(last)
        return _merged(pool, program, inputs, out, lines, writer_for, summary, times)
    finally:
        pool.close()


def _unscannable(events, fmt: Optional[str], mapping) -> Optional[str]:
    """Why the workers cannot scan the log themselves (None: they can)."""
    if events is None:
        return "no events file"
    if mapping is not None:
        return "a mapping file"
    if not events.is_regular():
        return "not a regular file"
    from .sources import detect_format
    if detect_format(events, fmt, None) != "jsonl":
        return "not the project's JSON Lines"
    return None


def _merged(pool: "_Pool", program: Program, inputs: Inputs, out: Optional[IO], lines: bool, writer_for,
            summary: bool, times: dict) -> "tuple[Inputs, Optional[Summary]]":
    """The end of a run: the workers' spill files merged and written, the
    first failure (as one process meets it) raised, the summaries added."""
    results = pool.results()
    times["parent before merge"] = time.process_time()
    foreign = next((r[3] for r in results if r[3] is not None), None)
    if foreign is not None:  # an event went to the wrong worker: nothing of this run holds
        raise _Again(foreign)
    failed = first_failure(r[0] for r in results)
    if failed is None and pool.stream is not None:  # (made only for JSON Lines to ``out``)
        pool.stream.advance(final=True)  # the last batches; the rest was merged while the workers ran
        pool.stream.copy_to(out)
    else:
        batches = merge([pool.spilled(i) for i in range(pool.n)])
        if failed is not None:  # what one process wrote before it failed
            batches = (([k], [e]) for k, e in cut_at_failure(pairs_of(batches), [failed.instant]))
        if out is not None:
            _write(batches, out, lines, writer_for)
        else:
            for _ in batches:
                pass
    times["worker"] = [r[2] for r in results]
    if failed is not None:
        raise failed
    total = None
    if summary:
        total = Summary(shapes_of(program.ir))
        for r in results:
            total.merge(r[1])
    return inputs, total


def _write_times(times: dict) -> None:
    path = os.environ.get("GOAL_WORKER_TIMES")
    if path:
        with open(path, "w") as f:
            json.dump(times, f)


def _write(batches: Iterator[tuple[list, list]], out: IO, lines: bool, writer_for) -> None:
    if lines:
        w = JsonlWriter(out)
        for _, texts in batches:
            w.add_line(b"\n".join(texts))  # the batch's lines at once (add_line puts a newline after each text)
    else:
        w = writer_for(out)
        for _, entries in batches:
            for entry in entries:
                w(entry)
    w.flush()


def _scanned(pool: "_Pool", window: Window, skip_bad: bool, on_batch, events) -> Inputs:
    """What is global, gathered from the workers once each has scanned the
    whole log; then the workers are told the run's window and finish."""
    reports = pool.reports(on_batch, events)
    again = next((r["again"] for r in reports if r["again"]), None)
    if again is None and skip_bad and any(r["bad ids"] for r in reports):
        again = "a bad line had an id"
    if again is not None:
        raise _Again(again)
    inputs = Inputs()
    line = attrgetter("line")  # each contact's bad line is reported by one worker, each event's by its owner
    inputs.bad = sorted((b for r in reports for b in r["contacts bad"]), key=line) + sorted(
        (b for r in reports for b in r["bad"]), key=line)
    inputs.duplicates = sum(r["duplicates"] for r in reports)
    firsts = [r["first"] for r in reports if r["first"] is not None]
    if firsts:
        inputs.first_time = reports[0]["first line"]
        if inputs.first_time is None or min(firsts) < inputs.first_time:
            raise _Again("not in time order")
        inputs.last_time = max(r["last"] for r in reports if r["last"] is not None)
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    first, final = window(inputs)
    pool.finish_scanned(first, final)
    return inputs


def _send_lines(pool: "_Pool", events, declared: dict, on_batch) -> None:
    """Scan the log here, once, and tell each worker which lines of each
    piece are its own (with their ids, and which an earlier line's id
    took). A worker reads the piece from the file itself (a plain file:
    this process sends where the piece is), or is sent its bytes (a
    compressed file); not pickled lines, which cost both sides more CPU."""
    from .sources import SourceError
    scan = _Scan(events, declared, -1, pool.n)
    try:
        for piece in scan.route():
            # a plain file's piece is read again by each worker (its place in the file, not its bytes, is sent)
            where = (piece.offset, len(piece.data)) if scan.plain else piece.data
            for i in range(pool.n):
                mask = piece.mask(i)
                pool._send(i, ("lines", piece.base, where, mask, piece.ids_of(mask), piece.taken, scan.rows))
            if on_batch is not None:
                events.rows_read, events.rows_total = scan.position(), 1 << 20  # how far, for the display
                on_batch(scan.rows)
    except SourceError:  # the reader says so, as one process does
        raise _Again("a file that cannot be read") from None
    for i in range(pool.n):
        pool._send(i, ("end",))


def _dealt(pool: "_Pool", program: Program, contacts, events, start: Optional[int], until: Optional[int],
           window: Window, skip_bad: bool, fmt: Optional[str], mapping, on_batch) -> Inputs:
    """The log read in order here and dealt to the workers as it is read
    (as ``backtest`` runs it); ``_Unsorted`` when it is not in time order."""
    inputs = Inputs()
    if contacts is not None:
        read_contacts(contacts, None, inputs, mapping=mapping)
    last: Optional[int] = None
    seq = 0
    if events is not None:
        for piece in event_pieces(events, program.ir.events, None, inputs, fmt=fmt, mapping=mapping,
                                  on_batch=on_batch):
            if not piece:
                continue
            times = list(map(_T, piece))
            if last is None:
                inputs.first_time = times[0]
                pool.begin(inputs.contacts, start if start is not None else times[0], until)
            if (last is not None and times[0] < last) or not in_time_order(times):
                raise _Unsorted()
            last = times[-1]
            if until is not None and last > until:
                piece = piece[:bisect.bisect_right(times, until)]  # the rest checked, never acted on
            pool.deal(piece, seq)
            seq += len(piece)
    inputs.last_time = last
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    first, final = window(inputs)
    if last is None:
        pool.begin(inputs.contacts, first, until)
    pool.finish(final)
    return inputs


class _Pool:
    """The worker processes, one per partition, and their spill files.
    ``scan``: (contacts, events, start, until, progress) for workers that
    read the log themselves; None for workers dealt their events."""

    def __init__(self, program: Program, n: int, mode: str, summary: bool, scan: Optional[tuple] = None,
                 stream: bool = False):
        # fork where there is one (the workers start at once, with what is
        # imported); the program still travels as bytes, as it must elsewhere.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        self.n = n
        self.folder = tempfile.mkdtemp(prefix="goal-workers-")
        data = program.dumps()
        self.conns = []
        self.procs = []
        self.pieces: list[list] = [[] for _ in range(n)]
        self.owner: dict[str, int] = {}  # contact -> its partition + 1, for the events dealt (_fill_codes)
        self.begun = False
        # the spill files merged while this process waits for the workers (JSON Lines written out)
        self.stream: Optional[_Streamed] = _Streamed(self) if stream else None
        for i in range(n):
            here, there = ctx.Pipe()
            # A forked worker holds copies of this process's ends of the pipes
            # (its own and the earlier workers'): it closes them, so that a pipe
            # ends for its worker when this process closes it, or dies.
            ours = [*self.conns, here] if method == "fork" else []
            p = ctx.Process(target=_work, args=(there, data, mode, summary, self.spill_path(i), i, n, scan, ours),
                            daemon=True, name=f"goal-worker-{i}")
            p.start()
            there.close()
            self.conns.append(here)
            self.procs.append(p)
        self.outboxes = [_Outbox(conn, f"goal-send-{i}") for i, conn in enumerate(self.conns)]

    def spill_path(self, i: int) -> str:
        return os.path.join(self.folder, f"partition-{i}.spill")

    # ------------------------------------------------------------ dealt

    def begin(self, contacts: list[dict], start: int, until: Optional[int]) -> None:
        if self.begun:
            return
        self.begun = True
        parts: list[list] = [[] for _ in range(self.n)]
        for rank, rec in enumerate(contacts):
            parts[partition_of(str(rec["id"]), self.n)].append((rank, rec))
        for i, part in enumerate(parts):
            self._send(i, ("begin", part, start, until))

    def deal(self, events: list, seq: int) -> None:
        """A piece of the log (in its order, the first event at place
        ``seq``), each event with its place to its contact's partition,
        sent ``PIECE`` events at a time. Each contact's partition is worked
        out once, then kept (``_fill_codes``)."""
        if not events:
            return
        times, contacts, types, fields = zip(*events)
        codes = list(map(self.owner.get, contacts))
        _fill_codes(codes, contacts, self.owner, self.n)  # (the reader's contacts are texts)
        pieces = self.pieces
        for ev, k in zip(zip(times, contacts, types, fields, range(seq, seq + len(events))), codes):
            pieces[k - 1].append(ev)
        for k, piece in enumerate(pieces):
            if len(piece) >= PIECE:
                self._send(k, ("events", piece))
                pieces[k] = []

    def finish(self, until: int) -> None:
        for i in range(self.n):
            if self.pieces[i]:
                self._send(i, ("events", self.pieces[i]))
                self.pieces[i] = []
            self._send(i, ("finish", until))

    # ------------------------------------------------------------ scanned

    def reports(self, on_batch, events) -> list[dict]:
        """Each scanning worker's report once it has read the whole log (the
        first worker's progress passed on to ``on_batch`` meanwhile)."""
        out = []
        for i, conn in enumerate(self.conns):
            while True:
                msg = self._recv(i)
                if msg[0] == "progress":
                    if on_batch is not None:
                        events.rows_read, events.rows_total = msg[2]  # how far, for the progress display
                        on_batch(msg[1])
                    continue
                if msg[0] != "read":  # pragma: no cover - the protocol
                    raise WorkerFailed(f"worker {i} said {msg[0]!r} before reading the log")
                out.append(msg[1])
                break
        return out

    def finish_scanned(self, start: int, until: int) -> None:
        for i in range(self.n):
            self._send(i, ("finish", start, until))

    # ------------------------------------------------------------ both

    def _send(self, i: int, msg) -> None:
        if not self.outboxes[i].put(msg):
            self._died()

    def _recv(self, i: int):
        try:
            conn = self.conns[i]
            if self.stream is not None:
                merged = True
                while not conn.poll(0 if merged else 0.02):  # merge what the workers have spilled meanwhile
                    merged = self.stream.advance()
            msg = conn.recv()
        except (EOFError, OSError):
            self._died()
        if msg[0] == "crash":
            raise WorkerFailed(f"worker {i} failed: {msg[1]}")
        return msg

    def results(self) -> list[tuple[Optional[EngineError], Optional[Summary], float, Optional[str]]]:
        """Each worker's failure (or None), summary, CPU seconds and why the
        run must be done again, dealt (or None), once it has finished."""
        out = []
        for i in range(self.n):
            _, failure, summary, cpu, again = self._recv(i)
            out.append((EngineError(*failure) if failure is not None else None, summary, cpu, again))
        return out

    def _died(self):
        codes = [p.exitcode for p in self.procs]
        raise WorkerFailed(f"a worker process stopped unexpectedly (exit codes {codes}); if the machine ran out of "
                           f"memory, run with fewer --workers")

    def spilled(self, i: int) -> Iterator[tuple[list, list]]:
        """A partition's batches (keys, lines or entries), in key order, from its spill file."""
        rest = b""
        with open(self.spill_path(i), "rb") as f:
            while True:
                data = f.read(_SPILL_READ)
                if not data:
                    return
                data = rest + data if rest else data
                got: list = []
                rest = data[_records(data, got):]
                yield from got

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        for box in self.outboxes:
            box.close()
        for conn in self.conns:
            conn.close()  # a worker waiting for a message stops at the end of its pipe
        for p in self.procs:
            # a worker that has finished ends at once; one still scanning the log (the run was
            # interrupted, or refused by another's report) would notice only at its next message
            p.join(timeout=1)
            if p.is_alive():
                p.terminate()
                p.join()
        for i in range(self.n):
            try:
                os.unlink(self.spill_path(i))
            except OSError:
                pass
        try:
            os.rmdir(self.folder)
        except OSError:
            pass
        for box in self.outboxes:
            box.join()
        self.conns, self.procs, self.outboxes = [], [], []


class _Outbox:
    """A worker's messages, sent by a thread of their own so that this
    process need not wait while the worker reads: a worker reads its next
    message only when it is done with the one before, and a message is
    larger than the pipe holds, so a parent that sent itself would keep in
    step with the slowest worker, and the workers would then wait for its
    scan of the next piece. Up to ``AHEAD`` bytes of messages wait in
    memory. The thread writes with the lock released (``send_bytes``); the
    messages are pickled here, as ``Connection.send`` does."""

    AHEAD = 16 << 20

    def __init__(self, conn, name: str):
        import queue
        import threading
        self.conn = conn
        self.broken = False  # the worker can no longer be reached
        self.waiting = 0  # bytes queued, not yet sent
        self.room = threading.Condition()
        self.queue: "queue.SimpleQueue[Optional[bytes]]" = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, msg) -> bool:
        """Queue a message (waiting while ``AHEAD`` bytes are); False when
        the worker can no longer be reached."""
        data = pickle.dumps(msg, pickle.HIGHEST_PROTOCOL)
        with self.room:
            while self.waiting > self.AHEAD and not self.broken:
                self.room.wait()
            if self.broken:
                return False
            self.waiting += len(data)
        self.queue.put(data)
        return True

    def _run(self) -> None:
        while True:
            data = self.queue.get()
            if data is None:
                return
            try:
                self.conn.send_bytes(data)
            except Exception:  # noqa: BLE001 - the worker is gone, or this process closed the pipe under the send
                with self.room:
                    self.broken = True
                    self.room.notify()
                return
            with self.room:
                self.waiting -= len(data)
                self.room.notify()

    def close(self) -> None:
        """Stop once the messages queued are sent (at the end of a run all
        have been read), or at once when the worker is gone."""
        self.queue.put(None)

    def join(self) -> None:
        self.thread.join(timeout=1)


#: A spill file's record: the size of the batch that follows, and how it
#: is written (``_LOADS``).
_RECORD = struct.Struct("<QB")

#: A spill record's kinds, and how each is read (``_LOADS[kind]``): marshal
#: (lists of bytes, the JSON Lines' keys and lines; a third of pickle's CPU
#: to write them, and no memo), or pickle (entries marshal does not take).
_PICKLED, _MARSHALLED = 0, 1
_LOADS = (pickle.loads, marshal.loads)

#: Bytes of a spill file read at a time at the end of a run (``_Pool.spilled``).
_SPILL_READ = 1 << 22


class _Spill:
    """A worker's spill file, a record per batch: its size and kind, then
    the batch written on its own (marshal, or pickle for what marshal does
    not take: ``_LOADS``), out at once (the parent merges the file while
    it is written, ``_Streamed``). Each record stands alone (``_records``):
    a pickler kept for the whole file keeps every object it pickled alive
    in its memo, and so does the unpickler that reads it (the worker and
    the parent held every entry of the run)."""

    def __init__(self, f: IO[bytes]):
        self.f = f

    def add(self, keys: list, items: list) -> None:
        try:
            data, kind = marshal.dumps((keys, items)), _MARSHALLED  # (exact built-in types: they come back the same)
        except ValueError:
            data, kind = pickle.dumps((keys, items), pickle.HIGHEST_PROTOCOL), _PICKLED
        self.f.write(_RECORD.pack(len(data), kind))
        self.f.write(data)  # (apart: not copied into one bytes with its size first)
        self.f.flush()


def _fill_codes(codes: list, contacts: list, owner: dict, n: int,
               other: Optional[Callable[[Any], int]] = None) -> list[int]:
    """Each code still None in ``codes`` (one a contact of ``contacts``: not
    in ``owner``, the contacts met so far) made in place: a text contact's
    partition + 1 (``partition_of``), kept in ``owner`` for its next events
    (a list's new contacts, found in C, then one by one: on a log of many
    contacts, most lines of its start bring a new one); any other by
    ``other`` (None: every contact is a text). The places filled. The scan
    and the parent that deals the log both take a piece's codes so."""
    filled = []
    i = -1
    while True:
        try:
            i = codes.index(None, i + 1)
        except ValueError:
            return filled
        c = contacts[i]
        if other is None or (type(c) is str and c):
            code = owner.get(c)
            if code is None:
                code = owner[c] = partition_of(c, n) + 1
            codes[i] = code
        else:
            codes[i] = other(c)
        filled.append(i)


def _records(data: bytes, out: list) -> int:
    """The whole records of a spill file at the start of ``data``, each
    read onto ``out``; where the first one not whole begins (``len(data)``:
    none)."""
    size = _RECORD.size
    start = 0
    view = memoryview(data)  # (each record read where it is, not copied out first)
    while len(data) - start >= size:
        length, kind = _RECORD.unpack_from(data, start)
        end = start + size + length
        if end > len(data):
            break
        out.append(_LOADS[kind](view[start + size:end]))
        start = end
    return start


class _Streamed:
    """The workers' spill files merged while they are written: once this
    process has sent the log (or dealt it), it merges what the workers
    have spilled so far instead of waiting idle (``_Pool._recv``), into a
    temporary file, so that when they are done only their last batches
    are left to merge, and the file to copy out. The order is
    ``partition.merge``'s: the entries below the least of the streams'
    last keys go, sorted together (of equal keys, the earlier stream's
    first); those at it wait for what comes after them. A run that failed
    is merged again from the spill files (``cut_at_failure``)."""

    def __init__(self, pool: "_Pool"):
        self.paths = [pool.spill_path(i) for i in range(pool.n)]
        self.fds: list[Optional[int]] = [None] * pool.n
        self.read_to = [0] * pool.n  # how far each spill file has been read (whole records)
        self.keys: list[list] = [[] for _ in range(pool.n)]
        self.lines: list[list] = [[] for _ in range(pool.n)]
        self.out = tempfile.TemporaryFile(dir=pool.folder)

    def advance(self, final: bool = False) -> bool:
        """Read the records the workers have written, and write out what can
        be merged of them (``final``: the workers are done, all of it).
        Whether anything was read."""
        got = False
        for i in range(len(self.paths)):
            got = self._read(i) or got
        keys = self.keys
        if not final and not all(keys):
            return got  # a stream's next key is not known yet
        bound = None if final else min(k[-1] for k in keys)
        _, texts = take_below(list(zip(keys, self.lines)), bound, keys_too=False)
        if texts:
            texts.append(b"")  # a newline after the last
            self.out.write(b"\n".join(texts))
        return got

    def _read(self, i: int) -> bool:
        fd = self.fds[i]
        if fd is None:
            try:
                fd = self.fds[i] = os.open(self.paths[i], os.O_RDONLY)
            except FileNotFoundError:  # the worker has not made it yet
                return False
        at = self.read_to[i]
        data = os.pread(fd, os.fstat(fd).st_size - at, at)
        got: list = []
        self.read_to[i] = at + _records(data, got)  # (a record being written is read next time)
        for keys, lines in got:
            self.keys[i] += keys
            self.lines[i] += lines
        return bool(got)

    def copy_to(self, out: IO) -> None:
        """The merged lines written to ``out``."""
        copy_held(self.out, out)

    def close(self) -> None:
        for fd in self.fds:
            if fd is not None:
                os.close(fd)
        self.fds = []
        self.out.close()


# ---------------------------------------------------------------- in a worker

class _Kernel:
    """A worker's partition run: its entries handed to ``emit`` as they are
    finished, a batch ``(keys, entries)`` at a time; when the engine fails, what was done before, and the failure
    kept (the rest of the log is still read, for bad lines, but not run).
    ``owns`` (given by a worker that reads the log itself): which contacts
    are its partition's, for ``PartitionRun``; an event of a contact not its
    own stops the run (``foreign`` says why)."""

    def __init__(self, program: Program, emit: Callable[[tuple], None],
                 owns: Optional[Callable[[str], bool]] = None):
        self.program = program
        self.emit = emit
        self.owns = owns
        self.run: Optional[PartitionRun] = None
        self.failure: Optional[tuple] = None
        self.foreign: Optional[str] = None

    def begin(self, contacts: list, start: int, until: Optional[int]) -> None:
        self.run = PartitionRun(self.program, contacts, start=start, until=until, keyed=True, batches=True,
                                owns=self.owns)

    def feed(self, events: list) -> None:
        """Events in time order: the worker's scan checks each piece's
        order, and the parent that deals them reads the whole log in order."""
        if self.failure is None and self.foreign is None:
            self._step(self._feed_ordered, events)

    def _feed_ordered(self, events: list) -> list:
        return self.run.feed(events, ordered=True)

    def finish(self, until: int) -> None:
        if self.failure is None and self.foreign is None and self._step(self.run.finish, until):
            self.emit(self.run.waiting())

    def _step(self, step, arg) -> bool:
        try:
            self.emit(step(arg))
            return True
        except ForeignContact as e:  # the run is done again, dealt: what this one wrote is dropped
            self.foreign = f'contact "{e}" decoded otherwise'
            return False
        except EngineError as e:
            self.emit(self.run.entries())  # what was done before the failure
            self.failure = (str(e), e.instant)
            return False


def _work(conn, data: bytes, mode: str, summary: bool, spill_path: str, me: int, n: int,
          scan: Optional[tuple], parents_ends: list) -> None:
    """A worker: one partition, run by the kernel, its entries spilled with their keys."""
    import gc
    import signal
    for end in parents_ends:
        end.close()
    gc.disable()  # as goal run: few reference cycles, many long-lived objects
    # Ctrl-C is the parent's to answer; a worker ends when its pipe does (or by SIGTERM, quietly).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent(spill_path)
    try:
        from .program import loads_program
        program = loads_program(data)
        summ = Summary(shapes_of(program.ir)) if summary else None
        with open(spill_path, "wb") as spill:
            spilled = _Spill(spill)
            writer = None
            if mode == "lines":
                writer = JsonlWriter(_Sink())
                writer.size = 1 << 62  # never written out: its buffer is taken after each batch

            def emit(batch: tuple) -> None:
                keys, entries = batch
                if not keys:
                    return
                if summ is not None:
                    for e in entries:
                        summ.add(e)
                if writer is not None:
                    writer.write_all(entries, owned=True)  # in one call; nothing reads the entries after
                    items = bytes(writer.buf).split(b"\n")[:-1]  # a JSON line holds no raw newline
                    writer.buf = bytearray()
                else:
                    items = entries
                spilled.add(keys, items)

            kernel = _Kernel(program, emit, None if scan is None else lambda cid: partition_of(cid, n) == me)
            if scan is None:
                _be_dealt(conn, kernel)
            elif not _scan_and_run(conn, kernel, me, n, *scan):
                return  # told to stop: the run is refused, or done again dealt
        conn.send(("done", kernel.failure, summ, time.process_time(), kernel.foreign))
        # The engine's code compiled here (a keyed engine's; this process's
        # parent built none) goes into the code cache while the parent merges:
        # a worker ends by os._exit, without the save at exit, and would
        # compile it again in every run.
        codecache.save()
        # The parent merges the spill file now: wait for the end of the pipe,
        # so that the file is removed also when the parent is killed meanwhile.
        while True:
            conn.recv()
    except (EOFError, OSError, BrokenPipeError):  # the parent is done, or stopped: so are we
        pass
    except BaseException:  # noqa: BLE001 - told to the parent, which says it without a traceback
        try:
            conn.send(("crash", traceback.format_exc(limit=-3).strip().splitlines()[-1]))
        except (OSError, EOFError):
            pass
    finally:
        conn.close()
        _remove_spill(spill_path)  # the parent has merged it, or will not


def _end_with_parent(spill_path: str) -> None:
    """A parent killed outright (SIGKILL, the out-of-memory killer, or its
    own SIGTERM handler, which ends it at once) closes nothing itself; a
    worker reading the log would see its pipe end only at its next message,
    and its spill file would be left behind. A thread watches the parent."""
    import threading
    known = multiprocessing.parent_process()
    parent = known.pid if known is not None else os.getppid()  # the pid the parent had, even if it is gone

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        _remove_spill(spill_path)
        os._exit(1)

    threading.Thread(target=watch, name="goal-worker-watch", daemon=True).start()


def _remove_spill(spill_path: str) -> None:
    """A worker's spill file, once its parent has merged it or is gone, and
    the folder when it is the last one's."""
    for remove, path in ((os.unlink, spill_path), (os.rmdir, os.path.dirname(spill_path))):
        try:
            remove(path)
        except OSError:
            pass  # already removed by the parent, or the folder still holds another's


def _be_dealt(conn, kernel: _Kernel) -> None:
    """Run the events this worker is dealt, until it is told the run's end."""
    while True:
        msg = conn.recv()
        kind = msg[0]
        if kind == "begin":
            kernel.begin(msg[1], msg[2], msg[3])
        elif kind == "events":
            kernel.feed(msg[1])
        else:
            kernel.finish(msg[1])
            return


def _scan_and_run(conn, kernel: _Kernel, me: int, n: int, contacts, events, start: Optional[int],
                  until: Optional[int], progress: bool, fed: bool) -> bool:
    """Read the contacts and the log (``fed``: this partition's lines, sent
    by the parent, which scans the log), run this partition's events,
    report what is global, and finish when told the run's window. False
    when told to stop instead."""
    from .sources import SourceError
    program = kernel.program
    inputs = Inputs()
    messages = iter(conn.recv, None) if fed else None
    scan = _Scan(events, program.ir.events, me, n, messages)
    progress = progress and not fed
    first_line = None
    mine: list = []
    try:
        if contacts is not None:
            mine, scan.again = _own_contacts(contacts, inputs, me, n)
        first_line = _first_good_time(events, program.ir.events)
        began = start if start is not None else first_line
        if began is not None:
            kernel.begin(mine, began, until)
        for piece in scan.pieces() if scan.again is None else ():
            if piece:
                if kernel.run is None:  # pragma: no cover - a good line after the first good line found none
                    scan.again = "no first good line"
                    break
                kernel.feed(piece)
            if progress and me == 0:
                conn.send(("progress", scan.rows, (scan.position(), 1 << 20)))
    except SourceError:  # a file that cannot be read: the reader says so, as one process does
        scan.again = "a file that cannot be read"
    if scan.fed is not None:
        for msg in messages:  # the rest of the parent's lines, when the scan stopped early
            if msg[0] == "end":
                break
    conn.send(("read", {"contacts bad": inputs.bad, "bad": scan.bad, "duplicates": scan.duplicates,
                        "first": scan.first, "last": scan.last, "first line": first_line,
                        "bad ids": scan.bad_ids, "again": scan.again}))
    msg = conn.recv()
    if msg[0] != "finish":  # pragma: no cover - the protocol
        return False
    if kernel.run is None:  # no good line in the log: the run's window was given
        kernel.begin(mine, msg[1], until)
    kernel.finish(msg[2])
    return True


def _own_contacts(contacts, inputs: Inputs, me: int, n: int) -> "tuple[list, Optional[str]]":
    """This partition's contacts, ``(rank, record)`` in the file's order,
    read into ``inputs`` with the bad lines this worker reports; and why
    the run must be dealt (None: it need not). A contacts file of JSON Lines
    is read by its owners: each line's id is decoded cheaply, and only the
    lines of this partition's ids are read and checked (``_ContactOwners``;
    a line with no id it takes is partition 0's, which reports it), each
    contact ranked by its line (so the ranks of all partitions order the
    contacts as the file does, as their places in it would). A contact
    with the same id as another is on a line of the same partition, so the
    rule that the first one wins holds. Each owner checks that its good
    contacts are its own (their ids those decoded cheaply, or else each of
    this partition; if not, the run is dealt, where one process reads the
    file). Another format is read whole by every
    worker, and partition 0 reports its bad lines."""
    from .sources import contact_format
    if contact_format(contacts, None) != "jsonl":
        read_contacts(contacts, None, inputs)
        if me != 0:
            inputs.bad = []
        return [(rank, rec) for rank, rec in enumerate(inputs.contacts) if partition_of(rec["id"], n) == me], None
    owners = _ContactOwners(me, n)
    lines: dict[str, int] = {}
    read_contacts(contacts, None, inputs, keep=owners.keep, contact_lines=lines)
    ids = list(map(_GET_ID, inputs.contacts))
    if ids != owners.ids and any(partition_of(cid, n) != me for cid in ids):  # the usual case: no bad line of ours
        return [], "a contact's id decoded otherwise"
    return list(zip(map(lines.__getitem__, ids), inputs.contacts)), None


class _ContactOwners:
    """Which lines of a contacts file are this partition's (``keep``, for
    ``read_contacts``): by each line's id decoded cheaply (a batch of lines
    in one call; line by line when that does not give a row a line), text
    or an integer as the reader takes it; a line with no such id (blank,
    not JSON, no id) is partition 0's. ``ids``: the ids of the lines kept."""

    def __init__(self, me: int, n: int):
        self.me, self.n = me, n
        self.ids: list = []

    def keep(self, nos: Sequence[int], lines: list[bytes]) -> "tuple[list[int], list[bytes]]":
        rows = None
        try:
            rows = _DECODE_IDS(b"".join(lines))
        except (msgspec.DecodeError, ValueError, RecursionError):
            pass
        if rows is not None and len(rows) == len(lines):
            ids = list(map(_ID, rows))
        else:
            ids = list(map(_id_of_line, lines))
        me, n = self.me, self.n
        flags = []
        kept = self.ids
        for cid in ids:
            cid = _as_id(cid) or None  # (an empty text is no id)
            mine = partition_of(cid, n) == me if cid is not None else me == 0
            flags.append(mine)
            if mine and cid is not None:
                kept.append(cid)
        return list(compress(nos, flags)), list(compress(lines, flags))


def _id_of_line(line: bytes):
    """A line's id as ``_ContactOwners`` decodes it, or None."""
    try:
        return _DECODE_ID(line).id
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None


def _first_good_time(events, declared: dict) -> Optional[int]:
    """The time of the log's first good line (the reader's checks), or None
    when it has none: the start of a run without ``--from``."""
    validator = EventValidator(declared)
    with events.open() as f:
        for no, line in numbered_lines(f):
            if not line.strip():
                continue
            obj = decode_line(events.shown, no, line, [])
            if obj is not None:
                res = validator.check(obj)
                if not isinstance(res, str):
                    return res[0]
    return None


class _Scan:
    """One worker's reading of the whole log: every line's contact and id
    decoded cheaply, this partition's lines of each piece handed straight
    to the batch reader (``JsonlReader.batch``: decoded and checked in C, as
    one process reads them), handed on as pieces of the kernel's events
    ``(time, contact, type, fields, line)``. The line number is the event's
    place in the log. ``again`` says why the scan cannot decide as the
    reader does (then it stops). The work per line is done a piece at a
    time, in C (maps over lists), as the reader's is."""

    #: The fewest slots of ``_by_hash``'s table.
    TABLE = 1 << 16

    def __init__(self, source, declared: dict, me: int, n: int, fed: Optional[Iterator] = None):
        self.source = source
        self.fed = fed  # the parent's messages with this partition's lines, when it scans the log
        self.declared = declared
        self.me = me
        self.n = n
        self.bad: list = []  # this partition's bad lines
        self.duplicates = 0  # this partition's lines whose id an earlier line had
        self.bad_ids = 0  # bad lines of this partition with an id (the scan took it as seen)
        self.first: Optional[int] = None  # this partition's first and last event times
        self.last: Optional[int] = None
        self.again: Optional[str] = None
        self.rows = 0  # lines scanned
        self._owner: dict = {}  # contact (as decoded) -> its partition + 1
        self._table: Optional[tuple] = None  # the text contacts' hashes by slot, and their partitions + 1 (numpy)
        self._tabled = 0  # contacts in the table
        self.plain = False  # the log is a plain file (not compressed): a worker reads a piece itself

    def position(self) -> int:
        """How far the scan has come, out of 2**20 (for the progress display)."""
        return int((self.source.read_position() or 0) * (1 << 20))

    def pieces(self) -> Iterator[list[tuple]]:
        """Per piece of the log, this partition's good events that are not
        duplicates, checked against the scan: each has the id the scan
        decoded for its line (that each is of a contact of this partition,
        the kernel's engine checks: ``_Kernel``)."""
        reader = JsonlReader(self.declared, self.source.shown, self.bad, numbered=True)
        bad = self.bad
        last = None
        for nos, texts, line_ids, taken in self._own_pieces():
            told = len(bad)
            events, ids, lines = reader.batch(nos, texts)
            if len(lines) != len(nos):  # bad or blank lines left out
                if type(line_ids) is str:
                    line_ids = line_ids.split("\0")  # (the ids of as many lines as nos: at least one)
                scanned = dict(zip(nos, line_ids))
                self.bad_ids += sum(1 for b in bad[told:] if scanned[b.line] is not None)
                if len(lines) + len(bad) - told != len(nos) and not self._blank_as_scanned(scanned, lines, told):
                    self.again = "a blank line decoded otherwise"
                    return
                line_ids = list(map(scanned.__getitem__, lines))  # the scan's ids of the lines kept
            if not events:
                continue
            if not _same_ids(ids, line_ids):
                self.again = "an id decoded otherwise"
                return
            if taken and not taken.isdisjoint(lines):  # an earlier line (anyone's) took their ids
                fresh = [no not in taken for no in lines]
                kept = list(compress(events, fresh))
                self.duplicates += len(events) - len(kept)
                if not kept:
                    continue
                events, lines = kept, list(compress(lines, fresh))
            times = list(map(_T, events))
            if (last is not None and times[0] < last) or not in_time_order(times):
                self.again = "not in time order"
                return
            if self.first is None:
                self.first = times[0]
            last = self.last = times[-1]
            yield events  # the kernel's events: each with its line

    def _blank_as_scanned(self, scanned: dict, lines: list, told: int) -> bool:
        """Whether the scan decoded no id on the lines of a piece the reader
        found blank (``scanned``: the scan's id of each line; the others are
        the events' ``lines`` and the bad lines past ``told``): else it took
        an id the reader does not (its rows were shifted)."""
        blank = scanned.keys() - set(lines) - {b.line for b in self.bad[told:]}
        return all(scanned[no] is None for no in blank)

    def _own_pieces(self) -> Iterator[tuple[list, list, list, set]]:
        """Per piece of the log, this partition's lines: their numbers, their
        text, the scan's id of each, and the numbers of the piece's lines
        whose id an earlier line took; from the parent (``fed``: its
        messages), or from the log, scanned here."""
        if self.fed is not None:
            with _Pieces(self.source.path) as read:
                for msg in self.fed:
                    if msg[0] != "lines":
                        self.fed = None  # the end: nothing more will come
                        return
                    _, base, where, mask, line_ids, taken, self.rows = msg
                    data = read(where)
                    got = None if data is None else _lines_of(mask, base, data)
                    if got is None:
                        self.again = "the log changed while it was read, or cannot be read"
                        return
                    yield got[0], got[1], line_ids, taken
            return
        me = self.me
        for piece in self.route():
            if self.again is not None:
                return
            mask = piece.mask(me)
            got = _lines_of(mask, piece.base, piece.data)
            if got is None:  # pragma: no cover - the piece's lines were counted from these bytes
                self.again = "a piece split otherwise"
                return
            yield got[0], got[1], list(compress(piece.line_ids, mask)), piece.taken

    def route(self) -> Iterator["_Piece"]:
        """The log a piece at a time (``_Piece``). The ids of every line are
        taken as they go by (the first line with an id wins, whoever it is
        for)."""
        decode_lines = msgspec.json.Decoder(_ContactAndId).decode_lines
        decode = msgspec.json.Decoder(_ContactAndId).decode
        seen = SeenIds.for_source(self.source)  # every id taken so far (in bounded memory, as the reader keeps them)
        base = 1  # the number of the piece's first line
        for offset, data in self._chunks():
            count = _line_count(data)
            rows = None
            try:
                rows = decode_lines(data)
            except (msgspec.DecodeError, ValueError, RecursionError):
                pass
            # As many objects as lines: row i is taken as line i's, without the search for two objects on
            # one line (a third of the decoding's work): were one line two objects and another blank (or an
            # object two lines), the rows would be shifted, which the owners find (``pieces``: every line
            # of theirs is of their contact, with the id decoded here, or bad, or blank with no id).
            if rows is not None and len(rows) == count:
                contacts = list(map(_CONTACT, rows))
                line_ids = list(map(_ID, rows))
            else:  # blank lines, bad ones: line by line (a line no decoder reads is partition 0's to report)
                contacts, line_ids = [], []
                for line in io.BytesIO(data):
                    if not line.strip():
                        contacts.append(_BLANK)
                        line_ids.append(None)
                        continue
                    try:
                        row = decode(line)
                    except (msgspec.DecodeError, ValueError, RecursionError):
                        contacts.append(_UNREAD)
                        line_ids.append(None)
                        continue
                    contacts.append(row.contact)
                    line_ids.append(row.id)
            codes = self._codes(contacts)
            kinds = set(map(type, line_ids))
            if not kinds <= _TEXT_OR_NONE:
                line_ids = [_as_id(x) for x in line_ids]
                kinds = set(map(type, line_ids))
            flags = seen.duplicates(line_ids)  # the first line with an id wins, whoever it is for
            taken = set(compress(range(base, base + count), flags)) if flags is not None else set()
            self.rows += count
            yield _Piece(base, offset, data, codes, line_ids, taken, self.n, kinds == _TEXT)
            base += count

    def _codes(self, contacts: list) -> "list[int] | bytes":
        """Each line's partition + 1, by its contact as decoded (0: a blank
        line, no one's); + 1 so that they are bytes (``_Piece``). Once numpy
        is loaded (on a long log ``SeenIds`` loads it), by ``_by_hash``."""
        np = sys.modules.get("numpy")
        if np is not None and self.n < 255:
            try:
                hashes = np.fromiter(map(hash, contacts), np.int64, len(contacts))
            except TypeError:  # a bad line's contact is a list or an object
                pass
            else:
                return self._by_hash(np, hashes, contacts)
        cache = self._owner
        try:
            codes = list(map(cache.get, contacts))
        except TypeError:
            codes = [cache.get(c) if _hashable(c) else None for c in contacts]
        self._fill(codes, contacts)
        return codes

    def _fill(self, codes: list, contacts: list) -> list[int]:
        """``_fill_codes`` with this scan's contacts seen; any contact that
        is not a text by ``_code``."""
        return _fill_codes(codes, contacts, self._owner, self.n, self._code)

    def _code(self, c) -> int:
        """The code of a contact that is not a text (or is an empty one): an
        integer's partition + 1, as its digits' (kept for its next lines); 1
        for a bad line's contact (partition 0 reports it); 0 for a blank
        line."""
        code = self._owner.get(c) if _hashable(c) else None
        if code is not None:
            return code
        if type(c) is int:
            code = self._owner[c] = partition_of(str(c), self.n) + 1
        else:  # no contact the reader takes: the line is bad, partition 0 reports it
            code = 0 if c is _BLANK else 1
        return code

    def _by_hash(self, np, hashes, contacts: list) -> bytes:
        """``_codes`` by each contact's hash, in a table of the text
        contacts seen (slot: the hash's low bits; at least 16 slots a
        contact, so most have a slot of their own); the others (a new
        contact, one whose slot another has, not a text) from the dict of
        those seen, at once, and only the new ones made (``_fill``; the new
        texts then go into the table together, ``_put``). A dict
        of the texts costs two cache misses a line on a long log (its entry,
        and its key to compare), one after the other; the table's look-ups
        are made together. Were two texts to have one hash, the second
        would take the first's partition: its owner finds a contact not its
        own (``pieces``) and the run is dealt."""
        table = self._table
        if table is None or 16 * self._tabled > len(table[0]):
            table = self._table = self._new_table(np)
        keys, codes = table
        slots = hashes & (len(keys) - 1)
        out = codes[slots]
        missed = np.flatnonzero((keys[slots] != hashes) | (hashes == 0))  # (0 marks an empty slot: hash("") is 0)
        if len(missed):
            at = missed.tolist()
            missing = list(map(contacts.__getitem__, at))
            got = list(map(self._owner.get, missing))  # (each is hashable: it has a hash above)
            new = [j for j in self._fill(got, missing) if type(missing[j]) is str]
            if new:
                self._put(np, table, hashes[missed[new]], np.array([got[j] for j in new], np.uint8))
            out[missed] = got
        return out.tobytes()

    def _new_table(self, np) -> tuple:
        """The table of ``_by_hash``, made anew for the text contacts seen."""
        size = self.TABLE
        while size < 32 * len(self._owner):
            size <<= 1
        table = (np.zeros(size, np.int64), np.zeros(size, np.uint8))  # (a key 0: an empty slot)
        self._tabled = 0
        texts = [c for c in self._owner if type(c) is str]
        self._put(np, table, np.fromiter(map(hash, texts), np.int64, len(texts)),
                  np.fromiter(map(self._owner.__getitem__, texts), np.uint8, len(texts)))
        return table

    def _put(self, np, table: tuple, hashes, codes) -> None:
        """Text contacts (by their ``hashes``) into the table with their
        ``codes``, each whose slot is empty (of several for one slot, the
        first), all at once."""
        keys, slot_codes = table
        slots = hashes & (len(keys) - 1)
        free = np.flatnonzero((keys[slots] == 0) & (hashes != 0))
        slots, first = np.unique(slots[free], return_index=True)
        keys[slots] = hashes[free[first]]
        slot_codes[slots] = codes[free[first]]
        self._tabled += len(slots)

    def _chunks(self) -> Iterator[tuple[int, bytes]]:
        """The log in pieces of whole lines, each with its place in the file
        (in a plain file; ``plain`` says whether it is one)."""
        from ..syntax.source import BOM
        with self.source.open() as f:
            self.plain = self.source.compression is None and self.source.is_regular()
            offset = 0
            while True:
                data = f.read(CHUNK)
                if not data:
                    return
                if not data.endswith(b"\n"):
                    data += f.readline()
                size = len(data)
                if offset == 0 and data.startswith(BOM):
                    data = data[len(BOM):]
                    yield offset + len(BOM), data
                else:
                    yield offset, data
                offset += size


class _Piece:
    """A piece of the log as the scan read it: the first line's number
    (``base``), its place in the file and its bytes, each line's partition
    + 1 (0: a blank line, no one's), each line's id as the reader takes it,
    and the numbers of the lines whose id an earlier line took."""

    __slots__ = ("base", "offset", "data", "codes", "line_ids", "taken", "_bytes", "_texts")

    def __init__(self, base: int, offset: int, data: bytes, codes: list, line_ids: list, taken: set, n: int,
                 texts: bool = False):
        self.base, self.offset, self.data = base, offset, data
        self.codes, self.line_ids, self.taken = codes, line_ids, taken
        self._texts = texts  # every line has an id, a text
        # the codes as bytes, when they fit, so a partition's mask is one translate
        self._bytes = bytes(codes) if n < 255 else None

    def mask(self, me: int) -> bytes:
        """A byte per line: 1 for the lines of partition ``me``, else 0."""
        if self._bytes is not None:
            return self._bytes.translate(_MASKS[me])
        return bytes(map((me + 1).__eq__, self.codes))

    def ids_of(self, mask: bytes):
        """The scan's ids of the lines ``mask`` picks, in order: one text,
        the ids joined by NULs, when each is a text without a NUL (cheaper
        to send and to compare than a list of them, ``_same_ids``); else the
        list (with None for a line without an id)."""
        ids = list(compress(self.line_ids, mask))
        if self._texts and ids:
            joined = "\0".join(ids)
            if joined.count("\0") == len(ids) - 1:
                return joined
        return ids


class _Pieces:
    """A worker's reading of the pieces of the log the parent tells it
    about: a piece's bytes as sent, or read from the file (a plain file:
    where the piece is, ``(offset, size)``). None when the file no longer
    holds the piece (it was cut short, or cannot be read)."""

    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def __enter__(self) -> Callable[[Any], Optional[bytes]]:
        return self.read

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def read(self, where) -> Optional[bytes]:
        if type(where) is not tuple:
            return where
        offset, size = where
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDONLY)
            data = os.pread(self.fd, size, offset)
        except OSError:
            return None
        return data if len(data) == size else None


def _line_count(data: bytes) -> int:
    """The number of lines in a piece of the log (the last line of the file
    may have no newline). Counted by numpy once it is loaded (``SeenIds``
    loads it past its exact ids, so on a long log): twenty times faster
    than ``bytes.count``, which looks at a byte at a time."""
    np = sys.modules.get("numpy")
    if np is None:
        newlines = data.count(b"\n")
    else:
        newlines = int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))
    return newlines + (not data.endswith(b"\n"))


def _lines_of(mask: bytes, base: int, data: bytes) -> Optional[tuple[list, list]]:
    """A piece's lines of one partition (``mask``: a byte per line, 1 for
    its lines): their numbers, and their text as the reader reads it (with
    the newline; split as a file is, in C). None when the piece does not
    have a line per byte of the mask (the file changed)."""
    lines = io.BytesIO(data).readlines()
    if len(lines) != len(mask):
        return None
    return list(compress(range(base, base + len(mask)), mask)), list(compress(lines, mask))


class _ContactAndId(msgspec.Struct, gc=False):
    """What the scan decodes of a line: the rest is skipped."""
    contact: Any = None
    id: Any = None


class _Id(msgspec.Struct, gc=False):
    """What a worker decodes of a contact's line to know its owner."""
    id: Any = None


_DECODE_IDS = msgspec.json.Decoder(_Id).decode_lines
_DECODE_ID = msgspec.json.Decoder(_Id).decode
_GET_ID = itemgetter("id")


_CONTACT = attrgetter("contact")
_ID = attrgetter("id")
_T = itemgetter(0)
_MASKS = [bytes(int(code == me + 1) for code in range(256)) for me in range(254)]  # partition + 1 -> 1, else 0
_BLANK = object()  # a blank line's contact: no one's line
_UNREAD = object()  # a line no decoder reads: partition 0 reports it
_TEXT_OR_NONE = frozenset((str, type(None)))
_TEXT = frozenset((str,))


def _same_ids(ids: list, scanned) -> bool:
    """Whether the reader's ids of a piece's events are the scan's of their
    lines (``_Piece.ids_of``: a list, or one text of ids joined by NULs,
    none of which holds a NUL: then the join of as many ids is equal only
    when each is)."""
    if type(scanned) is not str:
        return ids == scanned
    try:
        return "\0".join(ids) == scanned
    except TypeError:  # an event without an id, where the scan decoded one
        return False


def _as_id(x) -> Optional[str]:
    """An id as the reader takes it (text; an integer as its digits); None
    for none, or one the reader refuses (the line is bad: it takes no id)."""
    t = type(x)
    if t is str:
        return x
    if t is int:
        return str(x)
    return None


def _hashable(x) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


class _Sink:
    """Where a worker's JsonlWriter would write: nowhere (its buffer is taken as it fills)."""

    def write(self, b) -> None:  # pragma: no cover - the buffer is emptied before it is written
        raise AssertionError("a worker's JSON Lines buffer was written out")

    def flush(self) -> None:
        pass
