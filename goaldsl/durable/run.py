"""Durable runs: a run kept in an SQLite state file (``goal run --state``).

The state file holds the program's fingerprint and source, the contacts, every
ingested event, how far each events file has been read, the activity stream,
an outbox of actions, every enrolled contact's place, and a checkpoint of the
engine. See docs/durability.md for the guarantees; in short:

* Each instant's work (its activity entries, its outbox rows, the places it
  changed, the instant itself) commits in one transaction.
* The engine is deterministic, so a resume restores the latest checkpoint and
  replays the instants committed after it with nothing written or delivered,
  checking that the replay makes exactly the stored entries; then it goes on.
  A checkpoint is written at the start of each run and every few seconds.
* Actions go through an outbox: an action's row (with its deterministic id)
  commits with its instant; a host's handler is called after the commit and
  the row marked delivered after the handler returns. Delivery is at least
  once; the id is the idempotency key.

The other modules of this package: ``statefile`` (the schema, opening and
checking a file), ``checkpoint`` (the engine's checkpoint and the replay),
``edits`` (the program a state runs and the edits it accepts),
``newevents`` (reading a growing events file), ``outbox`` (delivery) and
``commands`` (``goal run --state``, ``goal log``, ``goal pause``).
"""
from __future__ import annotations

import sqlite3
import time as _time
from pathlib import Path
from typing import Callable, Iterable, Optional

import attrs

from ..semantics.calendar import format_utc
from ..runtime.engine import Engine, EngineError
from ..runtime.output import jsonl_line
from . import outbox
from .checkpoint import Checkpoints, replay
from .edits import check_program, program_fingerprint, stored_program, write_program
from .newevents import NewEvents, read_new_events, read_position
from .statefile import StateError, as_int, lock, open_state, read_meta, to_json, transaction

_clock = _time.monotonic  # for grouping commits


@attrs.define
class Ingested:
    """What one batch of input did to a state."""
    events: int = 0
    contacts: int = 0
    duplicates: int = 0
    late: list = attrs.field(factory=list)  # (source, line, time, type, contact)
    bad: list = attrs.field(factory=list)  # BadLine
    unchanged_contacts: int = 0  # known contacts whose record in the file differs (not applied)


class DurableRun:
    """A run kept in a state file.

    >>> run = DurableRun("run.db", program)                  # doctest: +SKIP
    >>> new = run.read_events(Path("events.jsonl"))          # past what was read before
    >>> run.begin(start=t0)                                  # restore, replay, check the program
    >>> report = run.ingest(contacts, [new])                 # one transaction
    >>> run.run_until(t1)                                    # commits instant by instant

    ``handlers`` are called after each instant commits, once per outbox row,
    and the row is marked delivered after the handler returns: at least once,
    with ``ActionRequest.id`` as the idempotency key.
    """

    def __init__(self, path: str | Path, program, *, handlers: Optional[outbox.Handlers] = None,
                 on_entry: Callable[[str], None] | None = None, checkpoint_seconds: float = 2.0,
                 commit_seconds: float = 0.05):
        self.path = Path(path)
        self.program = program
        self.handlers = dict(handlers or {})
        self.on_entry = on_entry  # called with each entry's JSON line after its instant commits
        self.commit_seconds = commit_seconds
        self._last_commit = 0.0
        self.db = open_state(self.path, create=True)
        try:
            self._lockf = lock(self.path)
        except StateError:
            self.db.close()
            raise
        self.checkpoints = Checkpoints(self.db, self.path, checkpoint_seconds)
        self.meta = read_meta(self.db)
        self.fresh = "start" not in self.meta
        self.eng: Optional[Engine] = None
        self.replayed = 0  # instants replayed from the checkpoint on resume
        self.new_workflows: list[str] = []
        self._dirty = False  # something to checkpoint at ingest
        self._entries: list[dict] = []
        self._activity = int(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM activity").fetchone()[0])

    @property
    def start(self) -> Optional[int]:
        return as_int(self.meta.get("start"))

    @property
    def now(self) -> Optional[int]:
        """The last instant committed."""
        return as_int(self.meta.get("now"))

    def read_events(self, path: Path, shown: Optional[str] = None) -> NewEvents:
        """The events of a file past what this state has read of it."""
        off, lines, digest = read_position(self.db, path, self.path)
        return read_new_events(path, shown or str(path), self.program.ir.events, offset=off, lines=lines,
                               digest=digest)

    # ------------------------------------------------------------ opening

    def begin(self, start: Optional[int]) -> None:
        """Restore the engine: a fresh one, or the checkpoint with the committed
        instants after it replayed (and checked). Then check the program
        against the state and apply pauses. Writes nothing but checkpoints
        of the replay (refused programs leave the state as it was)."""
        plan = self.program.plan
        if self.fresh:
            if start is None:
                raise StateError("there are no events to set the run's start: give --from")
            self.eng = Engine(plan, start=start)
            self._dirty = True
        else:
            if start is not None and start != self.start:
                raise StateError(f"this state started at {format_utc(self.start)}; --from cannot change it "
                                 f"(leave --from out, or use a new state file)")
            ck_activity, snap = self.checkpoints.read()
            same = self.meta.get("fingerprint") == program_fingerprint(self.program)
            if not same:
                # The program was edited: the instants committed after the
                # checkpoint are replayed with the program they ran with.
                old = stored_program(self.db, self.meta.get("fingerprint"))
                if old is not None:
                    old_eng = self.checkpoints.restore(old.plan, snap)
                    self._replay(old_eng, ck_activity, same_program=True)
                    snap = old_eng.dump()
                check_program(self.db, self.program, self.path)
            self.eng = self.checkpoints.restore(plan, snap)
            self.new_workflows = list(self.eng.new_workflows)
            self._replay(self.eng, ck_activity, same_program=same)
        paused = {name for name, p in self.db.execute("SELECT name, paused FROM workflows") if p}
        for cw in plan.workflows:
            if self.eng.set_paused(cw.name, cw.name in paused):
                self._dirty = True
        self.eng.on_activity = self._entries.append
        self.eng.on_instant = self._commit_instant
        self.eng.touched = set()

    def _replay(self, eng: Engine, ck_activity: int, *, same_program: bool) -> None:
        target = self.now
        if target is not None and (eng.now is None or eng.now < target):
            self.replayed += replay(eng, self.checkpoints, ck_activity, target, same_program=same_program)
            self._dirty = True  # a checkpoint at the resume's ingest saves the replay next time

    # ------------------------------------------------------------ ingesting

    def ingest(self, contacts: Iterable[dict] = (), batches: Iterable[NewEvents] = ()) -> Ingested:
        """Add new contacts and events in one transaction with a checkpoint.
        Events at or before the last instant acted on are *late*: stored, they
        count in later evaluations, and nothing acts on them."""
        eng = self.eng
        rep = Ingested()
        db = self.db
        with transaction(db):
            known = {r[0]: r[1] for r in db.execute("SELECT id, record FROM contacts")}
            rows = []
            for rec in contacts:
                cid = str(rec["id"])
                if cid in known:
                    if known[cid] != to_json(rec):
                        rep.unchanged_contacts += 1
                    continue
                known[cid] = to_json(rec)
                eng.add_contact_unchecked(rec)
                rows.append((cid, len(eng.contacts) - 1, known[cid]))
            db.executemany("INSERT INTO contacts VALUES (?, ?, ?)", rows)
            rep.contacts = len(rows)
            added = []
            for nb in batches:
                added += self._store_events(nb, rep)
            # Late ones become history; the others merge with what is queued (a run stopped by --until).
            eng.add_events_unchecked(added)
            if rows or rep.events:
                self._dirty = True
            if self.fresh:
                self.meta["fingerprint"] = write_program(db, self.program)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('start', ?)", (str(eng.start),))
                self.meta["start"] = str(eng.start)
            elif self.meta.get("fingerprint") != program_fingerprint(self.program) or self.new_workflows:
                self.meta["fingerprint"] = write_program(db, self.program)
                self._dirty = True
            if self._dirty:
                self.checkpoints.write(eng, eng.now, self._activity)
        self.fresh = False
        self._dirty = False
        return rep

    def _store_events(self, nb: NewEvents, rep: Ingested) -> list[tuple]:
        """Store one file's new events (not those whose ids are stored);
        returns them for the engine."""
        eng, db = self.eng, self.db
        rep.bad.extend(nb.bad)
        rep.duplicates += nb.duplicates
        evs = nb.events
        ids = [e[4] for e in evs if e[4] is not None]
        stored = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            stored.update(r[0] for r in db.execute(
                f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})", chunk))
        erows, added = [], []
        for t, cid, typ, fields, eid, src, line in evs:
            if eid is not None and eid in stored:
                rep.duplicates += 1
                continue
            late = eng.now is not None and eng.start <= t <= eng.now
            if late:
                rep.late.append((src, line, t, typ, cid))
            erows.append((t, cid, typ, to_json(fields), eid, int(late), src, line))
            added.append((t, cid, typ, fields))
        db.executemany("INSERT INTO events(time, contact, type, fields, event_id, late, source, line) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", erows)
        rep.events += len(erows)
        if nb.path is not None:
            db.execute("INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?)", (nb.path, nb.offset, nb.lines, nb.digest))
        return added

    # ------------------------------------------------------------ running

    def run_until(self, until: int) -> int:
        """Run to ``until`` (included), committing instant by instant.
        Returns the number of activity entries written."""
        before = self._activity
        self.deliver_pending()
        if self.eng.now is not None and until <= self.eng.now:
            return 0
        self.checkpoints.restart()
        self.eng.run_until(until)
        # The end: the clock stands at `until`, whether or not anything happened then.
        self._commit(self.eng.now, checkpoint=True)
        return self._activity - before

    def _commit_instant(self, t: int) -> None:
        # Instants are grouped: their work commits together, every
        # commit_seconds at most (one fsync-free WAL commit per instant would
        # dominate the run). An instant is never split between transactions.
        if self.commit_seconds > 0 and _clock() - self._last_commit < self.commit_seconds:
            return
        self._commit(t, checkpoint=self.checkpoints.due())

    def _commit(self, t: int, *, checkpoint: bool) -> None:
        eng = self.eng
        db = self.db
        entries = self._entries
        lines = [jsonl_line(e) for e in entries]
        with transaction(db):
            seq = self._activity
            arows, orows = [], []
            for e, line in zip(entries, lines):
                seq += 1
                arows.append((seq, e["time"], e["contact"], e["workflow"], e["type"], line))
                if e["type"] == "action":
                    orows.append((e["id"], seq, e["action"], to_json(e.get("args")), e["contact"], e["workflow"],
                                  e["time"], e.get("step"), e.get("goal")))
            if arows:
                db.executemany("INSERT INTO activity VALUES (?, ?, ?, ?, ?, ?)", arows)
            if orows:
                try:
                    db.executemany("INSERT INTO outbox(id, activity, action, args, contact, workflow, time, step, goal) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", orows)
                except sqlite3.IntegrityError as e:
                    raise EngineError(f"two actions got the same id at {format_utc(t)} ({e}); this is a bug in goal")
            if eng.touched:
                self._write_positions(eng.touched)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('now', ?)", (str(t),))
            if checkpoint:
                self.checkpoints.write(eng, t, seq)
        self._activity = seq
        self.meta["now"] = str(t)
        self._last_commit = _clock()
        if eng.touched:
            eng.touched.clear()
        entries.clear()
        eng.activity.clear()
        if orows and self.handlers:
            outbox.deliver(db, self.handlers, [r[0] for r in orows], self.path)
        if self.on_entry is not None and lines:
            for line in lines:
                self.on_entry(line)

    def _write_positions(self, touched: set) -> None:
        eng = self.eng
        ups, dels = [], []
        for wname, cid in touched:
            p = eng.position(wname, cid)
            if p is None:
                dels.append((wname, cid))
                continue
            ups.append((wname, cid, p.enrollment, p.since, p.step_index, p.step, p.waiting, p.due))
        if dels:
            self.db.executemany("DELETE FROM positions WHERE workflow = ? AND contact = ?", dels)
        if ups:
            self.db.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ups)

    def deliver_pending(self) -> int:
        """Deliver outbox rows left undelivered (a crash between commit and
        delivery, or a handler that failed). Returns how many."""
        ids = outbox.undelivered(self.db, self.handlers)
        if ids:
            outbox.deliver(self.db, self.handlers, ids, self.path)
        return len(ids)

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            if self._lockf is not None:
                self._lockf.close()
                self._lockf = None
