"""The partition kernel (runtime/partition.py): the engine over some of the
contacts gives exactly what a run over all of them gives for those
contacts (docs/scale.md)."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from goaldsl.runtime.engine import Engine, EngineError
from goaldsl.runtime.output import jsonl_line
from goaldsl.runtime.partition import PartitionRun, partition_of, run_partition, run_partitioned

from test_engine_property import START, UNTIL, compile_program, describe, logs, programs
from test_cli_run import PING_PONG


class _Compiled:
    """What the kernel needs of a Program: its plan."""

    def __init__(self, text: str):
        self.plan = compile_program(text)


def _copy(x):
    return json.loads(json.dumps(x))


def whole(text: str, contacts, events, *, start: int = START) -> list[str]:
    """The reference: one engine over the whole log, every event kept, then
    where everyone still enrolled waits."""
    eng = Engine(compile_program(text), start=start)
    for rec in _copy(contacts):
        eng.add_contact(rec)
    for t, cid, typ, fields in _copy(events):
        eng.add_event(t, cid, typ, fields)
    try:
        eng.run_until(UNTIL)
    except EngineError as exc:
        return [jsonl_line(e) for e in eng.activity] + [f"error: {exc}"]
    return [jsonl_line(e) for e in eng.activity + eng.waiting_entries()]


def kernel(text: str, contacts, events, *, start: int = START) -> list[str]:
    out: list[str] = []
    try:
        for e in run_partition(_Compiled(text), _copy(contacts), _copy(events), start=start, until=UNTIL):
            out.append(jsonl_line(e))
    except EngineError as exc:
        out.append(f"error: {exc}")
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.sampled_from([0, 0, 1, 90]))
def test_one_partition_is_the_whole_run(text, log, late_start):
    contacts, events = log
    start = START + late_start
    note(describe(text, contacts, events, start))
    assert kernel(text, contacts, events, start=start) == whole(text, contacts, events, start=start)


def test_events_out_of_order_are_refused():
    text = 'workflow "W" {\n    evaluate on event\n    enroll when form.submitted\n    send_email("a")\n}\n'
    run = PartitionRun(_Compiled(text), start=START)
    run.feed([(START + 10, "c1", "form.submitted", {"form": "f"})])
    try:
        run.feed([(START + 5, "c1", "form.submitted", {"form": "f"})])
    except ValueError as e:
        assert "time order" in str(e)
    else:
        raise AssertionError("an event earlier than the last one fed was accepted")


def test_a_partition_takes_in_only_the_contacts_it_owns():
    """``owns``: a contact an event brings with no record here is checked
    once, as the engine meets it; one not the partition's stops the run."""
    from goaldsl.runtime.engine import ForeignContact
    text = 'workflow "W" {\n    evaluate on event\n    enroll when form.submitted\n    send_email("a")\n}\n'
    asked: list[str] = []

    def owns(cid: str) -> bool:
        asked.append(cid)
        return cid != "c9"

    run = PartitionRun(_Compiled(text), [(0, {"id": "c9"})], start=START, keyed=True, owns=owns)
    ev = [(START + k, cid, "form.submitted", {"form": "f"}, k) for k, cid in enumerate(["c9", "c1", "c1", "c2"])]
    run.feed(ev)
    run.finish(UNTIL)
    assert asked == ["c1", "c2"]  # c9 has its record here; c1 is asked once
    run = PartitionRun(_Compiled(text), [], start=START, keyed=True, owns=owns)
    try:
        run.feed(ev + [(START + 9, "c3", "form.submitted", {"form": "f"}, 9)])
    except ForeignContact as e:
        assert str(e) == "c9"
    else:
        raise AssertionError("an event of a contact the partition does not own was taken in")


def partitioned(text: str, contacts, events, partitions: int, *, start: int = START) -> list[str]:
    out: list[str] = []
    try:
        for e in run_partitioned(_Compiled(text), _copy(contacts), _copy(events), start=start, until=UNTIL,
                                 partitions=partitions):
            out.append(jsonl_line(e))
    except EngineError as exc:
        out.append(f"error: {exc}")
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.sampled_from([0, 0, 1, 90]), st.sampled_from([2, 3, 5]))
def test_hash_partitions_merge_into_the_whole_run(text, log, late_start, partitions):
    """Every contact's entries from its own partition, merged by their order
    keys: the very lines, in the very order, of one engine over everyone."""
    contacts, events = log
    start = START + late_start
    note(describe(text, contacts, events, start))
    assert partitioned(text, contacts, events, partitions, start=start) == kernel(text, contacts, events, start=start)


def test_partitions_split_the_contacts():
    ids = [f"c{i}" for i in range(1000)]
    parts = [partition_of(c, 4) for c in ids]
    assert set(parts) == {0, 1, 2, 3}
    assert all(parts.count(k) > 150 for k in range(4))
    assert partition_of("c1", 4) == partition_of("c1", 4)  # not Python's salted hash
    assert partition_of("\udc80", 3) in (0, 1, 2)  # a lone surrogate, as a log may hold


LOOP = '''
workflow "Mail" {
    evaluate on event
    enroll when page.visited
    allow reentry
    send_email("hello")
    wait 1 hour
    send_email("again")
}
''' + PING_PONG


def test_a_partition_that_loops_fails_the_run_as_one_process_fails():
    """One contact's workflows set each other off forever at one instant:
    one process writes everything up to and including that instant (every
    round it ran, every other contact's work there) and stops with the
    round-limit message. Partitioned, the same lines and the same message."""
    contacts = [{"id": f"c{i}"} for i in range(1, 9)]
    events = [(START + 60, f"c{i}", "page.visited", {"url": "/a"}) for i in range(1, 9)]
    events += [(START + 1800, "c5", "tag.added", {"tag": "pong"}),
               (START + 1800, "c2", "page.visited", {"url": "/b"}),
               (START + 7200, "c3", "page.visited", {"url": "/c"})]
    one = kernel(LOOP, contacts, events)
    assert one[-1].startswith("error: at 2026-10-31T22:30:00Z workflows kept acting") and len(one) > 200
    assert not any('"waiting"' in line for line in one)
    for n in (2, 3, 5):
        assert partitioned(LOOP, contacts, events, n) == one


def _keys(draw_from):
    ints = st.integers(-(1 << 40), 1 << 62)
    return st.recursive(ints, lambda inner: st.lists(inner, max_size=5).map(tuple), max_leaves=12)


@given(st.lists(st.tuples(st.integers(-(1 << 40), 1 << 62), _keys(None)), min_size=2, max_size=6))
def test_key_bytes_sort_as_the_keys(keys):
    """Keys as they are built: tuples whose items at one place are all
    integers or all tuples once the places before them are equal."""
    from goaldsl.runtime.order import key_bytes
    ok = []
    for k in keys:
        try:
            sorted(ok + [k])
        except TypeError:  # not comparable with the others: not a key set the engine makes
            continue
        ok.append(k)
    assert sorted(ok) == sorted(ok, key=key_bytes)
    assert len({key_bytes(k) for k in ok}) == len(set(ok))


_SMALL = st.integers(-1, 1 << 20)
_TIMES = st.integers(0, 1 << 40)


@st.composite
def _made_keys(draw, depth: int = 0):
    """A key as the engine makes it (runtime/order.py), with the tuple it
    stands for: an entry's, whose turn a contact's rank, an event's key or
    another entry's; an input event's; a waiting entry's."""
    from goaldsl.runtime import order
    kind = draw(st.sampled_from(["entry", "event", "waiting"] if depth < 2 else ["event"]))
    if kind == "event":
        t, seq = draw(_TIMES), draw(st.integers(0, 1 << 40))
        # (the engine keeps an input event as the event itself, time first and seq last, and makes its key
        # when it is needed)
        event = draw(st.sampled_from([(t, seq), (t, "c1", "ping", {}, seq)]))
        return (order.event_key(t, seq) if draw(st.booleans()) else order.cause_key(event)), (t, -1, seq)
    if kind == "waiting":
        index = draw(st.integers(0, 50))
        made, key = draw(_made_keys(depth + 1))
        return order.waiting_key(index, made), (order.WAITING, index, key)
    whose = draw(st.sampled_from(["rank", "caused", "enrolled"]))
    if whose == "rank":
        rank = draw(_SMALL)
        w_made = order.rank_key(rank) if draw(st.booleans()) else order.pair_key(0, order.ints_key(0, rank))
        w_key = (0, (0, rank))
    elif whose == "caused" and depth < 2 and draw(st.booleans()):  # an enrollment by an input event (caused_key)
        t, seq = draw(_TIMES), draw(st.integers(0, 1 << 40))
        w_made, w_key = order.caused_key(draw(st.sampled_from([(t, seq), (t, "c1", "ping", {}, seq)]))), (1, (t, -1, seq))
    else:
        made, key = draw(_made_keys(depth + 1))
        w_made, w_key = (order.caused_key(made) if draw(st.booleans()) else order.pair_key(1, made), (1, key)) \
            if whose == "caused" else (made, key)
    t, rnd, turn, phase, n = draw(_TIMES), draw(st.integers(0, 2000)), draw(st.integers(-1, 1100)), draw(
        st.integers(0, 1)), draw(st.integers(1, 1 << 20))
    return order.entry_key(t, rnd, turn, phase, w_made, n), (t, rnd, turn, phase, w_key, n)


@given(st.lists(_made_keys(), min_size=2, max_size=8))
def test_the_keys_the_engine_makes_are_the_bytes_of_their_tuples(made):
    # Each key is made as bytes that are key_bytes of the tuple it stands
    # for, so they sort as the tuples do (above), and its time is the tuple's first item.
    from goaldsl.runtime.order import key_bytes, key_time
    for b, k in made:
        assert b == key_bytes(k) and key_bytes(b) == b
        assert key_time(b) == k[0]
    ok = []
    for b, k in made:
        try:
            sorted([k2 for _, k2 in ok] + [k])
        except TypeError:  # not comparable with the others: not a key set the engine makes
            continue
        ok.append((b, k))
    assert [k for _, k in sorted(ok, key=lambda p: p[1])] == [k for _, k in sorted(ok, key=lambda p: p[0])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=6), max_size=5),
                min_size=1, max_size=4))
def test_the_merge_of_batches_is_the_merge_of_entries(streams):
    """``merge`` a batch at a time gives what merging entry by entry gives:
    key order, and of equal keys (across streams too) the earlier stream's
    first; batches of any size, empty ones, streams with nothing."""
    import heapq
    from goaldsl.runtime.partition import merge, pairs_of
    parts = []
    for i, batches in enumerate(streams):
        keys = sorted(k for b in batches for k in b)
        entries = [(i, n) for n in range(len(keys))]
        cut, at = [], 0
        for b in batches:
            cut.append((keys[at:at + len(b)], entries[at:at + len(b)]))
            at += len(b)
        parts.append(cut)
    expected = list(heapq.merge(*[pairs_of(p) for p in parts], key=lambda pair: pair[0]))
    got = list(merge(parts))
    assert list(pairs_of(got)) == expected
    assert all(keys for keys, _ in got)


@given(st.lists(st.tuples(st.sampled_from(["t", "round", "turn", "phase", "key"]), st.integers(0, 1100),
                          st.sampled_from([0, 1, (1 << 40)])), max_size=40))
def test_the_engines_keys_are_the_keys_of_its_parts(steps):
    # The engine joins a key from parts it keeps while they hold (its instant,
    # round and turn); whatever changes between two keys, each is the key of
    # the parts it has then (order.entry_key), also past the table of small integers.
    from goaldsl.runtime import order
    eng = PartitionRun(_Compiled(PING_PONG), [], start=START, keyed=True).engine
    eng._phase, eng._whose = 0, order.ints_key(0, 3)
    t = START
    for what, v, big in steps:
        if what == "t":
            t = START + v + big
        elif what == "round":
            eng._round, eng._key_head = v, None  # (as the engine does when it sets them)
        elif what == "turn":
            eng._turn, eng._key_head = v - 1, None
        elif what == "phase":
            eng._phase, eng._whose, eng._n = v % 2, order.pair_key(1, order.event_key(t, v)), v
        n = eng._n + 1
        assert eng._next_key(t) == order.entry_key(t, eng._round, eng._turn, eng._phase, eng._whose, n)
