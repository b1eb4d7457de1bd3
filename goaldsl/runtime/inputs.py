"""Reading contacts and events (JSON Lines, docs/spec.md section 7).

Every bad line is reported as ``FILE:LINE: message``. By default a run with
bad lines is refused before anything is acted on; with ``skip_bad`` the rest
is used and the skipped lines are counted. Repeated event ids are ignored as
duplicates (and counted). Events are sorted by time, stably.
"""
from __future__ import annotations

import functools
import itertools
import json
import math
import operator
import os
import re
import sys
from operator import itemgetter
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

import attrs

from ..semantics import ir
from ..semantics.effects import ContactEffects, standard_effects
from ..semantics.calendar import parse_event_time
from ..syntax.diagnostics import closest
from ..syntax.source import BOM
from ..syntax.values import show_json

try:  # msgspec decodes JSON several times faster than the standard library
    import msgspec

    decode_json = msgspec.json.decode
    JSONDecodeError: type[Exception] = msgspec.DecodeError
except ImportError:  # pragma: no cover
    decode_json = json.loads
    JSONDecodeError = ValueError

RESERVED = ("id", "time", "contact", "type")

# Event times must fall in this span (UTC). It leaves room for every window,
# wait and calendar step (at most ten years) to stay inside the years that
# date arithmetic and the output's four-digit years can represent.
MIN_EVENT_TIME = -2208988800  # 1900-01-01T00:00:00Z
MAX_EVENT_TIME = 221845392000  # 9000-01-01T00:00:00Z, excluded


@attrs.frozen
class BadLine:
    """A bad line or row: ``FILE:ROW[:COLUMN]: message``. ``column`` names
    the column of a CSV or Parquet file (JSON Lines name the key in the
    message instead)."""
    file: str
    line: int
    message: str
    column: Optional[str] = None

    def __str__(self) -> str:
        # line 0: not a line of a file (a value given to the engine, a file that cannot be read)
        where = f"{self.file}:{self.line}" if self.line else self.file
        where += f":{self.column}" if self.column else ""
        return f"{where}: {self.message}"


class InputError(ValueError):
    """Bad input: lines of contacts or events files, or values given to the
    engine (``Engine.add_contact``, ``add_event``, ``run_until``); ``bad``
    lists them as ``BadLine(file, line, message)``, with the method's name
    and line 0 for a value."""

    def __init__(self, bad: Sequence[BadLine]):
        self.bad = list(bad)
        super().__init__("\n".join(str(b) for b in self.bad))


def refuse(where: str, message: str) -> InputError:
    """An InputError for one value given to ``where`` (a method's name)."""
    return InputError([BadLine(where, 0, message)])


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
    # rows left out on purpose, by reason (a mapping's unknown_events = "skip"): always reported
    skipped: dict[str, int] = attrs.field(factory=dict)
    # every contact id of the log, when only one contact's events were kept (``contact_slice``)
    contact_ids: Optional[set] = None


def left_out(inputs: Inputs, duplicates: bool = True, shown: int = 20) -> list[str]:
    """What was left out of the input, in the words every command uses
    (``goal run`` writes them on standard error, the REPL as notes): the
    bad lines skipped (the first ``shown`` listed), the rows of events a
    mapping skips, the duplicates. Nothing is dropped silently. One text
    for each (the bad lines' holds a line for each, indented)."""
    lines: list[str] = []
    if inputs.bad:
        rows = len({(b.file, b.line) for b in inputs.bad})
        block = [f"skipped {rows} bad line{'s' if rows != 1 else ''}:"] + [f"  {b}" for b in inputs.bad[:shown]]
        if len(inputs.bad) > shown:
            block.append(f"  ... and {len(inputs.bad) - shown} more")
        lines.append("\n".join(block))
    if inputs.skipped:
        n = sum(inputs.skipped.values())
        kinds = ", ".join(f"{name} {count:,}" for name, count in sorted(inputs.skipped.items(), key=lambda kv: -kv[1]))
        lines.append(f"skipped {n:,} row{'s' if n != 1 else ''} of events the program does not declare "
                     f'(unknown_events = "skip"): {kinds}')
    if inputs.duplicates and duplicates:
        lines.append(f"ignored {inputs.duplicates} duplicate event{'s' if inputs.duplicates != 1 else ''} "
                     f"(repeated ids)")
    return lines


def refused(bad: Sequence[BadLine], nothing: str = "run") -> list[str]:
    """Bad lines that stop a command, every one listed: ``N bad input lines;
    nothing was run:`` (or ``loaded``), then each ``FILE:ROW[:COLUMN]: message``."""
    rows = len({(b.file, b.line) for b in bad})
    return [f"{rows} bad input line{'s' if rows != 1 else ''}; nothing was {nothing}:", *map(str, bad)]


def as_source(path, shown: str | None = None):
    """A ``Source`` for a path (``-`` is standard input), or the Source given."""
    from .sources import Source
    if isinstance(path, Source):
        if shown:
            path.shown = shown
        return path
    return Source(path, shown)


def numbered_lines(f) -> Iterator[tuple[int, bytes]]:
    """A file's lines numbered from 1, without a byte order mark before the first."""
    first = f.readline()
    if not first:
        return iter(())
    if first.startswith(BOM):
        first = first[len(BOM):]
    return itertools.chain(((1, first),), enumerate(f, 2))


def source_lines(source) -> Iterator[tuple[int, bytes]]:
    """A source's lines numbered from 1 (``numbered_lines``), blank ones too."""
    with source.open() as f:
        yield from numbered_lines(f)


_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.S)


def json_problem(line: bytes, exc: Exception) -> str:
    """The message for a line that is not valid JSON. A lone surrogate
    escape (``"\\ud800"``: half of a UTF-16 pair, not a character) is named;
    the decoder calls it truncated input or an invalid pair."""
    prev = None  # (start, value) of a high surrogate escape waiting for its low half
    for m in _ESCAPE.finditer(line):
        code = int(m.group(1), 16) if m.group(1) else -1
        low = 0xDC00 <= code <= 0xDFFF
        if prev is not None:
            if low and m.start() == prev[0] + 6:
                prev = None
                continue
            return _lone(line, *prev)
        if 0xD800 <= code <= 0xDBFF:
            prev = (m.start(), code)
        elif low:
            return _lone(line, m.start(), code)
    if prev is not None:
        return _lone(line, *prev)
    return f"not valid JSON ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"


def _lone(line: bytes, at: int, code: int) -> str:
    col = len(line[:at].decode("utf-8", "replace")) + 1
    return (f'not valid JSON (a lone surrogate "\\u{code:04x}" at column {col}: half of a UTF-16 pair, '
            f"not a character)")


def json_objects(source, bad: list[BadLine]) -> Iterator[tuple[int, dict]]:
    """The JSON objects of a JSON Lines source, numbered; blank lines are
    passed over and bad lines go to ``bad``."""
    return numbered_objects(source.shown, source_lines(source), bad)


def numbered_objects(shown: str, lines: Iterable[tuple[int, bytes]], bad: list[BadLine]) -> Iterator[tuple[int, dict]]:
    """The JSON objects of numbered lines of ``shown``; blank lines are
    passed over and bad lines go to ``bad``."""
    for no, line in lines:
        if line.strip():
            obj = decode_line(shown, no, line, bad)
            if obj is not None:
                yield no, obj


def line_chunks(f) -> Iterator[tuple[range, list[bytes]]]:
    """A file's lines ``BATCH`` at a time, with their numbers (from 1),
    without a byte order mark before the first."""
    no = 1
    while True:
        lines = list(itertools.islice(f, BATCH))
        if not lines:
            return
        if no == 1 and lines[0].startswith(BOM):
            lines[0] = lines[0][len(BOM):]
        yield range(no, no + len(lines)), lines
        no += len(lines)


def decode_line(shown: str, no: int, line: bytes, bad: list[BadLine]):
    """One line's JSON object, or None with the reason added to ``bad``."""
    try:
        obj = decode_json(line)
    except (JSONDecodeError, ValueError) as e:
        bad.append(BadLine(shown, no, json_problem(line, e)))
        return None
    except RecursionError:  # msgspec's own depth limit, or the standard library's
        bad.append(BadLine(shown, no, "not valid JSON (nested too deeply)"))
        return None
    if not isinstance(obj, dict):
        bad.append(BadLine(shown, no, "expected a JSON object"))
        return None
    return obj


def read_contacts(path, shown: str | None = None, inputs: Inputs | None = None, *,
                  fmt: str | None = None, mapping=None, keep=None,
                  contact_lines: Optional[dict[str, int]] = None) -> Inputs:
    """Read a contacts file (JSON Lines, CSV or Parquet) into ``inputs``;
    bad lines go to ``inputs.bad``. JSON Lines are read ``BATCH`` lines
    at a time: a batch of the usual records (``usual_contacts``) is taken
    whole, any other is checked record by record. ``keep`` (JSON Lines
    only): given a batch's line numbers and lines, the numbers and lines to
    read (a worker's own contacts, ``workers``), the others passed over;
    ``contact_lines`` is given each good contact's line, by id."""
    inputs = inputs or Inputs()
    source = as_source(path, shown)
    from .readers import contact_records
    from .sources import contact_format
    seen: dict[str, int] = contact_lines if contact_lines is not None else {}
    fmt = fmt or contact_format(source, mapping)
    if fmt != "jsonl":
        _take_contacts(source.shown, contact_records(source, inputs.bad, fmt=fmt, mapping=mapping), seen, inputs)
        return inputs
    with source.open() as f:
        for nos, lines in line_chunks(f):
            if keep is not None:
                nos, lines = keep(nos, lines)
            records = usual_contacts(lines, seen)
            if records is None:
                records = ((no, obj, None) for no, obj in numbered_objects(source.shown, zip(nos, lines), inputs.bad))
                _take_contacts(source.shown, records, seen, inputs)
            else:
                seen.update(zip(map(_GET_ID, records), nos))
                inputs.contacts += records
    return inputs


def _take_contacts(shown: str, records: Iterable[tuple[int, dict, Optional[dict]]], seen: dict[str, int],
                   inputs: Inputs) -> None:
    """Check contact records one by one (``check_contact``), each id once
    (``seen``: the line of each id taken); the good ones go to
    ``inputs.contacts``, the bad to ``inputs.bad``."""
    for no, obj, column in records:
        problem = check_contact(obj, column)
        if problem:
            inputs.bad.append(BadLine(shown, no, problem[1], problem[0]))
            continue
        cid = obj["id"]
        if cid in seen:
            inputs.bad.append(BadLine(shown, no, f'contact "{cid}" is already on line {seen[cid]}'))
            continue
        seen[cid] = no
        inputs.contacts.append(obj)


_GET_ID = itemgetter("id")


def usual_contacts(lines: list[bytes], seen: dict[str, int]) -> Optional[list[dict]]:
    """The records of these lines of a contacts file when each is one of
    the usual shape (``usual_contact_type(nulls=False)``: ``check_contact``
    would take it as it is) with an id neither ``seen`` nor repeated among
    them: checked all at once, in C. None otherwise (nothing was decided)."""
    data = b"".join(lines)
    try:
        import msgspec
        objs = _lines_decoder().decode_lines(data)
        if len(objs) != len(lines) or not one_a_line(data):
            return None
        msgspec.convert(objs, _usual_contacts_type())
    except Exception:  # not JSON, nested too deeply, a record of another shape
        return None
    ids = list(map(_GET_ID, objs))
    if len(set(ids)) != len(ids) or not seen.keys().isdisjoint(ids):
        return None
    return objs


@functools.lru_cache(maxsize=1)
def _lines_decoder():
    import msgspec
    return msgspec.json.Decoder()


@functools.lru_cache(maxsize=1)
def _usual_contacts_type():
    return list[usual_contact_type(nulls=False)]  # type: ignore[misc]


def usual_contact_type(nulls: bool = True):
    """Contact records as one msgspec type: a non-empty text id, the list
    attributes as lists of texts, or absent (or null, with ``nulls``):
    what ``check_contact`` accepts with no change (with ``nulls``: but
    dropping a null list)."""
    import msgspec
    from typing import Annotated, Optional as Opt
    fields: list = [("id", Annotated[str, msgspec.Meta(min_length=1)])]
    fields += [(name, Opt[list[str]] if nulls else list[str], None) for name in list_attributes()]
    return msgspec.defstruct("UsualContact", fields, gc=False)


def list_attributes() -> tuple[str, ...]:
    """The contact attributes that hold lists of texts, which every contact
    has: those the standard library's effects add to (``tags``, ``lists``)."""
    return standard_effects().list_attributes


def attributes_problem(attributes: dict, lists: Iterable[str] | None = None) -> str | None:
    """What is wrong with contact attributes (a record's, or those an event
    sets), in the words of the input files; None when nothing is. ``lists``:
    the list attributes (a program's; by default the standard library's)."""
    problem = None
    for key in list_attributes() if lists is None else lists:
        v = attributes.get(key, _ABSENT)
        if v is not _ABSENT and not (isinstance(v, list) and all(map(_is_text, v))):
            problem = f'"{key}" must be a list of texts'
    return problem


_ABSENT = object()
_is_text = str.__instancecheck__  # isinstance(x, str), mapped in C


def check_contact(obj: dict, columns: Optional[dict] = None) -> Optional[tuple[Optional[str], str]]:
    """A contact record's problem as (column, message), or None when it is
    good (then its id is text). ``null`` tags or lists mean none: the key is
    dropped. ``columns`` names the source columns, for CSV and Parquet."""
    cid = obj.get("id")
    if cid.__class__ is not str or not cid:  # (text, the usual case, is taken as it is)
        if isinstance(cid, bool) or not isinstance(cid, (str, int)) or cid == "":
            return ((columns or {}).get("id"), 'a contact needs an "id" (text)' if cid is None
                    else f'"id" must be text, not {described(cid)}')
        obj["id"] = str(cid)
    lists = list_attributes()
    for key in lists:
        if key in obj and obj[key] is None:
            del obj[key]
    problem = attributes_problem(obj, lists)
    if problem:
        bad_key = next((k for k in lists if f'"{k}"' in problem), None)
        return (columns or {}).get(bad_key) if bad_key else None, problem
    return None


class EventValidator:
    """Checks an event's fields against its declared type."""

    def __init__(self, events: dict[str, ir.EventType]):
        self.events = events
        self.names = sorted(events)
        fx = ContactEffects(events)
        #: Event type -> its field that sets attributes by name (contact.updated's "fields").
        self.keyed = fx.keys_fields
        self.lists = fx.list_attributes

    def check(self, obj: dict) -> str | tuple:
        """A message for a bad event, or (time, contact, type, fields, id)."""
        fields = {k: v for k, v in obj.items() if k not in RESERVED}
        res = self.check_parts(obj.get("type"), obj.get("time"), obj.get("contact"), obj.get("id"), fields)
        return res.message if isinstance(res, Problem) else res

    def check_parts(self, typ, when, cid, eid, fields: dict, times: "TimeReader | None" = None,
                    names: Optional[dict] = None) -> "Problem | tuple":
        """The parts of an event, wherever they came from, checked in a fixed
        order (type, time, contact, id, fields): a ``Problem`` (the key at
        fault and a message) or (time, contact, type, fields, id). ``times``
        reads the time (ISO 8601 text with an offset by default); ``names``
        gives the source's name of each key for messages. A ``null``
        optional field is absent: it is dropped from ``fields``."""
        shown = names.get if names else _same
        if not isinstance(typ, str) or not typ:
            return Problem("type", f'an event needs a "{shown("type", "type")}"')
        decl = self.events.get(typ)
        if decl is None:
            best = closest(typ, self.names)
            return Problem("type", f'unknown event type "{typ}"' + (f' (did you mean "{best}"?)' if best else ""))
        tname = shown("time", "time")
        if when is None:
            return Problem("time", f'an event needs a "{tname}"')
        try:
            t = (times or ISO_TIMES).read(when, tname)
        except ValueError as e:
            return Problem("time", str(e))
        if not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
            return Problem("time", f'"{tname}" {_show_time(when)} is out of range (events must fall between the years '
                                   f'1900 and 8999)')
        cname = shown("contact", "contact")
        if isinstance(cid, bool) or not isinstance(cid, (str, int)) or cid == "":
            return Problem("contact", f'an event needs a "{cname}" (the contact id)' if cid is None else
                           f'"{cname}" must be text, not {described(cid)}')
        if eid is not None and (isinstance(eid, bool) or not isinstance(eid, (str, int))):
            return Problem("id", f'"{shown("id", "id")}" must be text, not {described(eid)}')
        for name, ft in decl.fields.items():
            v = fields.get(name)
            if v is None:
                if not ft.optional:
                    return Problem(name, f'{typ} needs the field "{name}"')
                if name in fields:
                    del fields[name]  # null means absent
                continue
            problem = _type_problem(ft, v)
            if problem:
                return Problem(name, f'field "{name}" of {typ} {problem}')
        keyed = self.keyed.get(typ)
        if keyed is not None:
            changes = fields.get(keyed)
            if isinstance(changes, dict):
                for key in self.lists:
                    if key in changes and changes[key] is None:
                        changes[key] = []  # null tags or lists mean none, as in a contact record
            problem = updated_problem(changes, self.lists, typ)
            if problem:
                return Problem(keyed, f'field "{keyed}" of {typ}: {problem}')
        return (t, str(cid), typ, fields, None if eid is None else str(eid))

    def check_call(self, time, contact, typ, fields) -> str | tuple:
        """The checks of ``check_parts`` for an event given to
        ``Engine.add_event`` as values (the time an integer): a message, or
        (time, contact, type, fields) with the contact id as text and the
        engine's own copy of the fields."""
        if not isinstance(typ, str) or not typ:
            return f'the event type must be text, like "page.visited", not {wrong_value(typ)}'
        if isinstance(time, str):
            return (f"the time must be an integer (seconds since 1970-01-01T00:00:00Z), not the text {show_json(time)}: "
                    f"convert it with goaldsl.parse_time")
        if isinstance(time, bool) or not isinstance(time, int):
            return f"the time must be an integer (seconds since 1970-01-01T00:00:00Z), not {wrong_value(time)}"
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            return f"the fields must be a dict of field names to values, not {wrong_value(fields)}"
        problem = value_problem(fields)
        if problem:
            return f"the fields {problem}"
        fields = copy_value(fields)
        res = self.check_parts(typ, time, contact, None, fields, times=_EPOCH_SECONDS)
        if isinstance(res, Problem):
            return res.message
        return res[:4]


#: What a value of each declared kind must be, in the words of the input files.
_MUST_BE = {"string": "must be text", "step": "must be text", "number": "must be a number",
            "bool": "must be true or false", "map": "must be an object", "list": "must be a list"}


def _same(key, default):
    return default


class _EpochSeconds:
    """The time of an event given to the engine: already an integer."""

    @staticmethod
    def read(v, name: str = "time") -> int:
        return v


_EPOCH_SECONDS = _EpochSeconds()

def updated_problem(changes, lists: Iterable[str], typ: str = "contact.updated") -> str | None:
    """What is wrong with the attributes an event sets by name (the
    ``fields`` of ``contact.updated``, whose effect is ``update``): the rules
    of a contact record, and no way round them through a dotted name
    (``"tags.0"``) or by changing the id."""
    if not isinstance(changes, dict):
        return None  # the field's declared type (map) says so
    for key in changes:
        head = str(key).split(".", 1)[0]
        if head == "id":
            return f'a {typ} event cannot change the contact\'s "id"'
        if head in lists and key != head:
            return f'"{key}": "{head}" is a list of texts, set as a whole'
    return attributes_problem(changes, lists)


#: How deep values given to the engine may nest (far beyond real records;
#: the walks below stay well inside Python's recursion limit).
MAX_VALUE_DEPTH = 500


def value_problem(v, depth: int = 0) -> str | None:
    """What keeps a value given to the engine from being one a JSON Lines
    file could hold (text, a finite number, true/false, null, a list, an
    object with text keys), in a few words; None when nothing does."""
    if v is None or isinstance(v, (str, bool, int)):
        return None
    if isinstance(v, float):
        return None if math.isfinite(v) else f"hold {v}, which is not a number JSON can hold"
    if depth >= MAX_VALUE_DEPTH:
        return f"are nested more than {MAX_VALUE_DEPTH} levels deep"
    if isinstance(v, list):
        for x in v:
            problem = value_problem(x, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                return f"have the key {k!r:.40}, which is not text"
            problem = value_problem(x, depth + 1)
            if problem:
                return problem
        return None
    return f"hold {wrong_value(v)}, which is not a value of a JSON Lines file"


def copy_value(v):
    """A copy of a value ``value_problem`` accepted: the engine keeps its own,
    so a host that changes its dict later changes nothing in the run."""
    if isinstance(v, dict):
        return {k: copy_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [copy_value(x) for x in v]
    return v


def wrong_value(v) -> str:
    """A value of the wrong kind given to the engine, for a message."""
    if v is None:
        return "None"
    if isinstance(v, str):
        return f"the text {show_json(v)}"
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return described(v)
    return f"a {type(v).__name__} ({v!r:.40})"


@attrs.frozen
class Problem:
    """What is wrong with an event: the key at fault (``type``, ``time``,
    ``contact``, ``id`` or a field name) and the message."""
    key: str
    message: str


def _show_time(v) -> str:
    return v if isinstance(v, str) else show_json(v)


class TimeReader:
    """Reads an event's time into epoch seconds. ``format``: ``iso`` (ISO
    8601 text), ``epoch_s`` or ``epoch_ms`` (a number, or text holding
    one). ``timezone``: the zone of ISO times written without an offset
    (without it such a time is refused). ``read`` raises ValueError with the
    message for a bad line."""

    FORMATS = ("iso", "epoch_s", "epoch_ms")

    def __init__(self, format: str = "iso", timezone: Optional[str] = None):
        self.format = format
        self.timezone = timezone
        self._iso = EventTimes()

    def read(self, v, name: str = "time") -> int:
        if self.format == "iso":
            if isinstance(v, str):
                return self._read_iso(v, name)
            if hasattr(v, "utcoffset") and hasattr(v, "timestamp"):  # a datetime, from Parquet or CSV readers
                return self._read_datetime(v, name)
            raise ValueError(f'"{name}" must be text like "2026-11-16T14:02:00Z", not {described(v)}'
                             + (' (for seconds since 1970, set [time] format = "epoch_s" in the mapping file)'
                                if isinstance(v, (int, float)) and not isinstance(v, bool) else ""))
        scale = 1000 if self.format == "epoch_ms" else 1
        unit = "milliseconds" if scale == 1000 else "seconds"
        n = v
        if isinstance(v, str):
            try:
                n = int(v) if v.strip().lstrip("-").isdigit() else float(v)
            except ValueError:
                n = None
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or n in (float("inf"), float("-inf")):
            raise ValueError(f'"{name}" must be a number of {unit} since 1970-01-01T00:00:00Z, not {described(v)}')
        return int(n // scale) if isinstance(n, int) else int((n / scale) // 1)

    def _read_iso(self, text: str, name: str) -> int:
        try:
            return self._iso(text)
        except ValueError as e:
            if "no Z or UTC offset" in str(e):
                if self.timezone:
                    return self._read_naive(text, name)
                return_msg = f'"{name}" {text} has no Z or UTC offset (write "{text}Z" for UTC'
                raise ValueError(return_msg + ', or give [time] timezone in the mapping file)'
                                 if name != "time" else return_msg + ")") from None
            raise ValueError(f'"{name}" {show_json(text)} is not an ISO 8601 date-time like "2026-11-16T14:02:00Z"') from None
        except (OverflowError, OSError):
            raise ValueError(f'"{name}" {show_json(text)} is out of range') from None

    def _read_naive(self, text: str, name: str) -> int:
        from datetime import datetime
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f'"{name}" {show_json(text)} is not an ISO 8601 date-time like "2026-11-16T14:02:00"') from None
        return self._read_datetime(dt, name)

    def _read_datetime(self, dt, name: str) -> int:
        from datetime import timezone
        if dt.tzinfo is None:
            if not self.timezone:
                raise ValueError(f'"{name}" {dt.isoformat()} has no time zone (give [time] timezone in the mapping '
                                 f'file, for example timezone = "UTC")')
            from ..semantics.calendar import wall_to_epoch
            wall = int(dt.replace(tzinfo=timezone.utc).timestamp())
            return wall_to_epoch(wall, self.timezone)
        try:
            return int(dt.timestamp())
        except (OverflowError, OSError, ValueError):
            raise ValueError(f'"{name}" {dt.isoformat()} is out of range') from None



def _type_problem(ft: ir.FieldType, v) -> str | None:
    if ft.accepts(v):
        return None
    if ft.kind == "enum":
        near = closest(v, ft.values) if isinstance(v, str) else None
        return f"is {show_json(v)}, not one of {', '.join(ft.values)}" + (f' (did you mean "{near}"?)' if near else "")
    return f"{_MUST_BE[ft.kind]}, not {described(v)}"


def described(v) -> str:
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


#: ":MM:SS" to seconds: the minutes and seconds of a time of the usual form.
_MMSS = {f":{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}


class EventTimes:
    """Event times to integers. The usual form, ``YYYY-MM-DDTHH:MM:SS`` with
    ``Z`` or ``+HH:MM``, is parsed once per hour and offset, and the minutes
    and seconds added; anything else goes through ``parse_event_time``."""

    def __init__(self):
        self.hours: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = len(text)
        if n == 25 or (n == 20 and text[19] == "Z"):
            mmss = _MMSS.get(text[13:19])
            if mmss is not None:
                key = text[:13] + text[19:]
                base = self.hours.get(key)
                if base is None:
                    base = parse_event_time(text[:14] + "00:00" + text[19:])
                    self.hours[key] = base
                return base + mmss
        return parse_event_time(text)


_DIGITS = b"0123456789"
OFFSET_COLUMNS = {25: ((19, b"+-"), (20, _DIGITS), (21, _DIGITS), (23, _DIGITS), (24, _DIGITS)), 20: ((19, b"Z"),)}
_FORM_COLUMNS = ((0, _DIGITS), (1, _DIGITS), (2, _DIGITS), (3, _DIGITS), (4, b"-"), (5, b"01"), (6, _DIGITS),
                 (7, b"-"), (8, b"0123"), (9, _DIGITS), (10, b"T"), (11, b"012"), (12, _DIGITS),
                 (13, b":"), (14, b"012345"), (15, _DIGITS), (16, b":"), (17, b"012345"), (18, _DIGITS))
_OFFSET_COLON = {25: ((22, b":"),), 20: ()}  # the colon of "+HH:MM"


def usual_columns(pieces: list):
    """``contact_slice._usual_times`` done a column at a time, when every time has one
    width (``pieces``: runs of them, ``contact_slice._Columns.pieces``; all ``+HH:MM``, or
    all ``Z``) and every year is from 1901 to 8998: every column of the
    times' bytes checked in C (``usual_form``), the least and greatest
    hour read (``fromisoformat`` checks the date and hour, and the offset,
    each on its own; in those years no offset takes an instant out of
    range). The offsets are those the offset columns' characters make,
    which may be more than the log has: that only widens
    ``contact_slice._first_and_last``'s spread. None otherwise (then each
    hour is read with each offset)."""
    width = len(pieces[0][0])
    if width not in OFFSET_COLUMNS:
        return None
    text = "".join([p[2] for p in pieces])
    raw = text.encode()
    if len(raw) != len(text):
        return None  # not ASCII
    least, greatest = min(p[0] for p in pieces), max(p[1] for p in pieces)
    if not "1901" <= least[:4] <= greatest[:4] <= "8998":
        return None
    offsets = usual_form(raw, width)
    if offsets is None:
        return None
    reader = EventTimes()
    try:
        for h in (least, greatest):
            reader(h[:13] + ":00:00Z")
    except (ValueError, OverflowError, OSError):  # pragma: no cover - usual_form checked them
        return None
    return reader, offsets, pieces


def usual_form(raw: bytes, width: int) -> Optional[set[str]]:
    """The offsets the offset columns' characters make (at most 64, each of
    which ``fromisoformat`` reads), when every time in ``raw`` (the times
    joined, ``width`` characters each, a width of ``OFFSET_COLUMNS``) is
    of the usual form, checked a column at a time in C, and their dates and
    hours are of the calendar (``usual_dates``); None otherwise. The
    years are not checked."""
    from itertools import product
    for col, allowed in (*_FORM_COLUMNS, *_OFFSET_COLON[width]):
        if raw[col::width].translate(None, allowed):
            return None
    chars = []
    for col, allowed in OFFSET_COLUMNS[width]:
        column = raw[col::width]
        if column.translate(None, allowed):
            return None
        chars.append([chr(c) for c in allowed if c in column])
    offsets = {"".join(p) for p in product(*chars)}
    if width == 25:
        offsets = {f"{o[:3]}:{o[3:]}" for o in offsets}
    if len(offsets) > 64 or not usual_dates(raw, width):
        return None
    try:
        for o in offsets:
            parse_event_time("2000-01-01T00:00:00" + o)
    except (ValueError, OverflowError, OSError):
        return None
    return offsets


_DIGIT_VALUES = bytes(c - 48 if 48 <= c <= 57 else 0 for c in range(256))
_HOURS, _MONTHS, _DAYS = bytes(range(24)), bytes(range(1, 13)), bytes(range(1, 32))
_LATE_DAYS = bytes({29: 1, 30: 2, 31: 3}.get(c, 0) for c in range(256))  # the days not in every month
_FEBRUARY_29 = 1 * 16 + 2
_DATES = bytes([*range(1, 13), *(16 * late + m for late in (1, 2) for m in range(1, 13) if m != 2),
                *(3 * 16 + m for m in (1, 3, 5, 7, 8, 10, 12))])  # late * 16 + month, but February 29


def usual_dates(raw: bytes, width: int) -> bool:
    """Whether each time's ``YYYY-MM-DDTHH`` (in ``raw``, the times joined,
    of one width, their digits and separators checked) is a date of the
    calendar and an hour of the day, for all the times at once: each
    two-digit field, a byte per time, is the digit columns read as big
    integers, ``10 * tens + ones`` (no byte carries into the next), and its
    values are checked by deleting the allowed ones; then the late days
    (29 to 31) with their months the same way, and February 29 in leap
    years only."""
    n = len(raw) // width

    def field(col: int) -> bytes:
        tens = int.from_bytes(raw[col::width].translate(_DIGIT_VALUES), "big")
        ones = int.from_bytes(raw[col + 1::width].translate(_DIGIT_VALUES), "big")
        return (10 * tens + ones).to_bytes(n, "big")

    month, day = field(5), field(8)
    if field(11).translate(None, _HOURS) or month.translate(None, _MONTHS) or day.translate(None, _DAYS):
        return False
    late = int.from_bytes(day.translate(_LATE_DAYS), "big")
    dates = (16 * late + int.from_bytes(month, "big")).to_bytes(n, "big")
    odd = dates.translate(None, _DATES)
    if odd.strip(bytes([_FEBRUARY_29])):
        return False
    at = dates.find(_FEBRUARY_29) if odd else -1
    while at >= 0:
        year = int(raw[at * width:at * width + 4])
        if year % 4 or (year % 100 == 0 and year % 400):  # not a leap year
            return False
        at = dates.find(_FEBRUARY_29, at + 1)
    return True


def column_times(times: list[str]) -> Optional[list[int]]:
    """What ``EventTimes`` reads each of ``times`` as, worked out a column
    at a time, in C: when they are of one width, 20 or 25 characters, of
    the usual form, and in one month of a year from 1970 (but its first
    month) to 8998. None otherwise. (The times must be 20 to 25 characters
    each: then they are all 20, or all 25, when they are 20 or 25 times as
    long as they are many, joined.)

    Each column of the times' bytes is taken once (a stepped slice): the
    year's and month's must be the first time's, the separators' the
    form's (``_SEPARATORS``); the digits of the day, hour, minute and
    second go to a 64-bit lane per time (``_Lanes``), a byte each, a digit
    as its value and any other character as 0xFF, and each pair of them
    becomes a number of 16 bits, which must be within its bounds
    (``_out_of_bounds``: a character that is not a digit never is).

    Each time is then its month's first instant, plus its day, hour,
    minute and second, less its offset (read the same way, its sign from
    its own column): a sum over the big integers; no lane goes below zero
    or past 2**63, so none carries into the next, and the lanes are read
    out as integers by a memoryview."""
    n = len(times)
    if not n or sys.byteorder != "little":
        return [] if not n else None
    text = "".join(times)
    width = len(text) // n
    if len(text) != width * n or width not in _SEPARATORS:
        return None
    raw = text.encode()
    if len(raw) != len(text):
        return None  # not ASCII
    head = raw[:7]  # "YYYY-MM", the first time's
    if not head[:4].isdigit() or not b"1970" <= head[:4] <= b"8998" or not b"01" <= head[5:] <= b"12" \
            or not head[5:].isdigit():
        return None
    lanes = _lanes(n)
    repeated = lanes.repeated
    for col, char in enumerate(head):
        if raw[col::width].count(char) != n:
            return None  # not one year and month
    for col, char in _SEPARATORS[width]:
        if raw[col::width] != repeated[char]:
            return None
    month = parse_event_time(text[:7] + "-01T00:00:00Z")
    if month < 86400:
        return None
    digits = bytearray(8 * n)
    for k, col in enumerate((8, 9, 11, 12, 14, 15, 17, 18)):
        digits[k::8] = raw[col::width]
    x = int.from_bytes(digits.translate(_DIGIT_OR_FF), "little")
    pairs = 10 * (x & lanes.even_bytes) + ((x >> 8) & lanes.even_bytes)  # day, hour, minute, second: 16 bits each
    if _out_of_bounds(pairs, lanes, _month_days(int(head[:4]), int(head[5:]))):
        return None
    low = lanes.low16
    total = (_month_lanes(n, month - 86400) + 86400 * (pairs & low) + 3600 * ((pairs >> 16) & low)
             + 60 * ((pairs >> 32) & low) + ((pairs >> 48) & low))
    if width == 25:
        signs = raw[19::width]
        if signs.translate(None, b"+-"):
            return None
        digits = bytearray(8 * n)
        for k, col in enumerate((20, 21, 23, 24)):
            digits[k::8] = raw[col::width]
        digits = bytearray(digits.translate(_DIGIT_OR_FF))
        digits[4::8] = signs.translate(_EAST)
        y = int.from_bytes(digits, "little")
        pairs = 10 * (y & lanes.even_bytes) + ((y >> 8) & lanes.even_bytes)  # the offset's hours, minutes
        if (pairs + lanes.two_digits) & lanes.high:
            return None  # not digits
        offset = 3600 * (pairs & low) + 60 * ((pairs >> 16) & low)
        if (offset + lanes.offset_short) & lanes.bit40:
            return None  # an offset of 24 hours or more (fromisoformat takes "+00:60" as an hour)
        east = (y >> 32) & lanes.low8  # 1 in the lanes of "+HH:MM": the offset taken off
        east = offset & ((east << 64) - east)
        total += offset  # (a month's first instant is later than any offset: no lane goes below zero)
        total -= east + east
    return memoryview(total.to_bytes(8 * n, "little")).cast("q").tolist()


#: The separators of the usual form of each width, (column, character):
#: its columns of one character (- - T : : and : or Z).
_SEPARATORS = {width: tuple((col, allowed[0]) for col, allowed in (*_FORM_COLUMNS, *_OFFSET_COLON[width],
                                                                   *OFFSET_COLUMNS[width]) if len(allowed) == 1)
               for width in OFFSET_COLUMNS}
_DIGIT_OR_FF = bytes(c - 48 if 48 <= c <= 57 else 0xFF for c in range(256))


@functools.lru_cache(maxsize=64)
def _month_days(year: int, month: int) -> int:
    """How many days the month has (the proleptic Gregorian calendar, as event times are read)."""
    import calendar
    return calendar.monthrange(year, month)[1]


@functools.lru_cache(maxsize=4)
def _month_lanes(n: int, base: int) -> int:
    """n lanes of ``base``."""
    return base * _lanes(n).ones


def _out_of_bounds(pairs: int, lanes: "_Lanes", days: int) -> bool:
    """Whether a lane's day is not of its month (1 to ``days``), or its
    hour, minute or second is past 23, 59, 59 (``pairs``: day, hour,
    minute and second, 16 bits each, each at most 10 * 0xFF + 0xFF). A
    field plus 2**15 less one more than its bound reaches bit 15 when it
    is past the bound; the day plus 2**15 - 1 reaches it when it is not 0."""
    if (pairs + lanes.bounds[days]) & lanes.high:
        return True
    return (pairs + lanes.day_short) & lanes.day_bit != lanes.day_bit


class _Lanes(NamedTuple):
    """Big integers of n 64-bit lanes: each lane 1; 0xFF in its bytes 0,
    2, 4 and 6; 0xFFFF in its low 16 bits; 0xFF in its low byte; 0x7FFF
    and 0x8000 (``_out_of_bounds``); 0x8000 in each 16 bits; 2**40 - 86400
    and 2**40 (an offset of a day or more); 0x8000 - 100 in the low two
    16 bits (their fields at most 99); per month length (28 to 31 days),
    the bounds ``_out_of_bounds`` adds; and per byte, n of it."""
    ones: int
    even_bytes: int
    low16: int
    low8: int
    day_short: int
    day_bit: int
    high: int
    offset_short: int
    bit40: int
    two_digits: int
    bounds: dict
    repeated: dict


@functools.lru_cache(maxsize=4)
def _lanes(n: int) -> _Lanes:
    """The lanes of n times: those of the next power of two cut to n lanes
    (one ``&`` per number, where making them takes a multiplication of a
    big integer each): the pieces of ``goal run --workers`` come in many
    sizes (each made them anew: 0.1 to 0.15 ms of a piece's 0.4 to 0.6);
    one process's batches in one."""
    size = 1 << (n - 1).bit_length() if n > 1 else 1
    if size == n:
        return _made_lanes(n)
    whole = _made_lanes(size)
    cut = (1 << 64 * n) - 1
    return _Lanes(*(x & cut for x in whole[:10]), {days: b & cut for days, b in whole.bounds.items()},
                  {c: r[:n] for c, r in whole.repeated.items()})


@functools.lru_cache(maxsize=4)
def _made_lanes(n: int) -> _Lanes:
    ones = int.from_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00" * n, "little")
    bounds = {days: ones * ((0x8000 - 60) << 48 | (0x8000 - 60) << 32 | (0x8000 - 24) << 16 | (0x8000 - days - 1))
              for days in (28, 29, 30, 31)}
    repeated = {c: bytes([c]) * n for c in b"-T:Z"}
    return _Lanes(ones, ones * 0x00FF_00FF_00FF_00FF, ones * 0xFFFF, ones * 0xFF, ones * 0x7FFF, ones * 0x8000,
                  ones * 0x8000_8000_8000_8000, ones * ((1 << 40) - 86400), ones << 40,
                  ones * ((0x8000 - 100) << 16 | (0x8000 - 100)), bounds, repeated)


_EAST = bytes(1 if c == ord("+") else 0 for c in range(256))


ISO_TIMES = TimeReader()

BATCH = 4096  # rows per batch handed on by a reader


class Batch(NamedTuple):
    """A batch of validated rows a reader hands on, in columns: the events
    ``(time, contact, type, fields)`` (from a ``numbered`` ``JsonlReader``,
    with the line after them), each one's id (None: it has none) and
    each one's line (or row) in the file."""
    events: list
    ids: list
    lines: Sequence[int]

    @staticmethod
    def of(rows: list, numbered: bool = False) -> "Batch":
        """A batch of rows ``(time, contact, type, fields, id, line)``
        (``numbered``: each event with its line, ``JsonlReader``)."""
        return Batch(list(map(_NUMBERED if numbered else _EVENT, rows)), list(map(_ID, rows)), list(map(_LINE, rows)))

    def rows(self) -> list[tuple]:
        """The rows as ``(time, contact, type, fields, id, line)``."""
        return list(map(operator.add, self.events, zip(self.ids, self.lines)))


def jsonl_batches(source, events: dict[str, ir.EventType], bad: list) -> Iterator[Batch]:
    """The project's JSON Lines: batches of validated rows. Bad lines go to
    ``bad``."""
    reader = JsonlReader(events, source.shown, bad)
    with source.open() as f:
        for nos, lines in line_chunks(f):
            yield reader.batch(nos, lines)


def jsonl_rows(lines: Iterable[tuple[int, bytes]], shown: str, events: dict[str, ir.EventType],
               bad: list) -> Iterator[list[tuple]]:
    """Numbered JSON Lines to lists of validated rows ``(time, contact, type,
    fields, id, line)``, as ``jsonl_batches`` reads them. Bad lines go to
    ``bad``."""
    reader = JsonlReader(events, shown, bad)
    it = iter(lines)
    while True:
        chunk = list(itertools.islice(it, BATCH))
        if not chunk:
            return
        nos, texts = zip(*chunk)
        rows = reader.batch(nos, list(texts)).rows()
        if rows:
            yield rows


_POP = dict.pop
_HOUR, _MINUTES, _OFFSET = itemgetter(slice(0, 13)), itemgetter(slice(13, 19)), itemgetter(slice(19, None))


class JsonlReader:
    """Checks JSON Lines of events a batch at a time (``batch``). The usual
    batch is checked whole, in C: its lines decoded in one call, found to be
    one object a line (``one_a_line``), every declared field checked by
    converting the objects to typed records (``usual_event_type``: no
    nulls, ids and contacts as text), the times read by the hour (as
    ``EventTimes``) a column at a time. A batch where any of that fails is
    read line by line (``_lines``), where the usual shapes are checked
    inline and anything else takes the full check, which writes the
    messages: the whole-batch path only ever accepts what the line-by-line
    path accepts, with the same rows. ``numbered``: each event comes with
    its line as a fifth item, as the keyed partition kernel takes them (the
    workers of ``goal run --workers``)."""

    def __init__(self, events: dict[str, ir.EventType], shown: str, bad: list, numbered: bool = False):
        self.events = events
        self.numbered = numbered
        self.shown = shown
        self.bad = bad
        self.validator = EventValidator(events)
        self.specs = {name: _field_specs(decl) for name, decl in events.items()}
        self.times = EventTimes()
        usual = usual_event_type(events, nulls=False)
        self.usual = None if usual is None else list[usual]  # type: ignore[valid-type]
        try:
            import msgspec
            self.decode_lines = _lines_decoder().decode_lines
            self.convert = msgspec.convert
        except ImportError:  # pragma: no cover
            self.usual = None

    def batch(self, nos: Sequence[int], lines: list[bytes]) -> Batch:
        """The good events of these lines (numbered ``nos``); bad lines go to ``bad``."""
        if self.usual is not None:
            whole = self._whole(nos, lines)
            if whole is not None:
                return whole
        return Batch.of(self._lines(zip(nos, lines)), self.numbered)

    def _whole(self, nos: Sequence[int], lines: list[bytes]) -> Optional[Batch]:
        """The batch checked whole, or None when a line is not of the usual
        shape (then nothing was decided)."""
        data = b"".join(lines)
        try:
            objs = self.decode_lines(data)
            if len(objs) != len(lines) or not one_a_line(data):
                return None
            self.convert(objs, self.usual)
        except Exception:  # not JSON, nested too deeply, a line of another shape
            return None
        # The keys as the decoder made them: it makes each short key once
        # and gives every object that one, so each lookup finds its key by
        # identity, without comparing texts.
        keys = dict(zip(objs[0], objs[0])) if objs else {}
        types = list(map(_POP, objs, itertools.repeat(keys.get("type", "type"))))
        whens = list(map(_POP, objs, itertools.repeat(keys.get("time", "time"))))
        cids = list(map(_POP, objs, itertools.repeat(keys.get("contact", "contact"))))
        ids = list(map(_POP, objs, itertools.repeat(keys.get("id", "id")), itertools.repeat(None)))
        # (from here on the objects have lost their reserved keys: a batch
        # found unusual below is decoded again, line by line)
        times = self._times(whens)
        if times is None:
            return None
        if self.validator.keyed and not self._updates_usual(types, objs):
            return None
        if self.numbered:
            return Batch(list(zip(times, cids, types, objs, nos)), ids, nos)
        return Batch(list(zip(times, cids, types, objs)), ids, nos)

    def _times(self, whens: list[str]) -> Optional[list[int]]:
        """The times as ``EventTimes`` reads them: a column at a time
        (``column_times``), else each hour parsed once and its minutes and
        seconds added, a column at a time; None when one is not a time or
        is out of range (``MIN_EVENT_TIME``, ``MAX_EVENT_TIME``)."""
        quick = column_times(whens)
        if quick is not None:
            return quick  # (in range: of one month of the years 1970 to 8998)
        times = self._hour_times(whens)
        if times and not (MIN_EVENT_TIME <= min(times) and max(times) < MAX_EVENT_TIME):
            return None
        return times

    def _hour_times(self, whens: list[str]) -> Optional[list[int]]:
        """``_times`` by the hour: each hour parsed once (``EventTimes``) and
        its minutes and seconds added, a column at a time; the range not
        checked."""
        reader = self.times
        hours = reader.hours
        keys = list(map(operator.concat, map(_HOUR, whens), map(_OFFSET, whens)))
        bases = list(map(hours.get, keys))
        try:
            if None in bases:  # hours not seen before: one line of each read whole
                new = list(map(operator.is_, bases, itertools.repeat(None)))
                for when in dict(zip(itertools.compress(keys, new), itertools.compress(whens, new))).values():
                    reader(when)
                bases = list(map(hours.get, keys))
            minutes = list(map(_MMSS.get, map(_MINUTES, whens)))
            if None in bases or None in minutes:
                return list(map(reader, whens))  # another form
        except (ValueError, OverflowError, OSError):
            return None
        return list(map(operator.add, bases, minutes))

    def _updates_usual(self, types: list[str], objs: list[dict]) -> bool:
        """Whether the events that set attributes by name (``contact.updated``)
        set them as a contact record may hold them (``updated_problem``):
        for all at once when none names the id, a list attribute or a dotted
        name, else one by one."""
        lists = self.validator.lists
        for typ, key in self.validator.keyed.items():  # (the standard library's one: contact.updated)
            of_type = map(operator.eq, types, itertools.repeat(typ))  # (not typ.__eq__: a slower call)
            changes = list(map(dict.get, itertools.compress(objs, of_type), itertools.repeat(key)))
            names = set(itertools.chain.from_iterable(changes)) if set(map(type, changes)) <= {dict} else {"id"}
            if "id" in names or not names.isdisjoint(lists) or "." in "".join(names):
                if any(updated_problem(c, lists, typ) for c in changes):
                    return False
        return True

    # Over 80 lines on purpose: the line-by-line reader, which every line of
    # a batch that is not of the usual shape goes through; the names bound
    # before the loop and the checks written out inside it are what make it
    # fast (docs/performance.md).
    def _lines(self, lines: Iterable[tuple[int, bytes]]) -> list[tuple]:
        """Numbered lines to validated rows, one at a time."""
        shown, bad, validator, specs, times = self.shown, self.bad, self.validator, self.specs, self.times
        keyed, lists = validator.keyed, validator.lists
        hours, minutes = times.hours, _MMSS.get
        decode = decode_json
        batch: list[tuple] = []
        append = batch.append
        for no, line in lines:
            try:
                obj = decode(line)
            except (JSONDecodeError, ValueError) as e:
                if not line.strip():
                    continue
                bad.append(BadLine(shown, no, json_problem(line, e)))
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
                            if name in obj:
                                del obj[name]  # null means absent
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
                        if len(when) == 25:  # the usual form, inline (see EventTimes)
                            t = hours.get(when[:13] + when[19:])
                            if t is not None:
                                mmss = minutes(when[13:19])
                                t = None if mmss is None else t + mmss
                        if t is None:
                            try:
                                t = times(when)
                            except (ValueError, OverflowError, OSError):
                                ok = False
                        if ok and not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
                            ok = False  # the full check says why
                        if ok and typ in keyed and updated_problem(obj.get(keyed[typ]), lists, typ):
                            ok = False
                        if ok:
                            del obj["type"], obj["time"], obj["contact"]
                            if "id" in obj:
                                del obj["id"]
                            res = (t, cid, typ, obj, eid, no)
            if res is None:
                if not isinstance(obj, dict):
                    bad.append(BadLine(shown, no, "expected a JSON object"))
                    continue
                res = validator.check(obj)
                if isinstance(res, str):
                    bad.append(BadLine(shown, no, res))
                    continue
                res = res + (no,)
            append(res)
        return batch


SAME_LINE = re.compile(rb"\}[ \t\r]*\{")  # two objects on one line (or such text in a string); the workers' scan uses it too


def one_per_line(data: bytes, n: int) -> bool:
    """``n`` objects decoded from ``data`` (``msgspec``'s ``decode_lines``)
    were one a line, with no blank line and none spanning lines: then
    object i is line i + 1. (No line holds parts of two objects: between
    two on one line there would be only spaces, tabs or carriage returns,
    which ``SAME_LINE`` finds. So the n objects touch n lines or more, and
    one line each only when the lines are n: n line ends, or n - 1 and a
    last line with no end. A count of ``}\\n{`` instead of the search is
    fewer instructions but more time: a search for three bytes runs slower
    than ``re``'s for one.)"""
    if not data:
        return n == 0
    newlines = data.count(b"\n")
    return newlines == (n if data.endswith(b"\n") else n - 1) and one_a_line(data)


def one_a_line(data: bytes) -> bool:
    """``one_per_line`` for ``data`` joined from lines (each a line as a
    file is split: a line end, if any, only as its last byte) that are as
    many as the objects decoded from it: the line ends are known to be as
    many as ``one_per_line`` counts, so only the search for two objects on
    one line is left. (n objects on n lines, no two on one: one on each.)"""
    return not SAME_LINE.search(data)


def _not_a_record_field(name: str, kind: str, kinds: dict) -> bool:
    """Whether an event field keeps its type out of ``usual_event_type``:
    named like a reserved key, or like a class's own attribute (``__dict__``,
    ``__weakref__``, ``__slots__``: any name with double underscores at both
    ends, which the checker allows and a msgspec record cannot have or
    would read as its own), or of a kind with no record type there."""
    return name in RESERVED or (name.startswith("__") and name.endswith("__")) or (kind not in kinds and kind != "enum")


def usual_event_type(events: dict[str, ir.EventType], nulls: bool = True):
    """The usual event lines as one msgspec type: a tagged union on
    ``type`` with one record type per declared event, each field of its
    declared kind (``any``: any JSON value but null), the time text of 20
    to 25 characters, the contact non-empty text, the id text (or null, or
    absent); with ``nulls``, a null optional field (absent, for the reader)
    is taken too. Types with a field a record cannot stand for
    (``_not_a_record_field``) are left out (their lines are not usual).
    None when no type is left."""
    import msgspec
    from typing import Annotated, Literal, Optional as Opt, Union
    # ``any`` is not typing.Any, which takes null: a null required field is a bad line
    kinds = {"string": str, "step": str, "number": Union[int, float], "bool": bool, "map": dict, "list": list,
             "any": Union[str, int, float, bool, list, dict]}
    text = Annotated[str, msgspec.Meta(min_length=1)]
    times = Annotated[str, msgspec.Meta(min_length=20, max_length=25)]  # the usual widths and those between
    members = []
    for n, (name, decl) in enumerate(sorted(events.items())):
        if any(_not_a_record_field(f, ft.kind, kinds) for f, ft in decl.fields.items()):
            continue
        required = [("time", times), ("contact", text)]
        optional = [("id", Opt[str], None)]
        for fname, ft in decl.fields.items():
            t = Literal[tuple(ft.values)] if ft.kind == "enum" else kinds[ft.kind]
            if ft.optional:
                optional.append((fname, Opt[t] if nulls else t, None))
            else:
                required.append((fname, t))
        members.append(msgspec.defstruct(f"Usual{n}", required + optional, tag_field="type", tag=name, gc=False))
    if not members:
        return None
    return Union[tuple(members)] if len(members) > 1 else members[0]


def event_batches(source, events: dict[str, ir.EventType], bad: list, *, fmt: str | None = None,
                  mapping=None, skipped: dict | None = None) -> Iterator[list[tuple]]:
    """The format-neutral stream of an events file: batches of validated
    rows (time, contact, type, fields, id, row), in file order, with the
    mapping applied. Bad rows go to ``bad``, rows left out on purpose are
    counted in ``skipped``. Duplicate ids are not removed here (that is a
    fact about the whole log: see ``iter_events``)."""
    return map(Batch.rows, checked_batches(source, events, bad, fmt=fmt, mapping=mapping, skipped=skipped))


def checked_batches(source, events: dict[str, ir.EventType], bad: list, *, fmt: str | None = None,
                    mapping=None, skipped: dict | None = None) -> Iterator[Batch]:
    """``event_batches`` as ``Batch`` columns (the events, their ids, their
    rows), as the readers hand them on."""
    from .readers import event_reader
    from .sources import detect_format
    fmt = detect_format(source, fmt, mapping)
    if fmt == "jsonl" and mapping is None:
        return jsonl_batches(source, events, bad)
    if fmt == "parquet":
        from .readers import parquet_batches
        return parquet_batches(source, events, bad, mapping=mapping, skipped=skipped if skipped is not None else {})
    return map(Batch.of, event_reader(fmt, source, events, bad, mapping=mapping,
                                      skipped=skipped if skipped is not None else {}))


_ID, _LINE = itemgetter(4), itemgetter(5)
_EVENT = itemgetter(0, 1, 2, 3)
_NUMBERED = itemgetter(0, 1, 2, 3, 5)  # an event with its line


class SeenIds:
    """The event ids read so far, for the duplicates rule: the first row with
    an id wins, a later row with the same id (anywhere in the log) is a
    duplicate.

    The first ``EXACT`` ids are kept as they are, in a set. Past that each id
    is kept as a 128-bit key (a, b) in an open-addressing table: two numpy
    uint64 arrays, b == 0 an empty slot, linear probing, at most half full
    (made at first for the ids expected, up to ``FIRST_MOST``; doubled when
    a batch would fill it more): 16 bytes a slot, 32 to 64 bytes an id
    whatever its length (while doubling, the old table beside the new;
    more when fewer come than expected, the first table at most 64 MiB). A
    batch goes in in vectorised rounds: each row reads its slot; its key
    there is a duplicate, an empty slot is written (several rows may
    write one: the a-values first, then the b-values of the rows whose
    a-value stayed, so the slot holds one row's key whole), the others go on
    to the next slot. Repeats inside a batch are found first (equal mixes,
    then their keys, in row order): the first row wins.

    An id of at most 15 ASCII characters without NUL is its own key: its
    bytes, zero-padded, then a 1 in b's top byte; exact, and no hashing.
    Any other id's key is two 64-bit SipHash values of its text (Python's
    string hash, and the hash of the text with a NUL after it), b's top bit
    set, which no packed key has. Two different hashed ids are taken for one
    only when both values collide, a chance below 10^-20 for a log of a
    billion events (docs/decisions.md). A key's slot is the top bits of a
    mix of both values seeded at random per process, so that chosen ids
    cannot pile into one run of slots."""

    EXACT = 1 << 18
    SLOTS = 1 << 16  # the table's first size (a power of two)
    #: The most ids the table is first made for, when more are expected: a
    #: table made for them at once is not doubled (and filled again) six
    #: times on the way (the 1M log's ids: 0.19-0.39 -> 0.12-0.17 s); past this, a guess
    #: too high (long lines) would keep more memory than the ids need.
    FIRST_MOST = 1 << 21
    LINE = 150  # bytes: about a usual event line's length (``for_source``)

    def __init__(self, expected: int = 0) -> None:
        # ``expected``: about how many ids will come. Past ``EXACT`` the table
        # is used from the first batch: moving the set's ids into it later
        # costs more than the set saved (0.1 s at 1M events).
        self._exact: Optional[set] = set() if expected <= self.EXACT else None
        self._first = min(expected, self.FIRST_MOST) if self._exact is None else 0  # ids the first table is for
        if self._exact is None:
            import numpy  # noqa: F401 - loaded now (the scan's line counts and partitions use it once it is)
        self._a = self._b = None  # the table: the keys' two values; b == 0 is an empty slot
        self._count = 0
        self._seed: tuple = ()

    @classmethod
    def for_source(cls, source) -> "SeenIds":
        """For the ids of a log: its lines guessed from its size (a regular
        file; else, or no source, none). Only a guess: a compressed file
        holds more."""
        return cls(((source.size() if source is not None else None) or 0) // cls.LINE)

    def duplicates(self, ids: list) -> Optional[list[bool]]:
        """Take a batch of ids (None: a row without one) in file order;
        return None when none is a duplicate (of an earlier row, or of an
        earlier one in the batch), else a flag per row."""
        exact = self._exact
        if exact is not None and exact.isdisjoint(ids):  # (the usual batch: two passes; ``exact`` never holds None)
            before = len(exact)
            exact.update(ids)
            flags = None
            if len(exact) - before != len(ids):  # an id twice in the batch (the first one wins), or None twice
                taken: set = set()
                flags = [eid is not None and (eid in taken or taken.add(eid) or False) for eid in ids]
                if not any(flags):
                    flags = None
            exact.discard(None)  # (a row without an id is no one's duplicate)
            if len(exact) > self.EXACT:
                self._to_table()
            return flags
        if exact is not None:
            fresh = set(ids)
            fresh.discard(None)
            if len(fresh) == len(ids) - ids.count(None) and exact.isdisjoint(fresh):
                exact |= fresh  # no id of this batch was seen before, none twice in it
                if len(exact) > self.EXACT:
                    self._to_table()
                return None
            flags = []
            for eid in ids:
                dup = eid is not None and eid in exact
                if eid is not None and not dup:
                    exact.add(eid)
                flags.append(dup)
            if len(exact) > self.EXACT:
                self._to_table()
            return flags
        return self._in_table(ids)

    def _to_table(self) -> None:
        ids = list(self._exact)
        self._exact = None
        self._in_table(ids)

    def _in_table(self, ids: list) -> Optional[list[bool]]:
        import numpy as np
        if None in ids:
            rows = [i for i, x in enumerate(ids) if x is not None]
            if not rows:
                return None
            present = [ids[i] for i in rows]
        else:
            rows, present = None, ids
        n = len(present)
        if not n:
            return None
        a, b = _id_keys(present)
        h = self._mix(a, b)
        dup = np.zeros(n, dtype=bool)
        srt = np.sort(h)
        same = srt[1:] == srt[:-1]
        if same.any():  # an id twice in the batch (or two ids with one mix: rare): the first one wins
            twice = np.flatnonzero(np.isin(h, srt[1:][same]))
            first: dict = {}
            for i, key in zip(twice.tolist(), zip(a[twice].tolist(), b[twice].tolist())):
                if first.setdefault(key, i) != i:
                    dup[i] = True
            new = np.flatnonzero(~dup)
            dup[new] = self._insert(a[new], b[new], h[new])
        else:
            dup = self._insert(a, b, h)
        if not dup.any():
            return None
        flags = [False] * len(ids)
        for i in np.flatnonzero(dup).tolist():
            flags[i if rows is None else rows[i]] = True
        return flags

    def _mix(self, a, b):
        """A 64-bit mix of the keys (a, b), seeded; its top bits are the slot."""
        import numpy as np
        if not self._seed:
            self._seed = tuple(np.frombuffer(os.urandom(16), dtype=np.uint64))
        s1, s2 = self._seed
        h = a ^ s1
        h *= np.uint64(0x9E3779B97F4A7C15)
        h ^= b
        h ^= s2
        h ^= h >> np.uint64(32)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(32)
        return h

    def _insert(self, a, b, h):
        """Put the keys (a, b), all different, in the table; return which of
        them were there already."""
        import numpy as np
        n = len(a)
        if self._a is None or self._count + n > len(self._a) // 2:
            self._grow(max(self._count + n, self._first))
        A, B = self._a, self._b
        size = len(A)
        s = (h >> np.uint64(65 - size.bit_length())).astype(np.intp)  # the top bits of the mix
        found = np.zeros(n, dtype=bool)
        at = None  # the rows still looking for their slot (None: all of them)
        placed = 0
        while len(s):
            ta, tb = A[s], B[s]
            hit = (tb == b) & (ta == a)
            if hit.any():
                found[hit.nonzero()[0] if at is None else at[hit]] = True
            empty = tb == 0
            moving = ~hit
            if empty.any():
                # Several rows may want one empty slot: the a-values are
                # written, then the b-values of the rows whose a-value stayed
                # (all equal): the slot holds one row's key whichever writes last.
                e = empty.nonzero()[0]
                se, ae = s[e], a[e]
                A[se] = ae
                e = e[A[se] == ae]
                se, be = s[e], b[e]
                B[se] = be
                won = e[B[se] == be]
                placed += len(won)
                moving[won] = False
            if at is None:
                at = moving.nonzero()[0]
            else:
                at = at[moving]
            s = s[moving] + 1
            s[s == size] = 0  # (past the end: the first slot)
            a, b = a[moving], b[moving]
        self._count += placed
        return found

    def _grow(self, need: int) -> None:
        import numpy as np
        size = self.SLOTS
        while need > size // 2:
            size *= 2
        A, B = self._a, self._b
        self._a, self._b = np.zeros(size, dtype=np.uint64), np.zeros(size, dtype=np.uint64)
        self._count = 0
        for i in range(0, 0 if A is None else len(A), 1 << 16):  # (a piece at a time: little beside the two tables)
            kept = B[i:i + (1 << 16)] != 0
            a, b = A[i:i + (1 << 16)][kept], B[i:i + (1 << 16)][kept]
            self._insert(a, b, self._mix(a, b))


_PACKED = 1 << 56  # b's top byte (the 16th) of a packed id: 1
_HASHED = 1 << 63  # b's top bit, set for a hashed id


def _id_keys(ids: list):
    """The keys (a, b) of the ids: an id of at most 15 ASCII characters
    without NUL is its bytes, zero-padded, then a 1; any other id is its two
    SipHash values with the top bit of b set (docs/decisions.md)."""
    import numpy as np
    n = len(ids)
    text = "\0".join(ids)
    if text.isascii() and text.count("\0") == n - 1:  # (no id holds a NUL)
        width = len(text) // n
        if width <= 15 and len(text) == n * (width + 1) - 1:  # all of one width (the usual batch): no copy of each id?
            chars = np.frombuffer(text.encode() + b"\0", dtype=np.uint8).reshape(n, width + 1)
            if not chars[:, width].any():  # (every NUL a separator: all of that width)
                packed = np.zeros((n, 16), dtype=np.uint8)
                packed[:, :width] = chars[:, :width]
                packed = packed.view("<u8")
                return packed[:, 0].copy(), packed[:, 1] | np.uint64(_PACKED)
        packed = np.array(ids, dtype="S16").view("<u8").reshape(n, 2)
        short = packed[:, 1] < _PACKED  # (its 16th byte is 0)
        if short.all():
            a, b = packed[:, 0].copy(), packed[:, 1] | np.uint64(_PACKED)
            return a, b
    else:
        short = np.fromiter((len(x) <= 15 and x.isascii() and "\0" not in x for x in ids), dtype=bool, count=n)
        rows = short.nonzero()[0]
        packed = np.zeros((n, 2), dtype=np.uint64)
        if len(rows):
            packed[rows] = np.array([ids[i] for i in rows.tolist()], dtype="S16").view("<u8").reshape(-1, 2)
    a, b = packed[:, 0].copy(), packed[:, 1] | np.uint64(_PACKED)
    long = (~short).nonzero()[0]
    if len(long):
        others = [ids[i] for i in long.tolist()]
        m = len(others)
        a[long] = np.fromiter(map(hash, others), dtype=np.int64, count=m).view(np.uint64)
        b[long] = np.fromiter(map(hash, map(operator.add, others, itertools.repeat("\0"))), dtype=np.int64,
                              count=m).view(np.uint64) | np.uint64(_HASHED)
    return a, b


def event_pieces(path, events: dict[str, ir.EventType], shown: str | None = None,
                 inputs: Inputs | None = None, seen_ids: Optional[SeenIds] = None, *, fmt: str | None = None,
                 mapping=None, on_batch=None) -> Iterator[list[tuple]]:
    """The good events of a log in file order, as lists (one per batch the
    reader hands on, possibly empty) of (time, contact, type, fields). Bad
    lines, skipped rows and duplicates are recorded in ``inputs``; the
    first row with an id wins, later ones are duplicates. ``on_batch(rows_read)``
    is called after each batch (progress)."""
    inputs = inputs if inputs is not None else Inputs()
    source = as_source(path, shown)
    seen_ids = seen_ids if seen_ids is not None else SeenIds.for_source(source)
    shown = source.shown
    n = 0
    for batch in checked_batches(source, events, inputs.bad, fmt=fmt, mapping=mapping, skipped=inputs.skipped):
        flags = seen_ids.duplicates(batch.ids)
        if flags is None:
            piece = batch.events
        else:
            piece = []
            for event, eid, no, dup in zip(batch.events, batch.ids, batch.lines, flags):
                if dup:
                    inputs.duplicates += 1
                    inputs.duplicate_events.append((*event, eid, f"{shown}:{no}"))
                else:
                    piece.append(event)
        yield piece
        if on_batch is not None:
            n += len(batch.events)
            on_batch(n)


def iter_events(path, events: dict[str, ir.EventType], shown: str | None = None,
                inputs: Inputs | None = None, seen_ids: Optional[SeenIds] = None, *, fmt: str | None = None,
                mapping=None, on_batch=None) -> Iterator[tuple]:
    """The good events of a log in file order, as (time, contact, type,
    fields): ``event_pieces`` one at a time."""
    for piece in event_pieces(path, events, shown, inputs, seen_ids, fmt=fmt, mapping=mapping, on_batch=on_batch):
        yield from piece


def in_time_order(times: list) -> bool:
    """Whether a list of times (integers) never goes back: whether it is its
    own sorted copy (a sort finds a list in order with one comparison a
    pair, all in C: a third of the time of a map of ``<=`` over the pairs)."""
    return times == sorted(times)


def read_events(path, events: dict[str, ir.EventType], shown: str | None = None,
                inputs: Inputs | None = None, *, fmt: str | None = None, mapping=None, on_batch=None) -> Inputs:
    inputs = inputs or Inputs()
    out = list(iter_events(path, events, shown, inputs, fmt=fmt, mapping=mapping, on_batch=on_batch))
    for i in range(1, len(out)):
        if out[i][0] < out[i - 1][0]:
            out.sort(key=lambda e: e[0])  # stable: file order within one instant
            break
    inputs.events.extend(out)
    if out:
        inputs.first_time = out[0][0]
        inputs.last_time = out[-1][0]
    return inputs
