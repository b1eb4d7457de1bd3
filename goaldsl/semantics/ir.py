"""The checked program: names resolved, types known, ready to compile.

The checker turns AST into these classes. Conditions here are typed: event
atoms name their declared type, filter operands are fields or contact
attributes, enum values and step names are plain strings. Segments stay
references (``CSegment``) so a segment used many times compiles once.
"""
from __future__ import annotations

from collections import deque

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any, Iterator, Optional

from ..syntax.ast import Duration
from ..syntax.nodes import Node, field, node
from ..syntax.source import NO_SPAN, Span


def _span():
    return field(default=NO_SPAN, eq=False, repr=False, kw_only=True)


# ------------------------------------------------------------------ declarations

# ------------------------------------------------------------------ values and types
#
# Which values a field type accepts is decided here, once: for literals in the
# checker, lines of the input files, events added in the REPL and through the
# embedding API. Values are JSON-like; ``true`` is not a number.

#: The kind of a value, by its Python type (exact types first; subclasses are
#: looked up in this order, so a bool is never taken for a number).
_KIND_OF_TYPE: dict[type, str] = {str: "string", bool: "bool", int: "number", float: "number",
                                  list: "list", dict: "map"}
#: The declared field types (besides ``enum(...)``).
TYPE_NAMES = ("string", "number", "bool", "step", "map", "list", "any")
#: The kind of value a declared type holds: a step is named by text.
_VALUE_KIND = {"string": "string", "number": "number", "bool": "bool", "step": "string", "map": "map",
               "list": "list", "enum": "string"}


def value_kind(v: Any) -> Optional[str]:
    """``string``, ``number``, ``bool``, ``list`` or ``map``; None for null
    (and for anything that is not JSON-like)."""
    kind = _KIND_OF_TYPE.get(type(v))
    if kind is None and v is not None:
        kind = next((k for t, k in _KIND_OF_TYPE.items() if isinstance(v, t)), None)
    return kind


@node
class FieldType(Node):
    kind: str  # string number bool step map list any enum
    values: tuple[str, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        base = f"enum({', '.join(self.values)})" if self.kind == "enum" else self.kind
        return base + ("?" if self.optional else "")

    def accepts(self, v: Any) -> bool:
        """Whether a (non-null) value fits this type."""
        if self.kind == "any":
            return True
        if self.kind == "enum":
            return isinstance(v, str) and v in self.values
        return value_kind(v) == _VALUE_KIND.get(self.kind)

    def exact_types(self) -> Optional[tuple[type, ...] | frozenset[str]]:
        """For fast checks of decoded JSON: the Python types a value of this
        type has (the allowed texts of an enum); None when anything goes.
        Agrees with ``accepts`` on the values a JSON decoder makes."""
        if self.kind == "enum":
            return frozenset(self.values)
        want = _VALUE_KIND.get(self.kind)
        return None if want is None else tuple(t for t, k in _KIND_OF_TYPE.items() if k == want)


@node
class Effect(Node):
    """What an event does to its contact: ``add_to(contact.tags, tag)`` is
    Effect("add_to", "tags", "tag"). The kinds are in semantics/effects.py."""
    op: str
    attribute: Optional[str]  # a top-level contact attribute; None: the whole contact
    field: str  # the event field whose value it uses


@node
class EventType(Node):
    name: str
    fields: dict[str, FieldType]
    effects: tuple[Effect, ...] = ()
    span: Span = _span()
    doc: str = ""


@node
class ParamType(Node):
    name: str
    type: FieldType
    default: Any = None
    has_default: bool = False


@node
class EmitSpec(Node):
    event: str
    # event field -> ("param", name) | ("const", value) | ("step", None) | ("workflow", None)
    mapping: tuple[tuple[str, tuple[str, Any]], ...]


@node
class ActionType(Node):
    name: str
    params: tuple[ParamType, ...]
    rest: Optional[str]  # name of the ...rest parameter, if any
    emits: tuple[EmitSpec, ...]
    span: Span = _span()
    doc: str = ""

    def param(self, name: str) -> Optional[ParamType]:
        return next((p for p in self.params if p.name == name), None)


# ------------------------------------------------------------------ conditions

@node
class OAttr(Node):
    """A contact attribute: ``contact.company.size`` -> ("company", "size")."""
    path: tuple[str, ...]
    span: Span = _span()


@node
class OField(Node):
    """A field of the event being filtered."""
    name: str
    span: Span = _span()


@node
class OTrigger(Node):
    """A field of the event that started the current enrollment:
    ``trigger.product``; ``trigger.time`` is that event's instant (UTC text,
    as the activity stream writes times)."""
    name: str
    span: Span = _span()


@node
class OConst(Node):
    value: Any
    span: Span = _span()


@node
class OList(Node):
    items: tuple["Operand", ...]
    span: Span = _span()


Operand = OAttr | OField | OTrigger | OConst | OList


@node
class COr(Node):
    items: tuple["Cond", ...]
    span: Span = _span()


@node
class CAnd(Node):
    items: tuple["Cond", ...]
    span: Span = _span()


@node
class CNot(Node):
    operand: "Cond"
    span: Span = _span()


@node
class CConst(Node):
    value: bool
    span: Span = _span()


@node
class CCompare(Node):
    op: str  # == != < <= > >=
    left: Operand
    right: Operand
    span: Span = _span()


@node
class CIn(Node):
    left: Operand
    right: Operand
    negated: bool = False
    span: Span = _span()


@node
class CText(Node):
    op: str  # starts with | ends with | contains
    left: Operand
    right: Operand
    span: Span = _span()


@node
class CIsSet(Node):
    operand: Operand
    negated: bool = False
    span: Span = _span()


@node
class CTruthy(Node):
    """A bare attribute or field used as a condition: true when set and truthy."""
    operand: Operand
    span: Span = _span()


@node
class CEvent(Node):
    event: str
    filter: Optional["Cond"]
    count_kind: str  # at_least | at_most | exactly
    count: int
    window: str  # within | since_enrollment | ever | default
    duration: Optional[Duration] = None
    # `within DURATION after OTHER(FILTER)`: the anchor event (its type and
    # filter; count and window unused). An event counts only when an anchor
    # happened at most ``duration`` before it; ``window`` is then where both
    # are taken from (since_enrollment | ever | default).
    after: Optional["CEvent"] = None
    span: Span = _span()

    def __repr__(self) -> str:
        # attrs' repr, with `after` only when there is one: the digests that
        # state files hold (repr of the goals) stay those of older programs.
        text = (f"CEvent(event={self.event!r}, filter={self.filter!r}, count_kind={self.count_kind!r}, "
                f"count={self.count!r}, window={self.window!r}, duration={self.duration!r}")
        return text + (f", after={self.after!r})" if self.after is not None else ")")


@node
class CSegment(Node):
    name: str
    span: Span = _span()


Cond = COr | CAnd | CNot | CConst | CCompare | CIn | CText | CIsSet | CTruthy | CEvent | CSegment


# ------------------------------------------------------------------ walking conditions

def walk(cond: Optional[Cond], segments: Optional[dict[str, Cond]] = None, *,
         filters: bool = True) -> Iterator[tuple[Cond, bool]]:
    """Every node of ``cond`` with its polarity (False under an odd number
    of ``not``): the one walker behind every analysis of a condition.

    The condition's own nodes come first, in source order (pre-order, left
    to right). With ``segments`` (a program's definitions), the definitions
    of the segments it uses follow, in the order they are first referenced
    (breadth-first: a definition's own references queue behind it), each
    walked once per polarity however often it is used; unknown names are
    skipped. Without ``segments`` a reference is a leaf. The anchor of
    ``within D after OTHER`` is a node of its own, after the atom's filter.
    ``filters=False`` leaves out event filters (conditions on another
    event's fields).
    """
    if cond is None:
        return
    seen: set[tuple[str, bool]] = set()
    queue = deque([(cond, True)])
    while queue:
        stack = [queue.popleft()]
        while stack:
            node, positive = stack.pop()
            yield node, positive
            if isinstance(node, (COr, CAnd)):
                stack.extend((x, positive) for x in reversed(node.items))
            elif isinstance(node, CNot):
                stack.append((node.operand, not positive))
            elif isinstance(node, CEvent):
                if node.after is not None:  # the anchor of `within D after`, then its filter
                    stack.append((node.after, positive))
                if filters and node.filter is not None:
                    stack.append((node.filter, positive))
            elif isinstance(node, CSegment) and segments is not None:
                body = segments.get(node.name)
                if body is not None and (node.name, positive) not in seen:
                    seen.add((node.name, positive))
                    queue.append((body, positive))


def operands(c: Cond) -> tuple[Operand, ...]:
    """The operands a leaf condition reads, in source order (none for the
    other kinds)."""
    if isinstance(c, (CCompare, CIn, CText)):
        return (c.left, c.right)
    if isinstance(c, (CIsSet, CTruthy)):
        return (c.operand,)
    return ()


def operand_parts(op: Operand) -> Iterator[Operand]:
    """An operand and, for a list, its items (nested lists too)."""
    yield op
    if isinstance(op, OList):
        for x in op.items:
            yield from operand_parts(x)


# ------------------------------------------------------------------ actions

@node
class ArgValue(Node):
    """An action argument: a constant, a string with {contact.x} parts, or an
    attribute. ``parts`` for templates alternate text and attribute paths."""
    kind: str  # const | template | attr
    value: Any = None
    parts: tuple = ()


@node
class Call(Node):
    action: str
    args: tuple[tuple[str, ArgValue], ...]  # by declared name, defaults filled
    rest: tuple[tuple[str, ArgValue], ...] = ()  # for ...rest parameters
    span: Span = _span()


# ------------------------------------------------------------------ goals and steps

@node
class Goal(Node):
    name: str
    cond: Cond
    then: tuple[Call, ...]
    then_ifs: tuple[tuple[Cond, tuple[Call, ...], Optional[tuple[Call, ...]]], ...]
    on_achieved: str = "continue"  # continue | skip | end
    achieved_target: Optional[str] = None
    on_unmet: str = "wait"  # wait | wait_up_to | continue | end
    unmet_limit: Optional[Duration] = None
    unmet_then: Optional[str] = None  # continue | end
    is_step: bool = False
    span: Span = _span()


@node
class SAction(Node):
    call: Call
    name: Optional[str] = None
    span: Span = _span()


@node
class SWait(Node):
    duration: Duration
    name: Optional[str] = None
    span: Span = _span()


@node
class SWaitTime(Node):
    hour: int
    minute: int
    weekday: Optional[int] = None  # 0 = monday
    name: Optional[str] = None
    span: Span = _span()


@node
class SWaitDate(Node):
    at: int  # epoch seconds
    name: Optional[str] = None
    span: Span = _span()


@node
class SWaitCond(Node):
    cond: Cond
    limit: Optional[Duration] = None
    name: Optional[str] = None
    span: Span = _span()


@node
class SIf(Node):
    branches: tuple[tuple[Cond, tuple["Step", ...]], ...]
    else_steps: tuple["Step", ...] = ()
    span: Span = _span()


@node
class SGoal(Node):
    goal: Goal
    span: Span = _span()


@node
class SSkip(Node):
    target: str
    span: Span = _span()


@node
class SEnd(Node):
    span: Span = _span()


Step = SAction | SWait | SWaitTime | SWaitDate | SWaitCond | SIf | SGoal | SSkip | SEnd


# The step walkers: the IR's twins of ast.step_name and ast.all_steps.

def step_name(st: Step) -> Optional[str]:
    """The name a step can be referred to by (a goal step's, or an action's
    or a wait's ``as NAME``), or None."""
    return st.goal.name if isinstance(st, SGoal) else getattr(st, "name", None)


def all_steps(steps) -> Iterator[Step]:
    """Every step of ``steps`` and, in order, those nested in their if branches."""
    stack = list(reversed(list(steps)))
    while stack:
        st = stack.pop()
        yield st
        if isinstance(st, SIf):
            nested = [s for _, b in st.branches for s in b] + list(st.else_steps)
            stack.extend(reversed(nested))


@node
class Workflow(Node):
    name: str
    is_drip: bool
    once_at: Optional[int]  # epoch seconds for `runs once at`; None = perpetual
    every: Optional[int]  # tick in seconds; None = evaluate on event
    timezone: str
    audience: Optional[Cond]
    trigger: Optional[Cond]
    reentry: bool
    steps: tuple[Step, ...]
    goals: tuple[Goal, ...]  # the exit goals, in order
    # `evaluate every N days at HH:MM [on WEEKDAY]`: ticks at that wall-clock
    # time (hour, minute, weekday 0 = monday or None); None: epoch-aligned ticks.
    tick_time: Optional[tuple[int, int, Optional[int]]] = None
    reentry_after: Optional[Duration] = None  # `allow reentry after D`
    skip_if_goal_met: bool = False  # `skip enrollment if goal met`
    exit_on_audience: bool = False  # `exit when audience no longer matches`
    span: Span = _span()


@node
class Program(Node):
    events: dict[str, EventType]
    actions: dict[str, ActionType]
    segments: dict[str, Cond]
    workflows: tuple[Workflow, ...]
    sources: dict[str, str] = field(factory=dict, eq=False, repr=False)

    def workflow(self, name: str) -> Optional[Workflow]:
        return next((w for w in self.workflows if w.name == name), None)


def step_names(wf: Workflow) -> list[str]:
    """The names of a workflow's steps (nested ones too), in order."""
    return [n for n in map(step_name, all_steps(wf.steps)) if n is not None]


def all_goals(wf: Workflow) -> list[Goal]:
    """A workflow's goals: its goal steps' (always at the top level), in
    order, then its exit goals."""
    return [st.goal for st in wf.steps if isinstance(st, SGoal)] + list(wf.goals)


def attribute_paths(cond: Optional[Cond], segments: dict[str, Cond]) -> tuple[tuple[str, ...], ...]:
    """The contact attributes a condition names, as an operand or an item of
    a list operand (filters and segments included), in walk order, each once."""
    paths: dict[tuple[str, ...], None] = {}
    for node, _ in walk(cond, segments):
        for op in operands(node):
            for x in op.items if isinstance(op, OList) else (op,):
                if isinstance(x, OAttr):
                    paths[x.path] = None
    return tuple(paths)
