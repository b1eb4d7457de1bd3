"""Reading contacts and events (JSON Lines, docs/spec.md section 7).

Every bad line is reported as ``FILE:LINE: message``. By default a run with
bad lines is refused before anything is acted on; with ``skip_bad`` the rest
is used and the skipped lines are counted. Repeated event ids are ignored as
duplicates (and counted). Events are sorted by time, stably.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Optional

import attrs

from ..semantics import ir
from ..semantics.calendar import parse_event_time
from ..syntax.diagnostics import closest

try:  # msgspec decodes JSON several times faster than the standard library
    import msgspec

    _decode = msgspec.json.decode
    _DecodeError: type[Exception] = msgspec.DecodeError
except ImportError:  # pragma: no cover
    import json

    _decode = json.loads
    _DecodeError = ValueError

RESERVED = ("id", "time", "contact", "type")

# Event times must fall in this span (UTC). It leaves room for every window,
# wait and calendar step (at most ten years) to stay inside the years that
# date arithmetic and the output's four-digit years can represent.
MIN_EVENT_TIME = -2208988800  # 1900-01-01T00:00:00Z
MAX_EVENT_TIME = 221845392000  # 9000-01-01T00:00:00Z, excluded


@attrs.frozen
class BadLine:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@attrs.define
class Inputs:
    contacts: list[dict] = attrs.field(factory=list)
    events: list[tuple] = attrs.field(factory=list)  # (time, contact, type, fields), sorted by time
    bad: list[BadLine] = attrs.field(factory=list)
    duplicates: int = 0
    # the repeated events that were ignored: (time, contact, type, fields, id, "FILE:LINE"), for `goal explain`
    duplicate_events: list[tuple] = attrs.field(factory=list)
    first_time: Optional[int] = None
    last_time: Optional[int] = None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        for no, line in enumerate(f, 1):
            if line.strip():
                yield no, line


def _decode_line(shown: str, no: int, line: bytes, bad: list[BadLine]):
    try:
        obj = _decode(line)
    except (_DecodeError, ValueError) as e:
        msg = str(e).split("\n")[0]
        bad.append(BadLine(shown, no, f"not valid JSON ({msg})"))
        return None
    except RecursionError:  # msgspec's own depth limit, or the standard library's
        bad.append(BadLine(shown, no, "not valid JSON (nested too deeply)"))
        return None
    if not isinstance(obj, dict):
        bad.append(BadLine(shown, no, "expected a JSON object"))
        return None
    return obj


def read_contacts(path: Path, shown: str | None = None, inputs: Inputs | None = None) -> Inputs:
    inputs = inputs or Inputs()
    shown = shown or str(path)
    seen: dict[str, int] = {}
    for no, line in _lines(path):
        obj = _decode_line(shown, no, line, inputs.bad)
        if obj is None:
            continue
        cid = obj.get("id")
        if isinstance(cid, bool) or not isinstance(cid, (str, int)) or cid == "":
            inputs.bad.append(BadLine(shown, no, 'a contact needs an "id" (text)' if cid is None
                                      else f'"id" must be text, not {_kind(cid)}'))
            continue
        cid = str(cid)
        problem = attributes_problem(obj)
        if problem:
            inputs.bad.append(BadLine(shown, no, problem))
            continue
        if cid in seen:
            inputs.bad.append(BadLine(shown, no, f'contact "{cid}" is already on line {seen[cid]}'))
            continue
        seen[cid] = no
        obj["id"] = cid
        inputs.contacts.append(obj)
    return inputs


#: Contact attributes that hold lists of texts (every contact has them).
LIST_ATTRIBUTES = ("tags", "lists")


def attributes_problem(attributes: dict) -> str | None:
    """What is wrong with contact attributes (a record's, or those an event
    sets), in the words of the input files; None when nothing is."""
    problem = None
    for key in LIST_ATTRIBUTES:
        v = attributes.get(key)
        if key in attributes and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            problem = f'"{key}" must be a list of texts'
    return problem


class EventValidator:
    """Checks an event's fields against its declared type."""

    def __init__(self, events: dict[str, ir.EventType]):
        self.events = events
        self.names = sorted(events)

    def check(self, obj: dict) -> str | tuple:
        """A message for a bad event, or (time, contact, type, fields, id)."""
        typ = obj.get("type")
        if not isinstance(typ, str) or not typ:
            return 'an event needs a "type"'
        decl = self.events.get(typ)
        if decl is None:
            from ..syntax.diagnostics import closest
            best = closest(typ, self.names)
            return f'unknown event type "{typ}"' + (f' (did you mean "{best}"?)' if best else "")
        when = obj.get("time")
        if when is None:
            return 'an event needs a "time"'
        if not isinstance(when, str):
            return f'"time" must be text like "2026-11-16T14:02:00Z", not {_kind(when)}'
        try:
            t = parse_event_time(when)
        except ValueError as e:
            msg = str(e)
            if "no Z or UTC offset" in msg:
                return f'"time" {when} has no Z or UTC offset (write "{when}Z" for UTC)'
            return f'"time" {_json(when)} is not an ISO 8601 date-time like "2026-11-16T14:02:00Z"'
        except (OverflowError, OSError):
            return f'"time" {_json(when)} is out of range'
        if not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
            return f'"time" {when} is out of range (events must fall between the years 1900 and 8999)'
        cid = obj.get("contact")
        if isinstance(cid, bool) or not isinstance(cid, (str, int)) or cid == "":
            return 'an event needs a "contact" (the contact id)' if cid is None else \
                f'"contact" must be text, not {_kind(cid)}'
        eid = obj.get("id")
        if eid is not None and (isinstance(eid, bool) or not isinstance(eid, (str, int))):
            return f'"id" must be text, not {_kind(eid)}'
        fields = {k: v for k, v in obj.items() if k not in RESERVED}
        for name, ft in decl.fields.items():
            v = fields.get(name)
            if v is None:
                if not ft.optional:
                    return f'{typ} needs the field "{name}"'
                continue
            problem = _type_problem(ft, v)
            if problem:
                return f'field "{name}" of {typ} {problem}'
        return (t, str(cid), typ, fields, None if eid is None else str(eid))


#: What a value of each declared kind must be, in the words of the input files.
_MUST_BE = {"string": "must be text", "step": "must be text", "number": "must be a number",
            "bool": "must be true or false", "map": "must be an object", "list": "must be a list"}


def _type_problem(ft: ir.FieldType, v) -> str | None:
    if ft.accepts(v):
        return None
    if ft.kind == "enum":
        near = closest(v, ft.values) if isinstance(v, str) else None
        return f"is {_json(v)}, not one of {', '.join(ft.values)}" + (f' (did you mean "{near}"?)' if near else "")
    return f"{_MUST_BE[ft.kind]}, not {_kind(v)}"


def _json(v) -> str:
    """A value as it is written in the input file."""
    try:
        return json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(v)


def _kind(v) -> str:
    """A value in the words of the input files' messages."""
    kind = ir.value_kind(v)
    if kind == "number":
        return f"the number {v}"
    if kind == "string":
        return f'"{v}"'
    return {"bool": "true/false", "list": "a list", "map": "an object"}.get(kind, "null")


def _field_specs(decl: ir.EventType) -> Optional[tuple]:
    """A declared type's fields for the fast check, or None when only the
    full check will do (a field named like a reserved key)."""
    if any(name in RESERVED for name in decl.fields):
        return None
    return tuple((name, ft.optional, ft.exact_types()) for name, ft in decl.fields.items())


_SIXTY = frozenset("012345")
_DIGITS = frozenset("0123456789")


class _EventTimes:
    """Event times to integers. The usual form, ``YYYY-MM-DDTHH:MM:SS`` with
    ``Z`` or ``+HH:MM``, is parsed once per hour and offset, and the minutes
    and seconds added; anything else goes through ``parse_event_time``."""

    def __init__(self):
        self.hours: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = len(text)
        if (n == 25 or (n == 20 and text[19] == "Z")) and text[13] == ":" and text[16] == ":" \
                and text[14] in _SIXTY and text[15] in _DIGITS and text[17] in _SIXTY and text[18] in _DIGITS:
            key = text[:13] + text[19:]
            base = self.hours.get(key)
            if base is None:
                base = parse_event_time(text[:14] + "00:00" + text[19:])
                self.hours[key] = base
            return base + int(text[14:16]) * 60 + int(text[17:19])
        return parse_event_time(text)


def iter_events(path: Path, events: dict[str, ir.EventType], shown: str | None = None,
                inputs: Inputs | None = None, seen_ids: set | None = None) -> Iterator[tuple]:
    """The good events of a log in file order, as (time, contact, type,
    fields). Bad lines and duplicates are recorded in ``inputs``."""
    inputs = inputs if inputs is not None else Inputs()
    shown = shown or str(path)
    validator = EventValidator(events)
    specs = {name: _field_specs(decl) for name, decl in events.items()}
    seen_ids = seen_ids if seen_ids is not None else set()
    times = _EventTimes()
    hours, sixty, digits = times.hours, _SIXTY, _DIGITS
    bad = inputs.bad
    decode = _decode
    with open(path, "rb") as f:
        no = 0
        for line in f:
            no += 1
            try:
                obj = decode(line)
            except (_DecodeError, ValueError) as e:
                if not line.strip():
                    continue
                msg = str(e).split("\n")[0]
                bad.append(BadLine(shown, no, f"not valid JSON ({msg})"))
                continue
            except RecursionError:
                bad.append(BadLine(shown, no, "not valid JSON (nested too deeply)"))
                continue
            # The fast path: the usual shapes, checked inline; anything else
            # (including every bad line) takes the full check and its messages.
            res = None
            if type(obj) is dict:
                typ = obj.get("type")
                spec = specs.get(typ) if type(typ) is str else None
                when = obj.get("time")
                cid = obj.get("contact")
                eid = obj.get("id")
                if spec is not None and type(when) is str and type(cid) is str and cid \
                        and (eid is None or type(eid) is str):
                    ok = True
                    for name, optional, accept in spec:
                        v = obj.get(name)
                        if v is None:
                            if not optional:
                                ok = False
                                break
                        elif accept is None:
                            continue
                        elif type(accept) is tuple:
                            if type(v) not in accept:
                                ok = False
                                break
                        elif type(v) is not str or v not in accept:
                            ok = False
                            break
                    if ok:
                        t = None
                        if len(when) == 25 and when[13] == ":" and when[16] == ":" and when[14] in sixty \
                                and when[15] in digits and when[17] in sixty and when[18] in digits:
                            t = hours.get(when[:13] + when[19:])  # the usual form, inline (see _EventTimes)
                            if t is not None:
                                t += int(when[14:16]) * 60 + int(when[17:19])
                        if t is None:
                            try:
                                t = times(when)
                            except (ValueError, OverflowError, OSError):
                                ok = False
                        if ok and not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
                            ok = False  # the full check says why
                        if ok:
                            del obj["type"], obj["time"], obj["contact"]
                            if eid is not None:
                                del obj["id"]
                            elif "id" in obj:
                                del obj["id"]
                            res = (t, cid, typ, obj, eid)
            if res is None:
                if not isinstance(obj, dict):
                    bad.append(BadLine(shown, no, "expected a JSON object"))
                    continue
                res = validator.check(obj)
                if isinstance(res, str):
                    bad.append(BadLine(shown, no, res))
                    continue
            t, cid, typ, fields, eid = res
            if eid is not None:
                if eid in seen_ids:
                    inputs.duplicates += 1
                    inputs.duplicate_events.append((t, cid, typ, fields, eid, f"{shown}:{no}"))
                    continue
                seen_ids.add(eid)
            yield t, cid, typ, fields


def read_events(path: Path, events: dict[str, ir.EventType], shown: str | None = None,
                inputs: Inputs | None = None) -> Inputs:
    inputs = inputs or Inputs()
    out = list(iter_events(path, events, shown, inputs))
    for i in range(1, len(out)):
        if out[i][0] < out[i - 1][0]:
            out.sort(key=lambda e: e[0])  # stable: file order within one instant
            break
    inputs.events.extend(out)
    if out:
        inputs.first_time = out[0][0]
        inputs.last_time = out[-1][0]
    return inputs
