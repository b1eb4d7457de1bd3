"""One contact's inputs, for the answers about one contact (``goal
explain``, ``goal eval``): the engine's state is per contact, so running it
over one contact's record and events gives that contact exactly the run the
whole log gives it.

Three facts about the whole log still count, and are kept exactly:

* a bad line anywhere refuses the answer (unless ``--skip-bad``), as it
  refuses a run;
* duplicate ids are global: a later event whose id an earlier event of any
  contact had is ignored;
* the default instants are the first and last events of the whole log
  (duplicates excluded).

The whole log is still read, but only this contact's events are decoded
into dicts and fed to the engine. For the project's JSON Lines there is a
faster scan: each line is decoded by msgspec into a typed record that checks
every declared field in C, and the times, ids and contacts are checked and
compared a column at a time. When anything is not of the usual shape (a
line the typed decoder refuses, an unusual time format, a lone surrogate)
the scan gives up and the ordinary reader reads the log, so the scan never
decides differently from it: it only decides faster.

What the scan learns about the whole log (the first and last instants, the
lines with a repeated id, how many lines each contact has) is kept as the
log's index in the cache folder, so the next answer about that log reads
the file and its checksum instead of decoding every line, and finds the
contact's lines by a search for its JSON-encoded id. An index is used only
when the log's size, modification time and CRC-32 of its bytes, this code
and the program's event declarations are the ones it was made for
(docs/decisions.md, "The index of an event log").
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from itertools import compress
from operator import attrgetter, itemgetter
from typing import NamedTuple, Optional

from ..semantics import ir
from ..semantics.calendar import parse_event_time
from ..syntax.source import BOM
from .inputs import (MAX_EVENT_TIME, MIN_EVENT_TIME, Inputs, EventTimes, as_source, iter_events, jsonl_rows,
                     OFFSET_COLUMNS, one_per_line, read_contacts, usual_columns, usual_contact_type, usual_event_type)


def read_one_contact(program, contacts, events, cid: str, *, fmt: Optional[str] = None,
                     mapping=None) -> Inputs:
    """Inputs with one contact's record and events, the whole log's bad
    lines, duplicate count and first and last times, and (when the contact
    is not in the log) every contact id, for suggestions. Bad lines are in
    ``inputs.bad``: the caller refuses or skips them as it would for a run."""
    from .program import shown_path
    inputs = Inputs()
    ids: set = set()
    if contacts is not None:
        csource = as_source(contacts, shown_path(contacts))
        from .sources import contact_format
        scanned_ids = _scan_contacts(csource, cid, inputs) if contact_format(csource, mapping) == "jsonl" else None
        if scanned_ids is None:
            read_contacts(csource, None, inputs, mapping=mapping)
            ids = {c["id"] for c in inputs.contacts}
            inputs.contacts = [c for c in inputs.contacts if c["id"] == cid]
        else:
            ids = scanned_ids
    seen_in_events: Optional[set] = None
    if events is not None:
        source = as_source(events, shown_path(events))
        from .sources import detect_format
        scanned = None
        if mapping is None and detect_format(source, fmt, None) == "jsonl":
            scanned = _scan_jsonl(source, program.ir.events, cid, inputs)
        if scanned is None:
            seen_in_events = _read_filtered(source, program.ir.events, cid, inputs, fmt, mapping)
        else:
            seen_in_events = scanned
    known = bool(inputs.contacts) or bool(inputs.events)
    if not known:
        ids = ids() if callable(ids) else ids
        inputs.contact_ids = ids | (seen_in_events() if callable(seen_in_events) else (seen_in_events or set()))
    return inputs


def _read_filtered(source, events: dict, cid: str, inputs: Inputs, fmt, mapping) -> set:
    """The ordinary reader, keeping one contact's events."""
    mine = []
    first = last = None
    ids = set()
    for ev in iter_events(source, events, None, inputs, fmt=fmt, mapping=mapping):
        t = ev[0]
        if first is None or t < first:
            first = t
        if last is None or t > last:
            last = t
        c = ev[1]
        ids.add(c)
        if c == cid:
            mine.append(ev)
    mine.sort(key=itemgetter(0))  # stable: file order within one instant
    inputs.events = mine
    inputs.first_time, inputs.last_time = first, last
    ids.update(d[1] for d in inputs.duplicate_events)  # seen in the log, as the scan counts them
    inputs.duplicate_events = [d for d in inputs.duplicate_events if d[1] == cid]
    return ids


# ---------------------------------------------------------------- the scan of JSON Lines

def _scan_contacts(source, cid: str, inputs: Inputs):
    """Contacts JSON Lines checked in one call: each line decoded into a
    typed record holding only what ``check_contact`` looks at (a text id,
    the list attributes), so the other attributes are never built; then the
    contact's own record, read whole and checked as the reader does. Returns
    every id (a set, or a function that gives it), or None when the reader
    must read the file (a record the typed decoder refuses, such as a number
    for an id or a bad one, two records with one id, a byte order mark):
    its messages and conversions are the reader's alone.

    A file that passed, and has no backslash, is noted in the cache folder
    (its length and CRC-32): the next answer about the same bytes finds the
    contact's record by a search for its JSON-encoded id, and decodes the
    other records only when every id is asked for."""
    from .inputs import check_contact
    import msgspec
    with source.open() as f:
        data = f.read()
    if data.startswith(BOM):
        return None
    where = _kept_path(source, "contacts", "")
    stamp = _stamp(source) if where else None
    if _kept_clean(where, stamp, data):
        lines = _lines_found(data, cid, None, key="id", count=False)
        ids = functools.partial(_ids_of_contacts, data)
    else:
        try:
            rows = _contact_decoder().decode_lines(data)
        except Exception:
            return None
        if not one_per_line(data, len(rows)):
            return None
        listed = list(map(attrgetter("id"), rows))
        ids = set(listed)
        if len(ids) != len(listed):
            return None
        if b"\\" not in data:
            import zlib
            _save_kept(where, [stamp, len(data), zlib.crc32(data)])
        lines = _lines_at(data, cid, listed, key="id") if cid in ids else []
    if lines is None or len(lines) > 1:
        return None  # pragma: no cover - the id was found above, once
    if lines:
        record = msgspec.json.decode(lines[0][1])
        if type(record) is not dict or check_contact(record) is not None:
            return None  # pragma: no cover - the typed decoder accepted it
        inputs.contacts = [record]
    return ids


def _kept_clean(where: Optional[str], stamp, data: bytes) -> bool:
    """Whether the cache folder notes these very bytes as a contacts file
    that the scan read clean."""
    import zlib
    kept = _load_kept(where, _clean_decoder())
    return kept is not None and kept[0] == stamp and kept[1] == len(data) and kept[2] == zlib.crc32(data)


def _ids_of_contacts(data: bytes) -> set:
    return set(map(attrgetter("id"), _contact_decoder().decode_lines(data)))


@functools.lru_cache(maxsize=1)
def _clean_decoder():
    import msgspec
    from typing import Tuple
    return msgspec.msgpack.Decoder(Tuple[list, int, int])


@functools.lru_cache(maxsize=1)
def _contact_decoder():
    """Records with a non-empty text id and the list attributes as lists of
    texts (or null, or absent): what ``check_contact`` accepts with no
    conversion."""
    import msgspec
    return msgspec.json.Decoder(usual_contact_type())


_MMSS = re.compile(r":[0-5][0-9]:[0-5][0-9]\Z")


_DECODERS: dict[int, tuple] = {}


def _scan_decoder(events: dict):
    """The scan's decoder for a program's events, made once per program."""
    hit = _DECODERS.get(id(events))
    if hit is None or hit[0] is not events:
        hit = _DECODERS[id(events)] = (events, _make_decoder(events))
    return hit[1]


def _make_decoder(events: dict):
    """A msgspec decoder of the usual event lines (``usual_event_type``;
    a type left out there makes the scan give up on its lines)."""
    import msgspec
    usual = usual_event_type(events)
    return None if usual is None else msgspec.json.Decoder(usual)


def _scan_jsonl(source, events: dict[str, ir.EventType], cid: str, inputs: Inputs):
    """Scan the log for one contact; None when the ordinary reader must read it.
    The whole log's facts come from its index, kept in the cache folder
    (``_LogIndex``): used as it is when the log is the one it was made for,
    brought up to date by scanning only the new lines when the log grew by
    whole lines, else made again from every line."""
    with source.open() as f:
        data = f.read()
    if data.startswith(BOM):
        return None  # a byte order mark: the ordinary reader's words (a lone surrogate fails the decoder)
    where = _index_path(source, events)
    stamp = _stamp(source) if where else None
    kept = _load_index(where, stamp)
    index = None if kept is None else _up_to_date(kept, data, events)
    # The lines' numbers are needed only to tell the repeated ones.
    lines = None if index is None else _lines_found(data, cid, None if index.counts is None else
                                                    index.counts.get(cid, 0), count=bool(index.repeated))
    if lines is None:  # no index kept, or this contact's id is written in another way
        made = _index_log(data, events)
        if made is None:
            return None
        if index is None:
            _save_index(where, stamp, made[0])
        index, contacts = made
        if contacts is None:  # no backslash: a search finds every line of the contact
            lines = _lines_found(data, cid, None, count=bool(index.repeated))
        else:
            lines = _lines_at(data, cid, contacts)
        if lines is None:
            return None
    elif index is not kept:
        _save_index(where, stamp, index)
    return _answer(index, lines, data, source, events, cid, inputs)


class _LogIndex(NamedTuple):
    """What one contact's answer needs from the whole log: the first and
    last instants (None in an empty log), the numbers of the lines whose id
    an earlier line had, and how many lines each contact has (its lines are
    found by a search for its id: ``_lines_found``), or None when the log
    has no backslash (then every contact's id is written as JSON writes it,
    and a search finds all its lines); and what it was made
    from: the log's length in bytes, the CRC-32 of those bytes, its number
    of lines."""
    first: Optional[int]
    last: Optional[int]
    repeated: list
    counts: Optional[dict]
    size: int
    crc: int
    lines: int


def _index_log(data, events: dict, seen: Optional[set] = None, before: int = 0, crc: int = 0,
               counted: bool = False):
    """The index of ``data`` and each line's contact (None when it has no
    backslash and ``counted`` is not asked: then they are not needed), from
    a typed decode of every line; None when a line is not of the usual
    shape, or the events have no type the scan reads. ``data`` may be
    the new end of a log: ``before`` lines and the CRC-32 ``crc`` came
    before it, ``seen`` holds their ids, ``counted``: their index counts
    each contact's lines."""
    import zlib
    dec = _scan_decoder(events)
    if dec is None:
        return None
    counted = counted or b"\\" in data
    try:
        cols = _columns(dec, data, counted)
    except Exception:
        return None  # a line of another shape, or a bad one
    n = cols.lines
    if not one_per_line(data, n):
        return None
    size, crc = len(data), zlib.crc32(data, crc)
    if n == 0:
        return _LogIndex(None, None, [], {} if counted else None, size, crc, before), cols.contacts
    checked = _usual_times(cols.times, cols.pieces)
    if checked is None:
        return None
    reader, offsets, pieces = checked
    times = cols.times if cols.times is not None or pieces else _times_of(cols.pieces)
    distinct = cols.distinct
    with_id = n - cols.nones
    dups: list = []
    if len(distinct) - (None in distinct) < with_id or (seen and not distinct.isdisjoint(seen)):
        dups = _repeated_ids(_ids_of_lines(data), seen)
    if dups:
        if times is None:
            times = _times_of(pieces)
        keep = [True] * n
        for i in dups:
            keep[i] = False
        live = list(compress(times, keep))
        extremes = _first_and_last(live, offsets, reader) if live else (None, None)
        if extremes is not None and _first_and_last(times, offsets, reader, pieces) is None:
            extremes = None  # (a line with a repeated id is still refused for a time out of range, as the reader does)
    else:
        extremes = _first_and_last(times, offsets, reader, pieces)
    if extremes is None:
        return None
    counts = dict(Counter(cols.contacts)) if counted else None
    return _LogIndex(*extremes, [before + i + 1 for i in dups], counts, size, crc, before + n), cols.contacts


PIECE = 1 << 16  # bytes of a log decoded at a time by the scan


class _Columns(NamedTuple):
    """What the scan takes from the lines, and learns of them while they are
    at hand (``_columns``)."""
    lines: int
    times: Optional[list]  # each line's time, unless ``pieces`` holds them
    pieces: Optional[list]  # when every time has one width (20 or 25): per piece, its least and
    # greatest time and its times joined
    distinct: set  # the lines' ids (None among them when a line has none)
    nones: int  # the lines without an id
    contacts: Optional[list]  # each line's contact, when asked for


def _columns(dec, data, counted: bool) -> _Columns:
    """What the scan needs of each line, from typed decodes of ``data`` a
    piece at a time, each ending at a line's end: the set of ids; the times,
    kept as each piece's times joined, with their least and greatest, while
    they all have one width (else in a list); each line's contact when
    ``counted``. Each piece's records go before the next is decoded, and
    every text is read while it is in the processor's cache: the memory of
    the records is used again, not taken anew from the system, and only the
    ids stay as objects (docs/performance.md, "One-contact answers on a new
    log, a piece at a time"). Raises what the decoder raises; a piece
    refused where the whole would be read has an object over two lines,
    which ``one_per_line`` would refuse. (The decoder takes times of 20 to 25
    characters: a piece's times joined are 20 or 25 times as long as its
    lines are many only when all of them have that width.)"""
    lines = nones = width = 0
    times: Optional[list] = None
    pieces: Optional[list] = []
    distinct: set = set()
    contacts: Optional[list] = [] if counted else None
    get_time, get_id, get_contact = attrgetter("time"), attrgetter("id"), attrgetter("contact")
    decode = dec.decode_lines
    with memoryview(data) as view:
        pos, size = 0, len(data)
        while pos < size:
            end = data.find(b"\n", pos + PIECE)
            end = size if end < 0 else end + 1
            rows = decode(view[pos:end])
            pos = end
            if not rows:
                continue
            lines += len(rows)
            ids = list(map(get_id, rows))
            distinct.update(ids)
            if None in distinct:
                nones += ids.count(None)
            if contacts is not None:
                contacts += map(get_contact, rows)
            piece_times = list(map(get_time, rows))
            if pieces is not None:
                text = "".join(piece_times)
                w = len(text) // len(rows)
                if len(text) == w * len(rows) and w in OFFSET_COLUMNS and w == (width or w):
                    width = w
                    pieces.append((min(piece_times), max(piece_times), text))
                    continue
                times, pieces = _times_of(pieces), None  # times of other widths
            times += piece_times
    return _Columns(lines, times, pieces, distinct, nones, contacts)


def _times_of(pieces: list) -> list[str]:
    """Each time of ``pieces`` (``_Columns``), in a list."""
    out: list = []
    for least, _, text in pieces:
        w = len(least)
        out += [text[i:i + w] for i in range(0, len(text), w)]
    return out


def _ids_of_lines(data) -> list:
    """Each line's id (None: none), for lines the scan has read: each decoded
    only as far as its id."""
    return list(map(attrgetter("id"), _id_decoder().decode_lines(data)))


def _up_to_date(index: _LogIndex, data: bytes, events: dict) -> Optional[_LogIndex]:
    """The kept index, for this log: as it is when the log has the bytes it
    was made from (its modification time may differ), brought up to date
    when the log has those bytes and more lines after them, None otherwise
    (the log was changed, truncated, or its last line was continued)."""
    import zlib
    view = memoryview(data)
    if len(data) < index.size or zlib.crc32(view[:index.size]) != index.crc:
        return None
    if len(data) == index.size:
        return index
    if index.size and data[index.size - 1] != 0x0A:
        return None  # the last line had no end: the new bytes may continue it
    seen = _ids_in(view[:index.size])
    if seen is None:  # pragma: no cover - the typed decoder read the same lines
        return None
    made = _index_log(data[index.size:], events, seen, index.lines, index.crc, index.counts is not None)
    if made is None or (index.counts is None and made[0].counts is not None):
        return None  # (the new lines have a backslash: every line's contact is counted again)
    new = made[0]
    counts = None
    if index.counts is not None:
        counts = Counter(index.counts)
        counts.update(new.counts)
        counts = dict(counts)
    ends = [t for t in (index.first, index.last, new.first, new.last) if t is not None]
    return _LogIndex(min(ends, default=None), max(ends, default=None), index.repeated + new.repeated,
                     counts, len(data), new.crc, new.lines)


def _ids_in(data) -> Optional[set]:
    """Every event id in lines the scan has read before (their ids are texts
    or null): each line decoded only as far as its id."""
    try:
        ids = set(_ids_of_lines(data))
    except Exception:  # pragma: no cover - the typed decoder read the same lines
        return None
    ids.discard(None)
    return ids


def _contacts_in(data: bytes) -> set:
    """Every contact of lines the scan has read before (for suggestions)."""
    return set(map(attrgetter("contact"), _contact_of_decoder().decode_lines(data)))


@functools.lru_cache(maxsize=1)
def _contact_of_decoder():
    import msgspec
    return msgspec.json.Decoder(msgspec.defstruct("ScanContactOf", [("contact", str)], gc=False))


@functools.lru_cache(maxsize=1)
def _id_decoder():
    import msgspec
    return msgspec.json.Decoder(msgspec.defstruct("ScanId", [("id", Optional[str], None)], gc=False))


def _answer(index: _LogIndex, lines: list, data: bytes, source, events: dict, cid: str, inputs: Inputs):
    """This contact's lines, read by the ordinary reader (every field kept,
    its messages), and the whole log's facts, into ``inputs``."""
    bad: list = []
    got = [row for batch in jsonl_rows(lines, source.shown, events, bad) for row in batch]
    if bad or len(got) != len(lines):  # pragma: no cover - the typed decoder accepted what the reader refuses
        return None
    dup_lines = set(index.repeated)
    kept = []
    for t, c, typ, fields, eid, no in got:
        if no in dup_lines:
            inputs.duplicate_events.append((t, c, typ, fields, eid, f"{source.shown}:{no}"))
        else:
            kept.append((t, c, typ, fields))
    kept.sort(key=itemgetter(0))
    inputs.events = kept
    inputs.duplicates = len(index.repeated)
    inputs.first_time, inputs.last_time = index.first, index.last
    return lambda: set(index.counts) if index.counts is not None else _contacts_in(data)


# ---------------------------------------------------------------- the log's index, kept in the cache folder

INDEX_FORMAT = 2  # raised whenever what an index holds or means changes


def _index_path(source, events: dict) -> Optional[str]:
    """Where the index of this log, read for these event declarations, is
    kept; None when it cannot be (standard input, a pipe, no cache folder)."""
    return _kept_path(source, "log", _events_key(events))


def _kept_path(source, kind: str, key: str) -> Optional[str]:
    """Where what is kept about a file (``kind``: "log" or "contacts"), as
    read with ``key``, is kept; None when it cannot be."""
    import os
    import zlib
    if not source.is_regular():
        return None
    folder = _index_folder()
    if folder is None:
        return None
    key = f"{os.path.realpath(source.path)}\n{key}"
    return os.path.join(folder, f"{kind}-{zlib.crc32(key.encode()):08x}.index")


def _index_folder() -> Optional[str]:
    from ..syntax.resources import cache_folder
    return cache_folder()


def _events_key(events: dict) -> str:
    """The event declarations, as far as the scan's decoder reads them."""
    return repr(sorted((name, sorted((f, t.kind, t.values, t.optional) for f, t in decl.fields.items()))
                       for name, decl in events.items()))


def _stamp(source) -> list:
    """What an index is checked against before its bytes are: the index
    format, this code and the file's name. The log's own bytes are checked
    by their length and CRC-32 (``_up_to_date``), so an index is never used
    for a log that changed, even within one mtime tick, and one whose file
    was only touched, or copied back, is still good."""
    import os
    from . import inputs as inputs_module
    code = [(c.st_size, c.st_mtime_ns) for c in map(os.stat, (__file__, inputs_module.__file__))]
    return [INDEX_FORMAT, repr(code), os.path.realpath(source.path)]


def _load_index(where: Optional[str], stamp) -> Optional[_LogIndex]:
    """The kept index when its stamp is this log's; None otherwise (none
    kept, another log, unreadable, damaged)."""
    kept = _load_kept(where, _kept_decoder())
    if kept is None or kept[0] != stamp:
        return None
    return _LogIndex(*kept[1:])


def _load_kept(where: Optional[str], decoder):
    """A file of the cache folder decoded (its types checked); None when
    there is none or it is not ours (damaged, of another format)."""
    if where is None:
        return None
    import os
    try:
        with open(where, "rb") as f:
            kept = decoder.decode(f.read())
    except Exception:
        return None
    try:
        os.utime(where)  # used now: the last to go when the folder is pruned
    except OSError:
        pass
    return kept


@functools.lru_cache(maxsize=1)
def _kept_decoder():
    """A kept index is a stamp and a ``_LogIndex``, in MessagePack; decoded
    with its types checked, so a damaged one is refused whole."""
    import msgspec
    from typing import Tuple
    return msgspec.msgpack.Decoder(Tuple[list, Optional[int], Optional[int], list[int], Optional[dict[str, int]], int, int, int])


def _save_index(where: Optional[str], stamp, index: _LogIndex) -> None:
    """Keep the index."""
    _save_kept(where, [stamp, *index])


def _save_kept(where: Optional[str], kept: list) -> None:
    """Keep a file in the cache folder (written whole then renamed, so a
    reader never sees half of one); nothing when the folder cannot be
    written."""
    if where is None:
        return
    import os
    import tempfile
    import msgspec
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(where), prefix=".index-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(msgspec.msgpack.encode(kept))
            os.replace(tmp, where)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return
    from ..syntax.resources import prune_cache
    prune_cache(os.path.dirname(where), ".index", where)


def _usual_times(times: Optional[list], pieces: Optional[list] = None):
    """(a reader, the offsets, runs of the times with their least and
    greatest as ``_Columns.pieces`` when every time has the usual width,
    else None) when every time is of the usual form, which the reader reads
    as its hour (parsed once) plus minutes and seconds: each hour is checked
    with each offset, and each distinct ":MM:SS", instead of each row. None
    otherwise. ``pieces``: the times when the scan found them all of one
    width (then ``times`` is None)."""
    widths = set(map(len, times)) if pieces is None else None
    if widths is not None and len(widths) == 1:
        pieces = [(min(times), max(times), "".join(times))]
    if pieces is not None:
        quick = usual_columns(pieces)
        if quick is not None:
            return quick
        if times is None:
            times = _times_of(pieces)
        if widths is None:
            widths = {len(pieces[0][0])}  # (the scan found every time of one width)
    if not widths <= {20, 25}:
        return None
    hours = set(map(itemgetter(slice(0, 13)), times))
    offsets = set(map(itemgetter(slice(19, None)), times))
    if any(len(o) == 1 and o != "Z" for o in offsets):
        return None
    if not all(_MMSS.match(m) for m in set(map(itemgetter(slice(13, 19)), times))):
        return None
    reader = EventTimes()
    try:
        for h in hours:
            for o in offsets:
                reader(h + ":00:00" + o)
    except (ValueError, OverflowError, OSError):
        return None
    return reader, offsets, None


def _repeated_ids(ids: list, seen: Optional[set] = None) -> list[int]:
    """The places of the events whose id an earlier event has (or one of
    ``seen``, the ids of the lines before these)."""
    n = len(ids)
    none = ids.count(None)
    distinct = set(ids)
    distinct.discard(None)
    dups: list[int] = []
    if len(distinct) < n - none or (seen and not distinct.isdisjoint(seen)):
        taken: set = set(seen or ())
        for i, e in enumerate(ids):
            if e is not None:
                if e in taken:
                    dups.append(i)
                else:
                    taken.add(e)
    return dups


def _first_and_last(live: Optional[list], offsets: set[str], reader, pieces: Optional[list] = None):
    """The first and last instants (None when out of range): the wall times
    sort as text; an instant's wall time is within the spread of the
    offsets of the extreme one. ``pieces``: the live times (all of one
    width) in runs with their least and greatest, ``_Columns.pieces``, when
    known (then ``live`` is not looked at): the extreme wall times are then
    theirs, and only the runs that reach past the cuts are looked through."""
    spread = max(map(_offset_seconds, offsets)) - min(map(_offset_seconds, offsets)) + 60
    from ..semantics.calendar import format_utc
    if pieces:
        lo_wall, hi_wall = min(p[0] for p in pieces)[:19], max(p[1] for p in pieces)[:19]
    else:
        lo_wall, hi_wall = min(live)[:19], max(live)[:19]
    lo_cut = format_utc(_wall(lo_wall) + spread)[:19]
    hi_cut = format_utc(_wall(hi_wall) - spread)[:19]
    lows = highs = live
    if pieces:
        lows = _times_of([p for p in pieces if p[0] <= lo_cut])
        highs = _times_of([p for p in pieces if p[1] >= hi_cut])
    try:
        first = min(map(reader, [t for t in lows if t <= lo_cut]))
        last = max(map(reader, [t for t in highs if t >= hi_cut]))
    except (ValueError, OverflowError, OSError):  # pragma: no cover - every hour was read above
        return None
    if not (MIN_EVENT_TIME <= first and last < MAX_EVENT_TIME):
        return None
    return first, last


def _offset_seconds(tail: str) -> int:
    if tail == "Z":
        return 0
    sign = -1 if tail[0] == "-" else 1
    return sign * (int(tail[1:3]) * 3600 + int(tail[4:6]) * 60)


def _wall(text19: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` read as UTC."""
    return parse_event_time(text19 + "Z")


def _lines_at(data: bytes, cid: str, contacts: list, key: str = "contact") -> Optional[list[tuple[int, bytes]]]:
    """The lines whose ``key`` is the contact's id (its events; its record
    with ``key="id"``), with their numbers: found where its id is written as
    JSON text, else by walking the lines (``contacts``: each line's id)."""
    numbers = [i + 1 for i in compress(range(len(contacts)), map(cid.__eq__, contacts))]
    found = _lines_found(data, cid, len(numbers), key, numbers)
    if found is not None:
        return found
    out = []  # the id written another way: walk the lines
    pos, line = 0, 1
    for n in numbers:
        while line < n:
            nl = data.find(b"\n", pos)
            if nl < 0:
                return None
            pos, line = nl + 1, line + 1
        end = data.find(b"\n", pos)
        out.append((n, data[pos:] if end < 0 else data[pos:end + 1]))
    return out


def _lines_found(data: bytes, cid: str, want: Optional[int], key: str = "contact",
                 numbers: Optional[list] = None, count: bool = True) -> Optional[list[tuple[int, bytes]]]:
    """The ``want`` lines whose ``key`` is ``cid`` (all of them when
    ``want`` is None: the log has no backslash), with their numbers, found
    where the id is written as JSON text (a search in C over the whole
    buffer; each line found is decoded to be sure); None when fewer are
    found that way (the id is written with escapes). ``numbers``: the
    lines' numbers when they are known (the lines are found in their
    order); else they are counted, or 0 when not ``count``."""
    import msgspec
    needle = msgspec.json.encode(cid)
    found: list[tuple[int, bytes]] = []
    decode = msgspec.json.decode
    pos = 0
    line = 1
    while want is None or len(found) < want:
        hit = data.find(needle, pos)
        if hit < 0:
            break
        start = data.rfind(b"\n", 0, hit) + 1
        if count and numbers is None:
            line += data.count(b"\n", pos, start)
        end = data.find(b"\n", hit)
        end = len(data) if end < 0 else end + 1
        text = data[start:end]
        try:
            is_mine = decode(text).get(key) == cid
        except Exception:  # not a line of the log it was counted in
            return None
        if is_mine:
            found.append((numbers[len(found)] if numbers is not None else line if count else 0, text))
        pos = end
        line += 1
    return found if want is None or len(found) == want else None
