"""The engine's state API: ``position()`` (where a contact is), and
``snapshot()`` / ``restore()`` (the whole run-time state as plain data)."""
from __future__ import annotations

import json

import pytest

from engine_helpers import T, ev, run
from goaldsl.runtime.inputs import InputError
from goaldsl.runtime.plan import GoalStep, Wait, WaitUntil

STEPS = '''
workflow "W" {
    evaluate every 1 hour
    audience "lead" in contact.tags
    send_email("hi") as hello
    wait 2 days as pause
    goal "Demo" {
        when appointment.status_changed(status == confirmed)
        on unmet wait up to 3 days then end
    }
    wait until contact.stage == "SQL" up to 1 day
    goals { goal "Bought" { when purchase.completed } }
}
'''


def test_position_follows_a_contact_through_waits_and_a_goal_step():
    r = run(STEPS, [{"id": "c1", "tags": ["lead"]}, {"id": "c2", "tags": []}], [],
            start="2026-11-02T10:00", until="2026-11-02T10:30")
    eng = r.engine
    assert eng.position("W", "c2") is None  # never enrolled
    p = eng.position("W", "c1")
    assert (p.workflow, p.contact, p.enrollment, p.since) == ("W", "c1", 1, T("2026-11-02T10:00"))
    assert (p.step_index, p.step, p.waiting) == (2, "pause", "wait")
    assert isinstance(p.instruction, Wait) and p.instruction.name == "pause"
    assert p.due == T("2026-11-04T10:00") and p.resumes_at == T("2026-11-04T10:00")
    assert (p.at_goal, p.listening, p.achieved) == (None, ("Demo",), frozenset())

    eng.run_until(T("2026-11-04T10:00"))  # the wait ends; the goal step is unmet: wait up to 3 days
    p = eng.position("W", "c1")
    assert (p.step_index, p.step, p.waiting, p.at_goal, p.listening) == (3, "Demo", "goal", "Demo", ("Demo",))
    assert isinstance(p.instruction, GoalStep) and p.due == T("2026-11-07T10:00")

    eng.add_event(T("2026-11-04T11:30"), "c1", "appointment.status_changed",
                  {"appointment": "a1", "status": "confirmed"})
    eng.run_until(T("2026-11-04T12:00"))  # achieved at the 12:00 tick, then on to the condition wait
    p = eng.position("W", "c1")
    assert (p.step_index, p.waiting, p.at_goal, p.listening, p.achieved) == (4, "condition", None, (), {"Demo"})
    assert isinstance(p.instruction, WaitUntil) and p.due == T("2026-11-05T12:00")

    with pytest.raises(InputError, match='there is no workflow "No such workflow"'):
        eng.position("No such workflow", "c1")


def test_position_of_a_contact_past_a_goal_step_it_did_not_meet():
    prog = STEPS.replace("on unmet wait up to 3 days then end", "on unmet continue")
    r = run(prog, [{"id": "c1", "tags": ["lead"]}], [], start="2026-11-02T10:00", until="2026-11-04T10:00")
    p = r.engine.position("W", "c1")
    assert (p.step_index, p.waiting, p.listening, p.achieved) == (4, "condition", (), frozenset())
    assert p.resumes_at == T("2026-11-05T10:00")


# ---------------------------------------------------------------- snapshot and restore

from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from goaldsl.runtime.engine import Engine, EngineError  # noqa: E402
from goaldsl.runtime.output import jsonl_line  # noqa: E402
from goaldsl.runtime.snapshot import SnapshotError  # noqa: E402
from test_engine_property import START, UNTIL, compile_program, describe, logs, programs  # noqa: E402


def _fed(plan, contacts, events, start, **kw) -> Engine:
    eng = Engine(plan, start=start, **kw)
    for rec in contacts:
        eng.add_contact(json.loads(json.dumps(rec)))
    for t, cid, typ, fields in events:
        eng.add_event(t, cid, typ, json.loads(json.dumps(fields)))
    return eng


def _run_in_pieces(plan, contacts, events, cuts, *, via_bytes: bool, restore_kw=None,
                   **kw) -> tuple[list[str], dict]:
    """Run to each cut, snapshot, restore into a fresh engine (built with
    ``restore_kw`` if given), go on."""
    eng = _fed(plan, contacts, events, START, **kw)
    out: list[str] = []
    try:
        for cut in sorted(cuts) + [UNTIL]:
            eng.run_until(cut)
            out += [jsonl_line(e) for e in eng.activity]
            data = eng.dump() if via_bytes else eng.snapshot()
            eng = Engine.restore(plan, data, **(kw if restore_kw is None else restore_kw))
    except EngineError as exc:  # e.g. workflows setting each other off: both runs must stop alike
        return out + [jsonl_line(e) for e in eng.activity] + [f"error: {exc}"], None
    return out, eng.snapshot()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.lists(st.integers(START, UNTIL), max_size=4), st.booleans(), st.booleans(),
       st.booleans())
def test_a_run_restored_from_snapshots_is_the_uninterrupted_run(text, log, cuts, via_bytes, exhaustive, lean):
    # ``lean``: the engine of goal run (keep_history=False), whose snapshot
    # holds its lean history (times of matching events, fields filters read).
    contacts, events = log
    note(describe(text, contacts, events))
    plan = compile_program(text)
    kw = dict(exhaustive=exhaustive, keep_history=not lean)
    whole, end = _run_in_pieces(plan, contacts, events, [], via_bytes=False, **kw)
    pieces, end2 = _run_in_pieces(plan, contacts, events, cuts, via_bytes=via_bytes, **kw)
    assert pieces == whole
    assert end2 == end  # the same state at the end, to the last event and schedule number


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.lists(st.integers(START, UNTIL), min_size=1, max_size=3))
def test_a_full_snapshot_restored_into_a_lean_engine_goes_on_as_the_uninterrupted_run(text, log, cuts):
    # The events of a full history are recorded into the lean one as the
    # engine restores it.
    contacts, events = log
    note(describe(text, contacts, events))
    plan = compile_program(text)
    whole, _ = _run_in_pieces(plan, contacts, events, [], via_bytes=False)
    pieces, _ = _run_in_pieces(plan, contacts, events, cuts, via_bytes=True, restore_kw=dict(keep_history=False))
    assert pieces == whole


def test_a_lean_snapshot_restores_only_where_its_history_is_enough():
    prog = STEPS.replace("when purchase.completed", 'when page.visited(url == "/a") at least 2 times')
    contacts = [{"id": "c1", "tags": ["lead"]}]
    events = [(T("2026-11-02T10:0%d" % k), "c1", "page.visited", {"url": "/a"}) for k in range(5)]
    eng = _fed(compile_program(prog), contacts, events, T("2026-11-02T10:00"), keep_history=False)
    eng.run_until(T("2026-11-02T10:30"))
    data = eng.snapshot()
    assert data["history"] == "lean" and list(data["contacts"][0]["times"].values()) == [
        [T("2026-11-02T10:03"), T("2026-11-02T10:04")]]  # the latest two: what "at least 2" can tell apart
    assert Engine.restore(compile_program(prog), data, keep_history=False).snapshot() == data
    with pytest.raises(SnapshotError, match="restore it into an engine with keep_history=False"):
        Engine.restore(compile_program(prog), data)
    more = prog.replace("at least 2 times", "at least 3 times")  # needs a third time, which was not kept
    with pytest.raises(SnapshotError, match="does not keep what the count"):
        Engine.restore(compile_program(more), data, keep_history=False)
    assert Engine.restore(compile_program(prog.replace("at least 2 times", "at least 1 time")), data,
                          keep_history=False).contacts["c1"].events


def test_snapshot_is_plain_data_and_a_copy():
    r = run(STEPS, [{"id": "c1", "tags": ["lead"], "company": {"size": 5}}], [],
            start="2026-11-02T10:00", until="2026-11-02T10:30")
    data = r.engine.snapshot()

    def plain(v) -> bool:
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (str, int, float, bool))

    assert plain(data) and (data["format"], data["version"]) == ("goal-engine", 1)
    data["contacts"][0]["attributes"]["company"]["size"] = 99  # changes the copy only
    assert r.engine.contacts["c1"].attrs["company"] == {"size": 5}
    restored = Engine.restore(r.engine.plan, data)
    data["contacts"][0]["attributes"]["tags"].append("x")  # the restored engine has its own copy too
    assert restored.contacts["c1"].attrs["tags"] == ["lead"]


def test_contact_updates_do_not_share_values_with_the_event_history():
    """A value set by contact.updated is the contact's own: a later update of
    a path inside it does not change the stored event (a snapshot holds the
    two separately, so they must be separate in the running engine too)."""
    r = run(STEPS, [{"id": "c1", "tags": []}],
            [ev("2026-11-02T10:05", "c1", "contact.updated", fields={"company": {"size": 5}, "tags": ["a"]}),
             ev("2026-11-02T10:06", "c1", "contact.updated", fields={"company.size": 9}),
             ev("2026-11-02T10:07", "c1", "tag.added", tag="b")],
            start="2026-11-02T10:00", until="2026-11-02T10:30")
    c = r.engine.contacts["c1"]
    assert c.attrs["company"] == {"size": 9} and c.attrs["tags"] == ["a", "b"]
    assert c.events["contact.updated"][0][1] == {"fields": {"company": {"size": 5}, "tags": ["a"]}}
    again = Engine.restore(r.engine.plan, r.engine.snapshot())
    assert again.snapshot() == r.engine.snapshot()


def test_actions_whose_handler_failed_are_in_the_snapshot_and_delivered_after_restore():
    calls = []

    def flaky(req):
        calls.append(req.id)
        if len(calls) == 1:
            raise RuntimeError("mail server down")

    prog = STEPS
    r = run(prog, [{"id": "c1", "tags": ["lead"]}], [], start="2026-11-02T10:00", until="2026-11-02T10:00")
    eng = Engine(r.engine.plan, start=T("2026-11-02T10:00"), handlers={"send_email": flaky})
    eng.add_contact({"id": "c1", "tags": ["lead"]})
    with pytest.raises(EngineError, match="mail server down"):
        eng.run_until(T("2026-11-02T10:30"))
    assert [x.id for x in eng.undelivered] == calls
    data = eng.snapshot()
    assert [(u["action"], u["attempts"]) for u in data["undelivered"]] == [("send_email", 1)]
    # Restored with the handler: it is called again first; without one, the action is only recorded.
    assert Engine.restore(eng.plan, data).undelivered == []
    again = Engine.restore(eng.plan, data, handlers={"send_email": flaky})
    again.run_until(T("2026-11-02T11:00"))
    assert calls == [calls[0], calls[0]] and again.undelivered == []


REENTRY = '''
workflow "Again" {
    evaluate on event
    enroll when page.visited
    allow reentry after 12 hours
    send_email("hi")
    wait 1 hour
}
'''


def test_reentry_after_a_quiet_period_survives_a_snapshot():
    """`allow reentry after D` remembers when each contact's latest
    enrollment began; a restored engine must know it too (restored without
    it, c1 would enroll again at the second event)."""
    plan = compile_program(REENTRY)
    hour = 3600
    events = [(START + 60, "c1", "page.visited", {"url": "/a"}),
              (START + 6 * hour, "c1", "page.visited", {"url": "/b"}),  # too soon: not enrolled
              (START + 20 * hour, "c1", "page.visited", {"url": "/c"})]  # quiet long enough: enrolled again
    whole, end = _run_in_pieces(plan, [{"id": "c1"}], events, [], via_bytes=False)
    assert [json.loads(x)["type"] for x in whole].count("enrolled") == 2
    pieces, end2 = _run_in_pieces(plan, [{"id": "c1"}], events, [START + 3 * hour], via_bytes=True)
    assert pieces == whole and end2 == end
    assert end["workflows"][0]["began"] == {"c1": START + 20 * hour}
