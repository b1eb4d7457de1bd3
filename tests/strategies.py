"""Hypothesis strategies for generated ASTs, shared by the formatter's
round-trip property (test_fmt.py) and the fuzz tests (test_fuzz.py).

Every generated module is syntactically printable; it need not check clean
(names, types and event fields are random), which is what the fuzz tests want.
The checked conditions at the end (``ir_conds``) are built as the checker's
output, for the compiled-condition tests.
"""
from __future__ import annotations

import functools

import attrs
from hypothesis import strategies as st

from goaldsl.runtime.engine import Contact
from goaldsl.semantics import ir
from goaldsl.syntax import ast as A
from goaldsl.syntax.parser import keywords

KW = keywords()
names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in KW)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=12)
numbers = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
                    .map(lambda f: round(f, 3)))
units = st.sampled_from(["minute", "hour", "day", "week", "month"])
durations = st.lists(st.tuples(st.integers(1, 30), units), min_size=1, max_size=2).map(lambda p: A.Duration(tuple(p)))


def refs(n=3):
    return st.lists(names, min_size=1, max_size=n).map(lambda p: A.Ref(tuple(p)))


scalars = st.one_of(refs(), texts.map(A.Str), numbers.map(A.Num), st.booleans().map(A.Bool))
values = st.one_of(scalars, st.lists(scalars, max_size=3).map(lambda x: A.ListLit(tuple(x))))

atoms = st.one_of(
    st.builds(A.Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), values, values),
    st.builds(A.In, values, values, st.booleans()),
    st.builds(A.TextOp, st.sampled_from(["starts with", "ends with", "contains"]), values, values),
    st.builds(A.IsSet, refs(), st.booleans()),
    st.builds(A.RefAtom, refs(),
              st.none(),
              st.one_of(st.none(), st.builds(A.Count, st.sampled_from(["at_least", "at_most", "exactly"]),
                                              st.integers(0, 50))),
              st.one_of(st.none(), st.builds(A.Window, st.just("within"), durations),
                        st.just(A.Window("since_enrollment")), st.just(A.Window("ever")),
                        # `within D after OTHER(FILTER) [scope]` (issue 16.2)
                        st.builds(A.Window, st.just("within_after"), durations,
                                  st.builds(A.RefAtom, refs(), st.one_of(st.none(), st.lists(
                                      st.builds(A.Compare, st.just("=="), refs(1), scalars), min_size=1,
                                      max_size=2).map(tuple)), st.none(), st.none()),
                                  st.sampled_from([None, "since_enrollment", "ever"])))),
)


def _extend(children):
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda x: A.Or(tuple(x))),
        st.lists(children, min_size=2, max_size=3).map(lambda x: A.And(tuple(x))),
        children.map(A.Not),
        st.builds(A.RefAtom, refs(), st.lists(children, min_size=0, max_size=2).map(tuple), st.none(), st.none()),
    )


conds = st.recursive(atoms, _extend, max_leaves=8)
calls = st.builds(A.ActionCall, names.map(A.Ident),
                  st.lists(st.builds(A.Arg, st.one_of(st.none(), names.map(A.Ident)), values), max_size=3)
                  .map(lambda a: tuple(sorted(a, key=lambda x: x.name is not None))))
opt_name = st.one_of(st.none(), names.map(A.Ident))

simple_steps = st.one_of(
    st.builds(A.ActionStep, calls, opt_name),
    st.builds(A.WaitFor, durations, opt_name),
    st.builds(A.WaitUntilTime, st.integers(0, 23), st.integers(0, 59),
              st.sampled_from([None, "monday", "friday"]), opt_name),
    st.builds(A.WaitUntilDate, st.just("2026-11-16T14:00"), opt_name),
    st.builds(A.WaitUntilCond, conds, st.one_of(st.none(), durations), opt_name),
    st.builds(A.SkipStep, names.map(A.Ident)),
    st.just(A.EndStep()),
)
steps = st.recursive(simple_steps, lambda ch: st.builds(
    A.IfStep, st.lists(st.tuples(conds, st.lists(ch, max_size=2).map(tuple)), min_size=1, max_size=2).map(tuple),
    st.one_of(st.none(), st.lists(ch, max_size=2).map(tuple))), max_leaves=5)

clauses = st.one_of(
    st.builds(A.Then, st.lists(calls, max_size=2).map(tuple)),
    st.builds(A.ThenIf, conds, st.lists(calls, max_size=2).map(tuple),
              st.one_of(st.none(), st.lists(calls, max_size=2).map(tuple))),
    st.builds(A.OnAchieved, st.sampled_from(["continue", "end"])),
    st.builds(A.OnAchieved, st.just("skip"), names.map(A.Ident)),
    st.sampled_from([A.OnUnmet("wait"), A.OnUnmet("continue"), A.OnUnmet("end")]),
    st.builds(A.OnUnmet, st.just("wait_up_to"), durations, st.sampled_from(["continue", "end"])),
)
goals = st.builds(A.GoalBlock, texts.map(A.Ident),
                  st.tuples(conds.map(A.When), st.lists(clauses, max_size=3)).map(lambda t: (t[0], *t[1])))
settings_ = st.one_of(
    st.just(A.RunsPerpetual()), st.just(A.RunsOnce("2026-11-02T09:00")),
    st.builds(A.EvaluateEvery, durations), st.just(A.EvaluateOnEvent()),
    texts.map(lambda s: A.TimezoneSetting(A.Str(s))),
    conds.map(A.EnrollWhen), conds.map(A.Audience), st.just(A.AllowReentry()),
    # issue 16
    st.builds(A.EvaluateEveryAt, durations, st.integers(0, 23), st.integers(0, 59),
              st.sampled_from([None, "monday", "sunday"])),
    durations.map(A.AllowReentry), st.just(A.SkipIfGoalMet()), st.just(A.ExitWhenAudienceFails()),
)
workflows = st.builds(
    A.Workflow, texts.map(A.Ident), st.booleans(),
    st.tuples(st.lists(settings_, max_size=3), st.lists(st.one_of(steps, goals), max_size=4),
              st.lists(goals, max_size=2)).map(
        lambda t: tuple(t[0]) + tuple(t[1]) + ((A.GoalsSection(tuple(t[2])),) if t[2] else ())))
segments = st.builds(A.SegmentDef, names.map(A.Ident), conds)
modules = st.lists(st.one_of(segments, workflows), min_size=1, max_size=3).map(lambda items: A.Module("gen.goal", tuple(items)))

# ---------------------------------------------------------------- test blocks
ids = st.one_of(names, texts).map(A.Ident)
test_times = st.one_of(st.sampled_from(["2026-11-16T14:00", "2026-11-16T14:00Z", "2026-11-16T14:00:30+02:00"])
                       .map(lambda t: A.TestTime(t)), durations.map(lambda d: A.TestTime(None, d)))
maps = st.lists(st.tuples(names, scalars), max_size=3).map(lambda e: A.MapLit(tuple(dict(e).items())))
expects = st.one_of(
    st.builds(lambda c, n, g, w, by: A.Expect(c, "achieved", n, goal=g, workflow=w, by=by),
              ids, st.booleans(), texts.map(A.Ident), st.one_of(st.none(), texts.map(A.Ident)),
              st.one_of(st.none(), test_times)),
    st.builds(lambda c, n, call, by: A.Expect(c, "ran", n, call=call, by=by), ids, st.booleans(), calls,
              st.one_of(st.none(), test_times)),
    st.builds(lambda c, n, w, r: A.Expect(c, "exited", n, workflow=w, reason=r), ids, st.booleans(),
              st.one_of(st.none(), texts.map(A.Ident)),
              st.one_of(st.none(), st.sampled_from(["goal", "end", "unmet", "completed"]).map(A.Ident))),
    st.builds(lambda c, n, w, at: A.Expect(c, "enrolled", n, workflow=w, at=at), ids, st.booleans(),
              texts.map(A.Ident), st.one_of(st.none(), test_times)),
    st.builds(lambda c, n, s, at: A.Expect(c, "step", n, step=s, at=at), ids, st.booleans(), ids,
              st.one_of(st.none(), test_times)),
    st.builds(lambda c, cond, at: A.Expect(c, "holds", cond=cond, at=at), ids, conds,
              st.one_of(st.none(), test_times)),
)
test_items = st.one_of(
    test_times.map(A.TestFrom), test_times.map(A.TestUntil), texts.map(lambda s: A.TestTimezone(A.Str(s))),
    st.builds(A.TestContact, ids, st.one_of(st.none(), maps)),
    st.builds(lambda c, r, f, has, at: A.TestEvent(c, r, tuple((A.Ident(k), v.entries[0][1]) for k, v in []) if not has
                                                    else tuple((A.Ident(k), v) for k, v in f.entries), has, at),
              ids, refs(), maps, st.booleans(), st.one_of(st.none(), test_times)),
    expects,
)
test_blocks = st.builds(A.TestBlock, texts.map(A.Ident), st.lists(test_items, max_size=6).map(tuple))
test_modules = st.lists(test_blocks, min_size=1, max_size=2).map(lambda items: A.Module("gen_test.goal",
                                                                                          tuple(items)))

# ---------------------------------------------------------------- checked conditions (IR)
# Conditions as the checker hands them to the compiler, for the tests that
# compare the generated code with its observing build and with the closure
# oracle. Operands cover every value kind; filters read event fields.

IR_VALUES = [None, True, False, 0, 1, 1.0, 50, 50.0, 49.9, 100, "pro", "PRO", "team", "", "50", "/pricing",
             "/PRICING/team"]
IR_ATTRS = [("plan",), ("score",), ("tags",), ("vip",), ("company", "size"), ("company",), ("missing",)]
IR_FIELDS = ("url", "n")
IR_EVENTS = ("page.visited", "email.opened")
IR_SEGMENTS = ("s0", "s1", "s2")


@functools.lru_cache(maxsize=None)
def ir_operands(in_filter: bool):
    leaf = st.one_of(st.sampled_from(IR_ATTRS).map(ir.OAttr), st.sampled_from(IR_VALUES).map(ir.OConst),
                     *([st.sampled_from(IR_FIELDS).map(ir.OField)] if in_filter else []))
    return st.one_of(leaf, leaf, st.lists(leaf, max_size=3).map(lambda x: ir.OList(tuple(x))))


@functools.lru_cache(maxsize=None)  # built once: hypothesis validates each strategy object once
def ir_conds(segments: tuple[str, ...] = (), in_filter: bool = False, depth: int = 0):
    """Random checked conditions; ``segments``: the names they may use."""
    ops = ir_operands(in_filter)
    leaves = [
        st.builds(ir.CCompare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), ops, ops),
        st.builds(ir.CIn, ops, ops, st.booleans()),
        st.builds(ir.CText, st.sampled_from(["starts with", "ends with", "contains"]), ops, ops),
        st.builds(ir.CIsSet, ops, st.booleans()),
        st.builds(ir.CTruthy, ops),
        st.booleans().map(ir.CConst),
    ]
    if segments:
        leaves.append(st.sampled_from(segments).map(ir.CSegment))
    if depth < 2:
        # an event atom, its filter a condition on that event's fields (which may count events itself)
        event = st.builds(
            ir.CEvent, st.sampled_from(IR_EVENTS),
            st.one_of(st.none(), st.deferred(lambda: ir_conds(segments, True, depth + 1))),
            st.sampled_from(["at_least", "at_most", "exactly"]), st.integers(0, 3),
            st.sampled_from(["within", "since_enrollment", "ever", "default"]),
            st.sampled_from([A.Duration(((30, "minute"),)), A.Duration(((1, "hour"),)), A.Duration(((1, "day"),)),
                             A.Duration(((1, "week"),)), A.Duration(((1, "month"),))]))
        # `within D after OTHER(FILTER)`: the window is then the scope of both events
        anchor = st.builds(ir.CEvent, st.sampled_from(IR_EVENTS),
                           st.one_of(st.none(), st.deferred(lambda: ir_conds((), True, 2))),
                           st.just("at_least"), st.just(1), st.just("default"))
        leaves.append(st.one_of(event, st.builds(
            lambda e, a, scope: attrs.evolve(e, window=scope, after=a), event, anchor,
            st.sampled_from(["since_enrollment", "ever", "default"]))))
    return st.recursive(st.one_of(*leaves), lambda ch: st.one_of(
        st.lists(ch, max_size=3).map(lambda x: ir.COr(tuple(x))),
        st.lists(ch, max_size=3).map(lambda x: ir.CAnd(tuple(x))),
        ch.map(ir.CNot)), max_leaves=6)


@st.composite
def ir_programs(draw):
    """A program of three segments (each may use the ones before it)."""
    segs: dict = {}
    for i, name in enumerate(IR_SEGMENTS):
        segs[name] = draw(ir_conds(IR_SEGMENTS[:i]))
    return ir.Program(events={}, actions={}, segments=segs, workflows=())


IR_START = 1793484000  # 2026-10-31T22:00:00Z, a day before New York leaves daylight saving time


@st.composite
def ir_contacts(draw):
    """A contact (attributes of every kind, events on half hours around
    IR_START so that window edges are hit exactly), in the engine's shape."""
    values = st.sampled_from(IR_VALUES + [[], ["x"], ["X", "pro"], {}, {"size": 100}, {"size": "100"}])
    attrs_ = draw(st.dictionaries(st.sampled_from(["plan", "score", "tags", "vip", "company"]), values, max_size=5))
    c = Contact("c1", attrs_, 0)
    evs = draw(st.lists(st.tuples(st.integers(-60, 4).map(lambda k: IR_START + 1800 * k), st.sampled_from(IR_EVENTS),
                                  st.dictionaries(st.sampled_from(IR_FIELDS), values, max_size=2)), max_size=8))
    for t, typ, fields in sorted(evs, key=lambda e: e[0]):
        c.events.setdefault(typ, []).append((t, fields))
    return c
