"""The observing build: explain, eval and the REPL show what it reports, so
it must compute exactly what the engine's generated code computes.

On random checked conditions (every operand kind, filters, counts, windows,
segments, event atoms inside filters) and random contacts, at instants on
and off window edges, with and without an enrollment, in UTC and in a zone
with daylight saving time:

* the observed value of the whole condition, and of every part of it (a
  filter's parts on each event's fields), equals the production function
  compiled from that part alone;
* each count saw every event of its type once, counted exactly those in the
  window that pass the filter (and, for ``within D after OTHER``, that an
  OTHER anchors, as the plain closure says), and its value is that count
  compared;
* each leaf reports the operand values the code read;
* explain's condition tree, built from one observation, carries for every
  subtree the value the production build gives it.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from goaldsl.runtime.compiler import NEVER, Compiler, get_path
from goaldsl.runtime.engine import Contact
from goaldsl.semantics import ir
from goaldsl.semantics.calendar import subtract
from goaldsl.tools.evaluate import matching_events, observe
from goaldsl.tools.explain import condition_tree

from closure_oracle import ClosureOracle
from strategies import IR_START, ir_conds, ir_contacts, ir_programs

instants = st.integers(-4, 8).map(lambda k: IR_START + 1800 * k + (k % 3 == 0))
enrollments = st.sampled_from([None, IR_START - 3600, IR_START])
zones = st.sampled_from(["UTC", "America/New_York"])
later_events = st.lists(st.tuples(st.integers(1, 5).map(lambda k: IR_START + 5 * 3600 + 1800 * k),
                                  st.sampled_from(["page.visited", "email.opened"]),
                                  st.fixed_dictionaries({"url": st.sampled_from(["/pricing", "/a"])})), max_size=2)


def _read(op: ir.Operand, ct, f):
    if isinstance(op, ir.OConst):
        return op.value
    if isinstance(op, ir.OField):
        return None if f is None else f.get(op.name)
    if isinstance(op, ir.OAttr):
        return get_path(ct.attrs, op.path)
    return [_read(x, ct, f) for x in op.items]


def _plain(v):
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


class _Production:
    """The production build of each part, compiled once."""

    def __init__(self, comp: Compiler):
        self.comp = comp
        self.program = comp.program
        self.fns: dict[int, object] = {}

    def cond(self, c):
        fn = self.fns.get(id(c))
        if fn is None:
            fn = self.fns[id(c)] = self.comp.cond(c)
        return fn


def _check(comp: _Production, o, ct, now, since, f, tz) -> int:
    """Every observed part against the production build of that part."""
    c = o.cond
    assert o.value is comp.cond(c)(ct, now, since, f), c
    checked = 1
    if isinstance(c, (ir.COr, ir.CAnd)):
        assert [p.cond for p in o.parts] == list(c.items)
        assert o.value is (any if isinstance(c, ir.COr) else all)(p.value for p in o.parts)
    elif isinstance(c, ir.CNot):
        assert [p.cond for p in o.parts] == [c.operand] and o.value is not o.parts[0].value
    elif isinstance(c, ir.CSegment):
        assert [p.cond for p in o.parts] == [comp.program.segments[c.name]] and o.value is o.parts[0].value
    elif isinstance(c, ir.CEvent):
        lst = ct.events.get(c.event, [])
        real = sorted((x for x in o.candidates if x.index is not None), key=lambda x: x.index)
        assert [(x.time, x.fields) for x in real] == lst  # every event, once
        if c.window == "within":
            d = c.duration
            assert o.start == subtract(now, d.months, d.days, d.seconds, tz)
        else:
            assert o.start == (None if c.window == "ever" else since)
        for x in o.candidates:
            assert x.after == (x.time > now)
            assert x.outside == (not x.after and o.start is not None and x.time < o.start)
            if c.filter is None:
                assert x.filter is None
                passes = True
            else:
                checked += _check(comp, x.filter, ct, now, since, x.fields, tz)
                passes = x.filter.value
            if c.after is None:
                assert x.anchored is None
            elif x.index is not None and passes:
                # `within D after OTHER`: the plain closure of the anchor gives the same answer
                start = NEVER if o.start is None else o.start
                oracle = ClosureOracle(comp.comp.program, comp.comp.tz, comp.comp.workflow)
                assert x.anchored is oracle.anchor(c)(ct, now, since, lst, x.index, x.time, start)
                passes = x.anchored
            assert x.counts == (x.index is not None and not x.after and not x.outside and passes)
        assert o.found == sum(x.counts for x in o.candidates)
        n = c.count
        assert o.value is {"at_least": o.found >= n, "at_most": o.found <= n, "exactly": o.found == n}[c.count_kind]
    else:
        assert _plain(o.operands) == [_plain(_read(op, ct, f)) for op in ir.operands(c)]
    for p in o.parts:
        checked += _check(comp, p, ct, now, since, f, tz)
    return checked


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ir_programs(), st.data(), ir_contacts(), instants, enrollments, zones, later_events)
def test_observed_values_are_the_production_values(program, data, ct, now, since, tz, later):
    cond = data.draw(ir_conds(tuple(program.segments)))
    note(repr(cond))
    comp = Compiler(program, tz)
    extra = {}
    for t, typ, fields in later:
        extra.setdefault(typ, []).append((t, fields))
    seen = comp.observing(cond)(ct, now, since, None, extra)
    assert seen.value is comp.cond(cond)(ct, now, since, None)
    _check(_Production(comp), seen.tree, ct, now, since, None, tz)
    assert seen.attributes == {p: get_path(ct.attrs, p) for p in ir.attribute_paths(cond, program.segments)}
    # the events each count was shown after the instant: those of its type, each once
    for o in _observed(seen.tree):
        if isinstance(o.cond, ir.CEvent):
            shown = [(x.time, x.fields) for x in o.candidates if x.index is None]
            assert shown == extra.get(o.cond.event, [])


def _observed(o):
    yield o
    for p in o.parts:
        yield from _observed(p)
    for x in o.candidates:
        if x.filter is not None:
            yield from _observed(x.filter)


class _Loaded:  # what explain needs of a loaded program
    def __init__(self, program):
        self.ir = program


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ir_programs(), st.data(), ir_contacts(), instants, enrollments, zones)
def test_the_explain_tree_carries_the_production_value_of_every_subtree(program, data, ct, now, since, tz):
    cond = data.draw(ir_conds(tuple(program.segments)))
    note(repr(cond))
    comp = Compiler(program, tz)
    seen = observe(comp, cond, ct, now, since)
    tree = condition_tree(_Loaded(program), seen, tz)
    production = _Production(comp)

    def walk(node, c):
        assert node.value is production.cond(c)(ct, now, since, None), c
        if isinstance(c, (ir.COr, ir.CAnd)):
            kids = list(c.items)
        elif isinstance(c, ir.CNot):
            kids = [c.operand]
        elif isinstance(c, ir.CSegment):
            kids = [program.segments[c.name]]
        else:
            kids = []
        assert len(node.children) == len(kids)
        for ch, k in zip(node.children, kids):
            walk(ch, k)
        if isinstance(c, ir.CEvent):
            assert [(ec.time, ec.fields) for ec in node.events] == ct.events.get(c.event, [])
            assert node.count["found"] == sum(ec.counts for ec in node.events)
            assert all(ec.counts != bool(ec.reasons) for ec in node.events)
            # goal eval lists exactly the counted events (of atoms outside filters)

    walk(tree, cond)
    counted = {(ec.time, id(ec.fields)) for n in _nodes(tree) if n.kind == "event" for ec in n.events if ec.counts}
    assert {(t, id(f)) for _, t, f in matching_events(seen)} == counted


def _nodes(n):
    yield n
    for ch in n.children:
        yield from _nodes(ch)


def test_in_a_map_asks_for_a_text_key_and_never_fails():
    """A list or a map is never a key of a map: `in` is false (it used to
    stop the run with an internal error), in both builds."""
    program = ir.Program(events={}, actions={}, segments={}, workflows=())
    ct = Contact("c1", {"tags": ["x"], "company": {"size": 1}, "plan": "size"}, 0)
    for left, want in ((ir.OAttr(("tags",)), False), (ir.OAttr(("company",)), False), (ir.OConst("size"), True),
                       (ir.OAttr(("plan",)), True), (ir.OConst(1), False)):
        for negated in (False, True):
            c = ir.CIn(left, ir.OAttr(("company",)), negated)
            comp = Compiler(program, "UTC")
            assert comp.cond(c)(ct, IR_START, None, None) is (want is not negated)
            assert comp.observing(c)(ct, IR_START, None).value is (want is not negated)
