"""The run's figures (goaldsl/runtime/summary.py), computed by hand on small
programs: a funnel of five contacts, time to goal of known durations, the
quantile method, goal order, steps jumped over; and the one computation
behind `goal run --summary`, `--summary-only` and the table's last lines."""
from __future__ import annotations

import json
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from goaldsl.cli import main
from goaldsl.runtime.summary import QUANTILES, Summary, quantile, shapes_of, table_lines

from engine_helpers import T, ev, run

D = "2026-11-02"
H = 3600


def summarize(r) -> dict:
    """The figures of an engine run, with the `waiting` entries at its end."""
    s = Summary(shapes_of(r.engine.plan.program)).add_all(r.entries)
    return s.add_all(r.engine.waiting_entries()).result()


def only(result: dict, name: str) -> dict:
    return next(w for w in result["workflows"] if w["workflow"] == name)


def goal_of(w: dict, name: str) -> dict:
    return next(g for g in w["goals"] if g["goal"] == name)


# ---------------------------------------------------------------- a funnel of five contacts

FUNNEL = '''
workflow "F" {
    evaluate on event
    enroll when form.submitted
    send_email("one")
    wait 1 day
    goal "G" {
        when purchase.completed since enrollment
        on unmet wait up to 2 days then end
    }
    send_email("two")
    wait 1 day
    goals { goal "Unsub" { when email.unsubscribed } }
}
'''


def funnel_run():
    events = [ev(f"{D}T10:00", c, "form.submitted", form="f") for c in ("c1", "c2", "c3", "c4")] + [
        ev(f"{D}T11:00", "c4", "email.unsubscribed"),             # leaves at step 2 by the exit goal
        ev(f"{D}T12:00", "c1", "purchase.completed", amount=1),   # G before it gets there: jumped forward
        ev("2026-11-03T15:00", "c2", "purchase.completed", amount=1),  # G while waiting at it
        ev("2026-11-05T09:00", "c5", "form.submitted", form="f"),  # still waiting at step 2 at the end
    ]
    # c3 never buys: reaches G on 3 Nov 10:00, runs out on 5 Nov 10:00
    return run(FUNNEL, [], events, start=f"{D}T00:00", until="2026-11-05T12:00")


def test_a_funnel_of_five_contacts_by_hand():
    w = only(summarize(funnel_run()), "F")
    assert (w["enrolled"], w["still_in"]) == (5, 1)
    assert w["exits"] == {"completed": 2, "goal": 1, "unmet": 1}
    steps = [(s["step"], s["label"], s["reached"], s["left"], s["waiting"], s["moved_on"]) for s in w["steps"]]
    assert steps == [
        (1, 'send_email("one")', 5, {}, 0, 5),
        (2, "wait 1 day", 5, {"goal": 1}, 1, 3),     # c4 left by Unsub; c5 waits
        (3, 'goal "G"', 3, {"unmet": 1}, 0, 2),      # c1 (jumped), c2 (waited), c3 (ran out)
        (4, 'send_email("two")', 2, {}, 0, 2),
        (5, "wait 1 day", 2, {"completed": 2}, 0, 0),
    ]
    g = goal_of(w, "G")
    assert (g["kind"], g["step"], g["achieved"], g["conversion"]) == ("step", 3, 2, 0.4)
    assert g["unmet_policy"] == "wait up to 2 days then end"
    assert g["outcomes"] == {"arrived_met": 0, "waited_then_met": 1, "jumped_forward": 1, "unmet_then_ended": 1,
                             "unmet_then_continued": 0, "still_waiting": 0, "left_by_other_goal": 0}
    # the outcomes split the contacts that reached the goal step
    assert sum(g["outcomes"].values()) == w["steps"][2]["reached"]
    # c1 after 2 h, c2 after 29 h
    assert g["time_to_goal"] == {"count": 2, "min": 2 * H, "p25": 8.75 * H, "p50": 15.5 * H, "p75": 22.25 * H,
                                 "p90": 26.3 * H, "max": 29 * H,
                                 # 2-hour bins (the first width that makes at most 24 bins up to 29 h)
                                 "histogram": {"bin_seconds": 2 * H, "counts": [0, 1] + [0] * 12 + [1]}}
    u = goal_of(w, "Unsub")
    assert (u["kind"], u["step"], u["achieved"], u["conversion"]) == ("exit", None, 1, 0.2)
    assert "outcomes" not in u and u["time_to_goal"]["p50"] == H
    assert w["cohorts"] == {"unit": "day", "rows": [
        {"start": "2026-11-02", "enrolled": 4, "achieved": {"G": 2, "Unsub": 1}, "conversion": {"G": 0.5, "Unsub": 0.25}},
        {"start": "2026-11-05", "enrolled": 1, "achieved": {"G": 0, "Unsub": 0}, "conversion": {"G": 0.0, "Unsub": 0.0}},
    ]}


def test_the_entries_say_where_contacts_were():
    r = funnel_run()
    seen = [(e["contact"], e["type"], e.get("at"), e.get("via")) for e in r.entries if e["type"] != "action"]
    assert ("c1", "goal_achieved", 2, "jumped") in seen  # waiting at step 2 when G fired
    assert ("c2", "goal_achieved", 3, "waited") in seen
    assert ("c3", "exited", 3, None) in seen and ("c4", "exited", 2, None) in seen
    assert [(e["contact"], e["at"], e["time"]) for e in r.engine.waiting_entries()] == [("c5", 2, T("2026-11-05T12:00"))]


def test_a_goal_met_on_arrival_and_a_goal_step_passed_unmet():
    program = '''
workflow "A" {
    enroll when form.submitted
    send_email("x")
    goal "Sent" { when email.sent(email == "x") }
    goal "Bought" { when purchase.completed on unmet continue }
    send_email("y")
}
'''
    r = run(program, [], [ev(f"{D}T10:00", "c1", "form.submitted", form="f")], start=f"{D}T10:00", until=f"{D}T11:00")
    w = only(summarize(r), "A")
    sent, bought = goal_of(w, "Sent"), goal_of(w, "Bought")
    assert sent["outcomes"]["arrived_met"] == 1 and sent["time_to_goal"]["p50"] == 0
    assert bought["outcomes"]["unmet_then_continued"] == 1 and bought["unmet_policy"] == "continue"
    assert [(e["type"], e["policy"]) for e in r.entries if e["type"] == "goal_missed"] == [("goal_missed", "continue")]
    assert [s["reached"] for s in w["steps"]] == [1, 1, 1, 1]


def test_goal_missed_with_end_counts_once_and_not_enrolled_is_counted():
    """A goal step left unmet writes goal_missed (policy end) and an exit for
    reason unmet: the summary counts it once, as unmet_then_ended. Contacts
    that `skip enrollment if goal met` kept out are counted per workflow and
    per exit goal, and shown in the table's line."""
    program = '''
workflow "A" {
    enroll when form.submitted
    skip enrollment if goal met
    goal "Bought" { when purchase.completed on unmet end }
    goals {
        goal "Customer" { when contact.plan == "pro" }
    }
}
'''
    r = run(program, [{"id": "c2", "plan": "pro"}],
            [ev(f"{D}T10:00", "c1", "form.submitted", form="f"), ev(f"{D}T10:00", "c2", "form.submitted", form="f")],
            start=f"{D}T10:00", until=f"{D}T11:00")
    res = summarize(r)
    w = only(res, "A")
    bought = goal_of(w, "Bought")
    assert bought["outcomes"]["unmet_then_ended"] == 1 and bought["outcomes"]["unmet_then_continued"] == 0
    assert w["enrolled"] == 1 and w["not_enrolled"] == 1 and w["exits"] == {"unmet": 1}
    assert goal_of(w, "Customer")["kept_out"] == 1 and "kept_out" not in bought
    assert table_lines(res)[0] == 'Workflow "A": 1 enrolled, 0 still in it, 1 not enrolled (a goal already met)'


# ---------------------------------------------------------------- time to goal and quantiles

def test_time_to_goal_of_known_durations():
    program = '''
workflow "T" {
    evaluate on event
    enroll when form.submitted
    wait 30 days
    goals { goal "Bought" { when purchase.completed } }
}
'''
    hours = {"c1": 1, "c2": 2, "c3": 3, "c4": 4, "c5": 10}
    events = [ev(f"{D}T00:00", c, "form.submitted", form="f") for c in hours]
    events += sorted((ev(f"{D}T{h:02d}:00", c, "purchase.completed", amount=1) for c, h in hours.items()),
                     key=lambda e: e["time"])
    w = only(summarize(run(program, [], events, start=f"{D}T00:00", until=f"{D}T12:00")), "T")
    ttg = goal_of(w, "Bought")["time_to_goal"]
    # sorted 1 2 3 4 10 h; h = 4p: p25 -> 2 h, p50 -> 3 h, p75 -> 4 h, p90 -> 4 + 0.6 * 6 = 7.6 h
    assert ttg == {"count": 5, "min": H, "p25": 2 * H, "p50": 3 * H, "p75": 4 * H, "p90": 27360, "max": 10 * H,
                   # half-hour bins: 21 of them up to 10 h
                   "histogram": {"bin_seconds": H // 2, "counts": [0, 0, 1, 0, 1, 0, 1, 0, 1] + [0] * 11 + [1]}}
    assert table_lines(summarize(run(program, [], events, start=f"{D}T00:00", until=f"{D}T12:00")))[1] == \
        '  goal "Bought": 5 achieved (100.0% of enrollments), median time to goal 3h'


def test_histogram_bins():
    from goaldsl.runtime.summary import histogram
    assert histogram([]) == {"bin_seconds": 60, "counts": []}
    assert histogram([0, 0, 59, 60]) == {"bin_seconds": 60, "counts": [3, 1]}
    assert histogram([0, 24 * 60]) == {"bin_seconds": 300, "counts": [1] + [0] * 3 + [1]}
    h = histogram(sorted([5, 400 * 86400, 900 * 86400]))  # beyond the widest width: 24 bins
    assert len(h["counts"]) <= 24 and sum(h["counts"]) == 3


def test_quantiles_by_hand():
    assert quantile([], Fraction(1, 2)) is None
    assert quantile([7], Fraction(9, 10)) == 7
    assert quantile([1, 2, 3, 4], Fraction(1, 2)) == 2.5
    assert quantile([0, 10], Fraction(9, 10)) == 9
    assert quantile([0, 10], Fraction(1, 4)) == 2.5
    assert quantile([5, 5, 5], Fraction(3, 4)) == 5 and isinstance(quantile([5, 5, 5], Fraction(3, 4)), int)


@given(st.lists(st.integers(min_value=0, max_value=10**8), min_size=2, max_size=60))
def test_quantiles_are_the_inclusive_method_and_p50_the_median(xs):
    xs = sorted(xs)
    q = {k: quantile(xs, p) for k, p in QUANTILES}
    quartiles = statistics.quantiles(xs, n=4, method="inclusive")
    deciles = statistics.quantiles(xs, n=10, method="inclusive")
    assert q["p25"] == pytest.approx(quartiles[0]) and q["p75"] == pytest.approx(quartiles[2])
    assert q["p90"] == pytest.approx(deciles[8])
    assert q["p50"] == statistics.median(xs)  # exactly, as the table always printed it
    assert xs[0] <= q["p25"] <= q["p50"] <= q["p75"] <= q["p90"] <= xs[-1]


# ---------------------------------------------------------------- goal order, jumps

def test_goal_order_counts_a_goal_that_held_but_lost_to_an_earlier_one():
    program = '''
workflow "O" {
    evaluate on event
    enroll when form.submitted
    wait 5 days
    goals {
        goal "Bought" { when purchase.completed }
        goal "Engaged" { when email.opened }
        goal "Clicked" { when email.clicked }
    }
}
'''
    events = [ev(f"{D}T09:00", c, "form.submitted", form="f") for c in ("c1", "c2", "c3")] + [
        ev(f"{D}T10:00", "c1", "email.opened", email="e"),
        ev(f"{D}T10:00", "c1", "purchase.completed", amount=1),  # both at once: Bought is listed first
        ev(f"{D}T11:00", "c2", "email.opened", email="e"),
        ev(f"{D}T11:00", "c2", "email.clicked", email="e", link="l"),
        ev(f"{D}T12:00", "c3", "email.clicked", email="e", link="l"),
    ]
    r = run(program, [], events, start=f"{D}T09:00", until=f"{D}T13:00")
    assert [e.get("also") for e in r.entries if e["type"] == "goal_achieved"] == [["Engaged"], ["Clicked"], None]
    w = only(summarize(r), "O")
    assert {g["goal"]: (g["achieved"], g["lost_to"]) for g in w["goals"]} == {
        "Bought": (1, {}), "Engaged": (1, {"Bought": 1}), "Clicked": (1, {"Engaged": 1})}


def test_steps_jumped_over_are_not_reached():
    program = '''
workflow "S" {
    enroll when form.submitted
    if contact.vip == true { skip to last }
    send_email("a")
    send_email("b")
    send_email("c") as last
}
'''
    r = run(program, [{"id": "v", "vip": True}, {"id": "n"}],
            [ev(f"{D}T10:00", c, "form.submitted", form="f") for c in ("v", "n")], start=f"{D}T10:00",
            until=f"{D}T11:00")
    assert [e.get("skipped") for e in r.entries if e["type"] == "exited"] == [[[2, 3]], None]
    w = only(summarize(r), "S")
    assert [s["reached"] for s in w["steps"]] == [2, 1, 1, 2]


def test_a_stream_without_positions_still_gives_the_counts():
    # an activity file written before `at` existed: enrollments, goals and exits only
    entries = [{"time": 0, "contact": "c1", "workflow": "W", "type": "enrolled"},
               {"time": 60, "contact": "c1", "workflow": "W", "type": "goal_achieved", "goal": "G"},
               {"time": 60, "contact": "c1", "workflow": "W", "type": "exited", "reason": "goal", "goal": "G"},
               {"time": 90, "contact": "c2", "workflow": "W", "type": "enrolled"}]
    w = Summary().add_all(entries).result()["workflows"][0]
    assert (w["workflow"], w["enrolled"], w["still_in"], w["exits"], w["steps"]) == ("W", 2, 1, {"goal": 1}, [])
    assert w["goals"][0]["time_to_goal"]["p50"] == 60


# ---------------------------------------------------------------- one computation for run, table and --summary

@pytest.fixture
def goal(capsys):
    def _goal(*argv: str):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return _goal


def _write_funnel(write):
    r = funnel_run()  # the same program and events, through the command line
    write("f/program.goal", FUNNEL)
    write("f/contacts.jsonl", "")
    events = [ev(f"{D}T10:00", c, "form.submitted", form="f") for c in ("c1", "c2", "c3", "c4")] + [
        ev(f"{D}T11:00", "c4", "email.unsubscribed"), ev(f"{D}T12:00", "c1", "purchase.completed", amount=1),
        ev("2026-11-03T15:00", "c2", "purchase.completed", amount=1),
        ev("2026-11-05T09:00", "c5", "form.submitted", form="f")]
    write("f/events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    return r


def test_summary_file_table_and_summary_only_are_one_computation(write, goal, tmp_path):
    _write_funnel(write)
    args = ("run", "f", "--from", f"{D}T00:00:00Z", "--until", "2026-11-05T12:00:00Z")
    code, table, _ = goal(*args, "--format", "table", "--summary", "t.json")
    assert code == 0
    code, stream, _ = goal(*args, "--format", "jsonl", "--summary", "j.json")
    assert code == 0
    from_table, from_stream = (json.loads((tmp_path / f).read_text()) for f in ("t.json", "j.json"))
    assert from_table == from_stream
    assert from_table["from"] == "2026-11-02T00:00:00Z" and from_table["until"] == "2026-11-05T12:00:00Z"
    w = only(from_table, "F")
    assert w["enrolled"] == 5 and [s["reached"] for s in w["steps"]] == [5, 5, 3, 2, 2]
    # the table's last lines are rendered from that object
    lines = table_lines(from_table)
    assert table.endswith("\n\n" + "\n".join(lines) + "\n")
    assert lines[:3] == ['Workflow "F": 5 enrolled, 1 still in it',
                         '  goal "G": 2 achieved (40.0% of enrollments), median time to goal 15h 30m',
                         '  goal "Unsub": 1 achieved (20.0% of enrollments), median time to goal 1h']
    # the stream ends with where the contact still in is; the table leaves that out
    last = json.loads(stream.splitlines()[-1])
    assert (last["type"], last["contact"], last["at"]) == ("waiting", "c5", 2)
    assert "waiting" not in table
    code, only_text, _ = goal(*args, "--format", "table", "--summary-only")
    assert code == 0 and only_text == "\n".join(lines) + "\n"
    code, only_json, _ = goal(*args, "--format", "jsonl", "--summary-only")
    assert code == 0 and len(only_json.splitlines()) == 1 and json.loads(only_json) == from_table


def test_an_unsorted_log_is_summarised_once(write, goal, tmp_path):
    _write_funnel(write)
    lines = (tmp_path / "f/events.jsonl").read_text().splitlines()
    (tmp_path / "f/events.jsonl").write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    code, _, _ = goal("run", "f", "--from", f"{D}T00:00:00Z", "--until", "2026-11-05T12:00:00Z",
                      "--format", "jsonl", "--summary", "s.json")
    assert code == 0
    assert only(json.loads((tmp_path / "s.json").read_text()), "F")["enrolled"] == 5


def test_summary_of_a_state_file(write, goal, tmp_path):
    _write_funnel(write)
    args = ("run", "f", "--from", f"{D}T00:00:00Z", "--until", "2026-11-05T12:00:00Z")
    assert goal(*args, "--format", "jsonl", "--summary", "plain.json")[0] == 0
    code, _, err = goal(*args, "--format", "jsonl", "--state", "run.db", "--summary", "state.json")
    assert code == 0, err
    plain, state = (json.loads((tmp_path / f).read_text()) for f in ("plain.json", "state.json"))
    assert state == plain
    code, _, err = goal(*args, "--state", "run.db", "--summary-only")
    assert code == 2 and "--summary-only does not go with --state" in err


def test_summary_file_that_cannot_be_written_is_a_usage_error(write, goal):
    _write_funnel(write)
    code, _, err = goal("run", "f", "--format", "jsonl", "--summary", "no/such/folder/s.json")
    assert code == 2 and "cannot write the summary to no/such/folder/s.json" in err
