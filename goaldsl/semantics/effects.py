"""What events do to a contact, declared once on the event types.

A contact's attributes are its record with the effects of its events applied
in time order (docs/spec.md sections 4 and 6). The standard library declares
each effect on the event that has it:

    event tag.added { tag: string } effect add_to(contact.tags, tag)

Everything else is derived from those declarations, here: the functions the
engine applies (compiled once per event type), which event types change a
contact (so which workflows an event can wake), which events can have set an
attribute (explain), which attributes every contact has, and which event
field and action arguments name attributes (the REPL and the language
server). A program's own events cannot declare effects (E0204): a contact's
state means the same in every program and every tool.
"""
from __future__ import annotations

import collections.abc
import copy
import functools

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

from . import ir
from ..syntax.nodes import Node, node

Apply = collections.abc.Callable[[dict, dict], None]  # (contact attributes, event fields)


@node
class Op(Node):
    """One kind of effect: what it needs and what it does."""
    name: str
    whole_contact: bool  # True: written op(contact, FIELD); else op(contact.NAME, FIELD)
    field_kind: Optional[str]  # the kind of value the field must hold (None: any)
    meaning: str  # for docs and hovers
    make: Callable[[Optional[str], str], Apply]


def _add_to(name: Optional[str], field: str) -> Apply:
    def apply(a: dict, fields: dict) -> None:
        val = fields.get(field)
        cur = a.get(name)
        if not isinstance(cur, list):
            cur = a[name] = []
        if val not in cur:
            cur.append(val)
    return apply


def _remove_from(name: Optional[str], field: str) -> Apply:
    def apply(a: dict, fields: dict) -> None:
        val = fields.get(field)
        cur = a.get(name)
        if isinstance(cur, list) and val in cur:
            a[name] = [x for x in cur if x != val]  # a new list: snapshots of the old one stay as they were
    return apply


def _increase(name: Optional[str], field: str) -> Apply:
    def apply(a: dict, fields: dict) -> None:
        by = fields.get(field)
        if isinstance(by, (int, float)):
            cur = a.get(name)
            a[name] = (cur if ir.value_kind(cur) == "number" else 0) + by
    return apply


def _update(name: Optional[str], field: str) -> Apply:
    def apply(a: dict, fields: dict) -> None:
        changes = fields.get(field)
        if isinstance(changes, dict):
            for k, v in changes.items():
                if k != "id":  # a contact's id never changes
                    # A copy: later effects change the contact, never the stored event.
                    set_path(a, k, copy.deepcopy(v) if isinstance(v, (dict, list)) else v)
    return apply


OPS: dict[str, Op] = {op.name: op for op in (
    Op("add_to", False, None, "adds the field's value to the list attribute, once", _add_to),
    Op("remove_from", False, None, "removes the field's value from the list attribute", _remove_from),
    Op("increase", False, "number",
       "adds the number to the attribute (a missing or non-number attribute counts as 0)", _increase),
    Op("update", True, "map",
       'sets each key of the map on the contact ("company.size" a nested one; the key "id" is ignored)', _update),
)}


def set_path(d: dict, key: str, value: Any) -> None:
    """``d["company"]["size"] = value`` for the key ``"company.size"``."""
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            nxt = d[p] = {}
        d = nxt
    d[parts[-1]] = value


def show(e: ir.Effect) -> str:
    """An effect as it is written: ``add_to(contact.tags, tag)``."""
    target = "contact" if e.attribute is None else f"contact.{e.attribute}"
    return f"{e.op}({target}, {e.field})"


# ---------------------------------------------------------------- derived knowledge

class ContactEffects:
    """The effects of a program's event types, compiled once: ``apply(attrs,
    type, fields)`` changes a contact as the event does."""

    def __init__(self, events: dict[str, ir.EventType]):
        self.events = events
        self.by_type: dict[str, Apply] = {}
        for name, ev in events.items():
            fns = [OPS[e.op].make(e.attribute, e.field) for e in ev.effects]
            if len(fns) == 1:
                self.by_type[name] = fns[0]
            elif fns:
                self.by_type[name] = _sequence(tuple(fns))
        #: Event types that change a contact's attributes.
        self.state_events = frozenset(self.by_type)
        #: The list attributes events add to and remove from: every contact
        #: has them (empty when its record has none).
        self.list_attributes = tuple(dict.fromkeys(
            e.attribute for ev in events.values() for e in ev.effects if e.op in ("add_to", "remove_from")))
        #: Per event type, the field whose keys are attribute names (the
        #: ``fields`` of ``contact.updated``).
        self.keys_fields = {name: f for name, ev in events.items() if (f := keys_field(ev)) is not None}

    def apply(self, attributes: dict, typ: str, fields: dict) -> None:
        fn = self.by_type.get(typ)
        if fn is not None:
            fn(attributes, fields)

    def new_record(self, record: dict) -> dict:
        """A (shallow) copy of a contact record with the list attributes it lacks."""
        data = dict(record)
        for key in self.list_attributes:
            data.setdefault(key, [])
        return data

    def setters(self, path: str) -> list[tuple[str, ir.Effect]]:
        """The event types (with the effect) that can set the attribute
        ``path`` (dotted), those that set fields by name last."""
        top = path.split(".")[0]
        named = [(typ, e) for typ, ev in self.events.items() for e in ev.effects
                 if e.attribute is not None and e.attribute == top]
        by_key = [(typ, e) for typ, ev in self.events.items() for e in ev.effects if e.attribute is None]
        return named + by_key


@functools.lru_cache(maxsize=1)
def standard_effects() -> ContactEffects:
    """The standard library's effects. Only the standard library declares
    effects, so these are every program's: what the input readers check
    contact records against when they have no program at hand."""
    from .checker import check  # the checker imports this module
    from .loader import load
    return ContactEffects(check(load([])).program.events)


def _sequence(fns: tuple[Apply, ...]) -> Apply:
    def apply(a: dict, fields: dict) -> None:
        for fn in fns:
            fn(a, fields)
    return apply


def sets(effect: ir.Effect, fields: dict, path: str) -> bool:
    """Whether an event with ``fields`` sets ``path`` through ``effect``
    (one of ``setters(path)``): a map of fields must name it, or a part of it."""
    if effect.attribute is not None:
        return True
    changed = fields.get(effect.field)
    return isinstance(changed, dict) and any(
        k == path or path.startswith(k + ".") or k.startswith(path + ".") for k in changed)


def keys_field(ev: Optional[ir.EventType]) -> Optional[str]:
    """The field of an event type whose keys are attribute names, if any."""
    if ev is None:
        return None
    return next((e.field for e in ev.effects if OPS[e.op].whole_contact), None)


def sets_by_name(action: ir.ActionType, events: dict[str, ir.EventType]) -> bool:
    """Whether an action's named arguments are contact attributes: its
    ``...rest`` parameter goes to an event field whose keys are attributes
    (``update_contact(stage: "SQL")``)."""
    if not action.rest:
        return False
    for spec in action.emits:
        field = keys_field(events.get(spec.event))
        if field is not None and (field, ("param", action.rest)) in spec.mapping:
            return True
    return False

