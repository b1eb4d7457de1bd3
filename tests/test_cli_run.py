"""`goal run` and `goal eval` (docs/spec.md sections 8 and 9).

`--format jsonl` is a contract: the lines are checked object by object
against hand-computed entries. `--format table` is for people: the activity,
then per workflow the enrolled count, each goal's achievements, conversion
and median time from enrollment to goal, and the exits by reason. `goal
eval` prints `true` or `false` alone on its first line, then the events that
matched. Exit codes: 0 done, 1 errors in the program or the input (or a run
that cannot go on), 2 a command-line mistake.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from goaldsl.cli import main

PROGRAM = '''
workflow "Demo" {
    enroll when form.submitted
    send_email("welcome") as welcome
    wait 1 day
    goals {
        goal "Booked" {
            when appointment.status_changed(status == confirmed)
            then { update_contact(stage: "SQL") }
            then if contact.size >= 500 { add_tag("enterprise") }
        }
    }
}

workflow "Nurture" {
    evaluate on event
    enroll when form.submitted
    goal "Opened" {
        when email.opened
        on unmet wait up to 1 day then end
    }
    wait 2 days
}

workflow "Idle" {
    audience "never" in contact.tags
    send_email("x")
    goals { goal "Never" { when purchase.completed } }
}
'''

CONTACTS = [{"id": "c1", "size": 800}, {"id": "c2", "size": 10}, {"id": "c3"}]

EVENTS = [
    {"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"},
    {"time": "2026-11-16T14:00:00Z", "contact": "c2", "type": "form.submitted", "form": "f"},
    {"time": "2026-11-16T09:00:00-05:00", "contact": "c3", "type": "form.submitted", "form": "f"},  # 14:00Z
    {"time": "2026-11-16T15:00:00Z", "contact": "c1", "type": "email.opened", "email": "welcome"},
    {"time": "2026-11-16T16:02:00Z", "contact": "c1", "type": "appointment.status_changed", "appointment": "a1",
     "status": "confirmed"},
    {"time": "2026-11-16T20:00:00Z", "contact": "c2", "type": "appointment.status_changed", "appointment": "a2",
     "status": "confirmed"},
    {"time": "2026-11-18T00:00:00Z", "contact": "c3", "type": "page.visited", "url": "/x"},
]


def jl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def folder(write):
    write("demo/program.goal", PROGRAM)
    write("demo/contacts.jsonl", jl(CONTACTS))
    write("demo/events.jsonl", jl(EVENTS))
    return write


@pytest.fixture
def goal(capsys):
    """goal(*argv) -> (exit code, stdout, stderr), run in process."""

    def _goal(*argv: str):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _goal


# ---------------------------------------------------------------- jsonl

def E(time, contact, workflow, type, **more):
    return {"time": f"2026-11-{time}Z", "contact": contact, "workflow": workflow, "type": type, **more}


def test_jsonl_is_the_activity_stream_of_section_8(folder, goal):
    code, out, err = goal("run", "demo", "--format", "jsonl")
    assert code == 0 and err == ""
    lines = out.splitlines()
    entries = [json.loads(line) for line in lines]
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["time"])  # UTC, Z, to the second
    ids = [e.pop("id") for e in entries if e["type"] == "action"]
    assert len(ids) == len(set(ids))  # one id per action
    sent = {"action": "send_email", "args": {"template": "welcome"}, "step": "welcome"}
    assert entries == [
        # 14:00 is a tick of Demo (every 5 minutes) and an event instant of
        # Nurture: Demo acts first (source order): enrollments, then steps
        E("16T14:00:00", "c1", "Demo", "enrolled"),
        E("16T14:00:00", "c2", "Demo", "enrolled"),
        E("16T14:00:00", "c3", "Demo", "enrolled"),
        E("16T14:00:00", "c1", "Demo", "action", **sent),
        E("16T14:00:00", "c2", "Demo", "action", **sent),
        E("16T14:00:00", "c3", "Demo", "action", **sent),
        E("16T14:00:00", "c1", "Nurture", "enrolled"),
        E("16T14:00:00", "c2", "Nurture", "enrolled"),
        E("16T14:00:00", "c3", "Nurture", "enrolled"),
        # on event: the open is seen at its own instant; continue -> wait 2 days
        # (`at`: the goal step, 1st; `via`: it waited there for the open)
        E("16T15:00:00", "c1", "Nurture", "goal_achieved", goal="Opened", at=1, via="waited"),
        # the appointment at 16:02 is seen at the 16:05 tick; the global
        # action, then the conditional one (size 800 >= 500)
        E("16T16:05:00", "c1", "Demo", "goal_achieved", goal="Booked", at=2),
        E("16T16:05:00", "c1", "Demo", "action", action="update_contact", args={"stage": "SQL"}, goal="Booked"),
        E("16T16:05:00", "c1", "Demo", "action", action="add_tag", args={"tag": "enterprise"}, goal="Booked"),
        E("16T16:05:00", "c1", "Demo", "exited", reason="goal", goal="Booked", at=2),
        E("16T20:00:00", "c2", "Demo", "goal_achieved", goal="Booked", at=2),
        E("16T20:00:00", "c2", "Demo", "action", action="update_contact", args={"stage": "SQL"}, goal="Booked"),
        E("16T20:00:00", "c2", "Demo", "exited", reason="goal", goal="Booked", at=2),
        # one day after 14:00: Demo's wait ends (c3 completes), Nurture's
        # limits run out for c2 and c3
        E("17T14:00:00", "c3", "Demo", "exited", reason="completed", at=2),
        E("17T14:00:00", "c2", "Nurture", "goal_missed", goal="Opened", policy="end", at=1),
        E("17T14:00:00", "c2", "Nurture", "exited", reason="unmet", goal="Opened", at=1),
        E("17T14:00:00", "c3", "Nurture", "goal_missed", goal="Opened", policy="end", at=1),
        E("17T14:00:00", "c3", "Nurture", "exited", reason="unmet", goal="Opened", at=1),
        # c1 is still waiting in Nurture (at its 2nd step) when the run ends
        # (--until: the latest event, 18T00:00): the stream ends with where it is
        E("18T00:00:00", "c1", "Nurture", "waiting", at=2),
    ]
    # one compact JSON object per line, nothing else on stdout
    assert all(line.startswith("{") and line.endswith("}") for line in lines)


def test_jsonl_is_the_default_when_stdout_is_not_a_terminal(folder, goal):
    code, out, _ = goal("run", "demo")
    assert code == 0
    assert json.loads(out.splitlines()[0]) == E("16T14:00:00", "c1", "Demo", "enrolled")


def test_from_and_until_bound_the_run(folder, goal):
    # --until 16:05 inclusive: Booked for c1 at 16:05 is in, c2's at 20:00 is not
    code, out, _ = goal("run", "demo", "--format", "jsonl", "--until", "2026-11-16T16:05:00Z")
    assert code == 0
    entries = [json.loads(line) for line in out.splitlines()]
    acted = [e for e in entries if e["type"] != "waiting"]
    assert acted[-1] == E("16T16:05:00", "c1", "Demo", "exited", reason="goal", goal="Booked", at=2)
    # then where everyone still in is at 16:05
    assert [(e["time"], e["workflow"], e["contact"], e["at"]) for e in entries[len(acted):]] == [
        ("2026-11-16T16:05:00Z", "Demo", "c2", 2), ("2026-11-16T16:05:00Z", "Demo", "c3", 2),
        ("2026-11-16T16:05:00Z", "Nurture", "c1", 2), ("2026-11-16T16:05:00Z", "Nurture", "c2", 1),
        ("2026-11-16T16:05:00Z", "Nurture", "c3", 1)]
    # --from after the form submissions: they are history and enroll nobody
    code, out, _ = goal("run", "demo", "--format", "jsonl", "--from", "2026-11-16T14:00:01Z")
    assert code == 0 and out == ""


def test_contacts_and_events_options_replace_the_folder_files(folder, goal):
    folder("other.jsonl", jl([EVENTS[1]]))
    code, out, _ = goal("run", "demo/program.goal", "--events", "other.jsonl", "--format", "jsonl",
                        "--until", "2026-11-16T14:00:00Z")
    assert code == 0
    assert {json.loads(line)["contact"] for line in out.splitlines()} == {"c2"}


# ---------------------------------------------------------------- table

TABLE = '''\
2026-11-16 14:00:00Z  c1           Demo                     enrolled
2026-11-16 14:00:00Z  c2           Demo                     enrolled
2026-11-16 14:00:00Z  c3           Demo                     enrolled
2026-11-16 14:00:00Z  c1           Demo                     send_email(template: "welcome") as welcome
2026-11-16 14:00:00Z  c2           Demo                     send_email(template: "welcome") as welcome
2026-11-16 14:00:00Z  c3           Demo                     send_email(template: "welcome") as welcome
2026-11-16 14:00:00Z  c1           Nurture                  enrolled
2026-11-16 14:00:00Z  c2           Nurture                  enrolled
2026-11-16 14:00:00Z  c3           Nurture                  enrolled
2026-11-16 15:00:00Z  c1           Nurture                  goal achieved: "Opened"
2026-11-16 16:05:00Z  c1           Demo                     goal achieved: "Booked"
2026-11-16 16:05:00Z  c1           Demo                     update_contact(stage: "SQL")  [goal "Booked"]
2026-11-16 16:05:00Z  c1           Demo                     add_tag(tag: "enterprise")  [goal "Booked"]
2026-11-16 16:05:00Z  c1           Demo                     exited (goal) [goal "Booked"]
2026-11-16 20:00:00Z  c2           Demo                     goal achieved: "Booked"
2026-11-16 20:00:00Z  c2           Demo                     update_contact(stage: "SQL")  [goal "Booked"]
2026-11-16 20:00:00Z  c2           Demo                     exited (goal) [goal "Booked"]
2026-11-17 14:00:00Z  c3           Demo                     exited (completed)
2026-11-17 14:00:00Z  c2           Nurture                  goal missed: "Opened" (on unmet end)
2026-11-17 14:00:00Z  c2           Nurture                  exited (unmet) [goal "Opened"]
2026-11-17 14:00:00Z  c3           Nurture                  goal missed: "Opened" (on unmet end)
2026-11-17 14:00:00Z  c3           Nurture                  exited (unmet) [goal "Opened"]

'''


def test_table_shows_the_activity_then_a_summary_per_workflow(folder, goal):
    code, out, err = goal("run", "demo", "--format", "table")
    assert code == 0 and err == ""
    assert out.startswith(TABLE)
    # Booked: c1 after 2h05m, c2 after 6h -> median 4h02m30s, shown to the minute
    assert out[len(TABLE):].splitlines() == [
        'Workflow "Demo": 3 enrolled, 0 still in it',
        '  goal "Booked": 2 achieved (66.7% of enrollments), median time to goal 4h 2m',
        "  exits: completed 1, goal 2",
        'Workflow "Nurture": 3 enrolled, 1 still in it',
        '  goal "Opened": 1 achieved (33.3% of enrollments), median time to goal 1h',
        "  exits: unmet 2",
        'Workflow "Idle": 0 enrolled, 0 still in it',
        '  goal "Never": 0 achieved (- of enrollments), median time to goal -',
    ]


def test_table_summary_counts_each_enrollment_of_a_returning_contact(write, goal):
    write("p/program.goal", '''
workflow "Again" {
    evaluate on event
    enroll when form.submitted
    allow reentry
    wait 1 day
    goals { goal "Bought" { when purchase.completed since enrollment } }
}
''')
    write("p/contacts.jsonl", "")
    write("p/events.jsonl", jl([
        {"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"},
        {"time": "2026-11-16T10:30:00Z", "contact": "c1", "type": "purchase.completed", "amount": 1},
        {"time": "2026-11-16T11:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"},
        {"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "purchase.completed", "amount": 1},
        {"time": "2026-11-16T15:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"},
        {"time": "2026-11-17T16:00:00Z", "contact": "c2", "type": "form.submitted", "form": "f"},
    ]))
    code, out, _ = goal("run", "p", "--format", "table")
    assert code == 0
    # c1: 30 min, then 3 h, then completes after a day; c2 still waiting
    assert out.splitlines()[-3:] == [
        'Workflow "Again": 4 enrolled, 1 still in it',
        '  goal "Bought": 2 achieved (50.0% of enrollments), median time to goal 1h 45m',
        "  exits: completed 1, goal 2",
    ]


# ---------------------------------------------------------------- eval

def test_eval_prints_true_then_the_matching_events(folder, goal):
    code, out, err = goal("eval", "appointment.status_changed(status == confirmed)", "demo", "--contact", "c1")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "true",
        '  2026-11-16T16:02:00Z  appointment.status_changed(appointment: "a1", status: "confirmed")',
    ]


def test_eval_prints_false_and_exits_zero(folder, goal):
    # --at defaults to the latest event (18T00:00): the appointment is more
    # than an hour before it
    code, out, _ = goal("eval", "appointment.status_changed within 1 hour", "demo", "--contact", "c1")
    assert code == 0 and out.splitlines() == [
        "false",  # then why, in the words of goal explain
        "  the contact has 1 appointment.status_changed event but it does not count:",
        "    2026-11-16T16:02:00Z: outside the window, which starts at 2026-11-17T23:00:00Z",
    ]


def test_eval_at_an_instant_sees_only_events_up_to_it_and_windows_include_their_start(folder, goal):
    cond = "email.opened within 1 hour"
    code, out, _ = goal("eval", cond, "demo", "--contact", "c1", "--at", "2026-11-16T16:00:00Z")
    assert code == 0 and out.splitlines() == ["true", '  2026-11-16T15:00:00Z  email.opened(email: "welcome")']
    code, out, _ = goal("eval", cond, "demo", "--contact", "c1", "--at", "2026-11-16T16:00:01Z")
    assert out.splitlines() == ["false", "  the contact has 1 email.opened event but it does not count:",
                                "    2026-11-16T15:00:00Z: outside the window, which starts at 2026-11-16T15:00:01Z"]
    code, out, _ = goal("eval", cond, "demo", "--contact", "c1", "--at", "2026-11-16T14:59:59Z")
    assert out.splitlines() == ["false", "  the contact has 1 email.opened event but it does not count:",
                                "    2026-11-16T15:00:00Z: after 2026-11-16T14:59:59Z, the time asked about"]


def test_eval_reads_contact_state_as_of_the_instant(folder, goal):
    # stage is set only by the workflow's action, not by any input event: eval
    # sees the records and events, not a run
    code, out, _ = goal("eval", "contact.size >= 500 and contact.stage is not set", "demo", "--contact", "c1")
    assert code == 0 and out.splitlines() == ["true"]


def test_eval_at_without_offset_uses_the_timezone(folder, goal):
    # 10:00 in New York (EST) is 15:00Z: the open is at the window's start
    code, out, _ = goal("eval", "email.opened within 1 hour", "demo", "--contact", "c1",
                        "--at", "2026-11-16T11:00", "--timezone", "America/New_York")
    assert code == 0 and out.splitlines()[0] == "true"
    code, out, _ = goal("eval", "email.opened within 1 hour", "demo", "--contact", "c1",
                        "--at", "2026-11-16T11:00")  # UTC: before the open
    assert out.splitlines() == ["false", "  the contact has 1 email.opened event but it does not count:",
                                "    2026-11-16T15:00:00Z: after 2026-11-16T11:00:00Z, the time asked about"]


@pytest.mark.parametrize("argv", [
    ("email.opened within 1 hour",),                      # a calendar window read in the zone
    ("contact.size > 5",),                                 # no window: the zone was silently ignored
    ("contact.size > 5", "--at", "2026-11-16T11:00"),      # --at read in the zone
])
def test_eval_with_an_unknown_timezone_is_a_usage_error(folder, goal, argv):
    # It used to end in an internal error (exit 70), a misleading "is not a
    # date-time", or an answer computed in no zone at all.
    code, out, err = goal("eval", *argv, "demo", "--contact", "c1", "--timezone", "America/New_Yrok")
    assert (code, out) == (2, "")
    assert err == 'goal eval: unknown time zone "America/New_Yrok": did you mean "America/New_York"?\n'


def test_eval_for_an_unknown_contact_says_so(folder, goal):
    code, out, _ = goal("eval", "contact.size > 5", "demo", "--contact", "nobody")
    assert code == 0
    assert out.splitlines() == ["false", "(no such contact: it has no record and no events)"]


def test_eval_of_a_bad_condition_is_a_diagnostic_and_exit_1(folder, goal):
    code, out, err = goal("eval", "contact.size >", "demo", "--contact", "c1")
    assert code == 1
    assert out.startswith("<condition>:1:15: error")
    assert "Traceback" not in out + err
    code, out, err = goal("eval", "page.visted", "demo", "--contact", "c1")
    assert code == 1 and "page.visited" in out  # the closest known name is suggested


# ---------------------------------------------------------------- exit codes

def test_exit_codes(folder, goal):
    assert goal("run", "demo", "--format", "jsonl")[0] == 0
    # a command-line mistake: 2
    code, _, err = goal("run", "no-such-folder")
    assert code == 2 and err == "goal run: no such file or folder: no-such-folder\n"
    code, _, err = goal("run", "demo", "--from", "yesterday")
    assert code == 2 and err.startswith("goal run: 'yesterday' is not a date-time")
    code, _, err = goal("run", "demo", "--from", "2026-11-18T00:00:00Z", "--until", "2026-11-17T00:00:00Z")
    assert code == 2 and "is before --from" in err
    # bad input: 1, nothing run
    folder("demo/events.jsonl", jl(EVENTS) + "oops\n")
    code, out, err = goal("run", "demo", "--format", "jsonl")
    assert code == 1 and out == "" and "events.jsonl:8: not valid JSON" in err
    # an error in the program: 1, with FILE:LINE:COL
    folder("bad/program.goal", 'workflow "B" {\n    audience page.visitd\n    send_email("x")\n}\n')
    code, out, err = goal("run", "bad", "--from", "2026-11-16T00:00:00Z", "--until", "2026-11-16T01:00:00Z")
    assert code == 1 and "program.goal:2:14" in out and "page.visited" in out and err == "1 error\n"


#: Two workflows that set each other off forever (the engine's round limit stops them).
PING_PONG = '''
workflow "Ping" {
    evaluate on event
    enroll when tag.added(tag == "pong")
    allow reentry
    add_tag("ping")
    remove_tag("pong")
}
workflow "Pong" {
    evaluate on event
    enroll when tag.added(tag == "ping")
    allow reentry
    add_tag("pong")
    remove_tag("ping")
}
'''


def test_workflows_that_set_each_other_off_forever_stop_the_run_with_exit_1(write, goal):
    write("loop/program.goal", PING_PONG)
    write("loop/contacts.jsonl", "")
    write("loop/events.jsonl", jl([{"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "tag.added",
                                    "tag": "pong"}]))
    code, out, err = goal("run", "loop", "--format", "jsonl")
    assert code == 1
    assert err == "goal run: at 2026-11-16T10:00:00Z workflows kept acting on each other's events for 100 rounds\n"
    assert out.count("\n") > 100  # the activity up to the stop was written


def test_the_installed_command_never_shows_a_traceback(folder):
    p = subprocess.run([sys.executable, "-m", "goaldsl", "run", "demo", "--events", "missing.jsonl"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr == "goal run: no such events file: missing.jsonl\n"
    p = subprocess.run([sys.executable, "-m", "goaldsl", "run", "demo", "--format", "jsonl"],
                       capture_output=True, text=True)
    # 22 entries, then one `waiting` entry: c1 is still in Nurture
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 23 and p.stderr == ""


def test_eval_needs_no_goal_file_the_standard_library_is_enough(write, goal):
    write("data/contacts.jsonl", jl([{"id": "c1", "lead_score": 90}]))
    write("data/events.jsonl", jl([{"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "page.visited",
                                    "url": "/pricing"},
                                   {"time": "2026-11-16T11:00:00Z", "contact": "c1", "type": "page.visited",
                                    "url": "/blog"}]))
    cond = 'contact.lead_score >= 80 and page.visited(url starts with "/pricing")'
    code, out, _ = goal("eval", cond, "data", "--contact", "c1")
    assert code == 0
    assert out.splitlines() == ["true", '  2026-11-16T10:00:00Z  page.visited(url: "/pricing")']
    code, out, _ = goal("eval", cond, "--contact", "c1", "--contacts", "data/contacts.jsonl",
                        "--events", "data/events.jsonl", "--at", "2026-11-16T09:59:59Z")
    assert code == 0 and out.splitlines() == [
        "false",
        "  the contact has 2 page.visited events but none counts:",
        "    2026-11-16T10:00:00Z: after 2026-11-16T09:59:59Z, the time asked about",
        '    2026-11-16T11:00:00Z: after 2026-11-16T09:59:59Z, the time asked about; '
        'url was "/blog", wanted one that starts with "/pricing"',
    ]


def test_table_columns_widen_for_long_names(write, goal):
    write("p/program.goal", '''
workflow "Post-Visit Google Review Request" {
    enroll when form.submitted
    send_email("hi")
}
''')
    write("p/contacts.jsonl", "")
    write("p/events.jsonl", jl([
        {"time": "2026-11-16T10:00:00Z", "contact": "contact-with-a-long-id", "type": "form.submitted", "form": "f"},
        {"time": "2026-11-16T10:00:00Z", "contact": "c2", "type": "form.submitted", "form": "f"},
    ]))
    code, out, _ = goal("run", "p", "--format", "table", "--until", "2026-11-16T10:05:00Z")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ("2026-11-16 10:00:00Z  contact-with-a-long-id Post-Visit Google Review Request enrolled")
    assert lines[2] == ("2026-11-16 10:00:00Z  contact-with-a-long-id Post-Visit Google Review Request "
                        'send_email(template: "hi")')
    # the shorter id and the same name line up under the longer ones
    assert lines[1] == "2026-11-16 10:00:00Z  c2                     Post-Visit Google Review Request enrolled"
