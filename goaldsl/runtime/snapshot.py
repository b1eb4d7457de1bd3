"""The engine's snapshot format: its whole run-time state as plain data
(docs/durability.md, "The engine snapshot").

A snapshot refers to the plan only by name: workflows by name, goals by
name, places by instruction index (checked against the workflow's shape).
It holds nothing but JSON values, so reading one can run no code; these
types check everything a snapshot may hold, and ``Engine.restore`` checks
what they cannot (references, ranges, places). Anything wrong is a
``SnapshotError`` with a message saying where.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

import msgspec

FORMAT = "goal-engine"
VERSION = 1

# Instants: from 1900 (the earliest event time) to the end of year 9999,
# which leaves room for every wait and window after the latest event time.
MIN_TIME = -2208988800
MAX_TIME = 253402300799

Time = Annotated[int, msgspec.Meta(ge=MIN_TIME, le=MAX_TIME)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2 ** 62)]
Fields = dict[str, Any]
Event = tuple[Time, str, str, Fields]  # time, contact id, type, fields


class SnapshotError(ValueError):
    """A snapshot that cannot be restored; the message says what is wrong."""


class _Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class SContact(_Struct):
    id: str
    attributes: dict[str, Any]
    # event type -> [time, fields] in time order; a lean history (``Snapshot.atoms``):
    # the key of a count whose filter is evaluated later -> [time, the fields it reads]
    events: dict[str, list[tuple[Time, Fields]]] = {}
    # a lean history: the key of a count with a static filter -> the latest matching times
    times: dict[str, list[Time]] = {}
    # `evaluate on event` workflows to look at it at its next event (by name)
    watch: list[str] = []
    # `trigger.FIELD`: per workflow name, [time, type, fields] of the event
    # that started the contact's latest enrollment there
    triggers: dict[str, tuple[Time, str, Fields]] = {}


class SEnrollment(_Struct):
    contact: str
    sequence: Count  # enrollment order within the workflow
    number: Annotated[int, msgspec.Meta(ge=1, le=2 ** 62)]  # how many times it has enrolled here
    since: Time
    pc: Count  # the instruction index it is at
    top: Annotated[int, msgspec.Meta(ge=-1, le=2 ** 31)]  # the top-level step it last acted in (-1: none)
    waiting: Optional[Literal["wait", "goal", "condition"]] = None
    due: Optional[Time] = None
    achieved: list[str] = []
    goal_at: Optional[Time] = None
    # top-level steps jumped over, [first, last] from 1 (`skip to`, a goal step achieved early)
    skipped: Optional[list[tuple[Count, Count]]] = None


class SWorkflow(_Struct):
    name: str
    shape: str  # the workflow's shape (CWorkflow.shape) when the snapshot was taken
    paused: bool = False
    activated: bool = False
    activation: Optional[Time] = None
    last_acted: Optional[Time] = None
    sequence: Count = 0
    # [instant, [[schedule number, contact id], ...]] in instant order
    agenda: list[tuple[Time, list[tuple[Count, str]]]] = []
    enrolled: list[SEnrollment] = []
    counts: dict[str, Count] = {}  # enrollments per contact, ever
    began: dict[str, Time] = {}  # `allow reentry after`: when each contact's latest enrollment began
    spent: list[str] = []
    pending: list[Event] = []  # trigger events not yet looked at


class SAtom(_Struct):
    """What a lean history keeps for one count's type and filter
    (``compiler.Atom``): the latest ``keep`` matching times (static), or
    events back ``back`` seconds (None: the whole history)."""
    static: bool
    keep: Count = 0
    back: Optional[Count] = None


class SRequest(_Struct):
    """An action whose handler has not returned (``Engine.undelivered``)."""
    id: str
    action: str
    args: dict[str, Any]
    contact: str
    workflow: str
    time: Time
    step: Optional[str] = None
    goal: Optional[str] = None
    attempts: Count = 0


class Snapshot(_Struct):
    format: str
    version: int
    start: Time
    now: Optional[Time]
    sequence: Count  # the next schedule number
    contacts: list[SContact] = []
    queue: list[Event] = []  # input events not yet processed, in time order
    workflows: list[SWorkflow] = []
    undelivered: list[SRequest] = []  # in the order they ran
    # "lean": the snapshot of an ``Engine(keep_history=False)``; its contacts
    # keep only what these counts read, by key (compiler.Atoms)
    history: Literal["full", "lean"] = "full"
    atoms: dict[str, SAtom] = {}


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Snapshot)


def encode(data: Any) -> bytes:
    """A snapshot (plain data) as JSON bytes."""
    try:
        return _encoder.encode(data)
    except (TypeError, ValueError, OverflowError) as e:
        raise SnapshotError(f"the engine's state holds a value JSON cannot hold ({e})") from None


def decode(data: Union[bytes, str, dict, Snapshot]) -> Snapshot:
    """Check a snapshot (JSON bytes, or plain data) against the format."""
    if isinstance(data, Snapshot):
        return data
    if isinstance(data, dict):
        # Through JSON: the restored engine then shares nothing with ``data``.
        data = encode(data)
    elif not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise SnapshotError(f"an engine snapshot is a JSON object, not {type(data).__name__}")
    try:
        snap = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        try:
            _check_head(msgspec.json.decode(data, type=_Head))
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        raise SnapshotError(f"not an engine snapshot this goal can read: {e}") from None
    except RecursionError:
        raise SnapshotError("not an engine snapshot this goal can read: nested too deeply") from None
    _check_head(snap)
    return snap


class _Head(msgspec.Struct):
    format: Any = None
    version: Any = None


def _check_head(head) -> None:
    if head.format != FORMAT:
        raise SnapshotError("not an engine snapshot" + (f" (its format is {head.format!r})" if head.format else ""))
    if head.version != VERSION:
        raise SnapshotError(f"an engine snapshot of format version {head.version!r}; this goal reads version {VERSION}")
