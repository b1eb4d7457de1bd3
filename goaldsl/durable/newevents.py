"""Reading an events file past what a state has read of it before.

A state remembers, per events file, how many bytes and lines it has read and
a digest of them, so a file that grows (lines appended at its end) can be
passed again and again and only its new lines are read. A file is known by
its path or, moved or copied, by the content already read."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Optional

import attrs

from ..syntax.source import BOM
from ..runtime.inputs import BadLine, EventValidator, decode_line
from .statefile import StateError, corrupted


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


def read_position(db: sqlite3.Connection, path: Path, state) -> tuple[int, int, str]:
    """(bytes, lines, digest) a state has read of an events file: (0, 0, "") for a new one."""
    rows = db.execute("SELECT offset, lines, digest FROM inputs WHERE path = ?", (str(path.resolve()),)).fetchall()
    if not rows:
        rows = _moved(db, path)
    for off, lines, digest in rows:
        if not (isinstance(off, int) and isinstance(lines, int) and isinstance(digest, str) and off >= 0
                and lines >= 0):
            raise corrupted(state, f"what it has read of {path} is not a position in a file")
        return off, lines, digest
    return 0, 0, ""


def _moved(db: sqlite3.Connection, path: Path) -> list:
    """A file read before under another path (the folder was moved): the
    same bytes as far as that one was read."""
    try:
        size = path.stat().st_size
    except OSError:
        return []
    for off, lines, digest in db.execute("SELECT offset, lines, digest FROM inputs ORDER BY offset DESC"):
        if not isinstance(off, int) or off <= 0 or off > size:
            continue
        with open(path, "rb") as f:
            h, _ = _hash_prefix(f, off)
        if h.hexdigest() == digest:
            return [(off, lines, digest)]
    return []


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
            if isinstance(json.loads(rest[end:]), dict):
                end = len(rest)
        except Exception:  # noqa: BLE001 - not a whole JSON object yet: left for the next run
            pass
    body = rest[:end]
    h.update(body)
    read = len(body)
    if not offset and body.startswith(BOM):  # as the other readers do
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
    return NewEvents(out, bad, dups, str(path.resolve()), offset + read, no, h.hexdigest())
