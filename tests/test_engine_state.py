"""The engine's state API: ``position()`` (where a contact is), and
``snapshot()`` / ``restore()`` (the whole run-time state as plain data)."""
from __future__ import annotations

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
