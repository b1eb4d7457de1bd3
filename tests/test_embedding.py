"""The embedding API as a host uses it: load, feed, advance, read."""
from __future__ import annotations

import pytest

import goaldsl

PROGRAM = '''
workflow "Welcome" {
    evaluate on event
    enroll when form.submitted
    send_email("welcome")
    wait 1 day
    send_email("tips")
    goals { goal "Bought" { when purchase.completed } }
}
'''


@pytest.fixture
def program(tmp_path):
    (tmp_path / "program.goal").write_text(PROGRAM)
    return goaldsl.load_program(tmp_path / "program.goal")


def test_run_goes_to_the_last_event_fed(program):
    t = goaldsl.parse_time
    sent = []
    eng = goaldsl.Engine(program.plan, start=t("2026-11-02T00:00Z"), handlers={"send_email": sent.append})
    eng.add_contact({"id": "c1"})
    eng.add_event(t("2026-11-02T10:00Z"), "c1", "form.submitted", {"form": "f"})
    eng.add_event(t("2026-11-03T09:00Z"), "c1", "page.visited", {"url": "/"})
    assert eng.run() == t("2026-11-03T09:00Z")
    # the wait of 1 day ends at 11-03 10:00, after the end of the log
    assert [(r.args["template"], r.time) for r in sent] == [("welcome", t("2026-11-02T10:00Z"))]
    assert [e["type"] for e in eng.activity] == ["enrolled", "action"]
    # feeding more and running again goes on from there
    eng.add_event(t("2026-11-03T12:00Z"), "c1", "purchase.completed", {"amount": 5})
    assert eng.run() == t("2026-11-03T12:00Z")
    # the wait ended at 10:00 on the way: "tips", then the last step is done;
    # the purchase at 12:00 comes after the contact left
    assert [(e["type"], e.get("action") or e.get("reason"), e["time"]) for e in eng.activity[2:]] == [
        ("action", "send_email", t("2026-11-03T10:00Z")), ("exited", "completed", t("2026-11-03T10:00Z"))]
    assert sent[-1].args == {"template": "tips"}
    assert eng.run() == t("2026-11-03T12:00Z")  # nothing queued: stays


def test_load_program_raises_goal_error_with_every_diagnostic(tmp_path):
    (tmp_path / "bad.goal").write_text('workflow "W" {\n    enroll when email.opend\n    send_emial("x")\n}\n')
    with pytest.raises(goaldsl.GoalError) as e:
        goaldsl.load_program(tmp_path / "bad.goal")
    assert [d.code for d in e.value.diagnostics] == ["E0303", "E0501"]
    assert "bad.goal:2:17: error[E0303]" in str(e.value)
