"""Events and contacts in other shapes than the project's JSON Lines: CSV,
Parquet, Segment/RudderStack JSON Lines, and JSON Lines with a mapping file
(docs/inputs.md).

Every reader turns its rows into the same format-neutral stream as the JSON
Lines reader (``inputs.event_batches``): batches of validated rows
``(time, contact, type, fields, id, row)`` in file order, with the mapping
applied. Validation is ``EventValidator.check_parts`` for every format, so a
bad row gets the same message whatever its format, with ``FILE:ROW:COLUMN``
where the format has columns. A mapped source keeps the fields the program
declares (the columns it does not read are not read: Parquet projects them
away). ``null`` (an empty CSV cell, a Parquet null) means absent.

``arrow_rows`` validates one Arrow record batch; the Parquet reader and any
engine that reads Parquet itself (Spark) share it.
"""
from __future__ import annotations

import functools
import io
from itertools import repeat
from operator import itemgetter
from typing import Any, Iterator, Optional

from ..semantics import ir
from .inputs import (BATCH, BadLine, Batch, EventValidator, Problem, TimeReader, decode_json,
                     described, json_objects)
from .mapping import Mapping
from .sources import SEGMENT_CALLS, Source, SourceError, contact_format, detect_format, first_line
from ..syntax.diagnostics import closest
from ..syntax.source import BOM
from ..syntax.values import show_json

MISSING = object()


# ====================================================================== formats

def data_kind(source: Source, fmt: Optional[str] = None, mapping: Optional[Mapping] = None) -> str:
    """``"events"`` or ``"contacts"``: what a data file holds, for a file
    named without saying (the REPL's ``:load FILE``). Events have the
    event's time and type (the mapping's names for them, else the format's);
    a Segment export is events. Anything else is contacts."""
    fmt = detect_format(source, fmt, mapping)
    if fmt == "segment":
        return "events"
    names = column_names(mapping, fmt)
    if fmt == "parquet":
        _, pf = _open_parquet(source)
        have = set(pf.schema_arrow.names)
        present = have.__contains__
    elif fmt == "csv":
        import csv
        first = first_line(source) or b""
        if first.startswith(BOM):
            first = first[len(BOM):]
        try:
            header = next(csv.reader([first.decode("utf-8")], delimiter="\t" if source.suffix == ".tsv" else ","), [])
        except (UnicodeDecodeError, csv.Error):
            header = []
        present = set(header).__contains__
    else:
        first = first_line(source)
        try:
            obj = decode_json(first.lstrip().removeprefix(BOM)) if first else None
        except Exception:
            obj = None
        present = (lambda n: _lookup(obj, n) is not MISSING)
    has_time = any(present(c) for c in names["time"])
    return "events" if has_time and present(names["type"]) else "contacts"


def event_reader(fmt: str, source: Source, events: dict[str, ir.EventType], bad: list, *,
                 mapping: Optional[Mapping], skipped: dict) -> Iterator[list[tuple]]:
    """The rows of a CSV, Segment or mapped JSON Lines log, a batch at a
    time (Parquet: ``parquet_batches``, which ``inputs.checked_batches`` takes)."""
    mapper = RowMapper(events, mapping, fmt, source.shown, bad, skipped)
    if fmt == "csv":
        return _batched(_csv_rows(source, mapper))
    if fmt == "segment":
        return _batched(_segment_rows(source, mapper))
    if fmt == "jsonl":
        return _batched(_mapped_jsonl_rows(source, mapper))
    raise SourceError(source.shown, f'unknown input format "{fmt}" (allowed: jsonl, segment, csv, parquet)')


def _batched(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# ====================================================================== the mapping, applied

def column_names(mapping: Optional[Mapping], fmt: str) -> dict:
    """Where a row's parts are, by the mapping's ``[columns]``, else the
    format's own names: ``contact`` and ``time`` (tuples: the first one set
    wins), ``type``, ``id``, ``properties`` (None: no such column)."""
    m = mapping or Mapping()
    seg = fmt == "segment"
    return {"contact": m.contact or (("userId", "anonymousId") if seg else ("contact",)),
            "time": m.time or (("timestamp", "originalTimestamp") if seg else ("time",)),
            "type": m.type or ("event" if seg else "type"),
            "id": m.id or ("messageId" if seg else "id"),
            "properties": m.properties or ("properties" if seg else None)}


class RowMapper:
    """Turns a source row into the program's event, by the mapping:
    ``RowMapper(program.ir.events, mapping, "parquet", "events.parquet", bad, skipped)``,
    then ``arrow_rows(record_batch, mapper, first_row)`` for each batch of a
    Parquet file an engine reads itself. Bad rows go to ``bad``, rows of
    undeclared events skipped by the mapping are counted in ``skipped``."""

    def __init__(self, events: dict[str, ir.EventType], mapping: Optional[Mapping], fmt: str, shown: str,
                 bad: list, skipped: dict):
        self.events = events
        self.m = mapping or Mapping()
        self.fmt = fmt
        self.shown = shown
        self.bad = bad
        self.skipped = skipped
        self.validator = EventValidator(events)
        self.times: TimeReader = self.m.time_reader()
        names = column_names(mapping, fmt)
        self.contact_cols = names["contact"]
        self.time_cols = names["time"]
        self.type_col = names["type"]
        self.id_col = names["id"]
        self.props_col = names["properties"]
        # per program event type: (field, source name) of each declared field
        self.field_sources = {typ: [(f, self.m.source_of(typ, f)) for f in decl.fields]
                              for typ, decl in events.items()}
        self.mapped_names = dict(self.m.events)
        self.has_columns = fmt in ("csv", "parquet")

    def program_type(self, src: Any) -> Any:
        if isinstance(src, str):
            return self.mapped_names.get(src, src)
        return src

    def skip_unknown(self, typ: Any, src: Any) -> bool:
        """A row whose event the program does not declare, when the mapping
        says to skip those: counted."""
        if self.m.unknown_events == "skip" and isinstance(typ, str) and typ and typ not in self.events:
            key = f'"{src}"'
            self.skipped[key] = self.skipped.get(key, 0) + 1
            return True
        return False

    def check(self, no: int, typ, src_type, when, time_col: str, cid, contact_col: str, eid, fields: dict,
              columns: dict, times: Optional[TimeReader] = None) -> Optional[tuple]:
        """Validate; a bad row goes to ``bad`` (with its column) and gives None."""
        names = {"type": self.type_col, "time": time_col, "contact": contact_col, "id": self.id_col}
        res = self.validator.check_parts(typ, when, cid, eid, fields, times or self.times, names)
        if isinstance(res, Problem):
            msg = res.message
            if res.key == "type" and isinstance(typ, str) and typ and typ not in self.events:
                best = closest(typ, self.events)
                msg = (f'unknown event type "{src_type}"' + (f' (did you mean "{best}"?)' if best else "")
                       + "; map it to one of the program's events in [events] of the mapping file, or set "
                         'unknown_events = "skip" there')
            col = columns.get(res.key, names.get(res.key, res.key)) if self.has_columns else None
            self.bad.append(BadLine(self.shown, no, msg, col))
            return None
        return res + (no,)


def _lookup(obj: Any, name: str) -> Any:
    """``name`` in a JSON object: the key itself, else a dotted path."""
    if not isinstance(obj, dict):
        return MISSING
    if name in obj:
        return obj[name]
    if "." in name:
        cur = obj
        for part in name.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return MISSING
            cur = cur[part]
        return cur
    return MISSING


def _first_set(obj: dict, names: tuple) -> tuple[Any, str]:
    for n in names:
        v = _lookup(obj, n)
        if v is not MISSING and v is not None:
            return v, n
    return None, names[0]


# ====================================================================== JSON Lines with a mapping, Segment

def _fields_from(mapper: RowMapper, typ: Any, obj: dict, props: Optional[dict]) -> dict:
    fields: dict = {}
    for f, src in mapper.field_sources.get(typ, ()):
        v = props.get(src, MISSING) if props is not None else MISSING
        if v is MISSING:
            v = _lookup(obj, src)
        if v is not MISSING and v is not None:
            fields[f] = v
    return fields


def _mapped_jsonl_rows(source: Source, mapper: RowMapper) -> Iterator[tuple]:
    for no, obj in json_objects(source, mapper.bad):
        src = _lookup(obj, mapper.type_col)
        src = None if src is MISSING else src
        typ = mapper.program_type(src)
        if mapper.skip_unknown(typ, src):
            continue
        props = obj.get(mapper.props_col) if mapper.props_col else None
        props = props if isinstance(props, dict) else None
        when, tcol = _first_set(obj, mapper.time_cols)
        cid, ccol = _first_set(obj, mapper.contact_cols)
        eid = _lookup(obj, mapper.id_col)
        row = mapper.check(no, typ, src, when, tcol, cid, ccol, None if eid is MISSING else eid,
                           _fields_from(mapper, typ, obj, props), {})
        if row is not None:
            yield row


def _segment_rows(source: Source, mapper: RowMapper) -> Iterator[tuple]:
    """Segment / RudderStack spec messages: ``track`` is an event named by
    ``event``; ``identify`` sets the contact's ``traits`` (a
    ``contact.updated``); ``page``, ``screen``, ``group`` and ``alias`` are
    events named by the call itself, for the mapping to map or skip."""
    for no, obj in json_objects(source, mapper.bad):
        call = obj.get("type")
        if not isinstance(call, str) or call not in SEGMENT_CALLS:
            mapper.bad.append(BadLine(mapper.shown, no, f'"type" is {show_json(call) if call is not None else "missing"}; '
                                      f'a Segment message is one of {", ".join(SEGMENT_CALLS)}'))
            continue
        when, tcol = _first_set(obj, mapper.time_cols)
        cid, ccol = _first_set(obj, mapper.contact_cols)
        eid = _lookup(obj, mapper.id_col)
        eid = None if eid is MISSING else eid
        if call == "identify":
            traits = obj.get("traits")
            if traits is None:
                traits = _lookup(obj, "context.traits")
            if traits is MISSING or traits is None:
                traits = {}
            if not isinstance(traits, dict):
                mapper.bad.append(BadLine(mapper.shown, no, f'"traits" must be an object, not {described(traits)}'))
                continue
            if "id" in traits:  # Segment's reserved trait: the user's id, which is the contact (userId), not an attribute
                traits = {k: v for k, v in traits.items() if k != "id"}
            src: Any = "identify"
            typ = mapper.program_type("identify")
            if typ == "identify":
                typ = "contact.updated"
            fields = {"fields": traits} if typ == "contact.updated" else _fields_from(mapper, typ, obj, traits)
        else:
            src = obj.get("event") if call == "track" else call
            typ = mapper.program_type(src)
            if mapper.skip_unknown(typ, src):
                continue
            props = obj.get(mapper.props_col) if mapper.props_col else None
            fields = _fields_from(mapper, typ, obj, props if isinstance(props, dict) else None)
        if call == "track" and src is None:
            mapper.bad.append(BadLine(mapper.shown, no, 'a "track" message needs an "event" (the event\'s name)'))
            continue
        row = mapper.check(no, typ, src, when, tcol, cid, ccol, eid, fields, {})
        if row is not None:
            yield row


# ====================================================================== CSV

def _csv_table(source: Source) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the rows with the line each starts on."""
    import csv
    f = io.TextIOWrapper(source.open(), encoding="utf-8-sig", newline="", errors="strict")
    delimiter = "\t" if source.suffix == ".tsv" else ","
    reader = csv.reader(f, delimiter=delimiter, strict=False)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as e:
        raise SourceError(source.shown, f"is not a readable CSV file ({e})") from None
    if header is None:
        return [], iter(())
    seen = set()
    for h in header:
        if h in seen:
            raise SourceError(source.shown, f'the header names the column "{h}" twice')
        seen.add(h)

    def rows():
        start = reader.line_num + 1
        with f:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError as e:
                    raise SourceError(source.shown, f"line {start}: not UTF-8 text ({e.reason})") from None
                except csv.Error as e:
                    raise SourceError(source.shown, f"line {start}: {e}") from None
                if row and any(c.strip() for c in row):
                    yield start, row
                start = reader.line_num + 1

    return header, rows()


def csv_value(text: str, kind: Optional[str]) -> Any:
    """A CSV cell as the value a field of ``kind`` holds; an empty cell is
    None (absent). A cell that does not read as the kind stays text, and
    validation says what is wrong with it."""
    if text == "":
        return None
    if kind in ("string", "step", "enum"):
        return text
    if kind == "number":
        s = text.strip()
        try:
            return int(s)
        except ValueError:
            pass
        try:
            v = float(s)
        except ValueError:
            return text
        return v if v == v and v not in (float("inf"), float("-inf")) else text
    if kind == "bool":
        low = text.strip().lower()
        return True if low == "true" else False if low == "false" else text
    if kind in ("map", "list"):
        s = text.strip()
        if s[:1] in ("{", "["):
            try:
                return decode_json(s.encode())
            except Exception:
                return text
        return text
    return json_cell(text)


def json_cell(text: str) -> Any:
    """A cell of unknown kind (a contact attribute): a JSON number, true,
    false, an object or a list when it is exactly one; else text. ``00123``
    stays text (JSON numbers have no leading zeros)."""
    if text == "":
        return None
    s = text.strip()
    if s in ("true", "false") or s[:1] in ("{", "[") or (s[:1].isdigit() or s[:1] == "-"):
        try:
            v = decode_json(s.encode())
        except Exception:
            return text
        if isinstance(v, float) and v != v:
            return text
        return v
    return text


def _csv_rows(source: Source, mapper: RowMapper) -> Iterator[tuple]:
    header, rows = _csv_table(source)
    index = {h: i for i, h in enumerate(header)}
    _require_columns(source, header, mapper)
    tcols = [c for c in mapper.time_cols if c in index]
    ccols = [c for c in mapper.contact_cols if c in index]
    props_col = mapper.props_col if mapper.props_col in index else ("properties" if "properties" in index else None)
    kinds = {typ: {f: ft.kind for f, ft in decl.fields.items()} for typ, decl in mapper.events.items()}
    # per type: (field, column index or None, source name, kind)
    plans: dict[str, list] = {}
    for typ, pairs in mapper.field_sources.items():
        plan = []
        for f, src in pairs:
            i = index.get(src)
            if i is None:
                i = index.get(f"properties.{src}")
            plan.append((f, i, src, kinds[typ][f]))
        plans[typ] = plan
    ti, ii = index.get(mapper.type_col), index.get(mapper.id_col)
    n = len(header)
    for no, row in rows:
        if len(row) != n:
            mapper.bad.append(BadLine(mapper.shown, no, f"has {len(row)} cells; the header has {n} columns"))
            continue
        src = row[ti] if ti is not None and row[ti] != "" else None
        typ = mapper.program_type(src)
        if mapper.skip_unknown(typ, src):
            continue
        when, tcol = None, (tcols or list(mapper.time_cols))[0]
        for c in tcols:
            if row[index[c]] != "":
                when, tcol = row[index[c]], c
                break
        cid, ccol = None, (ccols or list(mapper.contact_cols))[0]
        for c in ccols:
            if row[index[c]] != "":
                cid, ccol = row[index[c]], c
                break
        eid = row[ii] if ii is not None and row[ii] != "" else None
        props = None
        if props_col is not None and row[index[props_col]].strip():
            try:
                props = decode_json(row[index[props_col]].encode())
            except Exception as e:
                mapper.bad.append(BadLine(mapper.shown, no, f"not a JSON object ({str(e).splitlines()[0]})", props_col))
                continue
            if not isinstance(props, dict):
                mapper.bad.append(BadLine(mapper.shown, no, f"must be a JSON object, not {described(props)}", props_col))
                continue
        fields: dict = {}
        columns = {"type": mapper.type_col, "time": tcol, "contact": ccol, "id": mapper.id_col}
        for f, i, srcname, kind in plans.get(typ, ()):
            v = None
            if i is not None:
                v = csv_value(row[i], kind)
                columns[f] = header[i]
            if v is None and props is not None and srcname in props:
                v = props[srcname]
                columns[f] = props_col
            if v is not None:
                fields[f] = v
            elif f not in columns:
                columns[f] = srcname
        res = mapper.check(no, typ, src, when, tcol, cid, ccol, eid, fields, columns)
        if res is not None:
            yield res


def _require_columns(source: Source, header: list[str], mapper: RowMapper) -> None:
    have = set(header)
    for what, cols in (("time", mapper.time_cols), ("contact", mapper.contact_cols), ("type", (mapper.type_col,))):
        if not any(c in have for c in cols):
            names = " or ".join(f'"{c}"' for c in cols)
            raise SourceError(source.shown, f"has no column {names} for the event's {what} "
                                            f"(its columns: {', '.join(header) or 'none'}); name the column in the "
                                            f"mapping file: [columns] {what} = \"...\"")


# ====================================================================== Parquet

def _pyarrow():
    """pyarrow, with ``pyarrow.parquet`` and ``pyarrow._compute`` imported;
    without numpy when neither is imported yet. pyarrow imports numpy, when
    it can, only to convert to and from numpy's arrays, which goal never
    asks of it, and numpy's import is more than half of pyarrow's (about
    290 of 500 million instructions, 0.08 s of CPU): for that import
    pyarrow is told numpy is missing, which pyarrow allows (``np = None``).
    numpy itself can still be imported afterwards (the duplicates rule
    takes it for long logs); pyarrow then goes on without it. A pyarrow
    that needs numpy (before 16) is imported again, with numpy."""
    import sys
    try:
        if "pyarrow" not in sys.modules and "numpy" not in sys.modules:
            sys.modules["numpy"] = None  # type: ignore[assignment]
            try:
                import pyarrow  # noqa: F401
                import pyarrow._compute  # noqa: F401
                import pyarrow.parquet  # noqa: F401
            except ImportError:  # a pyarrow that needs numpy (before 16): imported again below, with it
                for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
                    del sys.modules[name]
            finally:
                if sys.modules.get("numpy", 0) is None:
                    del sys.modules["numpy"]
        import pyarrow  # noqa: F401
        import pyarrow._compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise SourceError("parquet", "reading Parquet needs pyarrow; install it with: pip install pyarrow "
                                     "(or, from a checkout of goal: pip install '.[parquet]')") from None
    return pyarrow


class _Compute:
    """The Arrow compute functions the Parquet reader calls, by name through
    ``pyarrow._compute.call_function``, with ``pyarrow.compute``'s
    arguments: importing ``pyarrow.compute`` makes a Python function with a
    docstring for each of Arrow's functions (about 200 million
    instructions, 0.02 s of CPU, against 20 million for
    ``pyarrow._compute``)."""

    def __init__(self):
        import pyarrow._compute as _c
        self._call = _c.call_function
        self._set = _c.SetLookupOptions
        self._cast = _c.CastOptions
        for name in ("and_kleene", "or_kleene", "greater_equal", "less", "greater", "equal", "utf8_length",
                     "unique", "indices_nonzero", "invert", "is_valid", "is_null", "is_finite", "take", "divide"):
            setattr(self, name, functools.partial(self._function, name))

    def _function(self, name: str, *args):
        return self._call(name, [self._typed(a, args[0]) for a in args])

    def _typed(self, v, first):
        """A Python value as a typed Arrow scalar: Arrow infers the type of
        an untyped one by asking pandas, when it is installed, whether the
        value is its missing value, which imports pandas (and numpy: 0.3 s
        of CPU)."""
        import pyarrow as pa
        if isinstance(v, bool):
            return pa.scalar(v, pa.bool_())
        if isinstance(v, int):
            return pa.scalar(v, pa.int64())
        if isinstance(v, float):
            return pa.scalar(v, pa.float64())
        if isinstance(v, str):
            t = getattr(first, "type", None)
            return pa.scalar(v, t if t is not None and pa.types.is_large_string(t) else pa.string())
        return v

    def fill_null(self, values, fill):
        return self._call("coalesce", (values, self._typed(fill, values)))

    def is_in(self, values, value_set):
        return self._call("is_in", (values,), self._set(value_set))

    def index_in(self, values, value_set):
        return self._call("index_in", (values,), self._set(value_set))

    def cast(self, values, to):
        return self._call("cast", (values,), self._cast.safe(to))


@functools.lru_cache(maxsize=1)
def _compute() -> _Compute:
    _pyarrow()
    return _Compute()


def _open_parquet(source: Source):
    pa = _pyarrow()
    import pyarrow.parquet as pq
    where, _copy = source.seekable_path()
    try:
        return pa, pq.ParquetFile(where)
    except SourceError:
        raise
    except Exception as e:
        raise SourceError(source.shown, f"is not a readable Parquet file ({e})") from None


def parquet_columns(schema_names: list[str], mapper: "RowMapper") -> list[str]:
    """The columns a program reads: time, contact, type, id, the properties
    column and the source of every declared field."""
    have = set(schema_names)
    want: list[str] = []
    for c in (*mapper.time_cols, *mapper.contact_cols, mapper.type_col, mapper.id_col, mapper.props_col or ""):
        if c in have and c not in want:
            want.append(c)
    for pairs in mapper.field_sources.values():
        for _, src in pairs:
            for c in (src, f"properties.{src}"):
                if c in have and c not in want:
                    want.append(c)
    return want


def parquet_batches(source: Source, events: dict[str, ir.EventType], bad: list, *,
                    mapping: Optional[Mapping], skipped: dict) -> Iterator[Batch]:
    """A Parquet file's validated rows as ``Batch`` columns, ``BATCH`` rows
    of the file at a time (``inputs.checked_batches``), from record batches
    of four times that: fewer instructions in all than record batches of
    65,536 rows or of ``BATCH`` (the column-wise check's calls against the
    size of what each makes and reads again), and a third less memory."""
    mapper = RowMapper(events, mapping, "parquet", source.shown, bad, skipped)
    pa, pf = _open_parquet(source)
    names = pf.schema_arrow.names
    _require_columns(source, names, mapper)
    cols = parquet_columns(names, mapper)
    source.rows_total = pf.metadata.num_rows
    first = 1
    for rb in pf.iter_batches(batch_size=4 * BATCH, columns=cols, use_threads=False):
        yield from _arrow_batches(rb, mapper, first, source)
        first += rb.num_rows


def _arrow_batches(rb, mapper: "RowMapper", first_row: int, source: Source) -> Iterator[Batch]:
    """A record batch's validated rows, ``BATCH`` rows at a time, as
    ``arrow_rows`` gives them. The column-wise check is made once for the
    record batch (``_arrow_plan``); the Python objects of each ``BATCH``
    rows are made only when they are asked for, just before the engine
    reads them (as the JSON Lines reader makes them), each column with one
    ``to_pylist`` and each row's fields taken from its type's dicts in
    file order by its type's code (``map(next, ...)``, in C). A stretch
    with a row the column-wise check did not take (or a JSON text field of
    the wrong kind) is read by ``arrow_rows``, which gives the messages."""
    import pyarrow as pa
    pc = _compute()
    n = rb.num_rows
    plan = _arrow_plan(rb, mapper)
    kinds = []
    if plan is not None:
        raw, unit, carr, idarr, typarr, found = plan
        taken, unhandled = _taken(found, n)
        kinds = [(src, typ, idx.to_pylist(), fields, [pc.take(a, idx) for _, a, _ in fields])
                 for (src, typ, _, fields), idx in taken]
    if not kinds:  # every stretch row by row
        for a in range(0, n, BATCH):
            yield Batch.of(arrow_rows(rb.slice(a, min(BATCH, n - a)), mapper, first_row + a))
            source.rows_read = first_row + min(n, a + BATCH) - 1
        return
    times = pc.divide(raw, unit) if unit != 1 else raw
    codes = pc.index_in(typarr, value_set=pa.array([k[0] for k in kinds], typarr.type))
    types = [k[1] for k in kinds]
    u = 0  # the first row not taken at or after the stretch
    for a in range(0, n, BATCH):
        b = min(n, a + BATCH)
        m = b - a
        while u < len(unhandled) and unhandled[u] < a:
            u += 1
        got = None
        if u == len(unhandled) or unhandled[u] >= b:
            got = _arrow_stretch(a, b, kinds)
        if got is None:
            yield Batch.of(arrow_rows(rb.slice(a, m), mapper, first_row + a))
        else:
            cs = codes.slice(a, m).to_pylist()
            fields = list(map(next, map(got.__getitem__, cs)))
            events = list(zip(times.slice(a, m).to_pylist(), carr.slice(a, m).to_pylist(),
                              map(types.__getitem__, cs), fields))
            ids = idarr.slice(a, m).to_pylist() if idarr is not None else [None] * m
            yield Batch(events, ids, range(first_row + a, first_row + b))
        source.rows_read = first_row + b - 1


def _arrow_stretch(a: int, b: int, kinds: list) -> Optional[list]:
    """For rows ``a`` to ``b`` of a record batch, all taken by the
    column-wise check: per kind of ``_arrow_batches``, an iterator over
    the fields of its rows there, in file order; None when a JSON text
    field holds a value of the wrong kind."""
    from bisect import bisect_left
    its = []
    for _src, _typ, positions, fields, taken in kinds:
        lo = bisect_left(positions, a)
        hi = bisect_left(positions, b, lo)
        if lo == hi:
            its.append(None)
            continue
        dicts, wrong = _field_dicts(fields, [t.slice(lo, hi - lo) for t in taken], hi - lo)
        if wrong:
            return None
        its.append(iter(dicts))
    return its


def arrow_rows(rb, mapper: "RowMapper", first_row: int) -> list[tuple]:
    """The validated rows of one Arrow record batch (``first_row`` is the
    1-based row number of its first row). Timestamp columns are read as
    instants; a naive timestamp is wall time in the mapping's time zone.

    The usual shapes are checked a column at a time with Arrow compute (a
    timestamp column, text contacts and ids, each field's column of its
    kind); the rows that pass become events without a check of their own.
    Every other row is checked one by one, which gives the messages."""
    n = rb.num_rows
    got: list = []
    rest = _arrow_fast(rb, mapper, first_row, got)
    if rest is None:
        return _arrow_slow(rb, mapper, first_row, list(range(n)))
    if rest:
        import pyarrow as pa
        rest.sort()
        sub = _compute().take(rb, pa.array(rest, pa.int64()))
        got.extend(_arrow_slow(sub, mapper, first_row, rest))
    got.sort(key=_ROW)  # file order (each type's rows are in order: a merge)
    return got


_ROW = itemgetter(5)


_KIND_TYPES = {"string": "string", "step": "string", "enum": "string", "number": "number", "bool": "bool"}


def _arrow_fast(rb, mapper: "RowMapper", first_row: int, got: list) -> Optional[list[int]]:
    """Add to ``got`` the rows that pass the column-wise check (in file
    order within each event type); return the indices left for the
    row-by-row check (None: all of them)."""
    plan = _arrow_plan(rb, mapper)
    if plan is None:
        return None
    raw, unit, carr, idarr, _typarr, kinds = plan
    taken, rest = _taken(kinds, rb.num_rows)
    for (_src, typ, _mask, fields), idx in taken:
        rows, wrong, positions = _arrow_rows(raw, unit, carr, idarr, typ, fields, idx, first_row)
        for j in reversed(wrong):
            del rows[j]
            rest.append(positions[j])
        got.extend(rows)
    return rest


def _taken(kinds: list, n: int) -> tuple[list, list[int]]:
    """Of the column-wise check's kinds (``_arrow_plan``), those that take
    rows, each with the indices of its rows (an Arrow array); and the
    indices of the ``n`` rows no kind takes, in order (each checked row by
    row)."""
    pc = _compute()
    handled = None
    taken = []
    for kind in kinds:
        mask = kind[2]  # (source name, program type, mask, fields)
        idx = pc.indices_nonzero(mask)
        if len(idx):
            handled = mask if handled is None else pc.or_kleene(handled, mask)
            taken.append((kind, idx))
    if handled is None:
        return taken, list(range(n))
    return taken, pc.indices_nonzero(pc.invert(handled)).to_pylist()


def _arrow_plan(rb, mapper: "RowMapper"):
    """The column-wise check of a record batch: None when its columns are
    not of the usual shape (one time column, a timestamp with a zone or
    epoch integers; one contact column; text types, contacts and ids; no
    properties column), else ``(raw, unit, contacts, ids, types, kinds)``:
    the times as integers in ``unit`` per second, the columns, and per
    event type of the batch that the program declares and whose columns
    fit, ``(source name, program type, mask, fields)``: the mask of its
    rows that pass (never null) and ``_arrow_fields``' columns."""
    import pyarrow as pa
    pc = _compute()
    from .inputs import MAX_EVENT_TIME
    index = {nm: i for i, nm in enumerate(rb.schema.names)}
    tcols = [c for c in mapper.time_cols if c in index]
    ccols = [c for c in mapper.contact_cols if c in index]
    if len(tcols) != 1 or len(ccols) != 1 or mapper.type_col not in index \
            or (mapper.props_col is not None and mapper.props_col in index):
        return None

    tarr = _decoded(rb.column(index[tcols[0]]))
    tt = tarr.type
    if pa.types.is_timestamp(tt) and tt.tz is not None:
        unit = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[tt.unit]
        raw = pc.cast(tarr, pa.int64())
    elif pa.types.is_integer(tt) and mapper.m.time_format in ("epoch_s", "epoch_ms"):
        unit = 1000 if mapper.m.time_format == "epoch_ms" else 1
        raw = pc.cast(tarr, pa.int64())
    else:
        return None
    carr = _decoded(rb.column(index[ccols[0]]))
    typarr = _decoded(rb.column(index[mapper.type_col]))
    if not (pa.types.is_string(carr.type) or pa.types.is_large_string(carr.type)) \
            or not (pa.types.is_string(typarr.type) or pa.types.is_large_string(typarr.type)):
        return None
    idarr = _decoded(rb.column(index[mapper.id_col])) if mapper.id_col in index else None
    if idarr is not None and not (pa.types.is_string(idarr.type) or pa.types.is_large_string(idarr.type)
                                  or pa.types.is_null(idarr.type)):
        return None
    base = pc.and_kleene(pc.and_kleene(pc.greater_equal(raw, 0), pc.less(raw, MAX_EVENT_TIME * unit)),
                   pc.greater(pc.utf8_length(carr), 0))
    base = pc.fill_null(base, False)
    kinds = []
    for src in pc.unique(typarr).to_pylist():
        if src is None:
            continue
        typ = mapper.program_type(src)
        decl = mapper.events.get(typ)
        if decl is None:
            continue
        mask = pc.and_kleene(pc.fill_null(pc.equal(typarr, src), False), base)
        found = _arrow_fields(rb, index, mapper.field_sources[typ], decl, mask)
        if found is None:
            continue
        mask, fields = found
        kinds.append((src, typ, pc.fill_null(mask, False), fields))  # null is not true: row by row
    return raw, unit, carr, idarr, typarr, kinds


def _decoded(a):
    """A dictionary-encoded column decoded; any other as it is."""
    import pyarrow as pa
    return a.dictionary_decode() if pa.types.is_dictionary(a.type) else a


def _arrow_fields(rb, index: dict, sources, decl: ir.EventType, mask):
    """The columns of an event type's fields and the mask of the rows the
    column-wise check takes (required fields set, enum values allowed,
    finite numbers), or None when a column's type does not fit: then every
    row of the type is checked row by row."""
    import pyarrow as pa
    pc = _compute()
    fields = []
    for f, srcname in sources:
        ft = decl.fields[f]
        name = srcname if srcname in index else (f"properties.{srcname}" if f"properties.{srcname}" in index
                                                 else None)
        if name is None:
            if not ft.optional:
                return None
            continue
        arr = _decoded(rb.column(index[name]))
        want = _KIND_TYPES.get(ft.kind, "any" if ft.kind == "any" else None)
        at = arr.type
        if pa.types.is_null(at):
            fits = True
        elif want == "string":
            fits = pa.types.is_string(at) or pa.types.is_large_string(at)
        elif want == "number":
            fits = pa.types.is_integer(at) or pa.types.is_floating(at)
        elif want == "bool":
            fits = pa.types.is_boolean(at)
        elif want == "any":
            fits = True
        elif ft.kind in ("map", "list"):
            fits = pa.types.is_string(at) or pa.types.is_large_string(at)  # JSON text, decoded below
        else:
            fits = False
        if not fits:
            return None
        if not ft.optional:
            mask = pc.and_kleene(mask, pc.is_valid(arr))
        if ft.kind == "enum" and not pa.types.is_null(at):
            mask = pc.and_kleene(mask, pc.or_kleene(pc.is_null(arr), pc.fill_null(
                pc.is_in(arr, value_set=pa.array(list(ft.values), arr.type)), False)))
        if pa.types.is_floating(at):  # NaN and infinities are not JSON numbers: row by row
            mask = pc.and_kleene(mask, pc.or_kleene(pc.is_null(arr), pc.is_finite(arr)))
        fields.append((f, arr, dict if ft.kind == "map" else list if ft.kind == "list" else None))
    return mask, fields


def _arrow_rows(raw, unit: int, carr, idarr, typ: str, fields: list, idx, first_row: int):
    """The rows at ``idx`` as event tuples; also the places (in the list)
    of rows whose JSON text fields hold a value of the wrong kind (they are
    checked row by row), and each row's place in the batch."""
    pc = _compute()
    taken = pc.take(raw, idx)
    times = (pc.divide(taken, unit) if unit != 1 else taken).to_pylist()
    contacts = pc.take(carr, idx).to_pylist()
    ids = pc.take(idarr, idx).to_pylist() if idarr is not None else [None] * len(idx)
    taken_cols = [pc.take(a, idx) for _, a, _ in fields]
    positions = idx.to_pylist()
    dicts, wrong = _field_dicts(fields, taken_cols, len(positions))
    rows = list(zip(times, contacts, repeat(typ), dicts, ids, [first_row + q for q in positions]))
    return rows, wrong, positions


def _field_dicts(fields: list, cols: list, n: int) -> tuple[list[dict], list[int]]:
    """The ``n`` rows' fields, one dict a row, from ``_arrow_fields``'
    ``fields`` whose columns (those rows' values) are ``cols``: a dict of
    the columns, then the nulls (absent) taken out. Also the places of the
    rows whose JSON text fields hold a value of the wrong kind (they are
    checked row by row)."""
    pc = _compute()
    names = [f for f, _, _ in fields]
    lists = [a.to_pylist() for a in cols]
    wrong: list[int] = []
    for k, (f, a, kind) in enumerate(fields):
        if kind is not None:  # JSON text: a value that is not of the kind is checked row by row
            vals = lists[k]
            for j, v in enumerate(vals):
                if v is not None:
                    try:
                        v = vals[j] = decode_json(v.encode())
                    except Exception:
                        v = None
                    if type(v) is not kind:
                        wrong.append(j)
    if len(fields) > 1 and wrong:  # (a row wrong in two fields is one row)
        wrong = sorted(set(wrong))
    if not names:
        dicts = [{} for _ in range(n)]
    elif len(names) == 1:
        (n0,), (l0,) = names, lists
        dicts = [{n0: a} for a in l0]
    elif len(names) == 2:
        (n0, n1), (l0, l1) = names, lists
        dicts = [{n0: a, n1: b} for a, b in zip(l0, l1)]
    else:
        dicts = [dict(zip(names, vals)) for vals in zip(*lists)]
    for f, a in zip(names, cols):
        if a.null_count:
            for j in pc.indices_nonzero(pc.is_null(a)).to_pylist():
                del dicts[j][f]
    return dicts, wrong


def _arrow_slow(rb, mapper: "RowMapper", first_row: int, positions: list[int]) -> list[tuple]:
    """The rows of a record batch checked one by one; ``positions`` gives
    each row's place in the file's batch (its row number less ``first_row``)."""
    schema = rb.schema
    index = {n: i for i, n in enumerate(schema.names)}
    n = rb.num_rows
    cache: dict[str, list] = {}

    def get(name: str) -> list:
        v = cache.get(name)
        if v is None:
            v = cache[name] = _arrow_column(rb, index, name)
        return v

    tcols = [c for c in mapper.time_cols if c in index] or list(mapper.time_cols[:1])
    ccols = [c for c in mapper.contact_cols if c in index] or list(mapper.contact_cols[:1])
    types = get(mapper.type_col)
    ids = get(mapper.id_col)
    props = get(mapper.props_col) if mapper.props_col and mapper.props_col in index else None
    tlists = [(c, get(c)) for c in tcols]
    clists = [(c, get(c)) for c in ccols]
    plans = _field_plans(mapper, index, get)
    times = mapper.times
    tz = mapper.m.timezone
    out: list[tuple] = []
    for i in range(n):
        no = first_row + positions[i]
        src = types[i]
        typ = mapper.program_type(src)
        if mapper.skip_unknown(typ, src):
            continue
        when, tcol = None, tcols[0]
        for c, lst in tlists:
            if lst[i] is not None:
                when, tcol = lst[i], c
                break
        if isinstance(when, _Epoch):
            when = int(when)
            reader = _EPOCH
        elif isinstance(when, _Naive):
            if tz is None:
                mapper.bad.append(BadLine(mapper.shown, no, f'"{tcol}" holds times without a time zone; say which '
                                          f'zone they are in: [time] timezone = "UTC" in the mapping file', tcol))
                continue
            from ..semantics.calendar import wall_to_epoch
            when = wall_to_epoch(int(when), tz)
            reader = _EPOCH
        else:
            reader = times
        cid, ccol = None, ccols[0]
        for c, lst in clists:
            if lst[i] is not None and lst[i] != "":
                cid, ccol = lst[i], c
                break
        p = props[i] if props is not None else None
        if isinstance(p, str):
            try:
                p = decode_json(p.encode())
            except Exception:
                p = None
        if isinstance(p, list):  # a map column: [(key, value), ...]
            p = dict(p)
        fields: dict = {}
        columns = {"type": mapper.type_col, "time": tcol, "contact": ccol, "id": mapper.id_col}
        for f, lst, name, srcname, as_json in plans.get(typ, ()):
            v = lst[i] if lst is not None else None
            if as_json and isinstance(v, str):  # a map or list kept as JSON text
                v = csv_value(v, "map")
            columns[f] = name
            if v is None and isinstance(p, dict):
                v = p.get(srcname)
                if v is not None:
                    columns[f] = mapper.props_col
            if v is not None:
                fields[f] = v
        res = mapper.check(no, typ, src, when, tcol, cid, ccol, ids[i], fields, columns, reader)
        if res is not None:
            out.append(res)
    return out


def _arrow_column(rb, index: dict, name: str) -> list:
    """A column of a record batch as Python values (None for a column the
    batch does not have): timestamps as seconds, dates as text, decimals as
    numbers."""
    import pyarrow as pa
    pc = _compute()
    n = rb.num_rows
    i = index.get(name)
    if i is None:
        return [None] * n
    arr = rb.column(i)
    t = arr.type
    if pa.types.is_timestamp(t):
        unit = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
        ints = pc.cast(arr, pa.int64()).to_pylist()
        secs = [None if v is None else v // unit for v in ints]
        if t.tz is None:
            return [None if v is None else _Naive(v) for v in secs]
        return [None if v is None else _Epoch(v) for v in secs]
    if pa.types.is_date(t):
        return [None if v is None else str(v) for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else (int(v) if v == v.to_integral_value() else float(v)) for v in arr.to_pylist()]
    return arr.to_pylist()


def _field_plans(mapper: "RowMapper", index: dict, get) -> dict[str, list]:
    """Per event type, where each field comes from: (field, its column's
    values or None, the column's name, the source name, kept as JSON text)."""
    plans: dict[str, list] = {}
    for typ, pairs in mapper.field_sources.items():
        plan = []
        decl = mapper.events[typ]
        for f, src in pairs:
            name = src if src in index else (f"properties.{src}" if f"properties.{src}" in index else None)
            plan.append((f, get(name) if name else None, name or src, src, decl.fields[f].kind in ("map", "list")))
        plans[typ] = plan
    return plans


class _Epoch(int):
    """Seconds since 1970 read from a timestamp column."""


class _Naive(int):
    """Wall-clock seconds from a timestamp column without a time zone."""


class _EpochReader(TimeReader):
    def read(self, v, name: str = "time") -> int:
        return int(v)


_EPOCH = _EpochReader("epoch_s")


# ====================================================================== contacts

def contact_records(source: Source, bad: list, *, fmt: Optional[str] = None,
                    mapping: Optional[Mapping] = None) -> Iterator[tuple[int, dict, Optional[dict]]]:
    """Contact records of any format: (row, record, columns). For CSV and
    Parquet every column is an attribute (a dotted name such as
    ``company.size`` is nested), ``columns`` maps keys to column names for
    messages; ``[contacts] id`` in the mapping names the id column."""
    fmt = fmt or contact_format(source, mapping)
    idcol = (mapping.contact_id if mapping is not None else None) or "id"
    if fmt == "csv":
        header, rows = _csv_table(source)
        if idcol not in header:
            raise SourceError(source.shown, f'has no column "{idcol}" for the contact id (its columns: '
                                            f'{", ".join(header) or "none"}); name it in the mapping file: '
                                            f'[contacts] id = "..."')
        n = len(header)
        for no, row in rows:
            if len(row) != n:
                bad.append(BadLine(source.shown, no, f"has {len(row)} cells; the header has {n} columns"))
                continue
            rec: dict = {}
            for h, cell in zip(header, row):
                key = "id" if h == idcol else h
                v = cell if key == "id" else json_cell(cell)
                if v is not None:
                    _put(rec, key, v)
            yield no, rec, {"id": idcol}
        return
    if fmt == "parquet":
        pa, pf = _open_parquet(source)
        names = pf.schema_arrow.names
        if idcol not in names:
            raise SourceError(source.shown, f'has no column "{idcol}" for the contact id (its columns: '
                                            f'{", ".join(names)}); name it in the mapping file: [contacts] id = "..."')
        first = 1
        for rb in pf.iter_batches(batch_size=1 << 16, use_threads=False):  # (as the events: no thread pool)
            for i, rec in enumerate(arrow_contact_records(rb, idcol)):
                yield first + i, rec, {"id": idcol}
            first += rb.num_rows
        return
    for no, obj in json_objects(source, bad):
        yield no, obj, None


def arrow_contact_records(rb, idcol: str = "id") -> Iterator[dict]:
    """The contact records of one Arrow record batch of a contacts table,
    one a row: every column an attribute (a dotted name such as
    ``company.size`` nested), ``idcol`` the id; nulls left out. Unchecked:
    ``check_contact`` says what is wrong with one."""
    lists = [(("id" if nm == idcol else nm), c.to_pylist()) for nm, c in zip(rb.schema.names, rb.columns)]
    for i in range(rb.num_rows):
        rec: dict = {}
        for key, lst in lists:
            v = lst[i]
            if v is not None:
                if isinstance(v, list) and v and isinstance(v[0], tuple):
                    v = dict(v)
                _put(rec, key, _plain(v))
        yield rec


def _put(rec: dict, key: str, v: Any) -> None:
    if "." in key and key != "id":
        parts = key.split(".")
        cur = rec
        for p in parts[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = cur[p] = {}
            cur = nxt
        cur[parts[-1]] = v
    else:
        rec[key] = v


def _plain(v: Any) -> Any:
    """Parquet values as JSON-like data: decimals to numbers, dates and times to text."""
    import datetime
    import decimal
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
