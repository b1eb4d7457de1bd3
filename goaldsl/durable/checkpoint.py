"""The engine's checkpoint in a state file, and the replay that brings a
restored engine up to the last committed instant.

The checkpoint is an engine snapshot (``Engine.dump()``, JSON data, see
runtime/snapshot.py) with its SHA-256 beside it. A resume restores it and
runs the instants committed after it again with nothing written or
delivered, checking that they make exactly the stored entries.
"""
from __future__ import annotations

import hashlib
import sqlite3
import time as _time
from typing import Optional

from ..runtime.engine import Engine, EngineError
from ..runtime.output import jsonl_line
from ..runtime.snapshot import SnapshotError
from .statefile import StateError, corrupted, transaction

_clock = _time.monotonic  # for checkpoint timing


def digest(blob: bytes) -> str:
    """The checksum stored beside a checkpoint: a damaged one is refused."""
    return hashlib.sha256(blob).hexdigest()


class Checkpoints:
    """Writes checkpoints and says when the next one is due: every
    ``seconds`` (0: at every commit), and never more often than ten times
    the cost of the last one, so that at most about a tenth of a run goes to
    them."""

    def __init__(self, db: sqlite3.Connection, path, seconds: float):
        self.db, self.path, self.seconds = db, path, seconds
        self.last = 0.0  # when the last one was written (_clock)
        self.cost = 0.0  # what it took

    def restart(self) -> None:
        """Count the interval from now (the start of a run or a replay)."""
        self.last = _clock()

    def due(self) -> bool:
        every = self.seconds
        return every <= 0 or _clock() - self.last >= max(every, 10 * self.cost)

    def write(self, eng: Engine, instant: Optional[int], activity: int) -> None:
        """Inside a transaction: the engine's state at ``instant``, after
        ``activity`` entries."""
        c0 = _clock()
        blob = eng.dump()
        self.db.execute("INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?, ?, ?)",
                        (instant, activity, blob, digest(blob)))
        self.last = _clock()
        self.cost = self.last - c0

    def read(self) -> tuple[int, bytes]:
        """(activity entries before it, the engine snapshot), its checksum checked."""
        row = self.db.execute("SELECT activity, engine, digest FROM checkpoint WHERE id = 1").fetchone()
        if row is None:
            raise StateError(f"{self.path} has no checkpoint; it cannot be resumed")
        activity, blob, stored = row
        if not isinstance(blob, bytes) or not isinstance(activity, int) or activity < 0 or stored != digest(blob):
            raise self.damaged("it does not match its checksum")
        return activity, blob

    def restore(self, plan, snapshot) -> Engine:
        """An engine for ``plan`` from a checkpoint's snapshot."""
        try:
            return Engine.restore(plan, snapshot)
        except SnapshotError as e:
            raise self.damaged(f"it cannot be restored: {e}") from None

    def damaged(self, why: str) -> StateError:
        return corrupted(self.path, f"its checkpoint: {why}; the activity it holds can still be read with goal log")


def replay(eng: Engine, checkpoints: Checkpoints, ck_activity: int, target: Optional[int], *,
           same_program: bool) -> int:
    """Run the committed instants after the checkpoint again, up to
    ``target``, writing nothing but checkpoints (so that a resume killed
    over and over still gets on), and check that they make exactly the
    stored entries. Returns the number of instants replayed."""
    if target is None or (eng.now is not None and eng.now >= target):
        return 0
    db, path = checkpoints.db, checkpoints.path
    stored = [r[0] for r in db.execute("SELECT entry FROM activity WHERE seq > ? ORDER BY seq", (ck_activity,))]
    made: list[dict] = []
    done = [0, 0]  # entries checked, instants replayed
    eng.on_activity = made.append

    def check() -> None:
        start = done[0]
        lines = [jsonl_line(e) for e in made[start:]]
        if lines != stored[start:start + len(lines)]:
            first = next((i for i, (a, b) in enumerate(zip(lines, stored[start:])) if a != b),
                         min(len(lines), len(stored) - start))
            why = ("" if same_program else " The program has changed since that run was interrupted; resume "
                   "it once with the program as it was, then run the new one.")
            raise StateError(
                f"resuming {path}: replaying the last instants does not give the activity stored for them "
                f"(they differ from entry {ck_activity + start + first + 1}).{why}")
        done[0] = len(made)

    def on_instant(t: int) -> None:
        done[1] += 1
        if same_program and t < target and checkpoints.due():
            check()
            with transaction(db):
                checkpoints.write(eng, t, ck_activity + done[0])

    checkpoints.restart()
    eng.on_instant = on_instant
    try:
        eng.run_until(target)
    except EngineError as e:
        raise StateError(f"resuming {path}: replaying the instants after the last checkpoint failed: {e}") from None
    eng.activity.clear()
    check()
    if done[0] != len(stored):
        raise StateError(f"resuming {path}: replaying the last instants gives {done[0]} entries where "
                         f"{len(stored)} are stored")
    return done[1]
