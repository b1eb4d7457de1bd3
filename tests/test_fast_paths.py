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
    "time": st.integers(0, 4_000_000_000), "contact": st.sampled_from(["c1", "c\u00e9"]), "workflow": st.just("W"),
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


# ---------------------------------------------------------------- repeated ids

from goaldsl.runtime.inputs import SeenIds  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.sampled_from([f"e{i}" for i in range(40)]) | st.text(max_size=6)),
                         max_size=30), max_size=25),
       st.sampled_from([1 << 18, 12, 0]))
def test_seen_ids_find_the_duplicates_a_set_finds(batches, exact):
    # The first row with an id wins, in later batches and in the same one;
    # past ``EXACT`` ids the digests (and their merged runs) must agree
    # with a plain set of the ids.
    seen = SeenIds()
    seen.EXACT = exact
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
        assert seen._exact is None and sum(len(a) for a, _ in seen._runs) == len(ref)  # 16 bytes an id


def test_seen_ids_compare_the_second_value_when_first_values_collide():
    # Ids whose first 64-bit values are equal are told apart by the second.
    import numpy as np
    from goaldsl.runtime.inputs import _in_run
    ra, rb = np.array([5, 7, 7, 7, 9], dtype=np.int64), np.array([1, 2, 3, 4, 1], dtype=np.int64)
    a, b = np.array([5, 5, 7, 7, 8], dtype=np.int64), np.array([1, 2, 3, 9, 1], dtype=np.int64)
    assert _in_run(ra, rb, a, b).tolist() == [True, False, True, False, False]
