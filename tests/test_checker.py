"""Checker diagnostics: exact codes, positions (line:col), messages and hints.

Each program is written to program.goal in a temporary folder (see
conftest.py), loaded with the standard library and checked.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load

REPO = Path(__file__).resolve().parent.parent
ACCEPTANCE = Path("/work/shared/acceptance/cases")

# Two lines of workflow header: the first step is on line 3, column 5.
HEAD = 'workflow "W" {\n    audience contact.x == 1\n'


def brief(diags):
    """(code, "line:col", summary, hint) for each diagnostic, in order."""
    return [(d.code, f"{d.span.line}:{d.span.col}" if d.span else None, d.summary, d.hint) for d in diags]


def one(diags):
    assert len(diags) == 1, "\n".join(d.render() for d in diags)
    return diags[0]


def related(d):
    return [(f"{r.span.file}:{r.span.line}:{r.span.col}", r.message) for r in d.related]


# ---------------------------------------------------------------- unknown names, with did-you-mean

UNKNOWN_NAMES = [
    pytest.param(
        'workflow "W" {\n    audience email.opend\n}\n',
        ("E0303", "2:14", "unknown event type email.opend", 'did you mean "email.opened"?'),
        id="event-type"),
    pytest.param(
        'segment s = appointment.status_chnged(status == confirmed)\n',
        ("E0303", "1:13", "unknown event type appointment.status_chnged",
         'did you mean "appointment.status_changed"?'),
        id="event-type-in-segment"),
    pytest.param(
        'segment s = email.zzzzzz\n',
        ("E0303", "1:13", "unknown event type email.zzzzzz",
         "email events are: email.bounced, email.clicked, email.delivered, email.opened, "
         "email.sent, email.unsubscribed"),
        id="event-type-family-listed"),
    pytest.param(
        'segment s = zork.zork\n',
        ("E0303", "1:13", "unknown event type zork.zork", "declare it with: event NAME { field: type }"),
        id="event-type-no-suggestion"),
    pytest.param(
        'workflow "W" {\n    audience email.clicked(lnk == "x")\n}\n',
        ("E0304", "2:28", 'event email.clicked has no field "lnk"', 'did you mean "link"?'),
        id="field"),
    pytest.param(
        'segment s = page.visited(zzz == "x")\n',
        ("E0304", "1:26", 'event page.visited has no field "zzz"', "its fields are: url"),
        id="field-lists-fields"),
    pytest.param(
        HEAD + '    send_emial("x")\n}\n',
        ("E0501", "3:5", "unknown action send_emial", 'did you mean "send_email"?'),
        id="action"),
    pytest.param(
        HEAD + '    send_invoice("x", amont: 3)\n}\n',
        ("E0502", "3:23", 'send_invoice has no parameter "amont"', 'did you mean "amount"?'),
        id="argument"),
    pytest.param(
        HEAD + '    notify(to: "a@b.c", message: "hi", zzz: 1)\n}\n',
        ("E0502", "3:40", 'notify has no parameter "zzz"', "its parameters are: to, message"),
        id="argument-lists-parameters"),
    pytest.param(
        'segment hot = contact.score > 3\nworkflow "W" {\n    audience hto\n}\n',
        ("E0301", "3:14", "unknown segment hto", 'did you mean "hot"?'),
        id="segment"),
    pytest.param(
        'segment s = contact.x == 1 and qqq\n',
        ("E0301", "1:32", "unknown segment qqq", "define it with: segment NAME = CONDITION"),
        id="segment-no-suggestion"),
    pytest.param(
        'workflow "W" {\n    enroll when invoice.sent\n    send_invoice("x") as first\n'
        '    goal "G" {\n        when invoice.status_changed(action == frist)\n    }\n}\n',
        ("E0410", "5:47", 'workflow "W" has no step named frist', 'did you mean "first"?'),
        id="step-name-in-filter"),
    pytest.param(
        'workflow "Invoices" {\n    enroll when invoice.sent\n    wait 7 days\n    goals {\n'
        '        goal "Paid" {\n            when invoice.status_changed(status == payed)\n        }\n    }\n}\n',
        ("E0305", "6:51", '"payed" is not one of the allowed values', 'did you mean "paid"?'),
        id="enum-value"),
    pytest.param(
        'segment s = appointment.status_changed(status in [confirmd, showed])\n',
        ("E0305", "1:51", '"confirmd" is not one of the allowed values', 'did you mean "confirmed"?'),
        id="enum-value-in-list"),
    pytest.param(
        HEAD + '    send_review_request(channel: smss)\n}\n',
        ("E0305", "3:34", '"smss" is not one of the allowed values', 'did you mean "sms"?'),
        id="enum-argument"),
    pytest.param(
        'workflow "W" {\n    timezone "America/New_Yrok"\n    audience contact.x == 1\n}\n',
        ("E0405", "2:14", 'unknown time zone "America/New_Yrok"', 'did you mean "America/New_York"?'),
        id="time-zone"),
    pytest.param(
        'workflow "W" {\n    timezone "Nowhere"\n    audience contact.x == 1\n}\n',
        ("E0405", "2:14", 'unknown time zone "Nowhere"', 'use an IANA name like "America/New_York"'),
        id="time-zone-no-suggestion"),
    pytest.param(
        'event thing.x { a: strin }\n',
        ("E0202", "1:20", 'unknown type "strin"', 'did you mean "string"?'),
        id="type"),
]


@pytest.mark.parametrize("src, expected", UNKNOWN_NAMES)
def test_unknown_names(check_src, src, expected):
    assert brief([one(check_src(src))]) == [expected]


def test_enum_value_lists_allowed_values(check_src):
    d = one(check_src('segment s = invoice.status_changed(status == payed)\n'))
    assert d.detail == "allowed: draft, sent, paid, partially_paid, overdue, void"
    assert d.span.end_col - d.span.col == len("payed")


def test_span_covers_the_whole_name(check_src):
    d = one(check_src('workflow "W" {\n    audience email.opend\n}\n'))
    assert (d.span.line, d.span.col, d.span.end_line, d.span.end_col) == (2, 14, 2, 25)


# ---------------------------------------------------------------- types and arguments

def test_wrong_argument_types(check_src):
    diags = check_src(HEAD + '    send_invoice("x", amount: "lots")\n    send_email(42)\n'
                      '    webhook("u", payload: 3)\n    send_review_request(channel: fax)\n}\n')
    assert brief(diags) == [
        ("E0506", "3:31", 'expected a number, not "lots"', None),
        ("E0506", "4:16", "expected text, not 42", None),
        ("E0506", "5:27", 'expected a map like {key: "value"}, not 3', None),
        ("E0305", "6:34", '"fax" is not one of the allowed values', None),
    ]
    assert diags[3].detail == "allowed: sms, email, whatsapp"


def test_wrong_value_types_in_filters(check_src):
    diags = check_src('segment s = email.clicked(link >= 3) and email.clicked(link starts with 3)\n'
                      'segment t = appointment.status_changed(status < confirmed)\n'
                      'segment u = email.clicked(email in 3)\n')
    assert brief(diags) == [
        ("E0506", "1:35", "expected text, not 3", 'write it in quotes: "3"'),
        ("E0506", "1:73", '"starts with" works on text, but this is a number', None),
        ("E0506", "2:40", '"<" compares numbers or text, not an enum', None),
        ("E0506", "3:36", '"in" needs a list on its right, like ["US", "CA"]', None),
    ]


def test_argument_count_and_order(check_src):
    diags = check_src(HEAD + '    send_invoice()\n    send_email("a", "b")\n'
                      '    send_email(template: "a", template: "b")\n    send_email(template: "a", "b")\n'
                      '    update_contact("SQL")\n}\n')
    assert brief(diags) == [
        ("E0504", "3:5", 'send_invoice needs the argument "template"', 'add template: "..."'),
        ("E0503", "4:21", "send_email takes 1 positional argument", None),
        ("E0505", "5:31", 'argument "template" is given twice', None),
        ("E0503", "6:31", "a positional argument cannot follow a named one", None),
        ("E0503", "7:20", "update_contact takes 0 positional arguments", "write it as NAME: VALUE"),
    ]


def test_values_that_are_not_values(check_src):
    diags = check_src('segment a = contact == "x"\nsegment b = foo == 1\n' + HEAD + '    send_email(foo)\n}\n')
    assert brief(diags) == [
        ("E0308", "1:13", "write a contact attribute as contact.NAME", None),
        ("E0309", "2:13", '"foo" is not a value here',
         'write text in quotes: "foo"; contact attributes start with contact.'),
        ("E0309", "5:16", '"foo" is not a value here', 'write text in quotes: "foo"'),
    ]


def test_contact_attributes_are_open(check_src):
    # Contact schemas are open: no error for any attribute or value type.
    assert check_src('segment s = contact.lead_score >= "high" and contact.company.size > 5\n') == []


def test_segment_with_a_window(check_src):
    d = one(check_src('segment hot = contact.x == 1\nsegment s = hot within 3 days\n'))
    assert brief([d]) == [("E0307", "2:13", "hot is a segment; a filter, count or window goes after an event type",
                           None)]


# ---------------------------------------------------------------- segments that refer to themselves

def test_segment_refers_to_itself(check_src):
    d = one(check_src('segment a = a and contact.x == 1\n'))
    assert brief([d]) == [("E0302", "1:13", "segment a refers to itself",
                           "a segment cannot be defined in terms of itself")]


def test_cycle_of_segments(check_src):
    d = one(check_src('segment b = c\nsegment c = contact.x == 1 or d\nsegment d = b\n'))
    assert brief([d]) == [("E0302", "3:13", "segments refer to each other in a cycle: b -> c -> d -> b",
                           "break the cycle by rewriting one segment")]


def test_segment_chain_without_cycle_is_fine(check_src):
    assert check_src('segment a = b\nsegment b = c\nsegment c = contact.x == 1\n'
                     'workflow "W" { audience a }\n') == []


# ---------------------------------------------------------------- goals and steps

def test_goal_step_inside_if(check_src):
    d = one(check_src(HEAD + '    if contact.y == 2 {\n        goal "G" { when email.opened }\n    }\n}\n'))
    assert brief([d]) == [("E0415", "4:9", "a goal step must be at the top level of the workflow",
                           "move it out of the if block")]


def test_goal_step_inside_else(check_src):
    d = one(check_src(HEAD + '    if contact.y == 2 { end } else {\n        goal "G" { when email.opened }\n    }\n}\n'))
    assert (d.code, d.span.line, d.span.col) == ("E0415", 4, 9)


def test_skip_to_unknown_step(check_src):
    d = one(check_src(HEAD + '    skip to nowhere\n    send_email("a") as later\n}\n'))
    assert brief([d]) == [("E0416", "3:13", "skip to nowhere: there is no top-level step with that name",
                           "name the step with `as NAME`")]


def test_skip_to_misspelt_step(check_src):
    d = one(check_src(HEAD + '    skip to latr\n    send_email("a") as later\n}\n'))
    assert brief([d]) == [("E0416", "3:13", "skip to latr: there is no top-level step with that name",
                           'did you mean "later"?')]


def test_skip_to_earlier_step(check_src):
    d = one(check_src(HEAD + '    send_email("a") as first\n    skip to first\n}\n'))
    assert brief([d]) == [("E0417", "4:13", "skip to first must jump forward to a later step",
                           "skip to only moves ahead; this step comes before")]


def test_skip_to_itself_is_not_forward(check_src):
    d = one(check_src(HEAD + '    goal "G" { when email.opened on achieved skip to "G" }\n}\n'))
    assert brief([d]) == [("E0417", "3:54", 'on achieved skip to G must jump forward to a later step',
                           "skip to only moves ahead; this step comes before")]


def test_skip_from_inside_if_to_earlier_step(check_src):
    d = one(check_src(HEAD + '    send_email("a") as first\n    if contact.y == 1 { skip to first }\n'
                      '    send_email("b") as later\n}\n'))
    assert brief([d]) == [("E0417", "4:33", "skip to first must jump forward to a later step",
                           "skip to only moves ahead; this step comes before")]


def test_skip_from_inside_if_to_later_step_is_fine(check_src):
    assert check_src(HEAD + '    if contact.y == 1 { skip to later }\n    send_email("b") as later\n}\n') == []


@pytest.mark.parametrize("before", [True, False], ids=["nested-before", "nested-after"])
def test_skip_to_nested_step(check_src, before):
    nested = '    if contact.y == 1 {\n        send_email("a") as inner\n    }\n'
    skip = '    skip to inner\n'
    d = one(check_src(HEAD + (nested + skip if before else skip + nested) + '}\n'))
    line = 6 if before else 3
    assert brief([d]) == [("E0416", f"{line}:13", "skip to inner: there is no top-level step with that name",
                           "inner is inside an if block; skip to jumps only to top-level steps")]


def test_on_achieved_skip_to(check_src):
    diags = check_src(HEAD + '    goal "G" { when email.opened on achieved skip to nowhere }\n'
                      '    send_email("x") as sx\n    goal "H" { when email.opened on achieved skip to sxx }\n'
                      '    goal "I" { when email.opened on achieved skip to sx }\n}\n')
    assert brief(diags) == [
        ("E0416", "3:54", "on achieved skip to nowhere: there is no top-level step with that name",
         "name the step with `as NAME`"),
        ("E0416", "5:54", "on achieved skip to sxx: there is no top-level step with that name",
         'did you mean "sx"?'),
        ("E0417", "6:54", "on achieved skip to sx must jump forward to a later step",
         "skip to only moves ahead; this step comes before"),
    ]


def test_on_achieved_and_on_unmet_on_exit_goals(check_src):
    diags = check_src(HEAD + '    send_email("a")\n    goals {\n        goal "G" {\n            when email.opened\n'
                      '            on achieved end\n            on unmet continue\n        }\n    }\n}\n')
    hint = "move the goal into the steps to make it a checkpoint"
    assert brief(diags) == [
        ("E0419", "7:13", "on achieved belongs to goal steps; an exit goal always takes the contact out", hint),
        ("E0419", "8:13", "on unmet belongs to goal steps; an exit goal always takes the contact out", hint),
    ]
    assert (diags[0].span.end_line, diags[0].span.end_col) == (7, 28)


def test_duplicate_step_names(check_src):
    d = one(check_src(HEAD + '    send_email("a") as one\n    if contact.y == 1 { wait 1 day as one }\n}\n'))
    assert brief([d]) == [("E0411", "4:39", "two steps are named one", None)]
    assert related(d) == [("program.goal:3:24", "first named here")]


def test_duplicate_goal_names(check_src):
    d = one(check_src(HEAD + '    goal "G" { when email.opened }\n    goals {\n'
                      '        goal "G" { when email.clicked }\n    }\n}\n'))
    assert brief([d]) == [("E0412", "5:14", 'two goals are named "G"', None)]
    assert related(d) == [("program.goal:3:10", "first named here")]


def test_duplicate_exit_goal_names(check_src):
    d = one(check_src(HEAD + '    goals {\n        goal "G" { when email.opened }\n'
                      '        goal "G" { when email.clicked }\n    }\n}\n'))
    assert (d.code, d.span.line, d.span.col) == ("E0412", 5, 14)
    assert related(d) == [("program.goal:4:14", "first named here")]


def test_goal_needs_one_when(check_src):
    diags = check_src(HEAD + '    goal "G" { then { add_tag("x") } }\n'
                      '    goal "H" { when email.opened when email.clicked }\n}\n')
    assert brief(diags) == [
        ("E0418", "3:10", 'goal "G" needs a when clause', "add: when CONDITION"),
        ("E0418", "4:34", "a goal has one when clause", "combine the conditions with and / or"),
    ]


def test_goal_clause_twice(check_src):
    d = one(check_src(HEAD + '    goal "G" {\n        when email.opened\n        on achieved end\n'
                      '        on achieved continue\n    }\n}\n'))
    assert brief([d]) == [("E0402", "6:9", "this clause is given twice", None)]


# ---------------------------------------------------------------- settings and enrollment

def test_audience_and_enroll_when(check_src):
    d = one(check_src('workflow "W" {\n    audience contact.x == 1\n    enroll when form.submitted\n}\n'))
    assert brief([d]) == [("E0403", "3:5", "a workflow has either audience or enroll when, not both", None)]
    assert related(d) == [("program.goal:2:5", "audience given here")]


def test_allow_reentry_without_enroll_when(check_src):
    d = one(check_src('workflow "W" {\n    audience contact.x == 1\n    allow reentry\n}\n'))
    assert brief([d]) == [("E0407", "3:5", "allow reentry only applies to enroll when",
                           "audience workflows re-enroll contacts that qualify again")]


def test_allow_reentry_with_enroll_when_is_fine(check_src):
    assert check_src('workflow "W" {\n    enroll when form.submitted\n    allow reentry\n}\n') == []


def test_no_enrollment(check_src):
    d = one(check_src('workflow "W" { send_email("a") }\n'))
    assert brief([d]) == [("E0404", "1:10", 'workflow "W" has no way to enroll contacts',
                           "add `audience CONDITION` or `enroll when EVENT`")]


def test_enroll_when_needs_a_plain_event(check_src):
    diags = check_src('workflow "A" { enroll when contact.x == 1 }\n'
                      'workflow "B" { enroll when email.opened within 3 days }\n'
                      'workflow "C" { runs once at 2026-01-01T00:00 enroll when email.opened }\n')
    assert brief(diags) == [
        ("E0409", "1:28", 'enroll when takes an event, like form.submitted(form == "demo")',
         "for a condition on contact data, use `audience`"),
        ("E0409", "2:28", "an enroll-when event takes no count or window", "each matching event enrolls the contact"),
        ("E0408", "3:46", "a one-time workflow enrolls its audience once; it cannot use enroll when",
         "use `audience CONDITION`, or `runs perpetual`"),
    ]


def test_enroll_when_an_unknown_event_is_one_error(check_src):
    diags = check_src('workflow "A" { enroll when email.opend }\n')
    assert [(d.code, d.hint) for d in diags] == [("E0303", 'did you mean "email.opened"?')]


def test_settings_after_steps(check_src):
    d = one(check_src(HEAD + '    send_email("a")\n    timezone "UTC"\n}\n'))
    assert brief([d]) == [("E0401", "4:5", "settings come before the steps", "move this line to the top of the workflow")]


def test_settings_after_goals_section(check_src):
    d = one(check_src(HEAD + '    goals { goal "G" { when email.opened } }\n    evaluate on event\n}\n'))
    assert (d.code, d.span.line, d.span.col) == ("E0401", 4, 5)


def test_setting_given_twice(check_src):
    d = one(check_src(HEAD + '    audience contact.x == 2\n}\n'))
    assert brief([d]) == [("E0402", "3:5", "this setting is given twice", None)]
    assert related(d) == [("program.goal:2:5", "first given here")]


def test_steps_after_goals_section_and_two_goals_sections(check_src):
    diags = check_src(HEAD + '    goals { goal "A" { when email.opened } }\n    send_email("a")\n'
                      '    goals { goal "B" { when email.clicked } }\n}\n')
    assert brief(diags) == [
        ("E0421", "4:5", "steps go before the goals section", "the goals { } section comes last in a workflow"),
        ("E0420", "5:5", "a workflow has at most one goals section", None),
    ]
    assert related(diags[1]) == [("program.goal:3:5", "the first one")]


def test_evaluate_every(check_src):
    diags = check_src('workflow "A" {\n    evaluate every 1 month\n    audience contact.x == 1\n}\n'
                      'workflow "B" {\n    evaluate every 0 minutes\n    audience contact.x == 1\n}\n')
    assert brief(diags) == [
        ("E0406", "2:20", "evaluate every takes minutes, hours, days or weeks, not months", None),
        ("E0406", "6:20", "evaluate every needs a duration above zero", None),
    ]


def test_invalid_date_time(check_src):
    d = one(check_src(HEAD + '    wait until 2026-02-30T10:00\n}\n'))
    assert (d.code, d.span.line, d.span.col) == ("E0413", 3, 5)
    assert d.summary == "2026-02-30T10:00 is not a valid date-time: day is out of range for month"


# ---------------------------------------------------------------- drips

def test_drip_holds_only_sends_waits_and_goal_steps(check_src):
    diags = check_src('drip "D" {\n    audience contact.x == 1\n    send_email("a")\n    wait 1 day\n'
                      '    add_tag("x")\n    if contact.y == 1 { send_email("b") }\n'
                      '    goal "G" { when email.opened then { add_tag("y") } }\n    skip to later\n'
                      '    send_sms("s") as later\n    end\n}\n')
    hint = "use a workflow for branches, skips and other actions"
    msg = "a drip holds only sends, waits and goal steps"
    assert brief(diags) == [
        ("E0414", "5:5", msg, hint),
        ("E0414", "6:5", msg, hint),
        ("E0414", "8:5", msg, hint),
        ("E0414", "10:5", msg, hint),
    ]


def test_drip_with_only_allowed_steps_is_clean(check_src):
    assert check_src('drip "D" {\n    enroll when form.submitted\n    send_email("a")\n    wait 2 days\n'
                     '    wait until 09:00\n    send_whatsapp("w")\n'
                     '    goal "G" { when email.clicked then { add_tag("clicked") notify(to: "x", message: "y") } }\n'
                     '    send_sms("s")\n}\n') == []


# ---------------------------------------------------------------- limits reported by the checker run

@pytest.mark.parametrize("text, col", [
    (HEAD + '    wait 4000 days\n}\n', 10),
    (HEAD + '    wait 130 months\n}\n', 10),
    (HEAD + '    wait 600 weeks 2 days\n}\n', 10),
    (HEAD + '    wait until email.opened up to 3661 days\n}\n', 35),
    (HEAD + '    goal "G" { when email.opened on unmet wait up to 3661 days then end }\n}\n', 54),
    (HEAD + '    goal "G" { when email.opened within 3661 days }\n}\n', 41),
], ids=["wait-days", "wait-months", "wait-weeks", "wait-until-limit", "unmet-limit", "window"])
def test_durations_over_ten_years(check_src, text, col):
    d = one(check_src(text))
    assert brief([d]) == [("E0008", f"3:{col}", "this duration is longer than the limit of 10 years", None)]


def test_durations_at_the_cap_are_fine(check_src):
    assert check_src(HEAD + '    wait 3660 days\n    wait 52 weeks\n}\n') == []


# ---------------------------------------------------------------- declarations

def test_duplicate_declarations_show_both_places(check_src):
    diags = check_src('segment a = contact.x == 1\nsegment a = contact.x == 2\n'
                      'event email.opened { email: string }\naction send_email(t: string)\n'
                      'workflow "W" { audience a }\nworkflow "W" { audience a }\n')
    assert brief(diags) == [
        ("E0201", "2:9", "segment a is declared twice", "rename or remove one of them"),
        ("E0201", "3:7", "event email.opened is declared twice", "rename or remove one of them"),
        ("E0201", "4:8", "action send_email is declared twice", "rename or remove one of them"),
        ("E0201", "6:10", 'workflow "W" is declared twice', "rename or remove one of them"),
    ]
    assert related(diags[0]) == [("program.goal:1:9", "first declared here")]
    assert related(diags[1])[0][0].startswith("<stdlib>/events.goal:")
    assert related(diags[2])[0][0].startswith("<stdlib>/actions.goal:")
    assert related(diags[3]) == [("program.goal:5:10", "first declared here")]


def test_bad_declarations(check_src):
    diags = check_src('event thing { a: string, b: enum(x, x) }\nevent e.x { a: string, a: number }\n'
                      'action bar(a: string, a: number)\n'
                      'action foo(a: string) emits nothing.here, email.sent(emial: a), email.sent(email: b)\n')
    assert brief(diags) == [
        ("E0203", "1:7", 'event type "thing" needs a dotted name, like "form.submitted"', None),
        ("E0202", "1:29", "an enum lists the same value twice", None),
        ("E0201", "2:24", 'field "a" is declared twice in e.x', None),
        ("E0201", "3:23", 'parameter "a" is declared twice', None),
        ("E0303", "4:29", "unknown event type nothing.here", "declare it with: event NAME { field: type }"),
        ("E0304", "4:54", 'event email.sent has no field "emial"', 'did you mean "email"?'),
        ("E0502", "4:83", '"b" is not a parameter of foo', None),
    ]


def test_user_declared_events_and_actions(check_src):
    assert check_src('event quiz.finished { score: number, level: enum(low, high) }\n'
                     'action give_badge(badge: string, level: enum(low, high) = "low") emits tag.added(tag: badge)\n'
                     'workflow "W" {\n    enroll when quiz.finished(score >= 80, level == high)\n'
                     '    give_badge("ace", level: high)\n}\n') == []


# ---------------------------------------------------------------- every diagnostic, rendered

def test_rendered_diagnostic_shows_position_line_and_caret(check_src):
    src = 'workflow "W" {\n    audience email.opend\n}\n'
    d = one(check_src(src))
    text = d.render({"program.goal": src})
    assert text.splitlines() == [
        "program.goal:2:14: error[E0303]: unknown event type email.opend",
        "   |",
        " 2 |     audience email.opend",
        "   |              ^^^^^^^^^^^",
        '    = hint: did you mean "email.opened"?',
    ]


def test_diagnostics_are_sorted_and_all_reported(check_src):
    diags = check_src('segment b = zzz\nsegment a = email.opend\n' + HEAD.replace('"W"', '"X"') + '    foo()\n}\n')
    assert [(d.code, d.span.line) for d in diags] == [("E0301", 1), ("E0303", 2), ("E0501", 5)]


# ---------------------------------------------------------------- programs that must check clean

def _clean(path: Path):
    res = check(load([path]))
    return [d.render(res.program.sources if res.program else None) for d in res.diagnostics]


def _acceptance_programs():
    if not ACCEPTANCE.is_dir():
        return []
    return sorted(p for p in ACCEPTANCE.glob("*/program.goal")
                  if not p.parent.name.startswith(("09", "11")))


@pytest.mark.skipif(not ACCEPTANCE.is_dir(), reason="no acceptance cases folder")
@pytest.mark.parametrize("path", _acceptance_programs(), ids=lambda p: p.parent.name)
def test_acceptance_programs_check_clean(path):
    assert _clean(path) == []


@pytest.mark.skipif(not ACCEPTANCE.is_dir(), reason="no acceptance cases folder")
def test_acceptance_error_cases():
    syntax = ACCEPTANCE / "09-syntax-error" / "program.goal"
    enum = ACCEPTANCE / "11-unknown-enum-value" / "program.goal"
    if syntax.is_file():
        res = check(load([syntax]))
        d = one(list(res.diagnostics))
        assert (d.code, d.span.line, d.span.col, d.hint) == ("E0001", 6, 13, 'did you mean "when"?')
    if enum.is_file():
        res = check(load([enum]))
        d = one(list(res.diagnostics))
        assert (d.code, d.span.line, d.hint) == ("E0305", 6, 'did you mean "paid"?')
        assert "payed" in d.summary


@pytest.mark.parametrize("path", sorted(REPO.glob("examples/*/program.goal")), ids=lambda p: p.parent.name)
def test_examples_check_clean(path):
    assert _clean(path) == []


def test_there_are_examples():
    assert len(list(REPO.glob("examples/*/program.goal"))) >= 1


def test_keyword_where_a_segment_name_stands(check_src):
    d = one(check_src(HEAD + '    if when { end }\n}\n'))
    assert brief([d]) == [("E0006", "3:8", '"when" is a keyword and cannot be used as a name', None)]


# ------------------------------------------------- contact schema from the data

def test_contact_schema_is_inferred_from_the_data(tmp_path):
    from goaldsl.semantics.schema import infer_contact_schema
    data = tmp_path / "contacts.jsonl"
    data.write_text('{"id": "c1", "score": 4, "country": "US", "company": {"size": 800}, "mixed": 1}\n'
                    'not json\n'
                    '{"id": "c2", "score": 9.5, "country": null, "mixed": "x", "tags": ["a"]}\n')
    schema = infer_contact_schema(data)
    assert schema[("score",)] == "number"
    assert schema[("country",)] == "string"  # null says nothing
    assert schema[("company", "size")] == "number"
    assert schema[("tags",)] == "list"
    assert ("mixed",) not in schema  # two kinds: open, no warnings


def test_contact_attribute_of_another_kind_is_a_warning(write):
    from goaldsl.api import check_paths
    write("contacts.jsonl", '{"id": "c1", "lead_score": 40, "country": "US"}\n')
    write("program.goal", 'workflow "W" {\n    audience contact.lead_score == "high" or contact.country == 1\n'
                          '        or contact.lead_score >= 80 or contact.unknown == "x"\n    send_email("a")\n}\n')
    from goaldsl.semantics.schema import schema_beside
    res = check_paths(["program.goal"], contact_schema=schema_beside("program.goal"))
    assert res.ok  # warnings only: contact schemas are open
    assert [(d.code, d.severity.value, d.span.line, d.span.col, d.summary, d.hint) for d in res.diagnostics] == [
        ("W0501", "warning", 2, 36,
         'contact.lead_score is a number in the contact data, compared here with text "high"', None),
        ("W0501", "warning", 2, 65,
         "contact.country is text in the contact data, compared here with the number 1", 'write it in quotes: "1"'),
    ]
    # Without data there is nothing to compare with.
    assert check_paths(["program.goal"]).diagnostics == ()


def test_goal_check_of_a_folder_warns_and_exits_0(write, capsys):
    from goaldsl.cli import main
    write("prog/contacts.jsonl", '{"id": "c1", "size": 800}\n')
    write("prog/segments.goal", 'segment big = contact.size > "500"\n')
    write("prog/program.goal", 'workflow "W" {\n    audience big\n    send_email("a")\n}\n')
    assert main(["check", "prog"]) == 0  # the folder's files see each other
    out = capsys.readouterr().out
    assert "prog/segments.goal:1:30: warning[W0501]" in out
    assert "hint: write the number without quotes: 500" in out
    assert "ok: 2 files checked, 1 warning" in out


def _walked_shape(cond):
    # The reference: every node walked (A.walk's order), the depth of the
    # nodes a condition nests through (and, or, not, an event atom).
    from goaldsl.syntax import ast as A
    refs, deepest = [], 0

    def walk(n, d):
        nonlocal deepest
        if isinstance(n, (A.Or, A.And, A.Not, A.RefAtom)):
            d += 1
            deepest = max(deepest, d)
            if type(n) is A.RefAtom and len(n.ref.parts) == 1:
                refs.append(n.ref)
        for c in A.children(n):
            walk(c, d)
    walk(cond, 0)
    return refs, deepest


def test_a_conditions_shape_is_the_whole_walks():
    # segment_shape walks only the nodes that can hold a condition (not a
    # comparison's values, a count, a duration): the same references, in
    # the same order, and the same depth as a walk of every node.
    from hypothesis import given, settings
    from goaldsl.semantics.checker.declarations import _shape
    from strategies import conds

    @settings(max_examples=400, deadline=None)
    @given(conds)
    def same(cond):
        refs, deepest = _shape(cond)
        want_refs, want_deepest = _walked_shape(cond)
        assert [id(r) for r in refs] == [id(r) for r in want_refs] and deepest == want_deepest
    same()


def test_a_contexts_copy_keeps_every_field():
    # Context.but lists the fields by hand (for speed): a field added to
    # Context and not to but would be lost in every copy.
    from goaldsl.semantics import ir
    from goaldsl.semantics.checker.common import Context
    from goaldsl.syntax import nodes
    names = nodes.field_names(Context)
    ev = ir.EventType("e.x", {"a": ir.FieldType("string")})
    values = {"workflow": "W", "steps": frozenset({"s"}), "event": ev, "in_workflow": True,
              "trigger": {"time": ir.FieldType("string")}, "no_trigger": "audience"}
    assert set(values) == set(names)  # a new field needs a value here too
    ctx = Context(**values)
    assert ctx.but() == nodes.evolve(ctx) == ctx and ctx.but() is not ctx
    for name in names:
        changed = {name: Context().__getattribute__(name)}
        assert ctx.but(**changed) == nodes.evolve(ctx, **changed)
        assert {n: getattr(ctx.but(**changed), n) for n in names} == {**values, **changed}
