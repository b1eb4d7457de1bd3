"""Order keys: an activity entry's place in the order one process writes
the stream, for the engines over parts of the contacts whose entries are
merged (``goal run --workers``, Spark; docs/scale.md).

A key stands for a tuple of integers and keys, (instant, round, workflow,
phase, whose turn, count) for an entry (``Engine._next_key`` says what
each part is), and is made as bytes that sort, compared byte by byte, as
the tuples do: an integer is 0x02 and eight bytes big-endian (offset so
that negative ones come first), a tuple 0x03, its items, then 0x01 (so a
tuple sorts before any longer one it begins). Bytes, not the tuples: a
worker pickles its keys, the merge unpickles and sorts them, and nested
tuples cost several times more to do that with (docs/performance.md);
Spark sorts its ``order`` column as they are.

``pair_key``, ``ints_key``, ``event_key`` and ``cause_key`` make a key part
by part, as the tuples nest; where the engine makes one per enrollment or
per entry it makes the same bytes in one join (``rank_key``,
``caused_key``, ``Engine._next_key``), which tests/test_partition.py checks
against them.
"""
from __future__ import annotations

import struct

#: Added to an integer so that its eight bytes sort as it does.
OFFSET = 1 << 63

#: The first part of a ``waiting`` entry's key: after every instant.
WAITING = 1 << 62

#: In a key, where a part has no value (never compared with one that has:
#: it sorts first).
NONE = b"\x00"

_INT = struct.Struct(">BQ").pack
SMALL = tuple(_INT(2, k + OFFSET) for k in range(-1, 1023))  # the integers -1 to 1021 (at k + 1), made once


def int_bytes(k: int) -> bytes:
    """An integer as it is in a key."""
    return SMALL[k + 1] if -1 <= k < 1022 else _INT(2, k + OFFSET)


def entry_head(t: int, rnd: int, turn: int) -> bytes:
    """The start of an entry's key: the tuple opened, its first three parts."""
    return b"\x03" + int_bytes(t) + int_bytes(rnd) + int_bytes(turn)


def entry_key(t: int, rnd: int, turn: int, phase: int, whose: bytes, n: int) -> bytes:
    """The key (t, rnd, turn, phase, whose, n), ``whose`` a key (the engine
    makes the same, keeping ``entry_head`` while it holds)."""
    return entry_head(t, rnd, turn) + int_bytes(phase) + whose + int_bytes(n) + b"\x01"


def event_key(t: int, seq: int) -> bytes:
    """An input event's key, (t, -1, seq): ``seq`` its place in the log."""
    return b"".join((b"\x03", int_bytes(t), int_bytes(-1), int_bytes(seq), b"\x01"))


def cause_key(cause) -> bytes:
    """The key of what caused something: an emitted event's key, or an input
    event's, which the engine keeps as the event itself (a tuple, its time
    first and its place in the log last: most input events cause nothing
    that needs their key) and makes a key only here."""
    return cause if type(cause) is bytes else event_key(cause[0], cause[-1])


#: The openings of (0, (0, rank)) and of (1, key), (1, (t, -1, seq)).
_RANKED = b"\x03" + SMALL[1] + b"\x03" + SMALL[1]
_CAUSED = b"\x03" + SMALL[2]
_CAUSED_EVENT = _CAUSED + b"\x03"


def rank_key(rank: int) -> bytes:
    """Whose turn a contact of the contacts file is, (0, (0, rank)): the
    key ``pair_key(0, ints_key(0, rank))``, made in one join."""
    return b"".join((_RANKED, int_bytes(rank), b"\x01\x01"))


def caused_key(cause) -> bytes:
    """(1, the cause's key): ``pair_key(1, cause_key(cause))``, made in one
    join (whose turn an enrollment by a trigger event is, once per
    enrollment: an input event's key is never made on its own)."""
    if type(cause) is bytes:
        return b"".join((_CAUSED, cause, b"\x01"))
    return b"".join((_CAUSED_EVENT, int_bytes(cause[0]), SMALL[0], int_bytes(cause[-1]), b"\x01\x01"))


def pair_key(a: int, b: bytes) -> bytes:
    """The key (a, b), ``b`` a key itself."""
    return b"".join((b"\x03", int_bytes(a), b, b"\x01"))


def ints_key(a: int, b: int) -> bytes:
    """The key (a, b) of two integers."""
    return b"".join((b"\x03", int_bytes(a), int_bytes(b), b"\x01"))


def waiting_key(index: int, enrollment: bytes) -> bytes:
    """A ``waiting`` entry's key (WAITING, the workflow's index, the key of
    the enrollment)."""
    return b"".join((b"\x03", int_bytes(WAITING), int_bytes(index), enrollment, b"\x01"))


def key_time(key: bytes) -> int:
    """The first part of a key: an entry's instant (``WAITING`` for a
    ``waiting`` entry)."""
    return int.from_bytes(key[2:10], "big") - OFFSET


def key_bytes(key) -> bytes:
    """A key given as a tuple (of integers and tuples; bytes: a key made
    already) as the bytes above."""
    if isinstance(key, bytes):
        return key
    out = bytearray()
    _put_key(key, out)
    return bytes(out)


def _put_key(k, out: bytearray) -> None:
    if isinstance(k, bytes):
        out += k
    elif isinstance(k, tuple):
        out.append(3)
        for x in k:
            _put_key(x, out)
        out.append(1)
    else:
        out.append(2)
        out += (k + OFFSET).to_bytes(8, "big")
