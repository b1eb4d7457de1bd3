"""Conditions compiled to generated Python code agree with the plain closures.

``Compiler.cond`` writes each condition out as Python source (comparisons
with constants inlined, each event count a loop of its own);
the closure oracle (``closure_oracle.ClosureOracle``) builds the same condition
from small closures that call ``compare_values``, ``member``, ``text_op`` and
``is_set``. Both must give the
same value for every contact, instant and value kind - and whole runs of the
random programs of the engine property test must write the same activity.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from goaldsl.api import load_program
from goaldsl.semantics.checker import check
from goaldsl.runtime.compiler import Atoms, Compiler
from goaldsl.runtime.engine import Contact, Engine, EngineError
from goaldsl.semantics.loader import load
from goaldsl.runtime.output import jsonl_line
from goaldsl.runtime.plan import build_plan

from closure_oracle import ClosureOracle
from test_engine_property import FAKE, START, UNTIL, describe, logs, programs

PROGRAM = """
segment hot = page.visited(url starts with "/pricing") at least 2 times within 1 hour
workflow "W" {
    enroll when form.submitted
    send_email("hi")
}
"""

CONDITIONS = [
    "contact.lead_score >= 50", "contact.lead_score < 50", "contact.lead_score == 50", "contact.lead_score != 50",
    "contact.lead_score == 1", "contact.vip == true", "contact.vip != true", "contact.vip == false",
    'contact.plan == "pro"', 'contact.plan != "pro"', 'contact.plan < "q"', 'contact.plan >= "pro"',
    "contact.company.size >= 100", "contact.company.size < 100.5",
    '"x" in contact.tags', '"x" not in contact.tags', 'contact.plan in ["pro", "team"]',
    'contact.tags in contact.company', '"size" not in contact.company', 'contact.plan in contact.tags',
    'contact.plan not in ["pro", "team"]', "contact.lead_score in [1, 50]",
    "contact.vip in [1]", "contact.vip in [true]", "contact.lead_score in [true, 1]", "contact.vip not in [false]",
    "1 in contact.tags", "true in contact.tags",
    'contact.plan starts with "PR"', 'contact.plan ends with "o"', 'contact.plan contains "r"',
    'contact.tags contains "X"', "contact.plan is set", "contact.plan is not set", "contact.vip",
    "hot", "not hot", "hot or contact.vip", "hot and contact.lead_score > 10",
    'page.visited(url starts with "/pricing") at least 2 times within 1 hour',
    'page.visited(url == "/a") at most 1 times within 2 days', "page.visited exactly 2 times ever",
    "page.visited at least 1 times since enrollment", "email.opened", "not email.opened",
    'page.visited(url ends with "team" or url == "/a") at least 1 times within 1 month',
    # `within D after OTHER` (issue 16.2), one type and two
    'email.opened within 1 hour after page.visited(url starts with "/pricing")',
    'page.visited at least 2 times within 2 hours after page.visited ever',
    'page.visited(url == "/a") exactly 1 time within 1 day after email.opened since enrollment',
    'not page.visited at most 0 times within 30 minutes after page.visited(url != "/b")',
]

VALUES = [None, True, False, 0, 1, 1.0, 50, 50.0, 49.9, 100, "pro", "PRO", "team", "", "50", [], ["x"], ["X", "y"],
          {}, {"size": 100}, {"size": "100"}]


def contacts():
    keys = st.sampled_from(["lead_score", "vip", "plan", "tags", "company"])
    return st.dictionaries(keys, st.sampled_from(VALUES), max_size=5)


# Times on the half hour, so that window edges and the enrollment instant are hit exactly.
events = st.lists(st.tuples(st.integers(-144, 2).map(lambda k: 1800 * k), st.sampled_from(["page.visited", "email.opened"]),
                            st.sampled_from(["/pricing", "/PRICING/team", "/a", "/b"])), max_size=8)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cond")
    (folder / "program.goal").write_text(PROGRAM)
    program = load_program(folder / "program.goal")
    out = []
    for text in CONDITIONS:
        cond, _ = program.condition(text)
        for tz in ("UTC", "America/New_York"):
            comp = Compiler(program.ir, tz)
            atoms = Atoms(program.ir)
            lean = Compiler(program.ir, tz, lean=atoms).cond(cond)
            out.append((text, tz, comp.cond(cond), ClosureOracle(program.ir, tz).closure(cond), atoms, lean))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contacts(), events, st.integers(0, 96).map(lambda k: 1800 * k), st.sampled_from([None, START - 3600, START]))
def test_generated_conditions_equal_the_closures(compiled, attrs_, evs, later, since):
    c = Contact("c1", dict(attrs_), 0)
    for dt, typ, url in sorted(evs):
        c.events.setdefault(typ, []).append((START + dt, {"url": url} if typ == "page.visited" else {"email": "a"}))
    now = START + later
    for text, tz, gen, ref, _, _ in compiled:
        assert gen(c, now, since, None) == ref(c, now, since, None), (text, tz, attrs_, evs, now, since)


def _lean_contact(atoms: Atoms, attrs_: dict, evs: list) -> Contact:
    """A contact's lean history as compiler.Atoms describes it (what the
    engine's recorder keeps): per static count, the times of the latest
    matching events; per other count, each event's time and the fields its
    filter reads (nothing dropped: every window sees them)."""
    c = Contact("c1", dict(attrs_), 0)
    for t, typ, fields in evs:
        for a in atoms.by_type.get(typ, ()):
            if a.static:
                if a.match is None or a.match(fields):
                    lst = c.events.setdefault(a.key, [])
                    lst.append(t)
                    if len(lst) > a.keep:
                        del lst[:-a.keep]
            else:
                kept = fields if a.fields is None else {k: fields[k] for k in a.fields if k in fields}
                c.events.setdefault(a.key, []).append((t, kept))
    return c


# As ``events``, but often within a few hours of the instant (the short windows' edges).
near_events = st.lists(st.tuples(st.one_of(st.integers(-8, 2), st.integers(-144, 2)).map(lambda k: 1800 * k),
                                 st.sampled_from(["page.visited", "email.opened"]),
                                 st.sampled_from(["/pricing", "/PRICING/team", "/a", "/b"])), max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contacts(), near_events, st.one_of(st.integers(0, 4), st.integers(0, 96)).map(lambda k: 1800 * k),
       st.sampled_from([None, START - 3600, START]))
def test_lean_conditions_equal_the_closures(compiled, attrs_, evs, later, since):
    # The lean build (Engine(keep_history=False)): counts read only what the
    # lean history keeps, yet give what the closures give over every event.
    evs = [(START + dt, typ, {"url": url} if typ == "page.visited" else {"email": "a"}) for dt, typ, url in sorted(evs)]
    full = Contact("c1", dict(attrs_), 0)
    for t, typ, fields in evs:
        full.events.setdefault(typ, []).append((t, fields))
    now = START + later
    for text, tz, _, ref, atoms, lean in compiled:
        c = _lean_contact(atoms, attrs_, [e for e in evs if e[0] <= now])
        assert lean(c, now, since, None) == ref(full, now, since, None), (text, tz, attrs_, evs, now, since)


def _plan(text: str, closures: bool):
    res = check(load([FAKE], texts={FAKE: text}))
    assert res.ok
    if not closures:
        return build_plan(res.program)
    plain = Compiler.cond

    def closure(comp, cond):
        plain(comp, cond)  # the compiler notes which events the condition reads, for how long
        return ClosureOracle(comp.program, comp.tz, comp.workflow).closure(cond)

    Compiler.cond = closure
    try:
        return build_plan(res.program)
    finally:
        Compiler.cond = plain


def _run(plan, contacts, events, start):
    eng = Engine(plan, start=start)
    for rec in contacts:
        eng.add_contact(json.loads(json.dumps(rec)))
    for t, cid, typ, fields in events:
        eng.add_event(t, cid, typ, json.loads(json.dumps(fields)))
    try:
        eng.run_until(UNTIL)
    except EngineError as exc:
        return [jsonl_line(e) for e in eng.activity] + [f"error: {exc}"]
    return [jsonl_line(e) for e in eng.activity]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), logs())
def test_runs_with_generated_conditions_equal_runs_with_closures(text, log):
    contacts, evs = log
    note(describe(text, contacts, evs))
    assert _run(_plan(text, False), contacts, evs, START) == _run(_plan(text, True), contacts, evs, START)


@pytest.mark.parametrize("value, items, expected", [
    (True, [1], False), (1, [True], False), (False, [0], False), (0, [False], False),
    (True, [1, True], True), (1, [True, 1.0], True), (1, [1.0], True), (True, [True], True),
    ("a", ["a"], True), ("1", [1], False), (None, [None], False),
])
def test_in_a_list_finds_an_item_equal_as_double_equals_has_it(value, items, expected):
    """Booleans equal only booleans (docs/language.md, section 14), in `in`
    as in `==`: Python's own `in` took true for 1. Both builds agree."""
    from goaldsl.runtime.compiler import compare_values, member
    assert member(value, items) is expected
    assert expected == any(compare_values("==", value, x) for x in items)
