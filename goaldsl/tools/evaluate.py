"""Evaluating one condition for one contact at one instant (``goal eval``,
the REPL): the contact's state is rebuilt from its record and its events up
to that instant, with no enrollment (so windows default to all history)."""
from __future__ import annotations

from typing import Iterable, Optional

import attrs

from ..semantics import ir
from ..runtime.program import Program
from ..semantics.calendar import format_utc
from ..runtime.compiler import Compiler
from ..runtime.engine import Contact
from ..runtime.inputs import Inputs


@attrs.define
class EvalResult:
    value: bool
    contact: Optional[Contact]
    matches: list[tuple[str, int, dict]]  # (event type, time, fields) of events an atom counted
    why: list[tuple[str, list[str]]] = attrs.Factory(list)  # when false: explain's reasons

    def lines(self) -> list[str]:
        out = []
        if self.contact is None:
            out.append("(no such contact: it has no record and no events)")
        for head, details in self.why:
            out.append(f"  {head}" + (":" if details else ""))
            out.extend(f"    {d}" for d in details)
        for typ, t, fields in self.matches:
            shown = ", ".join(f"{k}: {v!r}" if not isinstance(v, str) else f'{k}: "{v}"' for k, v in fields.items())
            out.append(f"  {format_utc(t)}  {typ}({shown})")
        return out


def contact_state(program: Program, record: Optional[dict], cid: str,
                  events: Iterable[tuple[int, str, dict]] = ()) -> Contact:
    """A contact as its record (a copy; none: only its id) with ``events``,
    (time, type, fields) in time order, recorded and their effects applied."""
    effects = program.plan.effects
    c = Contact(cid, deep_copy(effects.new_record(record or {"id": cid})), 0)
    for t, typ, fields in events:
        c.events.setdefault(typ, []).append((t, fields))
        effects.apply(c.attrs, typ, fields)
    return c


def contact_at(program: Program, inputs: Inputs, cid: str, at: int) -> Optional[Contact]:
    """The contact's state as of ``at``: its record with its events up to
    then applied; None when it has neither."""
    record = next((c for c in inputs.contacts if c["id"] == cid), None)
    events = [(t, typ, fields) for t, who, typ, fields in inputs.events if who == cid and t <= at]
    if record is None and not events:
        return None
    return contact_state(program, record, cid, events)


def deep_copy(v):
    """A copy of JSON-like data (dicts and lists), so effects applied to a
    contact never reach the records they were built from."""
    if isinstance(v, dict):
        return {k: deep_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [deep_copy(x) for x in v]
    return v


def evaluate_condition(program: Program, inputs: Inputs, text: str, cid: str, at: int, tz: str = "UTC") -> EvalResult:
    cond, fn = program.condition(text, timezone=tz)
    c = contact_at(program, inputs, cid, at)
    if c is None:
        c_eval = contact_state(program, None, cid)
        return EvalResult(bool(fn(c_eval, at, None, None)), None, [])
    value = bool(fn(c, at, None, None))
    why = []
    if not value:
        from .explain import why_false  # explain imports this module: import it here, at use
        later = [(t, typ, f) for t, who, typ, f in inputs.events if who == cid and t > at]
        why = why_false(program, cond, c, at, tz, later)
    return EvalResult(value, c, matching_events(program, cond, c, at, tz), why)


def evaluate_all(program: Program, inputs: Inputs, text: str, at: int, tz: str = "UTC") -> tuple[list[str], int]:
    """``goal eval --all``: the ids of the contacts (sorted) for which the
    condition holds at ``at``, each evaluated as ``evaluate_condition``
    would, and how many contacts there are."""
    _, fn = program.condition(text, timezone=tz)
    records = {c["id"]: c for c in inputs.contacts}
    events: dict[str, list] = {cid: [] for cid in records}
    for e in inputs.events:
        if e[0] <= at:
            events.setdefault(e[1], []).append(e)
        else:
            events.setdefault(e[1], [])
    out = []
    for cid in sorted(events):
        c = contact_state(program, records.get(cid), cid, [(t, typ, f) for t, _, typ, f in events[cid]])
        if fn(c, at, None, None):
            out.append(cid)
    return out, len(events)


def matching_events(program: Program, cond: ir.Cond, c: Contact, at: int, tz: str) -> list:
    """The events each event atom of ``cond`` counts, in time order."""
    comp = Compiler(program.ir, tz)
    found = {}
    stack = [cond]
    seen_segments = set()
    while stack:
        n = stack.pop()
        if isinstance(n, ir.CSegment):
            if n.name not in seen_segments:
                seen_segments.add(n.name)
                stack.append(program.ir.segments[n.name])
        elif isinstance(n, ir.CEvent):
            one = ir.CEvent(n.event, n.filter, "at_least", 1, n.window, n.duration)
            single = comp.cond(one)
            for t, fields in c.events.get(n.event, ()):
                if t > at:
                    continue
                probe = Contact(c.id, c.attrs, 0)
                probe.events = {n.event: [(t, fields)]}
                if single(probe, at, None, None):
                    found[(t, n.event, id(fields))] = (n.event, t, fields)
        elif isinstance(n, (ir.COr, ir.CAnd)):
            stack.extend(n.items)
        elif isinstance(n, ir.CNot):
            stack.append(n.operand)
    return [found[k] for k in sorted(found, key=lambda k: (k[0], k[1]))]
