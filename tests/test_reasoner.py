"""The lint reasoner never claims what is false.

The honest proof of "no false alarms": random conditions over a small
vocabulary (contact attributes, an event type with number, enum and text
fields, counts and windows), checked by the real checker and compiled by the
real compiler, evaluated on random contacts and event histories. Whenever the
reasoner says a condition can never hold, no sample may make it true; when
it says A implies B, no sample may make A true and B false. The samples are
drawn from the constants the conditions use, and their neighbours, so that
the boundaries are where most of them fall.

Then, by hand, what the lints need the reasoner to prove.
"""
from __future__ import annotations

import functools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goaldsl.runtime.compiler import Compiler
from goaldsl.runtime.engine import Contact
from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import Loaded, load, load_stdlib
from goaldsl.syntax.parser import parse
from goaldsl.tools.reasoner import Context, Reasoner

DECLS = "event t.a { n: number, s: enum(x, y, z), o: string? }\nevent t.b { k: string }\n"
NOW = 10 * 86400
HOUR = 3600

NUMS = ["-1", "0", "1", "2.5", "3"]
STRS = ['""', '"a"', '"A"', '"ab"', '"b"', '"vip"']
CONSTS = NUMS + STRS + ["true", "false"]
ATTRS = ["contact.a", "contact.b"]


def _attr_atoms():
    attr = st.sampled_from(ATTRS)
    const = st.sampled_from(CONSTS)
    strc = st.sampled_from(STRS)
    return st.one_of(
        st.builds(lambda a, op, k: f"{a} {op} {k}", attr, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), const),
        st.builds(lambda a, neg, ks: f"{a} {'not in' if neg else 'in'} [{', '.join(ks)}]", attr, st.booleans(),
                  st.lists(const, min_size=1, max_size=3)),
        st.builds(lambda k, neg, a: f"{k} {'not in' if neg else 'in'} {a}", strc, st.booleans(), attr),
        st.builds(lambda a, k: f'{a} in {k}', attr, st.sampled_from(['"abc"', '"vip"'])),
        st.builds(lambda a, op, k: f"{a} {op} {k}", attr, st.sampled_from(["starts with", "ends with", "contains"]),
                  strc),
        st.builds(lambda a, neg: f"{a} is {'not ' if neg else ''}set", attr, st.booleans()),
        attr,
    )


def _filter_atoms():
    return st.one_of(
        st.builds(lambda op, k: f"n {op} {k}", st.sampled_from(["==", "!=", "<", ">=", ">"]), st.sampled_from(NUMS)),
        st.builds(lambda op, k: f"s {op} {k}", st.sampled_from(["==", "!="]), st.sampled_from(["x", "y", "z"])),
        st.builds(lambda neg, ks: f"s {'not in' if neg else 'in'} [{', '.join(ks)}]", st.booleans(),
                  st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=2)),
        st.builds(lambda neg: f"o is {'not ' if neg else ''}set", st.booleans()),
        st.builds(lambda k: f"o starts with {k}", st.sampled_from(['"a"', '"ab"'])),
        st.builds(lambda k: f"contact.a == {k}", st.sampled_from(NUMS[:3])),
    )


def _event_atoms():
    flt = st.one_of(st.just(""), st.lists(_filter_atoms(), min_size=1, max_size=2).map(lambda f: f"({', '.join(f)})"))
    count = st.sampled_from(["", " at least 2 times", " at most 1 time", " exactly 1 time", " at most 0 times",
                             " exactly 0 times"])
    window = st.sampled_from(["", " ever", " since enrollment", " within 1 day", " within 2 days",
                              " within 36 hours"])
    typ = st.sampled_from(["t.a", "t.b"])
    return st.builds(lambda t, f, c, w: f"{t}{f if t == 't.a' else ''}{c}{w}", typ, flt, count, window)


ATOMS = st.one_of(_attr_atoms(), _attr_atoms(), _event_atoms())
CONDS = st.recursive(ATOMS, lambda ch: st.one_of(
    st.lists(ch, min_size=2, max_size=3).map(lambda xs: "(" + " and ".join(xs) + ")"),
    st.lists(ch, min_size=2, max_size=3).map(lambda xs: "(" + " or ".join(xs) + ")"),
    ch.map(lambda x: f"not ({x})")), max_leaves=6)


@functools.lru_cache(maxsize=1)
def _stdlib() -> Loaded:
    loaded = Loaded()
    load_stdlib(loaded)
    return loaded


def compile_conds(tmp_path, *conds):
    src = DECLS + "".join(f"segment s{i} = {c}\n" for i, c in enumerate(conds))
    std = _stdlib()
    parsed = parse(src, "r.goal")
    if parsed.module is None or parsed.diagnostics:
        return None
    loaded = Loaded(list(std.modules) + [parsed.module], dict(std.sources, **{"r.goal": src}), [],
                    set(std.stdlib_names))  # the standard library's modules, as such (it declares effects)
    res = check(loaded)
    if not res.ok:
        return None
    prog = res.program
    comp = Compiler(prog, "UTC")
    return prog, [(prog.segments[f"s{i}"], comp.cond(prog.segments[f"s{i}"])) for i in range(len(conds))]


ATTR_VALUES = [None, -1, 0, 1, 2, 2.5, 3, 4, "", "a", "A", "ab", "AB", "b", "ba", "abc", "vip", "VIP", "c",
               True, False, [], ["a"], ["A", "b"], ["ab"], ["vip"], [1], [True], {}, {"a": 1}, {"vip": 0}]
FIELD_N = [-1, 0, 1, 2.5, 3, 4]
TIMES = [0, HOUR, 12 * HOUR, 30 * HOUR, 47 * HOUR, 72 * HOUR]


def sample_contact(rnd: random.Random) -> Contact:
    attrs = {"id": "c"}
    for name in ("a", "b"):
        v = rnd.choice(ATTR_VALUES + ["missing"])
        if v != "missing":
            attrs[name] = v
    c = Contact("c", attrs, 0)
    events: dict[str, list] = {}
    for _ in range(rnd.randint(0, 5)):
        t = NOW - rnd.choice(TIMES)
        if rnd.random() < 0.7:
            f = {"n": rnd.choice(FIELD_N), "s": rnd.choice("xyz")}
            o = rnd.choice(["missing", "", "a", "ab", "b"])
            if o != "missing":
                f["o"] = o
            events.setdefault("t.a", []).append((t, f))
        else:
            events.setdefault("t.b", []).append((t, {"k": rnd.choice(["a", "b"])}))
    for lst in events.values():
        lst.sort(key=lambda e: e[0])
    c.events = events
    return c


SINCE = [None, NOW - 20 * HOUR, NOW - 40 * HOUR]
SAMPLES = 300


def samples(seed: int):
    rnd = random.Random(seed)
    return [(sample_contact(rnd), rnd.choice(SINCE)) for _ in range(SAMPLES)]


def context(since) -> Context:
    return Context(enrolled=since is not None)


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(cond=CONDS, seed=st.integers(0, 2**16))
def test_never_means_never(tmp_path, cond, seed):
    compiled = compile_conds(tmp_path, cond)
    if compiled is None:
        return
    prog, [(ir_c, fn)] = compiled
    r = Reasoner(prog)
    for enrolled in (True, False):
        if r.never(ir_c, Context(enrolled=enrolled)):
            for c, since in samples(seed):
                if (since is not None) == enrolled:
                    assert not fn(c, NOW, since, None), (cond, c.attrs, c.events, since)
        if r.always(ir_c, Context(enrolled=enrolled)):
            for c, since in samples(seed):
                if (since is not None) == enrolled:
                    assert fn(c, NOW, since, None), (cond, c.attrs, c.events, since)


@SETTINGS
@given(a=CONDS, b=CONDS, seed=st.integers(0, 2**16))
def test_implies_means_implies(tmp_path, a, b, seed):
    compiled = compile_conds(tmp_path, a, b)
    if compiled is None:
        return
    prog, [(ia, fa), (ib, fb)] = compiled
    r = Reasoner(prog)
    for enrolled in (True, False):
        if r.implies(ia, ib, Context(enrolled=enrolled)):
            for c, since in samples(seed):
                if (since is not None) == enrolled and fa(c, NOW, since, None):
                    assert fb(c, NOW, since, None), (a, b, c.attrs, c.events, since)


@SETTINGS
@given(a=CONDS, seed=st.integers(0, 2**16))
def test_implication_across_contexts(tmp_path, a, seed):
    """An audience (no enrollment) implying a goal (since the enrollment),
    at the instant of enrollment: the goal's `since enrollment` window then
    holds only the events of that instant."""
    # the goal: a condition built from the audience by weakening or not
    compiled = compile_conds(tmp_path, a, a)
    if compiled is None:
        return
    prog, [(ia, fa), (ib, fb)] = compiled
    r = Reasoner(prog)
    if r.implies(ia, ib, Context(enrolled=False), Context(enrolled=True)):
        for c, _ in samples(seed):
            if fa(c, NOW, None, None):
                assert fb(c, NOW, NOW, None), (a, c.attrs, c.events)


# ---------------------------------------------------------------- what the lints rely on

def reasoner_for(tmp_path, *conds):
    prog, compiled = compile_conds(tmp_path, *conds)
    return Reasoner(prog), [c for c, _ in compiled]


@pytest.mark.parametrize("cond", [
    "contact.a > 5 and contact.a < 3",
    "contact.a == \"US\" and contact.a == \"CA\"",
    "contact.a in [1, 2] and contact.a not in [1, 2]",
    "contact.a is set and contact.a is not set",
    "\"vip\" in contact.a and \"vip\" not in contact.a",
    "contact.a >= 3 and contact.a <= 3 and contact.a != 3",
    "t.a(s == x, s == y)",
    "t.a(s != x, s != y, s != z)",
    "t.a(n > 3, n < 1) at least 1 time ever",
    "t.a at least 2 times ever and t.a at most 1 time ever",
    "t.a(n > 1) at least 3 times ever and t.a at most 2 times ever",
    "t.a at least 2 times within 1 day and t.a at most 1 time within 2 days",
    "contact.a starts with \"x\" and contact.a is not set",
    "(contact.a > 5 or contact.b == 1) and contact.a <= 5 and contact.b != 1",
])
def test_proves_contradictions(tmp_path, cond):
    r, [c] = reasoner_for(tmp_path, cond)
    assert r.never(c)


@pytest.mark.parametrize("cond", [
    "contact.a > 5 or contact.a < 3",
    "contact.a == \"US\" and contact.b == \"CA\"",
    "t.a(s == x) and t.a(s == y)",
    "t.a(o is not set)",
    "contact.a > 3 and contact.a < 3.5",
    "contact.a starts with \"ab\" and contact.a ends with \"ba\"",
    "\"vip\" in contact.a and \"VIP\" not in contact.a",
    "t.a at least 2 times within 1 day and t.a at most 2 times within 2 days",
    "t.a at least 2 times since enrollment and t.a at most 1 time within 1 day",
])
def test_does_not_claim_possible_conditions(tmp_path, cond):
    r, [c] = reasoner_for(tmp_path, cond)
    assert not r.never(c)


@pytest.mark.parametrize("a, b", [
    ("t.a(n > 100) ever", "t.a ever"),
    ("t.a(s == x) at least 2 times within 1 day", "t.a within 2 days"),
    ("contact.a >= 50", "contact.a > 10"),
    ("contact.a == \"vip\"", "contact.a is set"),
    ("contact.a in [\"x\", \"y\"]", "contact.a != \"z\""),
    ("t.a(s == x) and contact.b > 1", "t.a or contact.b == 7"),
])
def test_proves_implications(tmp_path, a, b):
    r, [ca, cb] = reasoner_for(tmp_path, a, b)
    assert r.implies(ca, cb)


@pytest.mark.parametrize("a, b", [
    ("t.a ever", "t.a(n > 100) ever"),
    ("t.a within 2 days", "t.a within 1 day"),
    ("t.a within 1 day", "t.a within 24 hours"),
    ("t.a ever", "t.a since enrollment"),
    ("contact.a > 10", "contact.a >= 50"),
])
def test_does_not_claim_false_implications(tmp_path, a, b):
    r, [ca, cb] = reasoner_for(tmp_path, a, b)
    assert not r.implies(ca, cb)


def test_since_enrollment_is_ever_without_an_enrollment(tmp_path):
    r, [a, b] = reasoner_for(tmp_path, "t.a ever", "t.a since enrollment")
    assert r.implies(a, b, Context(enrolled=False))
    assert not r.implies(a, b, Context(enrolled=True))
    # an audience that counts all history does not imply a goal that counts since the enrollment
    assert not r.implies(a, b, Context(enrolled=False), Context(enrolled=True))


def test_enum_fields_an_action_may_fill_loosely_are_not_trusted(tmp_path):
    src = (DECLS + "action loose(v: string) emits t.a(n: 1, s: v)\n"
           "segment s0 = t.a(s != x, s != y, s != z)\n")
    f = tmp_path / "l.goal"
    f.write_text(src)
    res = check(load([f]))
    assert res.ok
    assert not Reasoner(res.program).never(res.program.segments["s0"])


@pytest.mark.parametrize("a, b", [
    ("contact.a == 1", "contact.a == true"),
    ("contact.a == true", "contact.a == 1"),
    ("contact.a == 0", "contact.a == false"),
    ("contact.a != true", "contact.a != 1"),
    ("not (contact.a == 1)", "not (contact.a == true)"),
    ("contact.a in [1, true]", "contact.a == 1"),
    ("contact.a == true", "contact.a in [1]"),
    ("contact.a == 0", "contact.a in [false]"),
])
def test_true_is_not_one(tmp_path, a, b):
    """The engine tells true from 1 (compare_values); Python's 1 == True
    once made the reasoner take `a == 1` and `a == true` for one test and
    prove that one implies the other. A contact for which a holds and b
    does not shows it is no implication."""
    r, (ia, ib) = reasoner_for(tmp_path, a, b)
    assert not r.implies(ia, ib, Context(enrolled=False))


@pytest.mark.parametrize("cond", [
    "contact.b == 0 and contact.b not in [false]",  # found by test_never_means_never
    "contact.b == true and contact.b not in [1]",
    "contact.b == 1.0 and contact.b in [1]",
])
def test_in_a_list_follows_equality_not_pythons_in(tmp_path, cond):
    """`in` on a list finds an item equal as == has it (booleans equal only
    booleans: compiler.member); the reasoner once used Python's `in`, where
    0 is in [false], and proved these never hold. Each holds for a contact."""
    r, (c,) = reasoner_for(tmp_path, cond)
    for enrolled in (True, False):
        assert not r.never(c, Context(enrolled=enrolled))
