"""The reader's and writer's fast paths give exactly what the plain paths give.

Speed must never change results: each fast path here is compared with the
general code it short-cuts, on generated inputs that include the shapes the
fast path refuses.
"""
from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from goaldsl.api import load_program
from goaldsl.semantics.calendar import parse_event_time
from goaldsl.runtime.inputs import EventValidator, Inputs, EventTimes, iter_events
from goaldsl.runtime.output import JsonlWriter, jsonl_line

PROGRAM = 'workflow "W" {\n    enroll when page.visited\n    send_email("hi")\n}\n'


def _events(tmp_path):
    (tmp_path / "program.goal").write_text(PROGRAM)
    return load_program(tmp_path / "program.goal").ir.events


def _parse(text):
    try:
        return parse_event_time(text)
    except (ValueError, OverflowError, OSError):
        return "error"


def _fast(times, text):
    try:
        return times(text)
    except (ValueError, OverflowError, OSError):
        return "error"


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
stamp = st.builds(
    lambda y, mo, d, sep, h, mi, s, tz: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}:{s}{tz}",
    st.integers(1970, 2100), st.sampled_from(["01", "02", "10", "12", "13"]), st.sampled_from(["01", "28", "29", "31", "32"]),
    st.sampled_from(["T", " ", "x"]), two, two, two,
    st.sampled_from(["Z", "+00:00", "-05:00", "+05:30", "+14:00", "", "+0100", ".5Z", "+25:00", "z"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(stamp, st.text(max_size=26)), min_size=1, max_size=20))
def test_event_times_match_the_general_parser(texts):
    times = EventTimes()  # one cache across the list, as in a real read
    for text in texts:
        assert _fast(times, text) == _parse(text), text


field_value = st.one_of(
    st.sampled_from(["/pricing", "", "new", "confirmed", "paid", "sms", "bogus", 1, 2.5, -3, True, False, None]),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "stage"]), st.integers(), max_size=2))
MISSING = object()
reserved = {
    "id": st.sampled_from(["e1", "e2", "e3", "e1", 2, True, None, MISSING, MISSING, MISSING]),
    "time": st.sampled_from(["2026-10-01T10:00:06Z", "2026-10-01T10:00:06+01:00", "2026-10-01T10:59:59-05:00"] * 3
                            + ["2026-10-01T10:00:06", "2026-10-01T10:61:06+00:00", "yesterday", 5, MISSING]),
    "contact": st.sampled_from(["c1", "c2"] * 4 + ["", 3, True, None, MISSING]),
    "type": st.sampled_from(["page.visited", "appointment.status_changed", "invoice.status_changed",
                             "contact.updated", "purchase.completed", "review_request.clicked", "email.opened",
                             "page.visitd", "", MISSING]),
}
event_obj = st.fixed_dictionaries(
    reserved,
    optional={
        "url": field_value, "status": field_value, "appointment": field_value, "invoice": field_value,
        "action": field_value, "amount": field_value, "fields": field_value, "channel": field_value,
        "email": field_value, "extra": field_value,
    }).map(lambda o: {k: v for k, v in o.items() if v is not MISSING})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(event_obj, st.just([1, 2]), st.just("text")), min_size=1, max_size=12))
def test_reading_events_matches_the_full_check(tmp_path_factory, objs):
    tmp = tmp_path_factory.mktemp("ev")
    events = _events(tmp)
    lines = [json.dumps(o) for o in objs] + ["{not json", ""]
    path = tmp / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    inputs = Inputs()
    got = list(iter_events(path, events, "events.jsonl", inputs))
    # The plain way: the full check on every line, duplicates by id.
    validator, want, bad, seen, dups = EventValidator(events), [], [], set(), 0
    for no, o in enumerate(objs, 1):
        if not isinstance(o, dict):
            bad.append((no, "expected a JSON object"))
            continue
        res = validator.check(dict(o))
        if isinstance(res, str):
            bad.append((no, res))
            continue
        t, cid, typ, fields, eid = res
        if eid is not None:
            if eid in seen:
                dups += 1
                continue
            seen.add(eid)
        want.append((t, cid, typ, fields))
    assert got == want
    assert [(b.line, b.message) for b in inputs.bad][:len(bad)] == bad
    assert inputs.bad[-1].line == len(objs) + 1 and inputs.bad[-1].message.startswith("not valid JSON")
    assert inputs.duplicates == dups == len(inputs.duplicate_events)


entry = st.fixed_dictionaries({
    "time": st.integers(-2_208_988_800, 222_160_000_000),  # 1900 to 9010: the events' years and ten more "contact": st.sampled_from(["c1", "c\u00e9"]), "workflow": st.just("W"),
    "type": st.sampled_from(["action", "exited", "enrolled", "goal_achieved"])},
    optional={"reason": st.sampled_from(["goal", "unmet"]), "goal": st.just("G \"x\""),
              "action": st.just("send_email"), "args": st.dictionaries(st.sampled_from(["a", "b"]), st.integers()),
              "step": st.just("s"), "id": st.just("c1/W/1/step:0/5")})


@settings(max_examples=200, deadline=None)
@given(st.lists(entry, max_size=20), st.integers(1, 200))
def test_jsonl_writer_writes_what_jsonl_line_gives(entries, size):
    text = io.StringIO()
    w = JsonlWriter(text, buffer_size=size)
    for e in entries:
        w(e)
    w.flush()
    assert text.getvalue() == "".join(jsonl_line(e) + "\n" for e in entries)
    binary = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    w = JsonlWriter(binary, buffer_size=size)
    for e in entries:
        w(e)
    w.flush()
    assert binary.buffer.getvalue().decode() == text.getvalue()


def test_jsonl_writer_times_past_its_caches():
    """Many instants, in order and at random, more than the writer keeps
    texts and hours for: each time as format_utc writes it."""
    import random
    rng = random.Random(7)
    times = list(range(1_790_000_000, 1_790_000_000 + 3 * 86400, 7)) + [rng.randrange(-2_208_988_800, 222_160_000_000)
                                                                        for _ in range(20_000)]
    entries = [{"time": t, "contact": "c1", "workflow": "W", "type": "enrolled"} for t in times]
    out = io.BytesIO()
    w = JsonlWriter(out)
    w.write_all([dict(e) for e in entries], owned=True)
    w.flush()
    assert out.getvalue().decode() == "".join(jsonl_line(e) + "\n" for e in entries)


# ---------------------------------------------------------------- repeated ids

from goaldsl.runtime.inputs import SeenIds  # noqa: E402

# Ids on both sides of the key rule (at most 15 ASCII characters without NUL:
# packed; any other: hashed), a few of them often so that they repeat.
_TRICKY_IDS = ["", "a", "e1", "e10", "\0", "a\0", "\0a", "a\0b", "x" * 14, "x" * 15, "x" * 16, "y" * 15 + "\0",
               "x" * 15 + "é", "é", "日本", "ü" * 20, "z" * 40, "e1 ", " e1"]
_IDS = st.one_of(st.none(), st.sampled_from(_TRICKY_IDS), st.sampled_from([f"e{i}" for i in range(40)]),
                 st.text(max_size=18), st.text(alphabet="ab\0", max_size=17))


class _Crowded(SeenIds):
    """Every key mixed into one of two values: long probe runs, one of them
    from the table's last slot round to its first, and a batch's in-batch
    check taking different ids for one."""

    def _mix(self, a, b):
        import numpy as np
        return np.where(a & np.uint64(1), np.uint64(2 ** 64 - 1), np.uint64(0))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_IDS, max_size=30), max_size=25),
       st.sampled_from([1 << 18, 12, 1, 0]), st.sampled_from([2, 4, 64]), st.booleans())
def test_seen_ids_find_the_duplicates_a_set_finds(batches, exact, slots, crowded):
    # The first row with an id wins, in later batches and in the same one,
    # before the switch from the set to the table, across it and after it;
    # the table (from 2 slots, grown as it fills) must agree with a plain set.
    seen = (_Crowded if crowded else SeenIds)()
    seen.EXACT, seen.SLOTS = exact, slots
    ref: set = set()
    for batch in batches:
        flags = seen.duplicates(list(batch))
        want = []
        for eid in batch:
            want.append(eid is not None and eid in ref)
            if eid is not None:
                ref.add(eid)
        assert (flags if flags is not None else [False] * len(batch)) == want
        assert flags is None or any(flags)
    if exact < len(ref):
        assert seen._exact is None and seen._count == len(ref) == int((seen._b != 0).sum())
        # At most half full; at least a quarter after growing (grown for a
        # batch's ids before their duplicates are known: 30 at most here).
        assert 2 * seen._count <= len(seen._b) <= max(slots, 4 * (len(ref) + 30))


def test_a_long_log_puts_its_ids_in_the_table_from_the_first_batch(tmp_path):
    # A log guessed (from its size) to hold more ids than the set keeps
    # starts with the table, not the set (moving the set's ids over later
    # costs more than it saved); a short one, or standard input, with the
    # set. Either way the duplicates are those a set finds.
    from goaldsl.runtime.inputs import as_source

    class Small(SeenIds):
        EXACT, LINE = 10, 10

    long, short = tmp_path / "long.jsonl", tmp_path / "short.jsonl"
    long.write_bytes(b"x" * 111)
    short.write_bytes(b"x" * 100)
    assert Small.for_source(as_source(str(long)))._exact is None
    assert Small.for_source(as_source(str(short)))._exact == set()
    assert Small.for_source(as_source("-"))._exact == set()
    seen = Small(expected=11)
    assert seen._exact is None
    assert seen.duplicates(["a", "b", "a", None, None]) == [False, False, True, False, False]
    assert seen.duplicates(["c", "b"]) == [False, True]
    assert seen._count == 3


def test_a_table_is_first_made_for_the_ids_expected_up_to_a_bound():
    # A long log's table is made for the ids its size says will come, so it
    # is not doubled on the way (each doubling puts every id in again); up
    # to FIRST_MOST ids, so that a guess too high keeps no more than that.
    class Small(SeenIds):
        EXACT, SLOTS, FIRST_MOST = 10, 2, 100

    seen = Small(expected=40)
    assert seen.duplicates(["a", "b"]) is None
    first = seen._b
    assert len(first) >= 2 * 40
    ids = [f"e{i}" for i in range(38)]
    assert seen.duplicates(ids) is None and seen.duplicates(["a"] + ids[:1]) == [True, True]
    assert seen._b is first and seen._count == 40  # not grown: the 40 expected fit
    more = [f"f{i}" for i in range(len(first) // 2)]
    assert seen.duplicates(more) is None
    assert seen._b is not first and seen._count == 40 + len(more)  # more than it holds: grown, none lost
    assert seen.duplicates(["a", "e37", more[-1], "g"]) == [True, True, True, False]
    capped = Small(expected=10 ** 6)
    capped.duplicates(["a"])
    assert 2 * 100 <= len(capped._b) < 4 * 100  # the bound, not the guess


def test_ids_wanting_one_slot_with_one_first_value_are_all_kept():
    # Packed ids with the same first 8 bytes have one a-value: in one batch,
    # wanting one slot, each writes it, one keeps the slot and the others go
    # on to the next ones; none is lost (a later batch finds them all).
    for kind in (SeenIds, _Crowded):
        seen = kind()
        seen.EXACT, seen.SLOTS = 0, 2
        batch = ["x" * 8 + "a", "x" * 8 + "b", "x" * 14, "x" * 15, "x" * 16]
        assert seen.duplicates(batch) is None
        assert seen.duplicates(["new"] + batch[::-1]) == [False] + [True] * 5
        assert seen._count == 6


@settings(max_examples=100, deadline=None)
@given(st.lists(_IDS.filter(lambda x: x is not None), max_size=20))
def test_an_ids_key_is_the_same_in_any_batch(ids):
    # A batch of packed ids only, of hashed ids only, or mixed: an id has one
    # key whichever batch it comes in (else a repeat in another batch would
    # be missed), and different ids different keys.
    from goaldsl.runtime.inputs import _id_keys
    keys = list(zip(*(k.tolist() for k in _id_keys(ids)))) if ids else []
    for x, key in zip(ids, keys):
        assert tuple(k.tolist()[0] for k in _id_keys([x])) == key
    assert len(set(keys)) == len(set(ids))


def test_packed_and_hashed_keys_never_meet():
    # An id of at most 15 ASCII characters without NUL is its bytes (then a
    # 1 in the 16th byte): no hash; any other id is hashed, with b's top bit
    # set. No key has b == 0 (an empty slot).
    from goaldsl.runtime.inputs import _id_keys
    keys = list(zip(*(k.tolist() for k in _id_keys(_TRICKY_IDS))))
    packed = [len(x) <= 15 and x.isascii() and "\0" not in x for x in _TRICKY_IDS]
    for x, (ka, kb), p in zip(_TRICKY_IDS, keys, packed):
        if p:
            assert (ka | kb << 64).to_bytes(16, "little") == x.encode().ljust(15, b"\0") + b"\1"
        else:
            assert kb >> 63 == 1
    assert all(kb for _, kb in keys)


# ---------------------------------------------------------------- a batch read whole

from goaldsl.runtime.inputs import JsonlReader, column_times  # noqa: E402

USUAL = ['{"id": "e%d", "time": "2026-10-01T10:%02d:06+01:00", "contact": "c1", "type": "page.visited", "url": "/p"}',
         '{"time": "2026-10-01T09:00:00Z", "contact": "c2", "type": "appointment.status_changed", '
         '"appointment": "a", "status": "new", "calendar": "x"}',
         '{"id": "e%d", "time": "2026-10-01T10:%02d:06-05:00", "contact": "c1", "type": "contact.updated", '
         '"fields": {"stage": "SQL", "company": {"size": 3}}}',
         '{"type": "purchase.completed", "contact": "c3", "time": "2026-10-01T10:%02d:59Z", "amount": 2.5, '
         '"extra": null, "id": null}']
# Lines the whole batch must not take as usual: each is read line by line,
# and the batch's rows must be the ones that reading gives.
UNUSUAL = ['{"id": "x", "time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "page.visited", "url": "/a", '
           '"type": "email.opened"}',  # a repeated key: the last one counts
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "page.visited", "url": "/a"} '
           '{"time": "2026-10-01T10:00:07Z", "contact": "c1", "type": "page.visited", "url": "/b"}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1",\n "type": "page.visited", "url": "/a"}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "purchase.completed", "amount": 1, '
           '"product": null}',  # null means absent
           '{"time": "2026-10-01T10:00:06Z", "contact": 7, "type": "page.visited", "url": "/a", "id": 8}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "contact.updated", "fields": {"tags.0": "x"}}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "contact.updated", "fields": {"tags": null}}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "contact.updated", "fields": {"id": "c2"}}',
           '{"time": "2026-10-01T10:00:06.5Z", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "2026-10-31T23:59:59-05:00", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "2026-02-29T10:00:06Z", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "2026-10-01T10:61:06Z", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "8999-10-01T10:00:06Z", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "1969-12-31T10:00:06Z", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "2026-10-01T10:00:06+24:00", "contact": "c1", "type": "page.visited", "url": "/a"}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "", "type": "page.visited", "url": "/a"}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "page.visitd", "url": "/a"}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "page.visited", "url": 5}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "appointment.status_changed", '
           '"appointment": "a", "status": "nope"}',
           '{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "purchase.completed", "amount": true}',
           '', '   ', '[1]', '{not json', '"\\ud800"']


def _read_whole_and_line_by_line(events, nos, texts):
    """Reads the batch with JsonlReader.batch (also numbered) and with the
    line-by-line reader (_lines), asserts the rows and bad lines agree, and returns the
    line-by-line reader's (rows, bad lines)."""
    whole_bad: list = []
    got = JsonlReader(events, "events.jsonl", whole_bad).batch(nos, texts)
    plain_bad: list = []
    want = JsonlReader(events, "events.jsonl", plain_bad)._lines(zip(nos, texts))
    assert got.rows() == want
    assert whole_bad == plain_bad
    numbered = JsonlReader(events, "events.jsonl", [], numbered=True).batch(nos, texts)
    assert numbered.events == [row[:4] + row[5:] for row in want]  # each with its line (the workers' reader)
    return want, plain_bad


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(USUAL) - 1), st.integers(0, 59)), min_size=1, max_size=12),
       st.lists(st.sampled_from(UNUSUAL), max_size=2), st.randoms(use_true_random=False), st.booleans())
def test_a_batch_read_whole_gives_what_reading_it_line_by_line_gives(tmp_path_factory, usual, unusual, rnd, end):
    # JsonlReader.batch decides a batch at once when every line is of the
    # usual shape, else reads it line by line; either way its rows and bad
    # lines must be the line-by-line reader's (_lines).
    events = _events(tmp_path_factory.mktemp("ev"))
    lines = [USUAL[k] % ((i, m) if USUAL[k].count("%") == 2 else (m,)) if "%" in USUAL[k] else USUAL[k]
             for i, (k, m) in enumerate(usual)] + list(unusual)
    rnd.shuffle(lines)
    texts = [(line + "\n").encode() for line in lines]
    if not end:
        texts[-1] = texts[-1].rstrip(b"\n")
    nos = range(3, 3 + len(texts))
    _read_whole_and_line_by_line(events, nos, texts)
    if not unusual:
        assert JsonlReader(events, "e", [])._whole(nos, texts) is not None  # (the usual batch is read whole)


usual_time = st.builds(
    lambda mo, d, h, mi, s, tz: f"2026-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{tz}",
    st.sampled_from([2, 10]), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
    st.sampled_from(["+00:00", "-05:00", "+05:30", "+01:00", "-03:30"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(usual_time, min_size=1, max_size=30), st.lists(stamp, max_size=2), st.randoms(use_true_random=False))
def test_times_read_a_column_at_a_time_are_the_ones_read_one_by_one(times, odd, rnd):
    # column_times reads a batch's times at once, or gives None: then the
    # reader reads them one by one. Of the usual form, in one month, with
    # a few offsets, it must read them all.
    mixed = times + [t for t in odd if 20 <= len(t) <= 25]
    rnd.shuffle(mixed)
    one_by_one = EventTimes()
    for batch in (times, [t for t in times if t.endswith("Z")] or None, mixed):
        if batch is None:
            continue
        got = column_times(batch)
        if got is not None:
            assert got == [one_by_one(t) for t in batch]
        elif batch is times and len({t[:7] for t in times}) == 1:
            raise AssertionError(f"the usual times of one month were not read at once: {times}")
    utc = [t[:19] + "Z" for t in times]
    if len({t[:7] for t in utc}) == 1:
        assert column_times(utc) == [one_by_one(t) for t in utc]


def test_column_times_with_any_one_character_changed_read_what_the_reader_reads():
    # column_times checks the form of all the times at once (a stepped
    # slice per column; the digits, any other character made 0xFF, held
    # to their bounds in the lanes; the offset below a day, as
    # fromisoformat has it, "+00:60" an hour): with any one character of
    # a time changed it gives what EventTimes reads, or None.
    one_by_one = EventTimes()
    goods = ["2026-10-15T13:45:30+05:30", "2024-02-29T23:59:59-23:59", "2025-02-28T00:00:00Z",
             "8998-12-31T23:59:59-23:59", "1970-02-01T00:00:00Z", "2026-04-30T09:09:09+00:60"]
    for good in goods:
        assert column_times([good]) == [one_by_one(good)]
        for i in range(len(good)):
            for ch in [chr(c) for c in range(32, 127)] + ["\x00", "\xff", "\u0660", "\uff11"]:
                odd = good[:i] + ch + good[i + 1:]
                for batch in ([odd], [good, odd]):
                    got = column_times(batch)
                    if got is not None:
                        assert got == [_fast(one_by_one, t) for t in batch], batch
    assert column_times(["2026-02-29T00:00:00Z"]) is None and column_times(["2026-10-01T00:00:00+24:00"]) is None



def test_the_lanes_of_n_times_cut_from_a_power_of_two_are_those_made_for_n():
    # A worker's pieces come in many sizes: the lanes of n times are those of the next power of two, cut.
    from goaldsl.runtime.inputs import _lanes, _made_lanes
    for n in [*range(1, 70), 1000, 3999, 4095, 4096, 4097, 6000]:
        assert _lanes(n) == _made_lanes.__wrapped__(n), n


# ---------------------------------------------------------------- contacts a batch at a time

CONTACT_LINES = ['{"id": "c%d", "email": "x@example.com", "tags": ["lead"], "lists": [], "company": {"size": 5}}',
                 '{"id": "c%d", "lead_score": 3}',
                 '{"id": "c1"}',  # an id two lines have
                 '{"id": 7}', '{"id": ""}', '{"id": true}', '{"email": "x"}', '{"id": "c%d", "tags": null}',
                 '{"id": "c%d", "tags": [1]}', '{"id": "c%d", "lists": "x"}', '{"id": "c%d", "id": "c1"}',
                 '{"id": "c%d"} {"id": "q"}', '', '[1]', '{bad']


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(range(len(CONTACT_LINES))), min_size=1, max_size=12), st.booleans(),
       st.sampled_from([2, 3, 4096]))
def test_contacts_read_a_batch_at_a_time_as_one_by_one(tmp_path_factory, picks, bom, batch):
    # read_contacts takes a batch of the usual records whole (usual_contacts)
    # and checks any other record by record; the contacts and bad lines
    # must be the record-by-record reading's, whatever the batches.
    import goaldsl.runtime.inputs as inputs_module
    from goaldsl.runtime.inputs import _take_contacts, numbered_objects, read_contacts
    lines = [CONTACT_LINES[k].replace("%d", str(i)) for i, k in enumerate(picks)]
    data = ("\ufeff" if bom else "") + "\n".join(lines) + "\n"
    path = tmp_path_factory.mktemp("c") / "contacts.jsonl"
    path.write_text(data)
    old = inputs_module.BATCH
    inputs_module.BATCH = batch
    try:
        got = read_contacts(path, "contacts.jsonl")
    finally:
        inputs_module.BATCH = old
    want = Inputs()
    numbered = enumerate([line.encode() for line in lines], 1)
    _take_contacts("contacts.jsonl", ((no, obj, None) for no, obj in numbered_objects("contacts.jsonl", numbered,
                                                                                     want.bad)), {}, want)
    assert got.contacts == want.contacts
    assert got.bad == want.bad


ANY_PROGRAM = ('event probe.hit { s: string, r: any, a: any? }\nevent odd.hit { __dict__: string, __weakref__: any? }\n'
               + PROGRAM)


def test_a_batch_with_null_any_fields_or_dunder_names_is_read_as_line_by_line(tmp_path):
    """A field of kind ``any`` is any value but null (null means absent: a
    required one is a bad line, an optional one is dropped), and a field
    named ``__dict__`` (a name no msgspec record may have) leaves its type's
    lines to the line-by-line reader: the whole batch gives what that reader
    gives (it took the null, kept it, and stopped on the name)."""
    (tmp_path / "program.goal").write_text(ANY_PROGRAM)
    events = load_program(tmp_path / "program.goal").ir.events
    lines = ['{"time": "2026-10-01T10:00:06Z", "contact": "c1", "type": "probe.hit", "s": "x", "r": 5, "a": null}',
             '{"time": "2026-10-01T10:00:07Z", "contact": "c1", "type": "probe.hit", "s": "x", "r": null}',
             '{"time": "2026-10-01T10:00:08Z", "contact": "c1", "type": "probe.hit", "s": "x", "r": [null], "a": {}}',
             '{"time": "2026-10-01T10:00:09Z", "contact": "c1", "type": "odd.hit", "__dict__": "y"}']
    for picked in ([0], [1], [2], [3], [0, 2], [0, 1, 2, 3]):
        texts = [(lines[k] + "\n").encode() for k in picked]
        want, plain_bad = _read_whole_and_line_by_line(events, range(1, 1 + len(texts)), texts)
    assert [str(b) for b in plain_bad] == ['events.jsonl:2: probe.hit needs the field "r"']
    assert [row[3] for row in want] == [{"s": "x", "r": 5}, {"s": "x", "r": [None], "a": {}}, {"__dict__": "y"}]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-3, 3), max_size=12))
def test_in_time_order_is_never_going_back(times):
    # in_time_order compares the list with its sorted copy: the same answer
    # as every pair of neighbours in order, equal times included.
    from goaldsl.runtime.inputs import in_time_order
    assert in_time_order(times) == all(a <= b for a, b in zip(times, times[1:]))


def test_seen_ids_rows_without_an_id_are_never_duplicates():
    # The usual batch's two passes take None like any id, then drop it: rows
    # without an id, once or many times in a batch, are no one's duplicate.
    seen = SeenIds()
    assert seen.duplicates([None, "a", None, "b"]) is None
    assert seen.duplicates([None]) is None
    assert seen.duplicates(["c", None, "a", None, "c"]) == [False, False, True, False, True]
    assert seen._exact == {"a", "b", "c"}
