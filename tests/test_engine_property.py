"""The event-driven engine against the naive reference, on random programs.

``Engine(..., exhaustive=True)`` evaluates literally as docs/spec.md section 5
says: a tick workflow looks at every contact at every tick, an ``evaluate on
event`` workflow at every event of a contact. The normal engine jumps from
one due instant to the next. On any program and event log the two must
write the same activity stream, byte for byte (ids included).

The programs are small and random: ticks of several periods or ``evaluate on
event``, audiences (perpetual and ``runs once at``), ``enroll when`` with and
without ``allow reentry`` (and ``after D``), ``skip enrollment if goal met``,
``exit when audience no longer matches``, waits of every kind, ``if``, ``skip to``, ``end``,
goal steps with every ``on achieved`` / ``on unmet`` policy, exit goals with
global and conditional actions, and conditions with filters (on the event's
fields, and on the contact or other events' counts), counts and
``within`` / ``since enrollment`` / ``ever`` windows. The logs put events on
ticks (epoch-aligned and on the wall clock), on window edges (a multiple of the window before another event), at
the same instant, before ``--from`` (history), for contacts not in the
contacts file, and across the end of daylight saving time in New York
(1 Nov 2026, 06:00Z).

The engine's backtest mode (``keep_history=False``, which forgets events
no condition can count any more) must give the same stream too.

On a failure the program, contacts, events and the first differing lines
are printed; hypothesis also prints the falsifying example, which can be
pasted into ``replay()`` below.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from goaldsl.semantics.calendar import format_utc
from goaldsl.semantics.checker import check
from goaldsl.runtime.engine import Engine, EngineError
from goaldsl.semantics.loader import load
from goaldsl.runtime.output import jsonl_line
from goaldsl.runtime.plan import build_plan

START = 1793484000  # 2026-10-31T22:00:00Z, 8 hours before New York leaves daylight saving time
UNTIL = START + 36 * 3600
FAKE = str(Path("/goal-property/program.goal").absolute())

TAGS = ("x", "y")
URLS = ("/a", "/b")
EMAILS = ("a", "b")


# ---------------------------------------------------------------- conditions

SEGMENTS = ("seg1", "seg2")  # declared by every generated program (see ``programs``)

@st.composite
def durations(draw, short: bool = False):
    if short:
        return draw(st.sampled_from(["5 minutes", "30 minutes", "1 hour", "2 hours"]))
    return draw(st.sampled_from(["5 minutes", "7 minutes", "30 minutes", "1 hour", "2 hours", "1 day",
                                 "1 day 2 hours", "1 week"]))


@st.composite
def event_atoms(draw, goal_names: tuple[str, ...]):
    kind = draw(st.sampled_from(["page.visited", "email.opened", "form.submitted", "tag.added", "email.sent",
                                 "goal.achieved", "workflow.enrolled", "workflow.exited", "purchase.completed",
                                 "goal.missed"]))
    flt = ""
    if draw(st.booleans()):
        if kind == "page.visited":
            flt = f'(url == "{draw(st.sampled_from(URLS))}")'
        elif kind == "email.sent":  # which workflow and step sent it (issue 16.8)
            flt = draw(st.sampled_from([f'(email == "{draw(st.sampled_from(EMAILS))}")', '(step == "s1")',
                                        '(workflow == "W1")', "(step is not set)"]))
        elif kind == "email.opened":
            flt = f'(email == "{draw(st.sampled_from(EMAILS))}")'
        elif kind == "tag.added":
            flt = f'(tag == "{draw(st.sampled_from(TAGS))}")'
        elif kind in ("goal.achieved", "goal.missed") and goal_names:
            flt = f'(goal == "{draw(st.sampled_from(goal_names))}")'
        elif kind == "workflow.exited":
            flt = f"(reason == {draw(st.sampled_from(['goal', 'end', 'unmet', 'completed', 'audience']))})"
        elif kind == "purchase.completed":
            flt = f"(amount >= {draw(st.sampled_from([1, 5]))})"
    if flt and draw(st.integers(0, 3)) == 0:
        # A filter that reads the contact, or counts other events: evaluated
        # when the count is, not as the event is recorded (the lean history
        # keeps such events' fields).
        extra = draw(st.sampled_from(["contact.lead_score >= 10", '"x" in contact.tags', "page.visited ever",
                                      "form.submitted within 1 hour"]))
        flt = f"({flt[1:-1]} and {extra})"
    count = draw(st.sampled_from(["", "", "", " at least 2 times", " at most 1 times", " at most 0 times",
                                  " exactly 1 time", " exactly 2 times"]))
    window = draw(st.sampled_from(["", "", " since enrollment", " ever", " within WINDOW", " within WINDOW AFTER"]))
    if "WINDOW" in window:
        window = window.replace("WINDOW", draw(durations()))
    if "AFTER" in window:  # `within D after OTHER` (issue 16.2)
        other = draw(st.sampled_from(["email.sent", 'page.visited(url == "/pricing")', "form.submitted",
                                      "workflow.enrolled", kind]))
        window = window.replace("AFTER", f"after {other}" + draw(st.sampled_from(["", " ever", " since enrollment"])))
    return f"{kind}{flt}{count}{window}"


@st.composite
def attr_atoms(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return f'"{draw(st.sampled_from(TAGS))}" in contact.tags'
    if kind == 1:
        return f'"{draw(st.sampled_from(TAGS))}" not in contact.tags'
    if kind == 2:
        return f"contact.lead_score >= {draw(st.sampled_from([10, 50]))}"
    return "contact.plan is set"


@st.composite
def conditions(draw, goal_names: tuple[str, ...] = (), depth: int = 0, segments: tuple[str, ...] = SEGMENTS):
    choice = draw(st.integers(0, 9 if depth < 2 else 5))
    if choice <= 2:
        if segments and draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(segments))
        return draw(attr_atoms())
    if choice <= 5:
        return draw(event_atoms(goal_names))
    if choice == 6:
        return f"not ({draw(conditions(goal_names, depth + 1, segments))})"
    op = "and" if choice <= 7 else "or"
    return (f"({draw(conditions(goal_names, depth + 1, segments))}) {op} "
            f"({draw(conditions(goal_names, depth + 1, segments))})")


# ---------------------------------------------------------------- workflows

@st.composite
def actions(draw):
    return draw(st.sampled_from([
        'send_email("a")', 'send_email("b")', 'add_tag("x")', 'add_tag("y")', 'remove_tag("x")',
        'remove_tag("y")', "adjust_score(by: 30)", "adjust_score(by: -30)", 'update_contact(plan: "pro")',
    ]))


@st.composite
def goal_bodies(draw, goal_names, *, step: bool, names_after: list[str]):
    lines = [f"when {draw(conditions(goal_names))}"]
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            lines.append(f"then {{ {draw(actions())} }}")
        else:
            els = f" else {{ {draw(actions())} }}" if draw(st.booleans()) else ""
            lines.append(f"then if {draw(conditions(goal_names, 1))} {{ {draw(actions())} }}{els}")
    if step:
        achieved = draw(st.sampled_from(["", "continue", "end"] + (["skip"] if names_after else [])))
        if achieved == "skip":
            achieved = f"skip to {draw(st.sampled_from(names_after))}"
        if achieved:
            lines.append(f"on achieved {achieved}")
        unmet = draw(st.sampled_from(["", "wait", "continue", "end", "wait up to D then continue",
                                      "wait up to D then end"]))
        if unmet:
            lines.append("on unmet " + unmet.replace("D", draw(durations())))
    return lines


@st.composite
def workflows(draw, index: int, goal_names: tuple[str, ...]):
    name = f"W{index}"
    settings_ = []
    once = draw(st.integers(0, 5)) == 0
    if once:
        at = START + draw(st.sampled_from([0, 60, 300, 3600 + 120, 2 * 3600]))
        settings_.append(f"runs once at {format_utc(at)}")
    evaluate = draw(st.sampled_from(["", "every 5 minutes", "every 7 minutes", "every 1 hour", "every 1 day",
                                     "on event", "on event", "on event",
                                     # ticks on the wall clock, around the end of daylight saving time
                                     "every 1 day at 01:30", "every 1 day at 23:00", "every 2 days at 06:05",
                                     "every 1 week on sunday at 01:30", "every 1 week on saturday at 18:15"]))
    if evaluate:
        settings_.append(f"evaluate {evaluate}")
    tz = draw(st.sampled_from(["", "America/New_York", "Europe/Berlin"]))
    if tz:
        settings_.append(f'timezone "{tz}"')
    audience_wf = once or draw(st.booleans())
    if audience_wf:
        settings_.append(f"audience {draw(conditions(goal_names))}")
        if draw(st.integers(0, 2)) == 0:
            settings_.append("exit when audience no longer matches")
    else:
        trig = draw(st.sampled_from(["form.submitted", 'form.submitted(form == "demo")', "page.visited",
                                     'tag.added(tag == "x")', "email.sent", "goal.achieved", "workflow.exited",
                                     "goal.missed", 'email.sent(workflow == "W1", step == "s1")']))
        settings_.append(f"enroll when {trig}")
        if draw(st.booleans()):
            after = draw(st.sampled_from(["", "", " after 1 hour", " after 1 day", " after 2 hours"]))
            settings_.append("allow reentry" + after)

    # Top-level steps; names are given to some so that skip targets exist.
    n = draw(st.integers(1, 5))
    kinds = [draw(st.sampled_from(["action", "action", "wait", "wait_time", "wait_date", "wait_cond", "if",
                                   "goal", "goal", "skip", "end"])) for _ in range(n)]
    names = [f"s{i}" if kinds[i] in ("action", "wait", "wait_time", "wait_date", "wait_cond")
             and draw(st.booleans()) else None for i in range(n)]
    steps: list[str] = []
    step_goal_no = 0
    for i, kind in enumerate(kinds):
        later = [x for x in names[i + 1:] if x is not None]
        as_name = f" as {names[i]}" if names[i] else ""
        if kind == "action":
            steps.append(f"{draw(actions())}{as_name}")
        elif kind == "wait":
            steps.append(f"wait {draw(durations())}{as_name}")
        elif kind == "wait_time":
            steps.append(f"wait until {draw(st.sampled_from(['09:00', '00:30', 'sunday 02:00']))}{as_name}")
        elif kind == "wait_date":
            at = START + draw(st.sampled_from([-3600, 0, 300, 3600 * 3, 3600 * 9 + 30, 3600 * 20]))
            steps.append(f"wait until {format_utc(at)}{as_name}")
        elif kind == "wait_cond":
            limit = f" up to {draw(durations())}" if draw(st.booleans()) else ""
            steps.append(f"wait until {draw(conditions(goal_names, 1))}{limit}{as_name}")
        elif kind == "if":
            body = draw(actions())
            jump = draw(st.sampled_from(["", "", "end"] + [f"skip to {x}" for x in later]))
            if jump:
                body += f" {jump}"
            other = f" else {{ {draw(actions())} }}" if draw(st.booleans()) else ""
            if draw(st.booleans()):
                other = f" else if {draw(conditions(goal_names, 1))} {{ wait {draw(durations(short=True))} }}" + other
            steps.append(f"if {draw(conditions(goal_names, 1))} {{ {body} }}{other}")
        elif kind == "goal":
            step_goal_no += 1
            gname = f"{name}S{step_goal_no}"
            body = draw(goal_bodies(goal_names, step=True, names_after=later))
            steps.append(f'goal "{gname}" {{\n        ' + "\n        ".join(body) + "\n    }")
        elif kind == "skip":
            if later:
                steps.append(f"skip to {draw(st.sampled_from(later))}")
            else:
                steps.append(draw(actions()))
        elif kind == "end":
            steps.append("end")
    exits = []
    for k in range(draw(st.integers(0, 2))):
        body = draw(goal_bodies(goal_names, step=False, names_after=[]))
        exits.append(f'goal "{name}E{k + 1}" {{ ' + " ".join(body) + " }")
    trigger_goal = _TRIGGER_GOALS.get(trig.split("(")[0]) if not audience_wf else None
    if trigger_goal and draw(st.booleans()):  # `trigger.FIELD` (issue 16.1), with a window
        window = draw(st.sampled_from(["", " since enrollment", " ever", " within 1 hour", " within 1 day"]))
        exits.append(f'goal "{name}T" {{ when {trigger_goal}{window} }}')
    if exits and draw(st.integers(0, 2)) == 0:
        settings_.append("skip enrollment if goal met")
    text = f'workflow "{name}" {{\n    ' + "\n    ".join(settings_ + steps)
    if exits:
        text += "\n    goals {\n        " + "\n        ".join(exits) + "\n    }"
    return text + "\n}\n"


GOAL_NAMES = ("W1S1", "W1E1", "W2S1", "W2E1", "W1S2")
# A goal on the enrolling event's fields, per trigger event type.
_TRIGGER_GOALS = {
    "form.submitted": "form.submitted(form == trigger.form) at least 2 times",
    "page.visited": 'page.visited(url == trigger.url, trigger.time >= "2026-11-01T06:00:00Z")',
    "tag.added": "tag.added(tag == trigger.tag) at least 2 times",
    "email.sent": "email.sent(email == trigger.email, step == trigger.step)",
    "goal.achieved": "goal.achieved(goal == trigger.goal, workflow != trigger.workflow)",
    "workflow.exited": "workflow.exited(reason == trigger.reason)",
}


@st.composite
def programs(draw):
    seg1 = draw(conditions(GOAL_NAMES, 1, ()))
    seg2 = draw(conditions(GOAL_NAMES, 1, ("seg1",)))
    head = f"segment seg1 = {seg1}\nsegment seg2 = {seg2}\n\n"
    return head + "\n".join(draw(workflows(i + 1, GOAL_NAMES)) for i in range(draw(st.integers(1, 3))))


# ---------------------------------------------------------------- logs

@st.composite
def instants(draw, anchors: list[int]):
    """On a tick, a window's length away from an earlier instant, at one
    already used, in history, or anywhere."""
    kind = draw(st.integers(0, 5))
    if kind == 0 and anchors:
        return draw(st.sampled_from(anchors))
    if kind == 1 and anchors:
        step = draw(st.sampled_from([300, 420, 1800, 3600, 7200, 86400, 90000]))
        return draw(st.sampled_from(anchors)) + step + draw(st.sampled_from([-1, 0, 0, 1]))
    if kind == 2:
        return START - draw(st.integers(1, 8)) * 1800  # history
    if kind == 3:
        return START + draw(st.integers(0, 10 * 12)) * 300  # on a 5-minute tick
    return START + draw(st.integers(0, 10 * 3600))


@st.composite
def logs(draw):
    contacts = []
    for i in range(draw(st.integers(1, 3))):
        rec = {"id": f"c{i + 1}"}
        if draw(st.booleans()):
            rec["tags"] = draw(st.lists(st.sampled_from(TAGS), unique=True))
        if draw(st.booleans()):
            rec["lead_score"] = draw(st.sampled_from([0, 20, 60]))
        contacts.append(rec)
    ids = [c["id"] for c in contacts] + ["n1"]  # n1: first seen in an event
    events = []
    anchors: list[int] = []
    for _ in range(draw(st.integers(0, 12))):
        t = draw(instants(anchors))
        anchors.append(t)
        cid = draw(st.sampled_from(ids))
        typ = draw(st.sampled_from(["page.visited", "email.opened", "form.submitted", "tag.added", "tag.removed",
                                    "contact.updated", "purchase.completed"]))
        fields: dict = {
            "page.visited": lambda: {"url": draw(st.sampled_from(URLS))},
            "email.opened": lambda: {"email": draw(st.sampled_from(EMAILS))},
            "form.submitted": lambda: {"form": draw(st.sampled_from(["demo", "other"]))},
            "tag.added": lambda: {"tag": draw(st.sampled_from(TAGS))},
            "tag.removed": lambda: {"tag": draw(st.sampled_from(TAGS))},
            "contact.updated": lambda: {"fields": {"lead_score": draw(st.sampled_from([0, 20, 60]))}},
            "purchase.completed": lambda: {"amount": draw(st.sampled_from([1, 5]))},
        }[typ]()
        events.append((t, cid, typ, fields))
    events.sort(key=lambda e: e[0])  # stable: ties keep their drawn order
    return contacts, events


# ---------------------------------------------------------------- running

_PLANS: dict[str, object] = {}


def compile_program(text: str):
    plan = _PLANS.get(text)
    if plan is None:
        res = check(load([FAKE], texts={FAKE: text}))
        errors = [d for d in res.diagnostics if d.is_error]
        assert res.ok and not errors, f"generated program does not check:\n{text}\n" + "\n".join(map(str, errors))
        plan = _PLANS[text] = build_plan(res.program)
    return plan


def activity(text: str, contacts, events, *, exhaustive: bool, start: int = START,
             keep_history: bool = True, plan=None) -> list[str]:
    eng = Engine(plan or compile_program(text), start=start, exhaustive=exhaustive, keep_history=keep_history)
    for rec in contacts:
        eng.add_contact(json.loads(json.dumps(rec)))  # each engine gets its own copy
    for t, cid, typ, fields in events:
        eng.add_event(t, cid, typ, json.loads(json.dumps(fields)))
    try:
        eng.run_until(UNTIL)
    except EngineError as exc:  # e.g. on-event workflows setting each other off: both engines must stop alike
        return [jsonl_line(e) for e in eng.activity] + [f"error: {exc}"]
    return [jsonl_line(e) for e in eng.activity]


def describe(text: str, contacts, events, start: int = START) -> str:
    lines = [f"--from {format_utc(start)} --until {format_utc(UNTIL)}", "program:", text, "contacts:"]
    lines += [json.dumps(c) for c in contacts]
    lines.append("events:")
    lines += [json.dumps({"time": format_utc(t), "contact": cid, "type": typ, **f}) for t, cid, typ, f in events]
    return "\n".join(lines)


def compare(text: str, contacts, events, start: int = START) -> None:
    fast = activity(text, contacts, events, exhaustive=False, start=start)
    naive = activity(text, contacts, events, exhaustive=True, start=start)
    if fast != naive:
        diff = "\n".join(difflib.unified_diff(naive, fast, "exhaustive", "agenda", lineterm="", n=2))
        raise AssertionError(f"the engines differ\n{describe(text, contacts, events, start)}\n{diff}")
    # The backtest mode keeps only the history that some condition can still count.
    lean = activity(text, contacts, events, exhaustive=False, start=start, keep_history=False)
    if lean != naive:
        diff = "\n".join(difflib.unified_diff(naive, lean, "exhaustive", "keep_history=False", lineterm="", n=2))
        raise AssertionError(f"keep_history=False differs\n{describe(text, contacts, events, start)}\n{diff}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.sampled_from([0, 0, 0, 1, 90]))
def test_agenda_engine_equals_the_exhaustive_reference(text, log, late_start):
    # --from is usually on every tick; sometimes just after one
    contacts, events = log
    start = START + late_start
    note(describe(text, contacts, events, start))
    compare(text, contacts, events, start)


def _goal_by_goal(cw):
    """``Compiler.first_goal``'s answer asked of each goal's own compiled
    condition in turn, as the engine did before the check was generated."""
    steps, exits = cw.step_goals, cw.exit_goals

    def first(c, t, since, top, at_goal, achieved):
        for i, x in enumerate(steps):
            if (x.top > top or x.pc == at_goal) and x.name not in achieved and x.cond(c, t, since, None):
                return i
        for i, x in enumerate(exits, len(steps)):
            if x.cond(c, t, since, None):
                return i
        return -1
    return first


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs())
def test_the_generated_goal_check_equals_asking_each_goal(text, log):
    """A woken contact's goals are asked with one generated function per
    workflow (the goal steps that listen, then the exit goals, each
    condition written in): every run is the one that asking each goal's own
    condition in order gives, with the full history and the lean one."""
    contacts, events = log
    note(describe(text, contacts, events))
    res = check(load([FAKE], texts={FAKE: text}))
    plan = build_plan(res.program)  # a plan of its own, its goal checks replaced
    for p in (plan, plan.lean()):
        for cw in p.workflows:
            cw.first_goal = _goal_by_goal(cw)
    for keep in (True, False):
        assert activity(text, contacts, events, exhaustive=False, keep_history=keep) == \
            activity(text, contacts, events, exhaustive=False, keep_history=keep, plan=plan), keep


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.sampled_from([1, 2, 3]))
def test_grouped_inner_loops_equal_flat_ones(text, log, group):
    """A long workflow's generated inner loop nests its instructions in
    halves (``engine._grouped``) past ``STEP_GROUP`` of them; the generated
    programs are short, so here every workflow is grouped (1, 2 or 3 per
    group; the engine generates its loops when it is made): the run is
    the one of the flat loop, with both histories."""
    from goaldsl.runtime import engine as engine_mod
    contacts, events = log
    note(describe(text, contacts, events))
    flat = [activity(text, contacts, events, exhaustive=False, keep_history=k) for k in (True, False)]
    kept = engine_mod.STEP_GROUP
    engine_mod.STEP_GROUP = group
    try:
        grouped = [activity(text, contacts, events, exhaustive=False, keep_history=k) for k in (True, False)]
    finally:
        engine_mod.STEP_GROUP = kept
    assert grouped == flat


def _paused_run(plan, contacts, events, flips, kept: bool) -> tuple[list[str], bool]:
    """A run whose host pauses or resumes a workflow after chosen instants
    (``flips``: (the how-manieth instant, workflow)); ``kept`` False: the
    engine works out its next workflow instant afresh after every instant
    (its kept agendas dropped, as pausing drops them). Also whether the
    kept agendas were used."""
    eng = Engine(plan, start=START)
    for rec in contacts:
        eng.add_contact(json.loads(json.dumps(rec)))
    for t, cid, typ, fields in events:
        eng.add_event(t, cid, typ, json.loads(json.dumps(fields)))
    seen = [0, False]

    def on_instant(t: int) -> None:
        seen[1] = seen[1] or eng._agendas is not None
        for k, name in flips:
            if k == seen[0]:
                eng.set_paused(name, not next(w.paused for w in eng._ws if w.name == name))
        seen[0] += 1
        if not kept:
            eng._agendas = None

    eng.on_instant = on_instant
    try:
        eng.run_until(UNTIL)
    except EngineError as exc:
        return [jsonl_line(e) for e in eng.activity] + [f"error: {exc}"], bool(seen[1])
    return [jsonl_line(e) for e in eng.activity], bool(seen[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs(), st.data())
def test_the_kept_agendas_equal_working_the_next_instant_out_again(text, log, data):
    """Once every workflow acting is activated, the engine keeps their
    agendas to find the next workflow instant (Engine._next_workflow_instant);
    pausing or resuming one drops them. Runs whose workflows are paused and
    resumed at random instants write what the same runs write when the next
    workflow instant is worked out from every workflow after each instant."""
    contacts, events = log
    plan = compile_program(text)
    names = [cw.name for cw in plan.workflows]
    flips = data.draw(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(names)), max_size=6))
    note(describe(text, contacts, events) + f"\nflips: {flips}")
    kept, used = _paused_run(plan, contacts, events, flips, kept=True)
    again, _ = _paused_run(plan, contacts, events, flips, kept=False)
    assert kept == again


def test_the_agendas_are_kept_and_dropped():
    """The kept agendas are used once every workflow acting is activated,
    dropped by a pause, and kept again after it (a fixed program)."""
    text = ('workflow "W1" {\n  evaluate every 5 minutes\n  enroll when page.visited\n  allow reentry\n'
            '  send_email("a")\n  wait 1 hour\n}\n'
            'workflow "W2" {\n  evaluate on event\n  enroll when page.visited\n  wait 10 minutes\n}\n')
    plan = compile_program(text)
    events = [(START + 60 * k, "c1", "page.visited", {"url": "/a"}) for k in range(1, 40, 7)]
    kept, used = _paused_run(plan, [{"id": "c1"}], events, [(2, "W1"), (4, "W1")], kept=True)
    again, _ = _paused_run(plan, [{"id": "c1"}], events, [(2, "W1"), (4, "W1")], kept=False)
    assert used and kept == again
    assert sum('"type":"enrolled"' in line for line in kept) == 2  # one in each workflow


def test_the_generated_programs_exercise_the_engine():
    """The comparison is only worth something if runs do things: a fixed
    (derandomized) sample of generated scenarios must enroll contacts, run
    actions, achieve goals and exit for several reasons."""
    seen: dict[str, int] = {}

    @settings(max_examples=120, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(programs(), logs())
    def collect(text, log):
        for line in activity(text, log[0], log[1], exhaustive=False):
            e = json.loads(line)
            key = e["type"] + (":" + e["reason"] if e["type"] == "exited" else "")
            seen[key] = seen.get(key, 0) + 1

    collect()
    for key in ("enrolled", "action", "goal_achieved", "exited:goal", "exited:completed", "exited:end"):
        assert seen.get(key, 0) > 0, (key, seen)


def replay(program: str, contacts: list[dict], events: list[tuple], late_start: int = 0) -> None:
    """Re-run one case by hand, with the falsifying example's values."""
    compare(program, contacts, events, START + late_start)
