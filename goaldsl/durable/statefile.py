"""The state file itself: its SQLite schema, opening it (or creating it),
checking that it is a goal state file of this format and undamaged, the
run's lock, and transactions. docs/durability.md describes the tables."""
from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Optional

from ..runtime.snapshot import MAX_TIME, MIN_TIME

FORMAT = "goal-state"
VERSION = 2  # since 2 the checkpoint is an engine snapshot (JSON data) with a checksum

SCHEMA = """
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
                        engine BLOB, digest TEXT);
"""

_SQLITE_MAGIC = b"SQLite format 3\x00"


class StateError(Exception):
    """A state file cannot be used as asked; the message says why and what to do."""


def corrupted(path, why: str) -> StateError:
    """The one message for a damaged state file."""
    return StateError(f"{path}: the state file is corrupted ({why}); restore it from a backup, or start again "
                      f"with a new state file")


def open_state(path: str | Path, *, create: bool = False, write: bool = True) -> sqlite3.Connection:
    """Open a state file, creating it when asked; ``write=False`` opens it
    read-only (a read-only file or a copy can be read). Checks that it is a
    goal state file of this format and that SQLite finds it undamaged
    (``PRAGMA quick_check``). Raises StateError."""
    p = Path(path)
    if not p.exists():
        if not create:
            raise StateError(f"no such state file: {path}")
        if p.parent and not p.parent.exists():
            raise StateError(f"no such folder for the state file: {p.parent}")
    elif p.is_dir():
        raise StateError(f"{path} is a folder, not a state file")
    else:
        _check_header(p, path)
    if write:
        _check_writable(p, path)
    try:
        db = _connect(p) if write else _connect_read_only(p)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        raise _open_error(path, e) from None
    try:
        if not tables:
            if not create:
                raise StateError(f"{path} is not a goal state file (it is empty)")
            _create(db)
            return db
        _check_format(db, tables, path)
        _check_integrity(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _check_header(p: Path, path) -> None:
    try:
        with open(p, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise StateError(f"cannot read {path}: {e.strerror or e}") from None
    if head and head != _SQLITE_MAGIC:
        raise StateError(f"{path} is not a goal state file (it is not an SQLite database)")


def _writable(p: Path) -> bool:
    # The permission bits count even for root: a file made read-only on purpose stays so.
    return os.access(p, os.W_OK) and bool(p.stat().st_mode & 0o222)


def _check_writable(p: Path, path) -> None:
    if p.exists() and not _writable(p):
        raise StateError(f"{path} is read-only, and this command writes to its state file: make it writable "
                         f"(chmod u+w {path}); `goal log` reads a read-only state file")
    folder = p.parent if str(p.parent) else Path(".")
    if folder.exists() and not _writable(folder):
        raise StateError(f"the folder of {path} is read-only, and SQLite writes its journal beside the state "
                         f"file: make the folder writable, or use a state file in another folder")


def _text(raw: bytes) -> str:
    """A text read from the file. One that is not UTF-8 (a damaged file) is
    an SQLite data error, which every reader already says as such, not a
    UnicodeDecodeError from deep in the sqlite3 module."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise sqlite3.DataError("a text in it is not UTF-8") from None


class _Connection(sqlite3.Connection):
    """A connection whose statements say a damaged schema as an SQLite error:
    Python's sqlite3 raises UnicodeDecodeError when SQLite's message quotes
    bytes of a damaged file that are not UTF-8 (found by the state fuzz
    target), which every caller would take for an internal error."""

    def execute(self, *args):
        try:
            return super().execute(*args)
        except UnicodeDecodeError:
            raise sqlite3.DatabaseError("its schema is damaged (a text in it is not UTF-8)") from None

    def executemany(self, *args):
        try:
            return super().executemany(*args)
        except UnicodeDecodeError:
            raise sqlite3.DatabaseError("its schema is damaged (a text in it is not UTF-8)") from None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30, factory=_Connection)
    db.text_factory = _text
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(str(path.resolve()))
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=30, factory=_Connection)
        db.text_factory = _text
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError:
        # A read-only copy in a read-only folder: SQLite cannot make the
        # shared-memory file a WAL database needs, so read it as a file
        # nothing changes (true of a copy, which is what such a file is).
        db = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None, factory=_Connection)
        db.text_factory = _text
        return db


def _open_error(path, e: sqlite3.DatabaseError) -> StateError:
    msg = str(e)
    if "readonly" in msg or "read-only" in msg:
        return StateError(f"{path} is read-only ({msg}): make it and its folder writable")
    if isinstance(e, sqlite3.OperationalError) and "unable to open" in msg:
        return StateError(f"cannot open {path} ({msg})")
    # The header said SQLite: what follows it is damaged.
    return corrupted(path, f"SQLite says: {msg}")


def _create(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")
    if not db.execute("SELECT name FROM sqlite_master").fetchall():
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                db.execute(stmt)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))])
    db.execute("COMMIT")


def _check_format(db: sqlite3.Connection, tables: set, path) -> None:
    if "meta" not in tables:
        raise StateError(f"{path} is not a goal state file")
    try:
        meta = read_meta(db)
    except sqlite3.DatabaseError as e:
        raise corrupted(path, f"SQLite says: {e}") from None
    if meta.get("format") != FORMAT:
        raise StateError(f"{path} is not a goal state file")
    if meta.get("version") != str(VERSION):
        raise StateError(f"{path} was written by another version of goal (state format {meta.get('version')}, "
                         f"this goal reads {VERSION}): finish that run with the goal that wrote it, or start "
                         f"again with a new state file")
    for key in ("start", "now"):
        if key in meta and not _is_time(meta[key]):
            raise corrupted(path, f"its {key} is not a time")


def _is_time(text) -> bool:
    return isinstance(text, str) and re.fullmatch(r"-?[0-9]{1,12}", text) is not None \
        and MIN_TIME <= int(text) <= MAX_TIME


def _check_integrity(db: sqlite3.Connection, path) -> None:
    try:
        problems = [r[0] for r in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as e:
        raise corrupted(path, f"SQLite says: {e}") from None
    if problems != ["ok"]:
        raise corrupted(path, "SQLite finds: " + "; ".join(str(x) for x in problems))


def database_error(path, e: sqlite3.Error, *, running: bool = False) -> StateError:
    """An SQLite error met after the file was opened, for people."""
    msg = str(e)
    if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError) \
            or "malformed" in msg or "decode" in msg:
        return corrupted(path, f"SQLite says: {msg}")
    if running:  # a full disk, a file removed under the run, ...
        return StateError(f"{path}: {msg}; what was committed before is kept: run again to resume")
    return StateError(f"{path}: {msg}")


def lock(path: Path):
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


@contextlib.contextmanager
def transaction(db: sqlite3.Connection):
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


def read_meta(db: sqlite3.Connection) -> dict:
    return dict(db.execute("SELECT key, value FROM meta"))


def as_int(v) -> Optional[int]:
    return None if v is None else int(v)


try:  # several times faster than the standard library for the many small objects of a run
    import msgspec

    _encoder = msgspec.json.Encoder(enc_hook=str, order="sorted")

    def to_json(v) -> str:
        """A value as the state file stores it (keys sorted)."""
        return _encoder.encode(v).decode()
except (ImportError, TypeError):  # pragma: no cover - no msgspec, or one without `order`
    def to_json(v) -> str:
        """A value as the state file stores it (keys sorted)."""
        return json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
