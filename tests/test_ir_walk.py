"""``ir.walk``: the one walker that expands segments for every analysis.

The analyses built on it (the event types and attributes a condition reads,
the windows whose expiry matters, the attributes explain lists (``ir.attribute_paths``), the goal
digests of state files, and goal lint's event atoms, windows and used
segments) are compared with the hand-written walks they
replaced, kept here as oracles, on the random programs of the engine
property test. The goal digests must stay those existing state files hold.
"""
from __future__ import annotations

import re

import attrs
from hypothesis import HealthCheck, given, settings

from goaldsl.api import load_program
from goaldsl.durable.edits import digest as _digest, workflow_goals as _workflow_goals
from goaldsl.runtime.compiler import expiry_windows, referenced_types
from goaldsl.semantics import ir
from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load
from goaldsl.tools.lint import _events, _positive_windows, _used_segments, _workflow_conds

from test_engine_property import FAKE, programs

PROGRAM = """
segment engaged = email.opened at least 2 times within 7 days
segment hot = engaged and contact.lead_score >= 50
segment vip = "vip" in contact.tags

workflow "Nurture" {
    enroll when form.submitted
    goal "Warm" {
        when hot or page.visited(url starts with "/pricing")
        then if vip { send_email("vip") }
        on unmet continue
    }
    send_email("next")
    goals {
        goal "Bought" { when purchase.completed and not vip }
    }
}
"""


def _checked(text: str) -> ir.Program:
    res = check(load([FAKE], texts={FAKE: text}))
    assert res.ok, [str(d) for d in res.diagnostics]
    return res.program


def _kind(n) -> str:
    if isinstance(n, ir.CSegment):
        return n.name
    if isinstance(n, ir.CEvent):
        return n.event
    return type(n).__name__


def test_the_condition_comes_first_then_each_segment_once_per_polarity():
    p = _checked(PROGRAM + 'segment both = vip and not vip\nsegment top = hot or both\n')
    got = [(_kind(n), pos) for n, pos in ir.walk(p.segments["top"], p.segments)]
    assert got == [
        ("COr", True), ("hot", True), ("both", True),
        # hot's definition, then both's, in the order they were named
        ("CAnd", True), ("engaged", True), ("CCompare", True),
        ("CAnd", True), ("vip", True), ("CNot", True), ("vip", False),
        # what those definitions named: engaged, vip, and vip under `not`
        ("email.opened", True),
        ("CIn", True),
        ("CIn", False),
    ]


def test_without_segments_a_reference_is_a_leaf_and_filters_can_be_left_out():
    p = _checked(PROGRAM)
    cond = p.workflows[0].steps[0].goal.cond  # hot or page.visited(url starts with "/pricing")
    assert [_kind(n) for n, _ in ir.walk(cond)] == ["COr", "hot", "page.visited", "CText"]
    assert [_kind(n) for n, _ in ir.walk(cond, filters=False)] == ["COr", "hot", "page.visited"]
    assert list(ir.walk(None)) == []


def test_goal_digests_are_those_state_files_hold(tmp_path):
    """The digest of a workflow's goals is stored in state files and compared
    on resume: it must not change for the same program."""
    (tmp_path / "program.goal").write_text(PROGRAM)
    p = load_program(tmp_path / "program.goal")
    # recorded with the regular-expression version this replaced
    assert [_workflow_goals(w.wf, p.ir.segments) for w in p.plan.workflows] == ["b8d650d497438a6d21ff5136ba4cfac4"]


# ---------------------------------------------------------------- the walks it replaced

def _goal_steps(steps):
    for st in steps:
        if isinstance(st, ir.SGoal):
            yield st.goal
        elif isinstance(st, ir.SIf):
            for _, body in st.branches:
                yield from _goal_steps(body)
            yield from _goal_steps(st.else_steps)


def _old_workflow_goals(wf: ir.Workflow, segments: dict) -> str:
    goals = [g for g in _goal_steps(wf.steps)] + list(wf.goals)
    text = repr(goals)
    for name in sorted(set(re.findall(r"CSegment\(name='([^']*)'", text))):
        text += repr(segments.get(name))
    return _digest(text)


def _old_referenced_types(c, program):
    types: set[str] = set()
    reads_attrs = False
    if c is None:
        return types, reads_attrs
    stack = [c]
    seen_segments: set[str] = set()
    while stack:
        n = stack.pop()
        if isinstance(n, ir.CSegment):
            if n.name not in seen_segments and n.name in program.segments:
                seen_segments.add(n.name)
                stack.append(program.segments[n.name])
            continue
        if isinstance(n, ir.CEvent):
            types.add(n.event)
            if n.filter is not None:
                stack.append(n.filter)
            if n.after is not None:  # the anchor of `within D after` (issue 16.2) counts its type too
                stack.append(n.after)
            continue
        if isinstance(n, ir.OAttr):
            reads_attrs = True
            continue
        if attrs.has(type(n)):
            for f in attrs.fields(type(n)):
                v = getattr(n, f.name)
                if attrs.has(type(v)):
                    stack.append(v)
                elif isinstance(v, tuple):
                    stack.extend(x for x in v if attrs.has(type(x)))
    return types, reads_attrs


def _old_expiry_windows(c, program, *, both_ways):
    out: dict[str, set] = {}
    if c is None:
        return out
    stack = [(c, True)]
    seen: set[tuple[str, bool]] = set()
    while stack:
        n, positive = stack.pop()
        if isinstance(n, ir.CSegment):
            key = (n.name, positive)
            if key not in seen and n.name in program.segments:
                seen.add(key)
                stack.append((program.segments[n.name], positive))
        elif isinstance(n, ir.CNot):
            stack.append((n.operand, not positive))
        elif isinstance(n, (ir.COr, ir.CAnd)):
            stack.extend((x, positive) for x in n.items)
        elif isinstance(n, ir.CEvent) and n.window == "within":
            if both_ways or not positive or n.count_kind != "at_least":
                out.setdefault(n.event, set()).add(n.duration)
    return out


def _old_attribute_paths(c, program) -> list[tuple]:
    out: list[tuple] = []
    seen: set[str] = set()
    stack = [c]
    while stack:
        n = stack.pop(0)
        if isinstance(n, ir.CSegment):
            if n.name not in seen:
                seen.add(n.name)
                stack.append(program.segments[n.name])
        elif isinstance(n, (ir.COr, ir.CAnd)):
            stack[0:0] = list(n.items)
        elif isinstance(n, ir.CNot):
            stack.insert(0, n.operand)
        elif isinstance(n, ir.CEvent):
            if n.filter is not None:
                stack.insert(0, n.filter)
        else:
            for name in ("left", "right", "operand"):
                op = getattr(n, name, None)
                if isinstance(op, ir.OAttr):
                    out.append(op.path)
                elif isinstance(op, ir.OList):
                    out.extend(x.path for x in op.items if isinstance(x, ir.OAttr))
    return list(dict.fromkeys(out))


def _conditions(wf: ir.Workflow) -> list:
    out = [wf.audience, wf.trigger]
    for g in ir.all_goals(wf):
        out += [g.cond] + [c for c, _, _ in g.then_ifs]
    return [c for c in out if c is not None]


def _old_lint_events(c, program=None) -> list:
    out = []
    stack = [c] if c is not None else []
    seen: set[str] = set()
    while stack:
        n = stack.pop()
        if isinstance(n, ir.CEvent):
            out.append(n)
            if n.filter is not None:
                stack.append(n.filter)
            if n.after is not None:  # the anchor of `within D after` (issue 16.2) is an event atom too
                stack.append(n.after)
        elif isinstance(n, ir.CSegment):
            if program is not None and n.name not in seen and n.name in program.segments:
                seen.add(n.name)
                stack.append(program.segments[n.name])
        elif isinstance(n, (ir.CAnd, ir.COr)):
            stack.extend(n.items)
        elif isinstance(n, ir.CNot):
            stack.append(n.operand)
    return out


def _old_positive_windows(c, program) -> list:
    out = []
    stack = [(c, True)]
    seen: set[tuple[str, bool]] = set()
    while stack:
        n, pos = stack.pop()
        if isinstance(n, ir.CEvent):
            if pos and n.window == "within" and n.count_kind == "at_least" and n.count >= 1:
                out.append(n)
        elif isinstance(n, ir.CSegment):
            if (n.name, pos) not in seen and n.name in program.segments:
                seen.add((n.name, pos))
                stack.append((program.segments[n.name], pos))
        elif isinstance(n, (ir.CAnd, ir.COr)):
            stack.extend((x, pos) for x in n.items)
        elif isinstance(n, ir.CNot):
            stack.append((n.operand, not pos))
    return out


def _old_segment_names(c) -> list:
    out = []
    stack = [c]
    while stack:
        n = stack.pop()
        if isinstance(n, ir.CSegment):
            out.append(n.name)
        elif isinstance(n, ir.CEvent):
            if n.filter is not None:
                stack.append(n.filter)
            if n.after is not None:
                stack.append(n.after)
        elif isinstance(n, (ir.CAnd, ir.COr)):
            stack.extend(n.items)
        elif isinstance(n, ir.CNot):
            stack.append(n.operand)
    return out


def _old_used_segments(program) -> set:
    used: set[str] = set()
    stack = [c for wf in program.workflows for c in _workflow_conds(wf)]
    while stack:
        for name in _old_segment_names(stack.pop()):
            if name not in used and name in program.segments:
                used.add(name)
                stack.append(program.segments[name])
    return used


def _ids(nodes) -> list:
    return sorted(id(n) for n in nodes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_lint_analyses_on_the_walker_equal_the_walks_they_replaced(text):
    """goal lint's event atoms (with and without the segments), its positive
    windows and its used segments. A segment's atoms may now come once per
    polarity where the old walk took them once: ``_events`` with segments
    feeds only ``any()``, so they are compared as sets."""
    p = _checked(text)
    for wf in p.workflows:
        for c in _workflow_conds(wf) + list(p.segments.values()):
            assert _ids(_events(c)) == _ids(_old_lint_events(c))
            assert set(map(id, _events(c, p))) == set(map(id, _old_lint_events(c, p)))
            assert _ids(_positive_windows(c, p)) == _ids(_old_positive_windows(c, p))
    assert _used_segments(p) == _old_used_segments(p)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_analyses_on_the_walker_equal_the_walks_they_replaced(text):
    p = _checked(text)
    for wf in p.workflows:
        assert _workflow_goals(wf, p.segments) == _old_workflow_goals(wf, p.segments)
        for c in _conditions(wf) + list(p.segments.values()):
            assert referenced_types(c, p) == _old_referenced_types(c, p)
            for both in (False, True):
                assert expiry_windows(c, p, both_ways=both) == _old_expiry_windows(c, p, both_ways=both)
            assert list(ir.attribute_paths(c, p.segments)) == _old_attribute_paths(c, p)
