"""Evaluating one condition for one contact at one instant (``goal eval``,
the REPL): the contact's state is rebuilt from its record and its events up
to that instant, with no enrollment (so windows default to all history)."""
from __future__ import annotations

from typing import Iterable, Optional

import attrs

from ..semantics import ir
from ..runtime.program import Program
from ..semantics.calendar import format_utc
from ..runtime.compiler import Compiler, Observation, Observed
from ..runtime.engine import Contact
from ..runtime.inputs import Inputs, copy_value


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
    c = Contact(cid, copy_value(effects.new_record(record or {"id": cid})), 0)
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


def observe(comp: Compiler, cond: ir.Cond, c: Contact, now: int, since: Optional[int] = None,
            later: Iterable[tuple[int, str, dict]] = ()) -> Observation:
    """One run of the observing build of ``cond`` (compiled by ``comp``) on
    contact ``c`` at ``now``: the value the engine's code computes, with what
    each part saw. ``later``: the contact's events after ``now`` as (time,
    type, fields); each count shows them too (they never count), filters
    evaluated, unless the contact's own list already holds them."""
    extra: dict[str, list] = {}
    for t, typ, fields in later:
        known = extra.setdefault(typ, [])
        if not any(t2 == t and f2 is fields for t2, f2 in c.events.get(typ, ())) and \
                not any(t2 == t and f2 is fields for t2, f2 in known):
            known.append((t, fields))
    return comp.observing(cond)(c, now, since, None, extra)


def evaluate_condition(program: Program, inputs: Inputs, text: str, cid: str, at: int, tz: str = "UTC") -> EvalResult:
    cond, fn = program.condition(text, timezone=tz)
    c = contact_at(program, inputs, cid, at)
    if c is None:
        c_eval = contact_state(program, None, cid)
        return EvalResult(bool(fn(c_eval, at, None, None)), None, [])
    later = [(t, typ, f) for t, who, typ, f in inputs.events if who == cid and t > at]
    seen = observe(Compiler(program.ir, tz), cond, c, at, None, later)
    why = []
    if not seen.value:
        from .explain import why_false  # explain imports this module: import it here, at use
        why = why_false(program, seen, tz)
    return EvalResult(seen.value, c, matching_events(seen), why)


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


def matching_events(seen: Observation) -> list[tuple[str, int, dict]]:
    """The events the event atoms of an observed condition counted (a
    segment's once, filters not entered), by time; events at the same time
    keep the order in which the atoms were first met (the walk goes from the
    last part of an ``and``/``or`` to the first, as it always has)."""
    found: dict[tuple, tuple[str, int, dict]] = {}
    stack: list[Observed] = [seen.tree]
    segments: set[str] = set()
    while stack:
        o = stack.pop()
        if isinstance(o.cond, ir.CSegment):
            if o.cond.name not in segments:
                segments.add(o.cond.name)
                stack.extend(o.parts)
        elif isinstance(o.cond, ir.CEvent):
            for ec in sorted((x for x in o.candidates if x.index is not None), key=lambda x: x.index):
                if ec.counts:
                    found.setdefault((ec.time, o.cond.event, id(ec.fields)), (o.cond.event, ec.time, ec.fields))
        else:
            stack.extend(o.parts)
    return [found[k] for k in sorted(found, key=lambda k: (k[0], k[1]))]
