"""`goal run --workers N`: one run over every core of one machine.

The engine's state is per contact, so the run splits by contact into N hash
partitions (``partition.partition_of``), each run by the partition kernel
in a process of its own. This process reads and checks the log (bad lines,
repeated ids and the run's window are facts about the whole log, decided
here, once) and hands each worker its contacts and events, in (time, seq)
order. Each worker writes its entries, with their order keys, to a spill
file; at the end the files are merged by key (``partition.merge``), which
puts the entries into the order one process writes them: the output is
byte for byte that of ``goal run`` without ``--workers`` (docs/scale.md).

The program travels to the workers as ``Program.dumps()``. A worker
formats JSON Lines itself (the lines are merged as bytes); for the other
formats it hands back the entries and this process writes them. The
summary is computed per partition and the partitions' summaries are added
(``Summary.merge``): counts add, and every time to goal is kept, so the
quantiles stay exact.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
import traceback
from typing import IO, Callable, Iterator, Optional

from .engine import EngineError
from .inputs import Inputs, as_source, iter_events, read_contacts
from .output import JsonlWriter
from .partition import PIECE, PartitionRun, cut_at_failure, first_failure, merge, partition_of
from .program import InputError, Program, read_inputs, shown_path
from .summary import Summary, shapes_of

Window = Callable[[Inputs], "tuple[int, int]"]

#: The most workers a run may ask for.
MAX_WORKERS = 256


class WorkerFailed(Exception):
    """A worker process died or raised something that is not an EngineError: a bug, or the machine (memory)."""


class _Unsorted(Exception):
    pass


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
    pool = _Pool(program, workers, "lines" if lines else "entries", summary)
    try:
        try:
            inputs = _streamed(pool, program, contacts, events, start, until, window, skip_bad, fmt, mapping,
                               on_batch)
        except _Unsorted:
            pool.close()
            pool = _Pool(program, workers, "lines" if lines else "entries", summary)
            inputs = read_inputs(program, contacts, events, skip_bad=skip_bad, fmt=fmt, mapping=mapping)
            first, last = window(inputs)
            pool.begin(inputs.contacts, first, last)
            for seq, ev in enumerate(inputs.events):
                pool.add(ev, seq)
            inputs.events.clear()
            pool.finish(last)
        results = pool.results()
        failed = first_failure(r[0] for r in results)
        pairs = merge([pool.spilled(i) for i in range(workers)])
        if failed is not None:
            pairs = cut_at_failure(pairs, [failed.instant])
        if out is not None:
            _write(pairs, out, lines, writer_for)
        else:
            for _ in pairs:
                pass
        if failed is not None:
            raise failed
        total = None
        if summary:
            total = Summary(shapes_of(program.ir))
            for _, s in results:
                total.merge(s)
        return inputs, total
    finally:
        pool.close()


def _write(pairs: Iterator[tuple], out: IO, lines: bool, writer_for) -> None:
    if lines:
        w = JsonlWriter(out)
        for _, line in pairs:
            w.add_line(line)
    else:
        w = writer_for(out)
        for _, entry in pairs:
            w(entry)
    w.flush()


def _streamed(pool: "_Pool", program: Program, contacts, events, start: Optional[int], until: Optional[int],
              window: Window, skip_bad: bool, fmt: Optional[str], mapping, on_batch) -> Inputs:
    """The log read in order and dealt to the workers as it is read (as
    ``backtest`` runs it); ``_Unsorted`` when it is not in time order."""
    inputs = Inputs()
    if contacts is not None:
        read_contacts(contacts, None, inputs, mapping=mapping)
    last: Optional[int] = None
    seq = 0
    if events is not None:
        for ev in iter_events(events, program.ir.events, None, inputs, fmt=fmt, mapping=mapping, on_batch=on_batch):
            t = ev[0]
            if last is None:
                inputs.first_time = t
                pool.begin(inputs.contacts, start if start is not None else t, until)
            elif t < last:
                raise _Unsorted()
            last = t
            if until is not None and t > until:
                continue  # checked, never acted on
            pool.add(ev, seq)
            seq += 1
    inputs.last_time = last
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    first, final = window(inputs)
    if last is None:
        pool.begin(inputs.contacts, first, until)
    pool.finish(final)
    return inputs


class _Pool:
    """The worker processes, one per partition, and their spill files."""

    def __init__(self, program: Program, n: int, mode: str, summary: bool):
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
        self.begun = False
        for i in range(n):
            here, there = ctx.Pipe()
            p = ctx.Process(target=_work, args=(there, data, mode, summary, self.spill_path(i)), daemon=True,
                            name=f"goal-worker-{i}")
            p.start()
            there.close()
            self.conns.append(here)
            self.procs.append(p)

    def spill_path(self, i: int) -> str:
        return os.path.join(self.folder, f"partition-{i}.pickle")

    def begin(self, contacts: list[dict], start: int, until: Optional[int]) -> None:
        if self.begun:
            return
        self.begun = True
        parts: list[list] = [[] for _ in range(self.n)]
        for rank, rec in enumerate(contacts):
            parts[partition_of(str(rec["id"]), self.n)].append((rank, rec))
        for conn, part in zip(self.conns, parts):
            self._send(conn, ("begin", part, start, until))

    def add(self, ev: tuple, seq: int) -> None:
        i = partition_of(ev[1], self.n)
        piece = self.pieces[i]
        piece.append((ev[0], ev[1], ev[2], ev[3], seq))
        if len(piece) >= PIECE:
            self._send(self.conns[i], ("events", piece))
            self.pieces[i] = []

    def finish(self, until: int) -> None:
        for i, conn in enumerate(self.conns):
            if self.pieces[i]:
                self._send(conn, ("events", self.pieces[i]))
                self.pieces[i] = []
            self._send(conn, ("finish", until))

    def _send(self, conn, msg) -> None:
        try:
            conn.send(msg)
        except (BrokenPipeError, EOFError, OSError):
            self._died()

    def results(self) -> list[tuple[Optional[EngineError], Optional[Summary]]]:
        """Each worker's failure (or None) and summary, once it has finished."""
        out = []
        for i, conn in enumerate(self.conns):
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self._died()
            if msg[0] == "crash":
                raise WorkerFailed(f"worker {i} failed: {msg[1]}")
            _, failure, summary = msg
            out.append((EngineError(*failure) if failure is not None else None, summary))
        return out

    def _died(self):
        codes = [p.exitcode for p in self.procs]
        raise WorkerFailed(f"a worker process stopped unexpectedly (exit codes {codes}); if the machine ran out of "
                           f"memory, run with fewer --workers")

    def spilled(self, i: int) -> Iterator[tuple]:
        """A partition's (key, line or entry) pairs, in key order, from its spill file."""
        with open(self.spill_path(i), "rb") as f:
            load = pickle.Unpickler(f).load
            while True:
                try:
                    keys, items = load()
                except EOFError:
                    return
                yield from zip(keys, items)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()  # a worker still reading stops at the end of its pipe
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():  # pragma: no cover - a worker that does not stop when its pipe closes
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
        self.conns, self.procs = [], []


def _work(conn, data: bytes, mode: str, summary: bool, spill_path: str) -> None:
    """A worker: one partition, run by the kernel, its entries spilled with their keys."""
    import gc
    import signal
    gc.disable()  # as goal run: few reference cycles, many long-lived objects
    # Ctrl-C is the parent's to answer; a worker ends when its pipe does (or by SIGTERM, quietly).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        from .program import loads_program
        program = loads_program(data)
        summ = Summary(shapes_of(program.ir)) if summary else None
        with open(spill_path, "wb") as spill:
            dump = pickle.Pickler(spill, protocol=pickle.HIGHEST_PROTOCOL).dump
            writer = None
            if mode == "lines":
                writer = JsonlWriter(_Sink())
                writer.size = 1 << 62  # never written out: its buffer is taken after each batch

            def emit(pairs: list) -> None:
                if not pairs:
                    return
                keys = [k for k, _ in pairs]
                entries = [e for _, e in pairs]
                if summ is not None:
                    for e in entries:
                        summ.add(e)
                if writer is not None:
                    for e in entries:
                        writer(e)
                    items = bytes(writer.buf).split(b"\n")[:-1]  # a JSON line holds no raw newline
                    writer.buf = bytearray()
                else:
                    items = entries
                dump((keys, items))

            run: Optional[PartitionRun] = None
            failure = None
            while True:
                msg = conn.recv()
                kind = msg[0]
                if kind == "begin":
                    run = PartitionRun(program, msg[1], start=msg[2], until=msg[3], keyed=True)
                    continue
                if failure is not None:
                    if kind == "finish":
                        break
                    continue  # the run stopped: the rest of the log is read (for bad lines) but not run
                try:
                    if kind == "events":
                        emit(run.feed(msg[1]))
                    else:
                        emit(run.finish(msg[1]))
                        emit(run.waiting())
                        break
                except EngineError as e:
                    emit(run.entries())  # what was done before the failure
                    failure = (str(e), e.instant)
                    if kind == "finish":
                        break
        conn.send(("done", failure, summ))
    except (EOFError, OSError, BrokenPipeError):  # the parent stopped (interrupted, or a bad log): so do we
        try:
            os.unlink(spill_path)
        except OSError:
            pass
    except BaseException:  # noqa: BLE001 - told to the parent, which says it without a traceback
        try:
            conn.send(("crash", traceback.format_exc(limit=-3).strip().splitlines()[-1]))
        except (OSError, EOFError):
            pass
    finally:
        conn.close()


class _Sink:
    """Where a worker's JsonlWriter would write: nowhere (its buffer is taken as it fills)."""

    def write(self, b) -> None:  # pragma: no cover - the buffer is emptied before it is written
        raise AssertionError("a worker's JSON Lines buffer was written out")

    def flush(self) -> None:
        pass
