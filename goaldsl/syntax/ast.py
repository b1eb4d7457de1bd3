"""The abstract syntax tree: frozen attrs classes, each with a source span
(made with ``nodes.node``: their equality, hashing and repr are shared).

Spans never take part in equality (``eq=False``), so two trees that differ
only in layout compare equal; the formatter's round-trip test relies on it.
Nothing here knows about Lark.
"""
from __future__ import annotations

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Optional, Union

from .nodes import Node, field, field_names, is_attrs_class, node
from .source import NO_SPAN, Span


def _span():
    return field(default=NO_SPAN, eq=False, repr=False, kw_only=True)


# ------------------------------------------------------------------ basics

@node
class Ident(Node):
    """A name as written, with where it was written."""
    name: str
    span: Span = _span()


@node
class Duration(Node):
    """``1 day 12 hours``: the pairs as written, units singular; ``months``,
    ``days`` (weeks counted as 7) and ``seconds`` (hours and minutes) are
    counted once, when it is made (the engine adds durations at every wait)."""
    parts: tuple[tuple[int, str], ...]
    span: Span = _span()
    months: int = field(init=False, eq=False, repr=False)
    days: int = field(init=False, eq=False, repr=False)
    seconds: int = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # (attrs' way, for attrs' own class and a subclass: nodes' constructor calls __node_init__)
        months, days, seconds = _counts(self.parts)
        object.__setattr__(self, "months", months)
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "seconds", seconds)

    @staticmethod
    def __node_init__(o) -> None:
        # The counts set on the object before it is frozen (nodes._make_new):
        # three plain assignments, not three object.__setattr__ calls.
        o.months, o.days, o.seconds = _counts(o.parts)

    def approx_seconds(self) -> int:
        return self.months * 31 * 86400 + self.days * 86400 + self.seconds


def _counts(parts) -> tuple[int, int, int]:
    """A duration's months, days (weeks counted as 7) and seconds (hours and minutes)."""
    months = days = seconds = 0
    for n, u in parts:  # (one pass: a program makes a duration a wait)
        if u == "month":
            months += n
        elif u == "day" or u == "week":
            days += n * 7 if u == "week" else n
        elif u == "hour" or u == "minute":
            seconds += n * 3600 if u == "hour" else n * 60
    return months, days, seconds


# ------------------------------------------------------------------ values

@node
class Ref(Node):
    """A dotted name: ``contact.lead_score``, ``email.opened``, ``hot_lead``."""
    parts: tuple[str, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@node
class Str(Node):
    value: str
    span: Span = _span()


@node
class Num(Node):
    value: Union[int, float]
    span: Span = _span()


@node
class Bool(Node):
    value: bool
    span: Span = _span()


@node
class ListLit(Node):
    items: tuple["Value", ...]
    span: Span = _span()


@node
class MapLit(Node):
    entries: tuple[tuple[str, "Value"], ...]
    span: Span = _span()


Value = Ref | Str | Num | Bool | ListLit | MapLit


# ------------------------------------------------------------------ conditions

@node
class Or(Node):
    items: tuple["Cond", ...]
    span: Span = _span()


@node
class And(Node):
    items: tuple["Cond", ...]
    span: Span = _span()


@node
class Not(Node):
    operand: "Cond"
    span: Span = _span()


@node
class Compare(Node):
    op: str  # == != < <= > >=
    left: Value
    right: Value
    span: Span = _span()


@node
class In(Node):
    left: Value
    right: Value
    negated: bool = False
    span: Span = _span()


@node
class TextOp(Node):
    op: str  # "starts with" | "ends with" | "contains"
    left: Value
    right: Value
    span: Span = _span()


@node
class IsSet(Node):
    ref: Ref
    negated: bool = False
    span: Span = _span()


@node
class Count(Node):
    kind: str  # at_least | at_most | exactly
    n: int
    span: Span = _span()


@node
class Window(Node):
    kind: str  # within | within_after | since_enrollment | ever
    duration: Optional[Duration] = None
    # `within D after OTHER(FILTER) [since enrollment | ever]`: the event that
    # anchors the window (a RefAtom with a filter at most) and where both
    # events are taken from (None: the default of the place).
    after: Optional["RefAtom"] = None
    scope: Optional[str] = None  # since_enrollment | ever
    span: Span = _span()


@node
class RefAtom(Node):
    """A bare name in condition position: a segment, an event (with optional
    filter, count and window) or, rarely, a boolean contact attribute."""
    ref: Ref
    filter: Optional[tuple["Cond", ...]] = None
    count: Optional[Count] = None
    window: Optional[Window] = None
    span: Span = _span()


Cond = Or | And | Not | Compare | In | TextOp | IsSet | RefAtom


# ------------------------------------------------------------------ actions

@node
class Arg(Node):
    name: Optional[Ident]
    value: Value
    span: Span = _span()


@node
class ActionCall(Node):
    name: Ident
    args: tuple[Arg, ...]
    span: Span = _span()


# ------------------------------------------------------------------ goals

@node
class When(Node):
    cond: Cond
    span: Span = _span()


@node
class Then(Node):
    actions: tuple[ActionCall, ...]
    span: Span = _span()


@node
class ThenIf(Node):
    cond: Cond
    actions: tuple[ActionCall, ...]
    else_actions: Optional[tuple[ActionCall, ...]] = None
    span: Span = _span()


@node
class OnAchieved(Node):
    policy: str  # continue | skip | end
    target: Optional[Ident] = None
    span: Span = _span()


@node
class OnUnmet(Node):
    policy: str  # wait | wait_up_to | continue | end
    limit: Optional[Duration] = None
    then: Optional[str] = None  # continue | end, for wait_up_to
    span: Span = _span()


GoalClause = When | Then | ThenIf | OnAchieved | OnUnmet


@node
class GoalBlock(Node):
    name: Ident
    clauses: tuple[GoalClause, ...]
    span: Span = _span()


# ------------------------------------------------------------------ steps

@node
class ActionStep(Node):
    call: ActionCall
    name: Optional[Ident] = None
    span: Span = _span()


@node
class WaitFor(Node):
    duration: Duration
    name: Optional[Ident] = None
    span: Span = _span()


@node
class WaitUntilTime(Node):
    """``wait until 09:00`` or ``wait until monday 09:00``."""
    hour: int
    minute: int
    weekday: Optional[str] = None
    name: Optional[Ident] = None
    span: Span = _span()


@node
class WaitUntilDate(Node):
    text: str  # the date-time as written
    name: Optional[Ident] = None
    span: Span = _span()


@node
class WaitUntilCond(Node):
    cond: Cond
    limit: Optional[Duration] = None
    name: Optional[Ident] = None
    span: Span = _span()


@node
class IfStep(Node):
    branches: tuple[tuple[Cond, tuple["Step", ...]], ...]
    else_steps: Optional[tuple["Step", ...]] = None
    span: Span = _span()


@node
class SkipStep(Node):
    target: Ident
    span: Span = _span()


@node
class EndStep(Node):
    span: Span = _span()


Step = (ActionStep | WaitFor | WaitUntilTime | WaitUntilDate | WaitUntilCond | IfStep | GoalBlock |
    SkipStep | EndStep)


# ------------------------------------------------------------------ settings

@node
class RunsPerpetual(Node):
    span: Span = _span()


@node
class RunsOnce(Node):
    text: str
    span: Span = _span()


@node
class EvaluateEvery(Node):
    duration: Duration
    span: Span = _span()


@node
class EvaluateEveryAt(Node):
    """``evaluate every 1 day at 09:00`` / ``every 1 week on monday at 09:00``:
    ticks at a wall-clock time of the workflow's time zone."""
    duration: Duration
    hour: int
    minute: int
    weekday: Optional[str] = None
    span: Span = _span()


@node
class EvaluateOnEvent(Node):
    span: Span = _span()


@node
class TimezoneSetting(Node):
    name: Str
    span: Span = _span()


@node
class EnrollWhen(Node):
    cond: Cond
    span: Span = _span()


@node
class Audience(Node):
    cond: Cond
    span: Span = _span()


@node
class AllowReentry(Node):
    after: Optional[Duration] = None  # `allow reentry after 30 days`
    span: Span = _span()


@node
class SkipIfGoalMet(Node):
    """``skip enrollment if goal met``."""
    span: Span = _span()


@node
class ExitWhenAudienceFails(Node):
    """``exit when audience no longer matches``."""
    span: Span = _span()


Setting = (RunsPerpetual | RunsOnce | EvaluateEvery | EvaluateEveryAt | EvaluateOnEvent | TimezoneSetting |
    EnrollWhen | Audience | AllowReentry | SkipIfGoalMet | ExitWhenAudienceFails)
#: The setting classes, for isinstance (the checker, formatter and language server).
SETTINGS = (RunsPerpetual, RunsOnce, EvaluateEvery, EvaluateEveryAt, EvaluateOnEvent, TimezoneSetting,
            EnrollWhen, Audience, AllowReentry, SkipIfGoalMet, ExitWhenAudienceFails)


@node
class GoalsSection(Node):
    goals: tuple[GoalBlock, ...]
    span: Span = _span()


def is_setting(item) -> bool:
    return isinstance(item, SETTINGS)


@node
class Workflow(Node):
    name: Ident  # the quoted name, without quotes
    is_drip: bool
    items: tuple[Union[Setting, Step, GoalsSection], ...]  # in source order
    span: Span = _span()

    @property
    def steps(self) -> list:
        """Its top-level steps, in order (the items but settings and goals sections)."""
        return [it for it in self.items if not isinstance(it, GoalsSection) and not is_setting(it)]


# ------------------------------------------------------------------ declarations

@node
class TypeExpr(Node):
    name: str  # string number bool step map list any enum
    values: tuple[str, ...] = ()
    optional: bool = False
    span: Span = _span()


@node
class FieldDecl(Node):
    name: Ident
    type: TypeExpr
    span: Span = _span()


@node
class Effect(Node):
    """``add_to(contact.tags, tag)`` after an event declaration."""
    op: Ident
    args: tuple[Ref, ...]
    span: Span = _span()


@node
class EventDecl(Node):
    name: Ref
    fields: tuple[FieldDecl, ...]
    effects: tuple[Effect, ...] = ()
    span: Span = _span()


@node
class Param(Node):
    name: Ident
    type: Optional[TypeExpr] = None  # None for a rest parameter
    default: Optional[Value] = None
    rest: bool = False
    span: Span = _span()


@node
class Emit(Node):
    event: Ref
    fields: tuple[tuple[Ident, Value], ...] = ()
    span: Span = _span()


@node
class ActionDecl(Node):
    name: Ident
    params: tuple[Param, ...]
    emits: tuple[Emit, ...] = ()
    span: Span = _span()


@node
class Import(Node):
    path: Str
    span: Span = _span()


@node
class SegmentDef(Node):
    name: Ident
    cond: Cond
    span: Span = _span()


# ------------------------------------------------------------------ tests

@node
class TestTime(Node):
    """A time in a test: a date-time as written, or ``+DURATION`` after the
    test's start (``offset``)."""
    text: Optional[str] = None
    offset: Optional[Duration] = None
    span: Span = _span()


@node
class TestFrom(Node):
    time: TestTime
    span: Span = _span()


@node
class TestUntil(Node):
    time: TestTime
    span: Span = _span()


@node
class TestTimezone(Node):
    name: Str
    span: Span = _span()


@node
class TestContact(Node):
    """``contact c1 { lead_score: 70 }``: a contact record."""
    id: Ident
    record: Optional[MapLit] = None
    span: Span = _span()


@node
class TestEvent(Node):
    """``event c1 form.submitted(form: "demo") at +1 day``."""
    contact: Ident
    type: Ref
    fields: tuple[tuple[Ident, Value], ...] = ()
    has_fields: bool = False  # written with parentheses (they may be empty)
    at: Optional[TestTime] = None
    span: Span = _span()


@node
class Expect(Node):
    """``expect CONTACT ...``: one expectation of a test.

    kind: achieved (goal), ran (call), exited (workflow?, reason?),
    enrolled (workflow), step (step), holds (cond). ``by`` for what happened
    (achieved, ran, exited), ``at`` for a state (enrolled, step, holds)."""
    contact: Ident
    kind: str
    negated: bool = False
    goal: Optional[Ident] = None
    call: Optional[ActionCall] = None
    workflow: Optional[Ident] = None
    step: Optional[Ident] = None
    reason: Optional[Ident] = None
    cond: Optional[Cond] = None
    by: Optional[TestTime] = None
    at: Optional[TestTime] = None
    span: Span = _span()


TestItem = TestFrom | TestUntil | TestTimezone | TestContact | TestEvent | Expect


@node
class TestBlock(Node):
    """``test "NAME" { ... }`` in a ``*_test.goal`` file."""
    __test__ = False  # not a pytest class
    name: Ident
    items: tuple[TestItem, ...]
    span: Span = _span()


TopItem = Import | SegmentDef | Workflow | EventDecl | ActionDecl | TestBlock


@node
class Module(Node):
    file: str
    items: tuple[TopItem, ...]
    comments: tuple[tuple[int, str], ...] = field(default=(), eq=False, repr=False)  # (offset, text)
    span: Span = _span()


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}  # a node class -> its fields but span (asked once a class)
_IS_NODE: dict[type, bool] = {}  # a type -> whether it is an attrs class (a node), asked once a type


def children(node) -> list:
    """The direct child nodes of ``node`` (for generic, iterative walks)."""
    cls = type(node)
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = _CHILD_FIELDS[cls] = tuple(name for name in field_names(cls) if name != "span")
    out: list = []
    is_node = _IS_NODE
    for name in names:
        value = getattr(node, name)
        t = type(value)
        if t is tuple:
            if value:
                _collect(value, out)
            continue
        node_type = is_node.get(t)
        if node_type is None:
            node_type = is_node[t] = is_attrs_class(t)
        if node_type:
            out.append(value)
        elif isinstance(value, tuple):  # a tuple of another class
            _collect(value, out)
    return out


def _collect(values: tuple, out: list) -> None:
    # The nodes in a tuple field, in order (tuples nest: a map's entries, an if's branches).
    is_node = _IS_NODE
    for value in values:
        t = type(value)
        node_type = is_node.get(t)
        if node_type is None:
            node_type = is_node[t] = is_attrs_class(t)
        if node_type:
            out.append(value)
        elif isinstance(value, tuple):
            _collect(value, out)


def walk(node):
    """Every node below and including ``node``, depth first, without recursion."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))


_NAMED_STEPS = (ActionStep, WaitFor, WaitUntilTime, WaitUntilDate, WaitUntilCond)  # named with ``as NAME``
_NAMED_STEP_SET = frozenset(_NAMED_STEPS)
_STEP_SET = frozenset({*_NAMED_STEPS, GoalBlock, IfStep, SkipStep, EndStep})
_UNNAMED_STEPS = frozenset({IfStep, SkipStep, EndStep})


def step_name(st) -> Ident | None:
    """The name a step can be referred to by (a goal step's, or an action's
    or a wait's ``as NAME``), or None."""
    t = type(st)  # (the step classes by identity first: called for every step, several times)
    if t is GoalBlock or t in _NAMED_STEP_SET:
        return st.name
    if t in _UNNAMED_STEPS:
        return None
    if isinstance(st, GoalBlock):
        return st.name
    return getattr(st, "name", None) if isinstance(st, _NAMED_STEPS) else None


def all_steps(steps):
    """Every step of ``steps`` and, in order, those nested in their if branches."""
    stack = list(reversed(list(steps)))
    while stack:
        st = stack.pop()
        yield st
        if type(st) is IfStep or (type(st) not in _STEP_SET and isinstance(st, IfStep)):
            nested = [s for _, b in st.branches for s in b] + list(st.else_steps or ())
            stack.extend(reversed(nested))
