"""The mapping file: how an events file that is not in the project's own
shape maps onto the program's events (docs/inputs.md, "The mapping file").

``--map FILE``, or ``map.toml`` beside the program, is TOML::

    format = "csv"                  # jsonl, segment, csv or parquet (default: from the file name)
    unknown_events = "skip"         # "error" (default) or "skip": rows whose event the program does not declare

    [columns]
    contact = "user_id"             # or a list, the first one set wins: ["userId", "anonymousId"]
    time = "event_time"
    type = "event_name"
    id = "event_id"
    properties = "properties"       # a column holding the fields as a JSON object

    [time]
    format = "epoch_ms"             # iso (default), epoch_s, epoch_ms
    timezone = "Europe/Berlin"      # for times written without an offset

    [events]
    "Order Completed" = "purchase.completed"

    [fields]
    url = "page_url"                # field url of every event comes from page_url
    [fields."purchase.completed"]
    amount = "revenue"

    [contacts]
    id = "user_id"                  # the contacts file's id column

``load_mapping`` reads and checks a file on its own; ``check_mapping`` checks
it against a program (event types and fields that exist). Both report
diagnostics with the file and line, as ``goal check`` prints them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import attrs

from ..semantics import ir
from ..semantics.loader import MAP_FILE, mapping_beside  # (map.toml beside a program: a program-folder convention)
from ..syntax.diagnostics import Diagnostic, GoalError, closest, error
from ..syntax.source import Span



def _toml():
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib

FORMATS = ("jsonl", "segment", "csv", "parquet")
TIME_FORMATS = ("iso", "epoch_s", "epoch_ms")
UNKNOWN_POLICIES = ("error", "skip")

_TOP = {"format", "unknown_events", "columns", "time", "events", "fields", "contacts"}
_COLUMNS = {"contact", "time", "type", "id", "properties"}
_TIME = {"format", "timezone"}
_CONTACTS = {"id"}


@attrs.frozen
class Mapping:
    path: Optional[str] = None
    format: Optional[str] = None
    unknown_events: str = "error"
    contact: tuple[str, ...] = ()  # empty: the format's default
    time: tuple[str, ...] = ()
    type: Optional[str] = None
    id: Optional[str] = None
    properties: Optional[str] = None
    time_format: str = "iso"
    timezone: Optional[str] = None
    events: dict = attrs.field(factory=dict)  # source event name -> program event type
    fields: dict = attrs.field(factory=dict)  # program event type or "*" -> {field: source name}
    contact_id: Optional[str] = None
    lines: dict = attrs.field(factory=dict, eq=False, repr=False)  # ("events", name) -> line, for diagnostics

    def source_of(self, typ: str, field: str) -> str:
        """The source name (property or column) of a program field."""
        per = self.fields.get(typ)
        if per and field in per:
            return per[field]
        return self.fields.get("*", {}).get(field, field)

    def time_reader(self):
        from .inputs import TimeReader
        return TimeReader(self.time_format, self.timezone)


def mapping_for(given: Optional[str | Path], program_path: Optional[str | Path],
                events: dict[str, ir.EventType]) -> Optional[Mapping]:
    """The mapping a command reads its inputs with: ``given`` (``--map
    FILE``), else ``map.toml`` beside the program, else none; checked
    against the program's events. Raises ``FileNotFoundError`` for a given
    file that is not there and ``GoalError`` with every problem of the file."""
    path = Path(given) if given else mapping_beside(program_path)
    if path is None:
        return None
    if given and not path.is_file():
        raise FileNotFoundError(f"no such mapping file: {given}")
    from .program import shown_path
    return load_and_check(path, events, shown_path(path))


def _key_lines(text: str) -> dict:
    """Where each key is written: (table, key) -> line. A small scan of the
    TOML text (tomllib keeps no positions); good enough for the flat tables
    of a mapping file."""
    out: dict = {}
    table: tuple = ()
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r'^\[\s*(.+?)\s*\]\s*(#.*)?$', s)
        if m:
            table = tuple(_parse_key(m.group(1)))
            out.setdefault(table, no)
            continue
        m = re.match(r'^("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_\-.]+)\s*=', s)
        if m:
            key = tuple(_parse_key(m.group(1)))
            out.setdefault(table + key, no)
    return out


def _parse_key(k: str) -> list[str]:
    parts = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+)', k):
        parts.append(m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3))
    return parts


class _Problems:
    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.lines = _key_lines(text)
        self.diags: list[Diagnostic] = []

    def add(self, key: tuple, message: str, hint: Optional[str] = None, code: str = "E0701") -> None:
        line = 1
        for n in range(len(key), 0, -1):  # the key, else the nearest table written
            if key[:n] in self.lines:
                line = self.lines[key[:n]]
                break
        col = 1
        text_line = self.text.splitlines()[line - 1] if self.text.splitlines() else ""
        col += len(text_line) - len(text_line.lstrip())
        self.diags.append(error(code, message, Span(self.path, line, col, line, max(col + 1, len(text_line) + 1)),
                                hint=hint))


def load_mapping(path: str | Path, shown: Optional[str] = None) -> Mapping:
    """Read a mapping file. Raises ``GoalError`` with every problem found."""
    shown = shown or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GoalError([error("E0701", f"cannot read the mapping file {shown}: {getattr(e, 'strerror', None) or e}")],
                        {}) from None
    m, diags = parse_mapping(text, shown)
    if any(d.is_error for d in diags) or m is None:
        raise GoalError(diags, {shown: text})
    return m


def parse_mapping(text: str, shown: str) -> tuple[Optional[Mapping], list[Diagnostic]]:
    probs = _Problems(shown, text)
    tomllib = _toml()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) or "not valid TOML"
        return None, [error("E0700", f"the mapping file is not valid TOML: {reason}", Span(shown, line, col, line, col + 1))]

    r = _Tables(data, probs)
    r.unknown_keys((), data, _TOP)
    kw: dict = {"path": shown, "lines": probs.lines}
    if "format" in data:
        kw["format"] = r.text_value((), "format", data["format"], FORMATS)
    if "unknown_events" in data:
        kw["unknown_events"] = r.text_value((), "unknown_events", data["unknown_events"], UNKNOWN_POLICIES) or "error"
    _columns(r, kw)
    _time(r, kw)
    _events(r, kw)
    _fields(r, kw)
    ct = r.table("contacts")
    r.unknown_keys(("contacts",), ct, _CONTACTS)
    if "id" in ct:
        kw["contact_id"] = r.text_value(("contacts",), "id", ct["id"])

    kw = {k: v for k, v in kw.items() if v is not None}
    return Mapping(**kw), probs.diags


class _Tables:
    """The mapping file's TOML data and its problems, read table by table."""

    def __init__(self, data: dict, probs: "_Problems"):
        self.data = data
        self.probs = probs

    def text_value(self, table: tuple, key: str, v, allowed=None) -> Optional[str]:
        if not isinstance(v, str) or not v:
            self.probs.add(table + (key,),
                           f'"{key}" must be a text' + (f": one of {', '.join(allowed)}" if allowed else ""))
            return None
        if allowed and v not in allowed:
            best = closest(v, list(allowed))
            self.probs.add(table + (key,), f'"{key}" is "{v}", not one of {", ".join(allowed)}'
                           + (f' (did you mean "{best}"?)' if best else ""))
            return None
        return v

    def unknown_keys(self, table: tuple, got: dict, known: set) -> None:
        for k in got:
            if k not in known:
                best = closest(k, sorted(known))
                where = f"[{'.'.join(table)}]" if table else "the top level"
                self.probs.add(table + (k,), f'unknown key "{k}" in {where}'
                               + (f' (did you mean "{best}"?)' if best else f"; allowed: {', '.join(sorted(known))}"))

    def table(self, key: str) -> dict:
        v = self.data.get(key, {})
        if not isinstance(v, dict):
            self.probs.add((key,), f'"{key}" must be a table: [{key}]')
            return {}
        return v


def _columns(r: _Tables, kw: dict) -> None:
    """[columns]: where the contact, time, type, id and properties are."""
    cols = r.table("columns")
    r.unknown_keys(("columns",), cols, _COLUMNS)
    for k in ("contact", "time"):
        if k in cols:
            v = cols[k]
            if isinstance(v, str) and v:
                kw[k] = (v,)
            elif isinstance(v, list) and v and all(isinstance(x, str) and x for x in v):
                kw[k] = tuple(v)
            else:
                r.probs.add(("columns", k),
                            f'"{k}" must be a column name, or a list of them (the first one set is used)')
    for k in ("type", "id", "properties"):
        if k in cols:
            kw[k] = r.text_value(("columns",), k, cols[k])


def _time(r: _Tables, kw: dict) -> None:
    """[time]: the time format and the zone of times without an offset."""
    tm = r.table("time")
    r.unknown_keys(("time",), tm, _TIME)
    if "format" in tm:
        kw["time_format"] = r.text_value(("time",), "format", tm["format"], TIME_FORMATS) or "iso"
    if "timezone" in tm:
        tz = r.text_value(("time",), "timezone", tm["timezone"])
        if tz:
            try:
                from zoneinfo import ZoneInfo
                ZoneInfo(tz)
                kw["timezone"] = tz
            except Exception:
                r.probs.add(("time", "timezone"), f'"{tz}" is not a time zone of the tz database (like '
                            f'"Europe/Berlin" or "UTC")')


def _events(r: _Tables, kw: dict) -> None:
    """[events]: source event names to event types."""
    evs = r.table("events")
    events: dict[str, str] = {}
    for k, v in evs.items():
        if isinstance(v, str) and v:
            events[k] = v
        else:
            r.probs.add(("events", k), f'the event "{k}" must map to an event type name, like "purchase.completed"')
    kw["events"] = events


def _fields(r: _Tables, kw: dict) -> None:
    """[fields]: event fields to source names, for all events or per event type."""
    fl = r.table("fields")
    fields: dict[str, dict[str, str]] = {}
    for k, v in fl.items():
        if isinstance(v, str) and v:
            fields.setdefault("*", {})[k] = v
        elif isinstance(v, dict):
            per = fields.setdefault(k, {})
            for fk, fv in v.items():
                if isinstance(fv, str) and fv:
                    per[fk] = fv
                else:
                    r.probs.add(("fields", k, fk), f'field "{fk}" must map to a source name (a text)')
        else:
            r.probs.add(("fields", k),
                        f'"{k}" must be a source name (a text), or a table of fields for an event type')
    kw["fields"] = fields


def check_mapping(mapping: Mapping, text: str, events: dict[str, ir.EventType]) -> list[Diagnostic]:
    """A mapping file against a program: every event type it names exists,
    every field it maps is a field of that type."""
    probs = _Problems(mapping.path or MAP_FILE, text)
    names = sorted(events)
    for src, typ in mapping.events.items():
        if typ not in events:
            best = closest(typ, names)
            probs.add(("events", src), f'"{src}" maps to "{typ}", which is not an event type of the program'
                      + (f' (did you mean "{best}"?)' if best else ""), code="E0702")
    all_fields = sorted({f for d in events.values() for f in d.fields})
    for typ, per in mapping.fields.items():
        if typ == "*":
            for f in per:
                if f not in all_fields:
                    best = closest(f, all_fields)
                    probs.add(("fields", f), f'no event type of the program has a field "{f}"'
                              + (f' (did you mean "{best}"?)' if best else ""), code="E0702")
            continue
        decl = events.get(typ)
        if decl is None:
            best = closest(typ, names)
            probs.add(("fields", typ), f'"{typ}" is not an event type of the program'
                      + (f' (did you mean "{best}"?)' if best else ""), code="E0702")
            continue
        for f in per:
            if f not in decl.fields:
                best = closest(f, sorted(decl.fields))
                probs.add(("fields", typ, f), f'{typ} has no field "{f}"'
                          + (f' (did you mean "{best}"?)' if best else f"; its fields: {', '.join(decl.fields) or 'none'}"),
                          code="E0702")
    return probs.diags


def check_file(path: str | Path, shown: str,
               events: Optional[dict[str, ir.EventType]]) -> tuple[list[Diagnostic], Optional[str]]:
    """``goal check``'s view of a mapping file: every problem in it (E0700,
    E0701) and, given a program's ``events``, every name it maps that the
    program does not declare (E0702). Returns the diagnostics and the text
    (None when the file cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or e
        return [error("E0700", f"cannot read the mapping file {shown}: {why}", Span(shown, 1, 1, 1, 1))], None
    m, diags = parse_mapping(text, shown)
    if m is not None and events is not None:
        diags = diags + check_mapping(m, text, events)
    return diags, text


def load_and_check(path: str | Path, events: dict[str, ir.EventType], shown: Optional[str] = None) -> Mapping:
    """Read a mapping file and check it against the program's events.
    Raises ``GoalError`` with every problem."""
    shown = shown or str(path)
    m = load_mapping(path, shown)
    text = Path(path).read_text(encoding="utf-8")
    diags = check_mapping(m, text, events)
    if diags:
        raise GoalError(diags, {shown: text})
    return m
