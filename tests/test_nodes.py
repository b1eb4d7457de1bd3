"""syntax/nodes.py: the AST's and the IR's shared equality, hashing and repr
behave as attrs' generated ones, and ``maker`` makes what a class call makes."""
from __future__ import annotations

import copy
import math
import pickle

import attrs
import pytest

from goaldsl.semantics import ir
from goaldsl.syntax import ast as A
from goaldsl.syntax import nodes
from goaldsl.syntax.nodes import Node, maker, node
from goaldsl.syntax.parser import parse
from goaldsl.syntax.source import NO_SPAN, Span


def _span():
    return attrs.field(default=NO_SPAN, eq=False, repr=False, kw_only=True)


@node
class Pair(Node):
    left: object
    right: object = None
    span: Span = _span()


@attrs.frozen
class AttrsPair:  # the same class as attrs writes it: the reference
    left: object
    right: object = None
    span: Span = _span()


VALUES = [1, 1.0, "a", None, (1, 2), float("nan"), (float("nan"),), True, A.Ident("x")]


@pytest.mark.parametrize("a", VALUES)
@pytest.mark.parametrize("b", VALUES)
def test_equality_and_repr_are_attrs_own(a, b):
    ours = (Pair(a, b), Pair(b, a), Pair(a))
    theirs = (AttrsPair(a, b), AttrsPair(b, a), AttrsPair(a))
    for x, ax in zip(ours, theirs):
        assert repr(x) == repr(ax).replace("AttrsPair", "Pair")
        for y, ay in zip(ours, theirs):
            assert (x == y) == (ax == ay)
            assert (x != y) == (ax != ay)
            if x == y:
                assert hash(x) == hash(y)


def test_spans_do_not_take_part_and_other_classes_are_not_equal():
    s = Span("f", 1, 2, 1, 3)
    assert Pair(1, span=s) == Pair(1) and hash(Pair(1, span=s)) == hash(Pair(1))
    assert Pair(1) != AttrsPair(1) and Pair(1) != (1, None)
    assert A.Str("a") != A.Ref(("a",))
    assert Pair(Pair(1)) != Pair(Pair(2)) and Pair(math.nan) != Pair(math.nan)


def test_the_irs_repr_is_attrs_repr():
    # The digests in state files are reprs of the IR (docs/decisions.md).
    c = ir.CCompare(">=", ir.OAttr(("lead_score",)), ir.OConst(50))
    assert repr(c) == "CCompare(op='>=', left=OAttr(path=('lead_score',)), right=OConst(value=50))"


def test_a_maker_makes_what_the_class_makes():
    text = 'segment s = page.visited(url starts with "/p") at least 2 times within 7 days and contact.x in [1, 2]\n'
    module = parse(text, "f.goal").module
    for n in A.walk(module):
        cls = type(n)
        make = maker(cls)
        kwargs = {f.alias: getattr(n, f.name) for f in attrs.fields(cls) if f.init}
        made = make(**kwargs)
        assert type(made) is cls and made == cls(**kwargs) and repr(made) == repr(n)
        assert all(getattr(made, f.name) == getattr(n, f.name) for f in attrs.fields(cls))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            made.span = NO_SPAN
    d = maker(A.Duration)(((1, "week"), (2, "hour")))
    assert (d.days, d.seconds, d) == (7, 7200, A.Duration(((1, "week"), (2, "hour"))))
    assert maker(A.In)(A.Ref(("a",)), A.Ref(("b",))).negated is False
    with pytest.raises(TypeError):
        maker(A.Ident)()
    assert maker(Span)("f", 1, 2, 3, 4) == Span("f", 1, 2, 3, 4)
    p, q = ir.Program({}, {}, {}, ()), maker(ir.Program)({}, {}, {}, ())
    assert p == q and p.sources == {} and p.sources is not q.sources  # a factory's default: a new one each time
    assert maker(dict) is dict
    made = maker(A.Ident)("x", span=Span("f", 1, 1, 1, 2))
    assert pickle.loads(pickle.dumps(made)) == made and attrs.evolve(made, name="y") == A.Ident("y")
    assert copy.deepcopy(made) == made and copy.copy(made).span == made.span


def test_a_class_made_with_node_is_an_attrs_class():
    assert attrs.has(A.Ident) and [f.name for f in attrs.fields(A.Ident)] == ["name", "span"]
    x = A.Ident("x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        x.name = "y"
    with pytest.raises(TypeError):
        A.Ident()
    with pytest.raises(TypeError):
        A.Ident("x", "y")
    assert not hasattr(x, "__dict__") and A.In(x, x).negated is False

    class Sub(A.Ident):  # not a node class: made the slow way, still frozen
        pass
    s = Sub("x")
    assert type(s) is Sub and s.name == "x" and s != x
    with pytest.raises(TypeError):
        @node
        class Bad(Node):
            a: int = attrs.field(validator=attrs.validators.instance_of(int))



def _node_classes():
    from goaldsl.semantics import checker, effects, loader, testblocks
    from goaldsl.semantics.checker import common
    from goaldsl.syntax import diagnostics, parser, source
    for module in (A, ir, source, diagnostics, parser, loader, checker, common, effects, testblocks):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Node) and value is not Node \
                    and value.__module__ == module.__name__:
                yield value


@pytest.mark.parametrize("cls", list(_node_classes()), ids=lambda c: c.__qualname__)
def test_every_node_class_is_what_attrs_makes_of_it(cls):
    # node() makes the class itself; attrs.frozen (attrs.define for a class
    # made with node(frozen=False)) made from the same declarations gives
    # the same fields, slots and match args, and attrs.fields(cls) is attrs' own.
    own = cls._node_fields
    make = attrs.frozen if cls._node_frozen else attrs.define
    twin = make(type(cls.__name__, (), {
        "__annotations__": {f.name: cls.__annotations__[f.name] for f in own},
        **{f.name: f.as_attrs() for f in own if f.declared is not nodes.NOTHING}}),
        repr=False, eq=False, init=False, weakref_slot=False)

    def described(fields):
        return [(f.name, f.default, f.init, f.kw_only, f.eq, f.repr) for f in fields]

    def as_attrs(default):  # node's own NOTHING and Factory, as attrs has them
        if default is nodes.NOTHING:
            return attrs.NOTHING
        return attrs.Factory(default.factory) if type(default) is nodes.Factory else default
    mine = [(name, as_attrs(default), *rest) for name, default, *rest in described(own)]
    assert mine == described(attrs.fields(twin)) == described(attrs.fields(cls))
    assert cls.__slots__ == twin.__slots__ and cls.__match_args__ == twin.__match_args__
    assert attrs.has(cls) and attrs.fields(cls).__class__.__name__ == f"{cls.__name__}Attributes"
    assert getattr(cls, "__attrs_props__", None) == getattr(twin, "__attrs_props__", None)
    assert not hasattr(cls, "__dict__") or "__dict__" not in cls.__dict__


def test_a_changeable_node_class_is_what_attrs_define_makes():
    @node(frozen=False)
    class Box(Node):
        items: list = nodes.field(factory=list)
        name: str = "b"

    @attrs.define
    class AttrsBox:
        items: list = attrs.field(factory=list)
        name: str = "b"
    b, ab = Box(), AttrsBox()
    b.items.append(1)
    ab.items.append(1)
    b.name = ab.name = "c"
    assert repr(b) == repr(ab).replace("AttrsBox", "Box") and Box().items == [] and Box().items is not Box().items
    assert b == Box([1], "c") and b != Box() and Box.__hash__ is None is AttrsBox.__hash__
    assert attrs.evolve(b, name="d") == nodes.evolve(b, name="d") == Box([1], "d")
    assert [f.name for f in attrs.fields(Box)] == ["items", "name"]


def test_evolve_is_attrs_evolve():
    from goaldsl.syntax.diagnostics import Diagnostic, Related, error
    s = Span("f", 1, 2, 1, 3)
    d = error("E0001", "x", s, hint="h", related=(Related(s, "here"),))
    for obj, changes in ((d, {"span": None}), (d, {"summary": "y", "detail": "z"}), (s, {"col": 5}),
                         (A.Duration(((1, "day"),)), {"span": s}), (A.Ident("x"), {})):
        assert nodes.evolve(obj, **changes) == attrs.evolve(obj, **changes)
        assert repr(nodes.evolve(obj, **changes)) == repr(attrs.evolve(obj, **changes))
    assert isinstance(d, Diagnostic) and attrs.has(Diagnostic)


@pytest.mark.parametrize("what", ["program.goal", "."], ids=["program", "with its tests"])
def test_a_check_does_not_import_attrs_or_typing(what):
    # attrs and what it imports (inspect, typing, threading ...) were a third
    # of a small check's instructions: goal check makes its classes with
    # node() and imports attrs only when asked (attrs.fields, attrs.evolve
    # ...); its modules import typing's names only for type checkers. The
    # example's folder holds a test file too: its test blocks are checked
    # (semantics/testblocks.py, and the formatter that writes an expectation).
    import subprocess
    import sys
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "examples" / "booked-a-demo" / what
    code = ("import sys; sys.argv = ['goal', 'check', sys.argv[1]]; from goaldsl.cli import main; "
            "code = main(); print(code, sorted(m for m in ('attr', 'attrs', 'inspect', 'typing') if m in sys.modules),"
            " 'goaldsl.semantics.testblocks' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(example)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == f"0 [] {what == '.'}"


def test_node_refuses_what_it_does_not_reproduce():
    with pytest.raises(TypeError):
        @node
        class Derived(A.Ident):  # a node class deriving from another
            other: int = 0
    with pytest.raises(TypeError):
        @node
        class Hashed(Node):
            a: int = attrs.field(hash=False)
    with pytest.raises(ValueError):
        @node
        class Ordered(Node):
            a: int = 0
            b: int
    x = A.Ident("x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del x.name
    assert attrs.evolve(A.Compare("==", x, x), op="!=") == A.Compare("!=", x, x)
    assert attrs.asdict(A.Ident("y"), recurse=False)["name"] == "y"


def test_a_durations_counts_are_the_same_however_it_is_made():
    # The nodes' constructor sets a Duration's counts before the object is
    # frozen (Duration.__node_init__); attrs' own class, a subclass (made
    # the slow way) and a copy set them with __attrs_post_init__.
    import random
    rnd = random.Random(5)
    units = ["minute", "hour", "day", "week", "month"]
    twin = attrs.frozen(type("Duration", (), {
        "__annotations__": {"parts": object, "months": int, "days": int, "seconds": int},
        "months": attrs.field(init=False), "days": attrs.field(init=False), "seconds": attrs.field(init=False),
        "__attrs_post_init__": A.Duration.__attrs_post_init__}))

    class Sub(A.Duration):
        pass
    for _ in range(300):
        parts = tuple((rnd.randrange(0, 10**6), rnd.choice(units)) for _ in range(rnd.randint(0, 4)))
        made = [A.Duration(parts), maker(A.Duration)(parts), nodes.evolve(A.Duration(()), parts=parts),
                attrs.evolve(A.Duration(()), parts=parts), pickle.loads(pickle.dumps(A.Duration(parts))),
                copy.deepcopy(A.Duration(parts)), Sub(parts), twin(parts)]
        counts = {(d.months, d.days, d.seconds) for d in made}
        assert len(counts) == 1 and all(type(d) is A.Duration for d in made[:6])
        months = sum(n for n, u in parts if u == "month")
        days = sum(n * (7 if u == "week" else 1) for n, u in parts if u in ("day", "week"))
        seconds = sum(n * (3600 if u == "hour" else 60) for n, u in parts if u in ("hour", "minute"))
        assert counts == {(months, days, seconds)}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        A.Duration(((1, "day"),)).days = 2
