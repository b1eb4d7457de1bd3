"""What the checker's parts share: where a condition stands (``Context``), and
how a value and a kind are named in messages."""
from __future__ import annotations

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Optional

from .. import ir
from ...syntax import nodes, values
from ...syntax.nodes import Node, node

#: The IR's classes as their constructors without the class call
#: (``nodes.maker``): ``IR.CAnd(...)`` makes what ``ir.CAnd(...)`` would.
IR = nodes.Makers(ir)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@node(frozen=False)
class Context(Node):
    """Where a condition stands: which workflow, which event it filters."""
    workflow: Optional[str] = None
    steps: frozenset[str] = frozenset()
    event: Optional[ir.EventType] = None
    in_workflow: bool = False
    # `trigger.FIELD`: the fields of the workflow's trigger events (and
    # `time`), or None where there is no trigger event; then ``no_trigger``
    # says why (audience, trigger, or None: outside a workflow).
    trigger: Optional[dict[str, ir.FieldType]] = None
    no_trigger: Optional[str] = None

    def but(self, **changes) -> "Context":
        """A copy with ``changes``: what ``nodes.evolve`` (and
        ``attrs.evolve``) makes, at less cost (a condition of an event takes
        one). Its fields are listed here by hand: the generic copies, tried,
        cost 4,500 to 11,000 instructions more a call (8.5 and 20.7 million
        on the 10,000-line program). tests/test_checker.py holds it to
        ``nodes.evolve`` for every field."""
        new = Context(self.workflow, self.steps, self.event, self.in_workflow, self.trigger, self.no_trigger)
        for name, value in changes.items():
            setattr(new, name, value)
        return new


def kind_of(node, classes: tuple):
    """The first of ``classes`` that ``node`` is an instance of (None:
    none): the checker's dispatch by class, for a subclass of a node class."""
    for cls in classes:
        if isinstance(node, cls):
            return cls
    return None


def show_value(v) -> str:
    """A literal of the wrong kind, in a message: as written, but a list or
    a map by its kind."""
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a map"
    return values.show_value(v)


def kind_words(kind: str) -> str:
    return {"string": "text", "number": "a number", "bool": "true or false", "map": "a map like {key: \"value\"}",
            "list": "a list", "step": "a step name"}.get(kind, kind)

