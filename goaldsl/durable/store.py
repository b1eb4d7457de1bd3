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
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import pickle
import sqlite3
import time as _time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import attrs

from ..semantics import ir
from ..semantics.calendar import format_utc
from ..syntax.source import BOM
from ..runtime.engine import ActionRequest, Engine, EngineError, _WState
from ..runtime.inputs import BadLine, EventValidator, decode_line
from ..runtime.output import jsonl_line
from ..runtime.plan import GOAL, JUMP, JUMP_UNLESS, WAIT_COND, CGoal, CWorkflow, Plan

_clock = _time.monotonic  # for checkpoint timing

FORMAT = "goal-state"
VERSION = 1

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE workflows(name TEXT PRIMARY KEY, position INTEGER, goals TEXT, shape TEXT,
                       paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sources(name TEXT PRIMARY KEY, text TEXT);
CREATE TABLE contacts(id TEXT PRIMARY KEY, position INTEGER, record TEXT);
CREATE TABLE events(seq INTEGER PRIMARY KEY, time INTEGER, contact TEXT, type TEXT, fields TEXT,
                    event_id TEXT UNIQUE, late INTEGER NOT NULL DEFAULT 0, source TEXT, line INTEGER);
CREATE TABLE inputs(path TEXT PRIMARY KEY, offset INTEGER, lines INTEGER, digest TEXT);
CREATE TABLE activity(seq INTEGER PRIMARY KEY, time INTEGER, contact TEXT, workflow TEXT, type TEXT,
                      entry TEXT);
CREATE TABLE outbox(id TEXT PRIMARY KEY, activity INTEGER, action TEXT, args TEXT, contact TEXT,
                    workflow TEXT, time INTEGER, step TEXT, goal TEXT, delivered_at REAL,
                    attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX outbox_pending ON outbox(activity) WHERE delivered_at IS NULL;
CREATE TABLE positions(workflow TEXT, contact TEXT, enrollment INTEGER, since INTEGER, step_index INTEGER,
                       step TEXT, waiting TEXT, due INTEGER, PRIMARY KEY(workflow, contact));
CREATE TABLE checkpoint(id INTEGER PRIMARY KEY CHECK (id = 1), instant INTEGER, activity INTEGER,
                        engine BLOB);
"""


class StateError(Exception):
    """A state file cannot be used as asked; the message says why and what to do."""


@attrs.define
class Ingested:
    """What one batch of input did to a state."""
    events: int = 0
    contacts: int = 0
    duplicates: int = 0
    late: list = attrs.field(factory=list)  # (source, line, time, type, contact)
    bad: list = attrs.field(factory=list)  # BadLine
    unchanged_contacts: int = 0  # known contacts whose record in the file differs (not applied)


@attrs.define
class NewEvents:
    """Events read from one file past what the state has already read."""
    events: list  # (time, contact, type, fields, id, source, line), sorted by time (stable)
    bad: list
    duplicates: int
    path: Optional[str] = None
    offset: int = 0
    lines: int = 0
    digest: str = ""


# ---------------------------------------------------------------- fingerprints

def program_fingerprint(program) -> str:
    """The checked program, independent of formatting and comments."""
    return _digest(repr(program.ir))


def _workflow_goals(wf: ir.Workflow, segments: dict) -> str:
    """The goals' conditions and actions, and the definitions of the
    segments they name directly (sorted by name): the text state files were
    written with. The segments those segments use are not added (so editing
    one is not locked); adding them would change the stored digest of every
    workflow whose goals use such a segment."""
    goals = [g for g in _goal_steps(wf.steps)] + list(wf.goals)
    text = repr(goals)
    conds = [c for g in goals for c in (g.cond, *(cond for cond, _, _ in g.then_ifs))]
    for name in sorted({n.name for c in conds for n, _ in ir.walk(c) if isinstance(n, ir.CSegment)}):
        text += repr(segments.get(name))
    return _digest(text)


def _goal_steps(steps):
    for st in steps:
        if isinstance(st, ir.SGoal):
            yield st.goal
        elif isinstance(st, ir.SIf):
            for _, body in st.branches:
                yield from _goal_steps(body)
            yield from _goal_steps(st.else_steps)


def _shape(cw) -> str:
    """What places in a workflow mean: instruction kinds, step indexes, jumps."""
    out = []
    for ins in cw.code:
        op = ins[0]
        item: tuple = (op, ins[-1])
        if op == JUMP:
            item += (ins[1],)
        elif op == JUMP_UNLESS:
            item += (ins[2],)
        elif op == GOAL:
            item += (ins[1].name,)
        else:
            item += (ins[2],)
        out.append(item)
    return _digest(repr(out))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# ---------------------------------------------------------------- checkpoints

class _Count:
    """An itertools.count's next value (counts are not pickled directly)."""

    def __init__(self, n: int):
        self.n = n


_NOT_STATE = frozenset({"plan", "handlers", "on_activity", "on_instant", "touched", "exhaustive", "activity",
                        "_targets", "_ws"})


_RESOLVERS: list = []  # the resolver of the checkpoint being loaded


def _ref(key: tuple):
    """Unpickled in place of a reference to the plan or the engine's workflows."""
    return _RESOLVERS[-1](key)


def _pickler(f, eng: Engine) -> pickle.Pickler:
    """A pickler that stores the plan's objects and the workflows' run-time
    holders as references by name (a reducer per type: the other objects
    pickle at C speed)."""
    goals = {}
    for w in eng._ws:
        for g in list(w.cw.step_goals) + list(w.cw.exit_goals):
            goals[id(g)] = ("goal", w.cw.name, g.name)
    p = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
    p.dispatch_table = {
        _WState: lambda w: (_ref, (("ws", w.cw.name),)),
        CWorkflow: lambda cw: (_ref, (("cw", cw.name),)),
        CGoal: lambda g: (_ref, (goals.get(id(g), ("goal", None, g.name)),)),
        Plan: lambda _: (_ref, (("plan",),)),
        ir.Program: lambda _: (_ref, (("program",),)),
        Engine: lambda _: (_ref, (("engine",),)),
    }
    return p


class _Gone:
    """A workflow that is no longer in the program (it had no contacts)."""
    paused = True
    enrolled: dict = {}
    cw = None


def dump_engine(eng: Engine) -> bytes:
    """The engine's run-time state. The plan and anything compiled are not
    stored: they are referred to by workflow and goal name."""
    state = {}
    for k, v in vars(eng).items():
        if k in _NOT_STATE:
            continue
        if isinstance(v, itertools.count):
            n = next(v)
            setattr(eng, k, itertools.count(n))
            v = _Count(n)
        state[k] = v
    ws = {w.cw.name: {k: v for k, v in vars(w).items() if k != "cw"} for w in eng._ws}
    buf = io.BytesIO()
    _pickler(buf, eng).dump((state, ws))
    return buf.getvalue()


def load_engine(eng: Engine, blob: bytes) -> list[str]:
    """Put a stored state into a fresh engine for the (possibly edited) plan.
    Returns the names of workflows new in the plan."""
    by_name = {w.cw.name: w for w in eng._ws}

    def resolve(pid: tuple):
        kind = pid[0]
        if kind == "engine":
            return eng
        if kind == "plan":
            return eng.plan
        if kind == "program":
            return eng.plan.program
        w = by_name.get(pid[1])
        if kind == "ws":
            return w if w is not None else _Gone()
        if w is None:
            return None
        if kind == "cw":
            return w.cw
        if kind == "goal":
            return next((g for g in list(w.cw.step_goals) + list(w.cw.exit_goals) if g.name == pid[2]), None)
        raise StateError(f"the state's checkpoint refers to something unknown: {pid!r}")

    _RESOLVERS.append(resolve)
    try:
        state, ws = pickle.loads(blob)
    finally:
        _RESOLVERS.pop()
    for k, v in state.items():
        setattr(eng, k, itertools.count(v.n) if isinstance(v, _Count) else v)
    new = []
    for w in eng._ws:
        st = ws.get(w.cw.name)
        if st is not None:
            w.__dict__.update(st)
            continue
        new.append(w.cw.name)
        # A workflow added to a running state activates from now on.
        if eng.now is not None and w.activation is not None and w.activation <= eng.now:
            w.activation = None if w.cw.wf.once_at is not None else eng._align(w, eng.now + 1)
    return new


# ---------------------------------------------------------------- reading events



@contextlib.contextmanager
def _transaction(db: sqlite3.Connection):
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (a kill
    needs nothing: SQLite drops an uncommitted transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise

def _hash_prefix(f, n: int):
    """SHA-256 of the first ``n`` bytes of an open file, and how many of
    them were missing (the file is shorter)."""
    h = hashlib.sha256()
    left = n
    while left:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h, left

def read_new_events(path: Path, shown: str, events: dict, *, offset: int = 0, lines: int = 0,
                    digest: str = "") -> NewEvents:
    """Read an events file past ``offset`` (the part a state has read before,
    checked unchanged by its digest)."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise StateError(f"cannot read {shown}: {e.strerror or e}") from None
    with f:
        h, left = _hash_prefix(f, offset)
        if offset:
            if left or h.hexdigest() != digest:
                raise StateError(
                    f"{shown} has changed since this state read it (not only by lines added at its end); "
                    f"a state reads an events file once: put new events in a new file and pass it with --events")
        rest = f.read()
    # Only whole lines: a last line without its newline may still be being written.
    end = rest.rfind(b"\n") + 1
    if end < len(rest) and rest[end:].strip():
        try:
            if isinstance(_decode_strict(rest[end:]), dict):
                end = len(rest)
        except Exception:
            pass
    body = rest[:end]
    h.update(body)
    if not offset and body.startswith(BOM):  # as read_events does
        body = body[len(BOM):]
    validator = EventValidator(events)
    bad: list[BadLine] = []
    out = []
    seen: set[str] = set()
    dups = 0
    no = lines
    for raw in body.splitlines():
        no += 1
        if not raw.strip():
            continue
        obj = decode_line(shown, no, raw, bad)
        if obj is None:
            continue
        res = validator.check(obj)
        if isinstance(res, str):
            bad.append(BadLine(shown, no, res))
            continue
        t, cid, typ, fields, eid = res
        if eid is not None:
            if eid in seen:
                dups += 1
                continue
            seen.add(eid)
        out.append((t, cid, typ, fields, eid, shown, no))
    out.sort(key=lambda e: e[0])
    return NewEvents(out, bad, dups, str(path.resolve()), offset + len(body), no, h.hexdigest())


def _decode_strict(b: bytes):
    return json.loads(b)


# ---------------------------------------------------------------- the state file

def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    db.execute("PRAGMA busy_timeout = 30000")
    return db


def open_state(path: str | Path, *, create: bool = False) -> sqlite3.Connection:
    """Open a state file (creating it when asked); raises StateError."""
    p = Path(path)
    if not p.exists():
        if not create:
            raise StateError(f"no such state file: {path}")
        if p.parent and not p.parent.exists():
            raise StateError(f"no such folder for the state file: {p.parent}")
    elif p.is_dir():
        raise StateError(f"{path} is a folder, not a state file")
    try:
        db = _connect(p)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        raise StateError(f"{path} is not a goal state file ({e})") from None
    if not tables:
        if not create:
            raise StateError(f"{path} is not a goal state file (it is empty)")
        db.execute("BEGIN IMMEDIATE")
        if not db.execute("SELECT name FROM sqlite_master").fetchall():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))])
        db.execute("COMMIT")
        return db
    if "meta" not in tables:
        raise StateError(f"{path} is not a goal state file")
    meta = dict(db.execute("SELECT key, value FROM meta"))
    if meta.get("format") != FORMAT:
        raise StateError(f"{path} is not a goal state file")
    if meta.get("version") != str(VERSION):
        raise StateError(f"{path} was written by another version of goal (state format {meta.get('version')}, "
                         f"this goal reads {VERSION})")
    return db


def _lock(path: Path):
    """An exclusive lock for the run (released by the system even on kill -9)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return None
    f = open(path, "rb")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise StateError(f"another goal run is using {path}; wait for it to finish") from None
    return f


def _meta(db: sqlite3.Connection) -> dict:
    return dict(db.execute("SELECT key, value FROM meta"))


def _int(v) -> Optional[int]:
    return None if v is None else int(v)


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

    def __init__(self, path: str | Path, program, *, handlers: dict[str, Callable[[ActionRequest], Any]] | None = None,
                 on_entry: Callable[[str], None] | None = None, checkpoint_seconds: float = 2.0,
                 commit_seconds: float = 0.05):
        self.path = Path(path)
        self.program = program
        self.handlers = dict(handlers or {})
        self.on_entry = on_entry  # called with each entry's JSON line after its instant commits
        self.checkpoint_seconds = checkpoint_seconds
        self.commit_seconds = commit_seconds
        self._last_commit = 0.0
        self.db = open_state(self.path, create=True)
        try:
            self._lockf = _lock(self.path)
        except StateError:
            self.db.close()
            raise
        self.meta = _meta(self.db)
        self.fresh = "start" not in self.meta
        self.eng: Optional[Engine] = None
        self.replayed = 0  # instants replayed from the checkpoint on resume
        self.new_workflows: list[str] = []
        self._dirty = False  # something to checkpoint at ingest
        self._entries: list[dict] = []
        self._activity = int(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM activity").fetchone()[0])
        self._last_checkpoint = 0.0
        self._checkpoint_cost = 0.0

    # ------------------------------------------------------------ opening

    @property
    def start(self) -> Optional[int]:
        return _int(self.meta.get("start"))

    @property
    def now(self) -> Optional[int]:
        """The last instant committed."""
        return _int(self.meta.get("now"))

    def read_events(self, path: Path, shown: Optional[str] = None) -> NewEvents:
        row = self.db.execute("SELECT offset, lines, digest FROM inputs WHERE path = ?",
                              (str(path.resolve()),)).fetchone()
        if row is None:
            row = self._moved_input(path)
        off, lines, digest = row if row else (0, 0, "")
        return read_new_events(path, shown or str(path), self.program.ir.events, offset=off, lines=lines,
                               digest=digest)

    def _moved_input(self, path: Path) -> Optional[tuple]:
        """A file read before under another path (the folder was moved): the
        same bytes as far as that one was read."""
        try:
            size = path.stat().st_size
        except OSError:
            return None
        for off, lines, digest in self.db.execute("SELECT offset, lines, digest FROM inputs ORDER BY offset DESC"):
            if not off or off > size:
                continue
            with open(path, "rb") as f:
                h, _ = _hash_prefix(f, off)
            if h.hexdigest() == digest:
                return off, lines, digest
        return None

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
            stored_start = self.start
            if start is not None and start != stored_start:
                raise StateError(f"this state started at {format_utc(stored_start)}; --from cannot change it "
                                 f"(leave --from out, or use a new state file)")
            self.eng = Engine(plan, start=stored_start)
            row = self.db.execute("SELECT instant, activity, engine FROM checkpoint WHERE id = 1").fetchone()
            if row is None:
                raise StateError(f"{self.path} has no checkpoint; it cannot be resumed")
            _, ck_activity, blob = row
            same = self.meta.get("fingerprint") == program_fingerprint(self.program)
            if not same:
                # The program was edited: the instants committed after the
                # checkpoint are replayed with the program they ran with.
                old = self._stored_program()
                if old is not None:
                    old_eng = Engine(old.plan, start=stored_start)
                    self._load(old_eng, blob)
                    self._replay(ck_activity, old_eng, same_program=True)
                    blob = dump_engine(old_eng)
            self.new_workflows = self._load(self.eng, blob)
            self._replay(ck_activity, self.eng, same_program=same)
            self._check_program()
        self._apply_pauses()
        self.eng.on_activity = self._entries.append
        self.eng.on_instant = self._commit_instant
        self.eng.touched = set()

    def _load(self, eng: Engine, blob: bytes) -> list[str]:
        try:
            return load_engine(eng, blob)
        except StateError:
            raise
        except Exception as e:
            raise StateError(f"{self.path}: the stored engine state cannot be read ({type(e).__name__}: {e})") from None

    def _stored_program(self):
        """The program as the state last ran it (from the sources table), or
        None when it cannot be rebuilt exactly."""
        import shutil
        import tempfile

        from ..runtime.program import load_program
        user = [(n, t) for n, t in self.db.execute("SELECT name, text FROM sources") if not n.startswith("<")]
        if not user or not all(os.path.isabs(n) for n, _ in user):
            return None
        tmp = tempfile.mkdtemp(prefix="goal-state-")
        try:
            root = Path(os.path.commonpath([str(Path(n).parent) for n, _ in user]))
            files = []
            for n, text in user:
                dest = Path(tmp) / Path(n).relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(text, encoding="utf-8")
                files.append(dest)
            files.sort(key=lambda f: (len(f.parts), str(f)))
            program = load_program(files)
        except Exception:
            return None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return program if program_fingerprint(program) == self.meta.get("fingerprint") else None

    def _replay(self, ck_activity: int, eng: Engine, *, same_program: bool) -> None:
        """Run the committed instants after the checkpoint again, writing
        nothing but checkpoints (so that a resume killed over and over still
        gets on), and check that they make exactly the stored entries."""
        target = self.now
        if target is None or (eng.now is not None and eng.now >= target):
            return
        stored = [r[0] for r in self.db.execute("SELECT entry FROM activity WHERE seq > ? ORDER BY seq", (ck_activity,))]
        made: list[dict] = []
        done = [0, 0]  # entries checked, instants replayed
        eng.on_activity = made.append

        def check() -> None:
            lines = [jsonl_line(e) for e in made[done[0]:]]
            start = done[0]
            if lines != stored[start:start + len(lines)]:
                first = next((i for i, (a, b) in enumerate(zip(lines, stored[start:])) if a != b),
                             min(len(lines), len(stored) - start))
                why = ("" if same_program else " The program has changed since that run was interrupted; resume "
                       "it once with the program as it was, then run the new one.")
                raise StateError(
                    f"resuming {self.path}: replaying the last instants does not give the activity stored for them "
                    f"(they differ from entry {ck_activity + start + first + 1}).{why}")
            done[0] = len(made)

        last = [_clock()]

        def on_instant(t: int) -> None:
            done[1] += 1
            every = self.checkpoint_seconds
            if same_program and t < target and (every <= 0 or _clock() - last[0] >= max(every, 10 * self._checkpoint_cost)):
                check()
                with _transaction(self.db):
                    self._checkpoint(t, activity=ck_activity + done[0], eng=eng)
                last[0] = _clock()
        eng.on_instant = on_instant
        try:
            eng.run_until(target)
        except EngineError as e:
            raise StateError(f"resuming {self.path}: replaying the instants after the last checkpoint failed: {e}") from None
        eng.activity.clear()
        self.replayed = done[1]
        check()
        if done[0] != len(stored):
            raise StateError(f"resuming {self.path}: replaying the last instants gives {done[0]} entries where "
                             f"{len(stored)} are stored")
        self._dirty = True

    def _check_program(self) -> None:
        """Goal editing is locked while a workflow runs (docs/spec.md seed rule)."""
        stored = {name: (goals, shape, bool(paused)) for name, goals, shape, paused in
                  self.db.execute("SELECT name, goals, shape, paused FROM workflows")}
        segments = self.program.ir.segments
        problems = []
        present = set()
        for w in self.eng._ws:
            name = w.cw.name
            present.add(name)
            old = stored.get(name)
            if old is None:
                continue
            goals, shape = _workflow_goals(w.cw.wf, segments), _shape(w.cw)
            n = len(w.enrolled)
            if n == 0 or (goals == old[0] and shape == old[1]):
                continue
            who = f"{n} contact{'s are' if n != 1 else ' is'} enrolled in it"
            if shape != old[1]:
                problems.append(
                    f'the steps of workflow "{name}" changed so that the places of contacts in it no longer '
                    f"mean the same, and {who}. Put its steps back as they were (goals may be edited while it "
                    f"is paused), or run the new program with a new state file")
            elif not old[2]:
                problems.append(
                    f'the goals of workflow "{name}" differ from the ones it runs with, and {who}: goals cannot '
                    f'be edited while a workflow runs. Pause it first (goal pause {self.path} "{name}"), run '
                    f'again, and unpause it when you are done (goal unpause {self.path} "{name}")')
        for name, (_, _, paused) in stored.items():
            if name in present:
                continue
            ws = self._stored_enrolled(name)
            if ws:
                problems.append(f'workflow "{name}" is not in the program any more, but {ws} contact'
                                f"{'s are' if ws != 1 else ' is'} enrolled in it; put it back to let them finish")
        if problems:
            raise StateError("; ".join(problems) if len(problems) == 1 else
                             "the program cannot run with this state:\n  " + "\n  ".join(problems))

    def _stored_enrolled(self, name: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM positions WHERE workflow = ?", (name,)).fetchone()[0])

    def _apply_pauses(self) -> None:
        paused = {name for name, p in self.db.execute("SELECT name, paused FROM workflows") if p}
        for w in self.eng._ws:
            want = w.cw.name in paused
            if w.paused != want:
                self.eng.set_paused(w.cw.name, want)
                self._dirty = True

    # ------------------------------------------------------------ ingesting

    def ingest(self, contacts: Iterable[dict] = (), batches: Iterable[NewEvents] = ()) -> Ingested:
        """Add new contacts and events in one transaction with a checkpoint.
        Events at or before the last instant acted on are *late*: stored, they
        count in later evaluations, and nothing acts on them."""
        eng = self.eng
        rep = Ingested()
        db = self.db
        with _transaction(db):
            known = {r[0]: r[1] for r in db.execute("SELECT id, record FROM contacts")}
            rows = []
            for rec in contacts:
                cid = str(rec["id"])
                if cid in known:
                    if known[cid] != _json(rec):
                        rep.unchanged_contacts += 1
                    continue
                known[cid] = _json(rec)
                eng.add_contact_unchecked(rec)
                rows.append((cid, len(eng.contacts) - 1, known[cid]))
            db.executemany("INSERT INTO contacts VALUES (?, ?, ?)", rows)
            rep.contacts = len(rows)
            acting = []
            for nb in batches:
                rep.bad.extend(nb.bad)
                rep.duplicates += nb.duplicates
                evs = nb.events
                ids = [e[4] for e in evs if e[4] is not None]
                stored = set()
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    stored.update(r[0] for r in db.execute(
                        f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})", chunk))
                erows = []
                for t, cid, typ, fields, eid, src, line in evs:
                    if eid is not None and eid in stored:
                        rep.duplicates += 1
                        continue
                    late = eng.now is not None and t <= eng.now and t >= eng.start
                    if late:
                        rep.late.append((src, line, t, typ, cid))
                    erows.append((t, cid, typ, _json(fields), eid, int(late), src, line))
                    if late or t < eng.start:
                        eng.add_event_unchecked(t, cid, typ, fields)
                    else:
                        acting.append((t, cid, typ, fields))
                db.executemany("INSERT INTO events(time, contact, type, fields, event_id, late, source, line) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", erows)
                rep.events += len(erows)
                if nb.path is not None:
                    db.execute("INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?)",
                               (nb.path, nb.offset, nb.lines, nb.digest))
            if acting:
                q = eng._queue
                if q and acting[0][0] < q[-1][0]:
                    merged = list(q) + acting
                    merged.sort(key=lambda e: e[0])  # stable: what was queued first stays first
                    eng._queue = deque(merged)
                else:
                    for t, cid, typ, fields in acting:
                        eng.add_event_unchecked(t, cid, typ, fields)
            if rows or rep.events:
                self._dirty = True
            if self.fresh:
                self._write_program(initial=True)
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("start", str(eng.start))])
                self.meta["start"] = str(eng.start)
            elif self.meta.get("fingerprint") != program_fingerprint(self.program) or self.new_workflows:
                self._write_program(initial=False)
                self._dirty = True
            if self._dirty:
                self._checkpoint(eng.now)
        self.fresh = False
        self._dirty = False
        return rep

    def _write_program(self, *, initial: bool) -> None:
        db = self.db
        fp = program_fingerprint(self.program)
        paused = {n for n, p in db.execute("SELECT name, paused FROM workflows") if p}
        db.execute("DELETE FROM workflows")
        segs = self.program.ir.segments
        db.executemany("INSERT INTO workflows VALUES (?, ?, ?, ?, ?)",
                       [(w.cw.name, i, _workflow_goals(w.cw.wf, segs), _shape(w.cw), int(w.cw.name in paused))
                        for i, w in enumerate(self.eng._ws)])
        db.execute("DELETE FROM sources")
        db.executemany("INSERT INTO sources VALUES (?, ?)",
                       sorted((n if n.startswith("<") else os.path.abspath(n), t) for n, t in self.program.sources.items()))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fp,))
        self.meta["fingerprint"] = fp

    # ------------------------------------------------------------ running

    def run_until(self, until: int) -> int:
        """Run to ``until`` (included), committing instant by instant.
        Returns the number of activity entries written."""
        before = self._activity
        self.deliver_pending()
        if self.eng.now is not None and until <= self.eng.now:
            return 0
        self._last_checkpoint = _clock()
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
        # At most a tenth of the time goes to checkpoints; 0 means at every instant.
        every = self.checkpoint_seconds
        due = every <= 0 or _clock() - self._last_checkpoint >= max(every, 10 * self._checkpoint_cost)
        self._commit(t, checkpoint=due)

    def _commit(self, t: int, *, checkpoint: bool) -> None:
        eng = self.eng
        db = self.db
        entries = self._entries
        lines = [jsonl_line(e) for e in entries]
        with _transaction(db):
            seq = self._activity
            arows, orows = [], []
            for e, line in zip(entries, lines):
                seq += 1
                arows.append((seq, e["time"], e["contact"], e["workflow"], e["type"], line))
                if e["type"] == "action":
                    orows.append((e["id"], seq, e["action"], _json(e.get("args")), e["contact"], e["workflow"],
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
                self._checkpoint(t, activity=seq)
        self._activity = seq
        self.meta["now"] = str(t)
        self._last_commit = _clock()
        if eng.touched:
            eng.touched.clear()
        entries.clear()
        eng.activity.clear()
        if orows and self.handlers:
            self._deliver([(r[0], r[1]) for r in orows])
        if self.on_entry is not None and lines:
            for line in lines:
                self.on_entry(line)

    def _checkpoint(self, t: Optional[int], *, activity: Optional[int] = None, eng: Optional[Engine] = None) -> None:
        c0 = _clock()
        blob = dump_engine(eng or self.eng)
        self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?, ?)",
                        (t, self._activity if activity is None else activity, blob))
        c1 = _clock()
        self._checkpoint_cost = c1 - c0
        self._last_checkpoint = c1

    def _write_positions(self, touched: set) -> None:
        eng = self.eng
        ups, dels = [], []
        by_name = {w.cw.name: w for w in eng._ws}
        for wname, cid in touched:
            w = by_name.get(wname)
            e = w.enrolled.get(cid) if w is not None else None
            if e is None or not e.alive:
                dels.append((wname, cid))
                continue
            ups.append((wname, cid) + _place(w.cw, e))
        if dels:
            self.db.executemany("DELETE FROM positions WHERE workflow = ? AND contact = ?", dels)
        if ups:
            self.db.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ups)

    # ------------------------------------------------------------ the outbox

    def deliver_pending(self) -> int:
        """Deliver outbox rows left undelivered (a crash between commit and
        delivery, or a handler that failed). Returns how many."""
        if not self.handlers:
            return 0
        rows = self.db.execute("SELECT id, activity FROM outbox WHERE delivered_at IS NULL AND action IN (%s) "
                               "ORDER BY activity" % ",".join("?" * len(self.handlers)),
                               list(self.handlers)).fetchall()
        if rows:
            self._deliver(rows)
        return len(rows)

    def _deliver(self, rows: list) -> None:
        db = self.db
        for oid, _ in rows:
            r = db.execute("SELECT id, action, args, contact, workflow, time, step, goal FROM outbox WHERE id = ?",
                           (oid,)).fetchone()
            handler = self.handlers.get(r[1])
            if handler is None:
                continue
            req = ActionRequest(r[0], r[1], json.loads(r[2]) if r[2] else {}, r[3], r[4], r[5], r[6], r[7])
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (oid,))
            try:
                handler(req)
            except Exception as exc:
                raise EngineError(f"the handler for {req.action} failed for contact {req.contact} in "
                                  f'"{req.workflow}" (action {req.id}): {exc}; it stays in the outbox and is '
                                  f"delivered again on the next run") from exc
            db.execute("UPDATE outbox SET delivered_at = ? WHERE id = ?", (_time.time(), oid))

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            if self._lockf is not None:
                self._lockf.close()
                self._lockf = None


def _place(cw, e) -> tuple:
    """(enrollment, since, step_index, step, waiting, due) for the positions table."""
    code = cw.code
    step_index = step = waiting = None
    if e.pc < len(code):
        ins = code[e.pc]
        top = ins[-1]
        step_index = None if top is None else top + 1
        steps = cw.wf.steps
        if top is not None and top < len(steps):
            st = steps[top]
            step = st.goal.name if isinstance(st, ir.SGoal) else getattr(st, "name", None)
        if e.block:
            waiting = {1: "wait", 2: "goal", 3: "condition"}.get(e.block, str(e.block))
            if ins[0] == WAIT_COND and e.block == 3:
                waiting = "condition"
    return (e.number, e.since, step_index, step, waiting, e.due)


try:  # several times faster than the standard library for the many small objects of a run
    import msgspec

    _encoder = msgspec.json.Encoder(enc_hook=str, order="sorted")

    def _json(v) -> str:
        return _encoder.encode(v).decode()
except (ImportError, TypeError):  # pragma: no cover - no msgspec, or one without `order`
    def _json(v) -> str:
        return json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


# ---------------------------------------------------------------- commands on a state file

def stored_activity(path: str | Path) -> Iterable[str]:
    """The activity stream's JSON lines, in order."""
    db = open_state(path)
    try:
        for (line,) in db.execute("SELECT entry FROM activity ORDER BY seq"):
            yield line
    finally:
        db.close()


def set_paused(path: str | Path, workflow: str, paused: bool) -> tuple[bool, bool]:
    """Mark a workflow paused or not; it takes effect when the run next
    starts. Returns (changed, a run holds the file now)."""
    db = open_state(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM workflows ORDER BY position")]
        if not names:
            raise StateError(f"{path} has not run a program yet")
        if workflow not in names:
            from ..syntax.diagnostics import closest
            best = closest(workflow, names)
            raise StateError(f'there is no workflow "{workflow}" in {path}'
                             + (f' (did you mean "{best}"?)' if best else "")
                             + "; its workflows: " + ", ".join(f'"{n}"' for n in names))
        db.execute("BEGIN IMMEDIATE")
        cur = db.execute("UPDATE workflows SET paused = ? WHERE name = ? AND paused != ?",
                         (int(paused), workflow, int(paused)))
        db.execute("COMMIT")
        changed = cur.rowcount > 0
    finally:
        db.close()
    busy = False
    try:
        f = _lock(Path(path))
        if f is not None:
            f.close()
    except StateError:
        busy = True
    return changed, busy


def stored_entries(path: str | Path) -> tuple[list[dict], list[str]]:
    """The activity stream as dicts (times as integers) and the workflows' names."""
    db = open_state(path)
    try:
        out = []
        for t, line in db.execute("SELECT time, entry FROM activity ORDER BY seq"):
            e = json.loads(line)
            e["time"] = t
            out.append(e)
        names = [r[0] for r in db.execute("SELECT name FROM workflows ORDER BY position")]
    finally:
        db.close()
    return out, names


def state_summary(path: str | Path, program=None) -> dict:
    """The figures of the run kept in a state file (runtime/summary.py): its
    activity, then a ``waiting`` entry per row of the positions table (no
    ``skipped``: a state keeps no record of the steps a waiting contact
    jumped over). ``program`` gives the steps' labels and the goals not yet
    achieved; without it, the workflows' names come from the state."""
    from ..runtime.summary import Summary, WorkflowShape, shapes_of
    db = open_state(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM workflows ORDER BY position")]
        summary = Summary(shapes_of(program.ir) if program is not None else [WorkflowShape(n) for n in names])
        for t, line in db.execute("SELECT time, entry FROM activity ORDER BY seq"):
            e = json.loads(line)
            e["time"] = t
            summary.add(e)
        meta = _meta(db)
        now = _int(meta.get("now"))
        order = {n: i for i, n in enumerate(names)}
        rows = sorted(db.execute("SELECT workflow, contact, since, step_index, step, waiting FROM positions"),
                      key=lambda r: (order.get(r[0], len(order)), r[2], r[1]))
        for wf, contact, _since, index, step, waiting in rows:
            e = {"time": now, "contact": contact, "workflow": wf, "type": "waiting", "at": index or 0}
            if waiting == "goal" and step is not None:
                e["goal"] = step
            summary.add(e)
        start = _int(meta.get("start"))
    finally:
        db.close()
    return summary.result(window=(start, now) if start is not None and now is not None else None)


def run_command(state: str, program, contacts: Optional[Path], events: Optional[Path], *, start: Optional[int],
                until: Optional[int], fmt: str, skip_bad: bool, out, err,
                checkpoint_seconds: float = 2.0) -> int:
    """``goal run PROGRAM --state FILE``: resume (or start) the run kept in FILE."""
    from ..runtime.program import InputError, shown_path
    from ..runtime.inputs import Inputs, read_contacts

    shown_lines: list[str] = []
    on_entry = (lambda line: out.write(line + "\n")) if fmt == "jsonl" else shown_lines.append
    run = DurableRun(state, program, on_entry=on_entry, checkpoint_seconds=checkpoint_seconds)
    try:
        cin = read_contacts(contacts, shown_path(contacts)) if contacts is not None else Inputs()
        new = run.read_events(events, shown_path(events)) if events is not None else None
        bad = list(cin.bad) + (list(new.bad) if new is not None else [])
        if bad and not skip_bad:
            raise InputError(bad)
        if run.fresh and start is None and new is not None and new.events:
            start = new.events[0][0]
        if run.fresh and start is None:
            raise StateError("there are no events to set the run's start: give --from")
        run.begin(start)
        before = run.now
        rep = run.ingest(cin.contacts, [new] if new is not None else [])
        if until is None:
            last = run.db.execute("SELECT MAX(time) FROM events").fetchone()[0]
            until = last if last is not None else (run.now if run.now is not None else run.start)
        if until < run.start:
            raise StateError(f"--until ({format_utc(until)}) is before the state's start ({format_utc(run.start)})")
        for name in run.new_workflows:
            w = next(w for w in run.eng._ws if w.cw.name == name)
            when = f"acts from {format_utc(w.activation)} on" if w.activation is not None else \
                "runs once at an instant this state has already passed: it will not run"
            err.write(f'workflow "{name}" is new in this state: it {when}\n')
        n = run.run_until(until)
        if fmt != "jsonl":
            from ..runtime.output import summary, table_entries, table_line, table_widths
            entries, names = stored_entries(state)
            shown = table_entries(entries[len(entries) - len(shown_lines):]) if shown_lines else []
            widths = table_widths(shown)
            for e in shown:
                out.write(table_line(e, widths) + "\n")
            if shown:
                out.write("\n")
            for line in summary(entries, names, {}):  # the whole run so far
                out.write(line + "\n")
        _report(err, state, rep, before, run, n)
    except sqlite3.Error as e:  # a full disk, a file removed under the run, ...
        raise StateError(f"{state}: {e}; what was committed before is kept: run again to resume") from None
    finally:
        run.close()
    return 0


def _report(err, state: str, rep: Ingested, before: Optional[int], run: DurableRun, n: int) -> None:
    def plural(k: int, word: str) -> str:
        return f"{k} {word}{'s' if k != 1 else ''}"
    if rep.bad:
        err.write(f"skipped {plural(len(rep.bad), 'bad line')}:\n")
        for b in rep.bad[:20]:
            err.write(f"  {b}\n")
        if len(rep.bad) > 20:
            err.write(f"  ... and {len(rep.bad) - 20} more\n")
    if rep.duplicates:
        err.write(f"ignored {plural(rep.duplicates, 'duplicate event')} (ids already seen)\n")
    if rep.late:
        err.write(f"{plural(len(rep.late), 'late event')}: at or before {format_utc(before)}, which this state had "
                  f"already acted on; stored as history (they count from now on), nothing acted on them:\n")
        for src, line, t, typ, cid in rep.late[:5]:
            err.write(f"  {src}:{line}: {format_utc(t)} {typ} for contact {cid}\n")
        if len(rep.late) > 5:
            err.write(f"  ... and {len(rep.late) - 5} more\n")
    if rep.unchanged_contacts:
        err.write(f"{plural(rep.unchanged_contacts, 'known contact')} differ in the contacts file from the record "
                  f"this state holds; records are read once (send contact.updated events to change them)\n")
    if n == 0 and rep.events == 0 and rep.contacts == 0 and before is not None and run.now == before:
        err.write(f"{state}: the run is complete up to {format_utc(run.now)}; nothing to do\n")
    else:
        resumed = f", resumed from {format_utc(before)}" if before is not None else ""
        err.write(f"{state}: {n} new entr{'ies' if n != 1 else 'y'}{resumed}; run up to {format_utc(run.now)}\n")
