"""``goal explain``: why a goal did or did not fire for one contact.

The engine is run from the earliest event (or ``start``) up to the instant
asked about, exactly as ``goal run`` would; then its state is inspected:

* where the contact is in the goal's workflow (enrolled since, the step it is
  at, what it waits for and until when, or when and why it left), from the
  engine's enrollment and the activity stream;
* the goal's condition as a tree, each part with its truth value at that
  instant, evaluated on the contact as the engine holds it (its record with
  every event and action effect applied up to then);
* for each event atom: its window in absolute times (UTC and the workflow's
  time zone) and every event of that type the contact has, each with the
  reasons it does or does not count (a filter that failed, with the actual
  value and the wanted one; outside the window; before enrollment; after the
  instant asked about);
* the contact attributes the condition reads, as of that instant;
* every achievement of the goal up to then, with the events that made it.

Every value shown (each part's truth value, a count's window, the events it
counted and why the others did not count, the attribute values a part
read) is reported by the observing build of the engine's own generated
code (``Compiler.observing``), run once on the contact as the engine holds
it: explain shows what the engine computes and never evaluates a condition
itself.
``render_text`` and ``to_json`` give the two output formats of the CLI.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Optional

import attrs

from ..semantics import ir
from ..semantics.effects import sets
from ..runtime.program import Program, engine_for
from ..semantics.calendar import add_duration, format_local, format_utc
from ..runtime.compiler import Compiler, Observation, Observed
from ..syntax.diagnostics import closest
from ..runtime.engine import Contact
from .evaluate import contact_state, observe
from ..runtime.inputs import Inputs, copy_value
from ..runtime.output import activity_line, entry_json
from ..syntax.formatter import duration as show_duration
from ..syntax.values import show_value
from ..runtime.plan import Action, Branch, End, GoalStep, Instruction, Jump, Wait, WaitDate, WaitTime, WaitUntil

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ExplainError(ValueError):
    """A question explain cannot answer (unknown goal or contact, no time)."""


# ====================================================================== printing IR

def _is_bare(op: ir.Operand, event: Optional[ir.EventType]) -> bool:
    return (isinstance(op, ir.OField) and event is not None and op.name in event.fields
            and event.fields[op.name].kind in ("enum", "step"))


def show_operand(op: ir.Operand, bare: bool = False) -> str:
    if isinstance(op, ir.OAttr):
        return "contact." + ".".join(op.path)
    if isinstance(op, ir.OField):
        return op.name
    if isinstance(op, ir.OTrigger):
        return "trigger." + op.name
    if isinstance(op, ir.OList):
        return "[" + ", ".join(show_operand(x, bare) for x in op.items) + "]"
    return show_value(op.value, bare)


def show_cond(c: ir.Cond, events: Optional[dict] = None, _event: Optional[ir.EventType] = None) -> str:
    """An IR condition back to source text (canonical spacing)."""
    events = events or {}

    def sub(x, parent):
        text = show_cond(x, events, _event)
        if isinstance(x, ir.COr) and parent in ("and", "not") or isinstance(x, ir.CAnd) and parent == "not":
            return f"({text})"
        return text

    if isinstance(c, ir.COr):
        return " or ".join(sub(x, "or") for x in c.items)
    if isinstance(c, ir.CAnd):
        return " and ".join(sub(x, "and") for x in c.items)
    if isinstance(c, ir.CNot):
        return "not " + sub(c.operand, "not")
    if isinstance(c, ir.CConst):
        return "true" if c.value else "false"
    if isinstance(c, ir.CSegment):
        return c.name
    if isinstance(c, (ir.CCompare, ir.CIn, ir.CText)):
        lb, rb = _is_bare(c.right, _event), _is_bare(c.left, _event)
        op = c.op if not isinstance(c, ir.CIn) else ("not in" if c.negated else "in")
        return f"{show_operand(c.left, lb)} {op} {show_operand(c.right, rb)}"
    if isinstance(c, ir.CIsSet):
        return f"{show_operand(c.operand)} is {'not ' if c.negated else ''}set"
    if isinstance(c, ir.CTruthy):
        return show_operand(c.operand)
    if isinstance(c, ir.CEvent):
        ev = events.get(c.event)
        out = c.event
        if c.filter is not None:
            parts = c.filter.items if isinstance(c.filter, ir.CAnd) else (c.filter,)
            out += "(" + ", ".join(show_cond(p, events, ev) for p in parts) + ")"
        if (c.count_kind, c.count) != ("at_least", 1):
            words = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}[c.count_kind]
            out += f" {words} {c.count} {'time' if c.count == 1 else 'times'}"
        if c.after is not None:
            out += f" within {show_duration(c.duration)} after {show_cond(c.after, events)}"
        if c.window == "within":
            out += f" within {show_duration(c.duration)}"
        elif c.window == "since_enrollment":
            out += " since enrollment"
        elif c.window == "ever":
            out += " ever"
        return out
    raise AssertionError(type(c))


def show_event(typ: str, fields: dict, events: Optional[dict] = None) -> str:
    """``invoice.status_changed(invoice: "inv-21", action: other_invoice, status: paid)``."""
    ev = (events or {}).get(typ)
    parts = []
    for k, v in fields.items():
        bare = ev is not None and k in ev.fields and ev.fields[k].kind in ("enum", "step")
        parts.append(f"{k}: {show_value(v, bare)}")
    return f"{typ}({', '.join(parts)})"


def _or_list(items: list[str], word: str = "or") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


# ====================================================================== results

@attrs.define
class EventCheck:
    """One event of an atom's type and whether (and why not) it counts."""
    time: int
    type: str
    fields: dict
    counts: bool
    reasons: list[str]
    origin: str = "log"  # log | workflow (emitted by an action or the engine)


@attrs.define
class Node:
    """A part of the condition with its truth value."""
    kind: str  # or and not const compare in text is_set truthy segment event
    text: str
    value: bool
    children: list["Node"] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)  # attribute values, why a part failed
    # event atoms only
    event: Optional[str] = None
    window: Optional[dict] = None  # kind, from, to (epoch or None), duration
    count: Optional[dict] = None  # kind, n, found
    events: list[EventCheck] = attrs.Factory(list)


@attrs.define
class Achievement:
    time: int
    enrollment: int
    events: list[EventCheck]
    attributes: dict
    sources: dict = attrs.Factory(dict)  # contact.path -> (time, event type) that last set it


@attrs.define
class WorkflowState:
    status: str  # enrolled | exited | never_enrolled
    enrolled_at: Optional[int] = None
    enrollment: Optional[int] = None
    step: Optional[str] = None  # what the contact is at
    step_index: Optional[int] = None  # top-level step, from 1
    steps: int = 0
    waiting: Optional[str] = None  # wait | goal | condition
    waiting_until: Optional[int] = None
    resumes_at: Optional[int] = None  # the first acting instant at or after waiting_until
    exited_at: Optional[int] = None
    exit_reason: Optional[str] = None
    exit_goal: Optional[str] = None
    listening: bool = False
    note: str = ""
    # (time, type, fields) of the event that started the enrollment, shown
    # when the goal reads trigger.FIELD
    trigger: Optional[tuple] = None


@attrs.define
class Explanation:
    contact: str
    goal: str
    workflow: str
    goal_kind: str  # step | exit
    goal_step: Optional[int]  # top-level step number (from 1) of a goal step
    timezone: str
    evaluate: str  # "every 5 minutes" | "on event"
    at: int
    start: int
    holds: bool
    condition: Node
    state: WorkflowState
    achievements: list[Achievement]
    activity: list[dict]
    attributes: dict  # contact.path -> value as of `at`
    summary: list[str]
    program_events: dict = attrs.field(factory=dict, repr=False)
    # why the condition is false: (headline, details), for the text summary
    why: list = attrs.field(factory=list)
    # contact.path -> (time, event type) of the event that last set it, up to `at`
    sources: dict = attrs.field(factory=dict)
    # the workflow's first tick at or after an instant (tick workflows)
    tick: Optional[Callable[[int], int]] = attrs.field(default=None, repr=False)


# ====================================================================== the explainer

def find_goal(program: Program, name: str, workflow: Optional[str] = None) -> tuple[ir.Workflow, ir.Goal, Optional[int]]:
    """The goal called ``name`` (and its workflow, and its step number if it
    is a goal step). Raises ExplainError with a suggestion."""
    found = []
    all_names = []
    for wf in program.ir.workflows:
        if workflow is not None and wf.name != workflow:
            continue
        for i, st in enumerate(wf.steps):
            if isinstance(st, ir.SGoal):
                all_names.append(st.goal.name)
                if st.goal.name == name:
                    found.append((wf, st.goal, i + 1))
        for g in wf.goals:
            all_names.append(g.name)
            if g.name == name:
                found.append((wf, g, None))
    if workflow is not None and program.ir.workflow(workflow) is None:
        best = closest(workflow, program.workflows)
        raise ExplainError(f'there is no workflow "{workflow}"' + (f' (did you mean "{best}"?)' if best else ""))
    if not found:
        if not all_names:
            raise ExplainError("the program has no goals")
        best = closest(name, all_names)
        msg = f'there is no goal "{name}"'
        msg += f' (did you mean "{best}"?)' if best else "; goals: " + ", ".join(f'"{n}"' for n in all_names)
        raise ExplainError(msg)
    if len(found) > 1:
        wfs = ", ".join(f'"{wf.name}"' for wf, _, _ in found)
        raise ExplainError(f'goal "{name}" is in several workflows ({wfs}): pick one with --workflow')
    return found[0]


def explain(program: Program, inputs: Inputs, contact: str, goal: str, *, at: Optional[int] = None,
            start: Optional[int] = None, workflow: Optional[str] = None) -> Explanation:
    """Explain goal ``goal`` for ``contact`` at ``at`` (default: the latest
    event), running the engine from ``start`` (default: the earliest event)."""
    wf, g, step_no = find_goal(program, goal, workflow)
    known = {c["id"] for c in inputs.contacts} | {e[1] for e in inputs.events}
    if inputs.contact_ids is not None:  # one contact's inputs (contact_slice): the log's contacts
        known |= inputs.contact_ids
    if contact not in known:
        best = closest(contact, known)
        raise ExplainError(f'there is no contact "{contact}" in the contacts or events'
                           + (f' (did you mean "{best}"?)' if best else ""))
    if at is None:
        at = inputs.last_time
    if start is None:
        # from the first event, or from --at when that is earlier (nothing has happened yet then)
        start = min(inputs.first_time, at) if inputs.first_time is not None and at is not None else at
    if at is None or start is None:
        raise ExplainError("there are no events to take the time from: give --at")
    if at < start:
        raise ExplainError(f"--at ({format_utc(at)}) is before --from ({format_utc(start)})")

    snapshots: list[tuple[int, int, int, dict, dict]] = []  # time, enrollment number, since, attrs, events
    holder: dict = {}

    def on_activity(entry: dict) -> None:
        if (entry["type"] == "goal_achieved" and entry["contact"] == contact and entry["workflow"] == wf.name
                and entry.get("goal") == g.name):
            eng = holder["engine"]
            c = eng.contacts[contact]
            pos = eng.position(wf.name, contact)
            snapshots.append((entry["time"], pos.enrollment if pos else 0, pos.since if pos else None,
                              copy_value(c.attrs), {k: list(v) for k, v in c.events.items()},
                              dict(c.triggers) if c.triggers else None))

    eng = engine_for(program, fresh_inputs(inputs), start=start, on_activity=on_activity)
    holder["engine"] = eng
    eng.run_until(at)

    c = eng.contacts.get(contact) or contact_state(program, None, contact)
    log_ids = {event_key(t, typ, f) for t, cid, typ, f in inputs.events if cid == contact}
    later = [(t, typ, f) for t, cid, typ, f in inputs.events if cid == contact and t > at]
    # The entry types of the contract (docs/spec.md section 8); the figures'
    # bookkeeping (`waiting`, docs/reports.md) is left out of the explanation.
    activity = [e for e in eng.activity if e["contact"] == contact and e["workflow"] == wf.name
                and e["type"] in _CONTRACT_TYPES]
    state, since = _state(eng, program, wf, g, contact, activity, at)
    if state.status != "never_enrolled" and c.triggers and wf.name in c.triggers and any(
            isinstance(op, ir.OTrigger) for n, _ in ir.walk(g.cond, program.ir.segments) for op in ir.operands(n)):
        state.trigger = c.triggers[wf.name]

    dups = [(t, typ, f, eid, place) for t, cid, typ, f, eid, place in inputs.duplicate_events if cid == contact]
    ex = _Explainer(program, wf.timezone, log_ids, dups, wf.name)
    seen = ex.observe(g.cond, c, at, since, later)
    tree = ex.node(seen.tree, seen)
    holds = tree.value
    achievements = []
    for t, number, a_since, a_attrs, a_events, a_triggers in snapshots:
        snap = Contact(contact, a_attrs, 0)
        snap.events = a_events
        snap.triggers = a_triggers
        a_seen = ex.observe(g.cond, snap, t, a_since)
        a_attrs_read = attributes_read(a_seen)
        achievements.append(Achievement(t, number, _causes(ex.node(a_seen.tree, a_seen)), a_attrs_read,
                                        attribute_sources(program, a_attrs_read, a_events, t)))
    wf_every = evaluate_words(wf)
    out = Explanation(contact, g.name, wf.name, "step" if g.is_step else "exit", step_no, wf.timezone, wf_every,
                      at, start, holds, tree, state, achievements, activity, attributes_read(seen), [],
                      program.ir.events)
    out.sources = attribute_sources(program, out.attributes, c.events, at)
    out.tick = program.plan.workflow(wf.name).tick
    out.summary = _summary(out, wf)
    return out


def attribute_sources(program: Program, paths: Iterable[str], events: dict, at: int) -> dict[str, tuple[int, str]]:
    """For each ``contact.PATH``, the time and type of the last event up to
    ``at`` that set it: an event whose declared effect changes that
    attribute (semantics/effects.py). A path no event touched comes from the
    contact record."""
    out: dict[str, tuple[int, str]] = {}
    effects = program.plan.effects
    for shown in paths:
        path = shown[len("contact."):]
        best: Optional[tuple[int, str]] = None
        for typ, effect in effects.setters(path):
            for t, fields in events.get(typ, ()):
                if t > at or (best is not None and t < best[0]):
                    continue
                if sets(effect, fields, path):
                    best = (t, typ)
        if best is not None:
            out[shown] = best
    return out


def condition_tree(program: Program, seen: Observation, tz: str) -> Node:
    """An observed condition as explain's tree (no enrollment, no log to tell
    the events the workflows emitted from)."""
    return _Explainer(program, tz, set()).node(seen.tree, seen)


def why_false(program: Program, seen: Observation, tz: str) -> list[tuple[str, list[str]]]:
    """Why an observed condition is false (the REPL, ``goal eval``): a
    headline per false part and, for an event atom, one line per event that
    did not count."""
    return _failed_reasons(condition_tree(program, seen, tz))


def attributes_read(seen: Observation) -> dict:
    """The contact attributes an observed condition names, with the values
    its observing build read."""
    return {"contact." + ".".join(p): v for p, v in seen.attributes.items()}



def fresh_inputs(inputs: Inputs) -> Inputs:
    """The inputs with copies of the contact records, for an engine run: the
    engine applies tag, list and update effects to the records it is given."""
    return Inputs(contacts=[copy_value(c) for c in inputs.contacts], events=inputs.events, bad=inputs.bad,
                  duplicates=inputs.duplicates, duplicate_events=inputs.duplicate_events,
                  first_time=inputs.first_time, last_time=inputs.last_time)


def event_key(t: int, typ: str, fields: dict) -> tuple:
    """Identifies an event by content, to tell the log's events from those
    the engine emitted."""
    return (t, typ, json.dumps(fields, sort_keys=True, default=str))


def evaluate_words(wf: ir.Workflow) -> str:
    """How a workflow's acting instants are written: ``every 5 minutes``,
    ``every 1 day at 09:00``, ``every 1 week on monday at 09:00``, ``on event``."""
    if not wf.every:
        return "on event"
    if wf.tick_time is None:
        return f"every {_show_seconds(wf.every)}"
    hour, minute, weekday = wf.tick_time
    if weekday is not None:
        return f"every {_show_seconds(wf.every)} on {_WEEKDAYS[weekday]} at {hour:02d}:{minute:02d}"
    days = wf.every // 86400
    return f"every {days} day{'s' if days != 1 else ''} at {hour:02d}:{minute:02d}"


def _show_seconds(s: int) -> str:
    for unit, n in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if s % n == 0:
            k = s // n
            return f"{k} {unit}{'s' if k != 1 else ''}"
    return f"{s} seconds"



def _causes(tree: Node) -> list[EventCheck]:
    """The events that made a condition true: those counted by event atoms
    that held (not under a `not`)."""
    out: dict[tuple, EventCheck] = {}

    def walk(n: Node, negated: bool):
        if not n.value and not negated:
            return
        if n.kind == "not":
            return
        if n.kind == "event" and not negated:
            for ec in n.events:
                if ec.counts:
                    out[(ec.time, ec.type, id(ec.fields))] = ec
        for ch in n.children:
            walk(ch, negated)

    walk(tree, False)
    return [out[k] for k in sorted(out, key=lambda k: (k[0], k[1]))]


def _state(eng, program: Program, wf: ir.Workflow, g: ir.Goal, contact: str, activity: list[dict],
           at: int) -> tuple[WorkflowState, Optional[int]]:
    st = WorkflowState("never_enrolled", steps=len(wf.steps))
    enrolls = [e for e in activity if e["type"] == "enrolled"]
    exits = [e for e in activity if e["type"] == "exited"]
    if not enrolls:
        st.note = _never_enrolled_note(wf, program, activity)
        return st, None
    pos = eng.position(wf.name, contact)
    if pos is None:
        last_in, last_out = enrolls[-1], exits[-1] if exits else None
        st.status = "exited"
        st.enrolled_at, st.enrollment = last_in["time"], len(enrolls)
        if last_out is not None:
            st.exited_at, st.exit_reason, st.exit_goal = last_out["time"], last_out["reason"], last_out.get("goal")
        st.note = "it has left the workflow, so no goal of the workflow is checked for it"
        if wf.audience is not None and wf.once_at is None:
            st.note += " until it enrolls again (when it matches the audience again after not matching it)"
        elif wf.reentry and wf.reentry_after is not None:
            st.note += (f" until a new trigger event enrolls it again (allow reentry after "
                        f"{show_duration(wf.reentry_after)}: from "
                        f"{format_utc(add_duration(last_in['time'], wf.reentry_after, wf.timezone))} on)")
        elif wf.reentry:
            st.note += " until a new trigger event enrolls it again (allow reentry)"
        return st, last_in["time"]
    st.status = "enrolled"
    st.enrolled_at, st.enrollment = pos.since, pos.enrollment
    if pos.instruction is not None:
        st.step = describe_instruction(pos.instruction)
        st.step_index = pos.step_index
    st.waiting, st.waiting_until, st.resumes_at = pos.waiting, pos.due, pos.resumes_at
    # Is this goal listening now?
    if g.name in pos.achieved:
        st.listening = False
        st.note = "this goal was already achieved in this enrollment; a goal fires at most once per enrollment"
    elif not g.is_step:
        st.listening = True
        st.note = "an exit goal listens for as long as the contact is enrolled"
    elif pos.at_goal == g.name:
        st.listening = True
        st.note = "the contact is waiting at this goal step"
    elif g.name in pos.listening:
        st.listening = True
        st.note = "the goal step is ahead of the contact, so it listens from enrollment on"
    else:
        st.listening = False
        st.note = ("the contact is past this goal step: it reached the step without meeting it and "
                   f"went on (on unmet {g.on_unmet.replace('_', ' ')}), so the goal no longer listens")
    return st, pos.since


def _never_enrolled_note(wf: ir.Workflow, program: Program, activity: list[dict] = ()) -> str:
    passed = [e for e in activity if e["type"] == "not_enrolled"]
    if passed:
        last = passed[-1]
        return (f"it was never enrolled: it would have enrolled at {format_utc(last['time'])} but goal "
                f"\"{last['goal']}\" already held (skip enrollment if goal met)")
    if wf.trigger is not None:
        return f"it was never enrolled: no event matched `enroll when {show_cond(wf.trigger, program.ir.events)}`"
    if wf.audience is not None:
        return f"it was never enrolled: it never matched `audience {show_cond(wf.audience, program.ir.events)}`" \
               + (f" at the one evaluation ({format_utc(wf.once_at)})" if wf.once_at is not None else
                  " at an acting instant")
    return "it was never enrolled"


def describe_instruction(ins: Instruction) -> str:
    """An instruction in words: `wait 2 days as pause`, `goal step "Paid"`."""
    kind = type(ins)
    name = f" as {ins.name}" if getattr(ins, "name", None) else ""
    if kind is Action:
        args = ", ".join(f"{k}: {show_value(_arg_shown(v))}" for k, v in ins.call.args)
        return f"{ins.call.action}({args}){name}"
    if kind is Wait:
        return f"wait {show_duration(ins.duration)}{name}"
    if kind is WaitTime:
        day = f"{_WEEKDAYS[ins.weekday]} " if ins.weekday is not None else ""
        return f"wait until {day}{ins.hour:02d}:{ins.minute:02d}{name}"
    if kind is WaitDate:
        return f"wait until {format_utc(ins.at)}{name}"
    if kind is WaitUntil:
        return f"wait until a condition{name}"
    if kind is GoalStep:
        return f'goal step "{ins.goal.name}"'
    if kind is End:
        return "end"
    if kind is Jump or kind is Branch:
        return "a branch"
    return "a step"


def _arg_shown(v: ir.ArgValue):
    if v.kind == "const":
        return v.value
    if v.kind == "attr":
        return "{contact." + ".".join(v.parts) + "}"
    return "".join(p if isinstance(p, str) else "{contact." + ".".join(p) + "}" for p in v.parts)


class _Explainer:
    """Builds explain's condition tree from what the observing build saw."""

    def __init__(self, program: Program, tz: str, log_ids: set[tuple], duplicates: list = (),
                 workflow: Optional[str] = None):
        self.program = program
        self.duplicates = list(duplicates)  # (time, type, fields, id, "FILE:LINE") ignored by the reader
        self.events = program.ir.events
        self.tz = tz
        self.workflow = workflow
        self.comp = Compiler(program.ir, tz, workflow)
        self.log_ids = log_ids

    def observe(self, c: ir.Cond, ct: Contact, now: int, since: Optional[int], later: list = ()) -> Observation:
        return observe(self.comp, c, ct, now, since, later)

    # ------------------------------------------------------------ tree

    def node(self, o: Observed, seen: Observation) -> Node:
        c = o.cond
        text = show_cond(c, self.events)
        if isinstance(c, (ir.COr, ir.CAnd)):
            kids = [self.node(x, seen) for x in o.parts]
            return Node("or" if isinstance(c, ir.COr) else "and", text, o.value, kids)
        if isinstance(c, ir.CNot):
            return Node("not", text, o.value, [self.node(o.parts[0], seen)])
        if isinstance(c, ir.CSegment):
            return Node("segment", f"segment {c.name}", o.value, [self.node(o.parts[0], seen)])
        if isinstance(c, ir.CEvent):
            return self.event_node(o, seen.now, text)
        kind = {ir.CConst: "const", ir.CCompare: "compare", ir.CIn: "in", ir.CText: "text", ir.CIsSet: "is_set",
                ir.CTruthy: "truthy"}[type(c)]
        if o.value:
            notes = [f"{show_operand(op)} is {show_value(v)}" for op, v in _attr_values(o)]
        else:
            notes = self.why_not(o, None)
        return Node(kind, text, o.value, notes=notes)

    def event_node(self, o: Observed, now: int, text: str) -> Node:
        c = o.cond
        ev = self.events.get(c.event)
        if c.window == "within":
            window = {"kind": "within", "duration": show_duration(c.duration), "from": o.start, "to": now}
        elif c.window == "ever":
            window = {"kind": "ever", "from": None, "to": now}
        else:
            window = {"kind": "since_enrollment" if c.window == "since_enrollment" else "default",
                      "from": o.start, "to": now}
        if c.after is not None:  # `within D after OTHER`: each event needs an OTHER at most D before it
            window["after"] = {"duration": show_duration(c.duration), "event": show_cond(c.after, self.events)}
        checks = []
        # the contact's events in their order, then the later ones the caller added
        for ec in sorted(o.candidates, key=lambda x: (x.index is None, x.index or 0)):
            reasons = []
            if ec.after:
                reasons.append(f"after {format_utc(now)}, the time asked about")
            elif ec.outside:
                if window["kind"] == "within":
                    reasons.append(f"outside the window, which starts at {format_utc(o.start)}")
                else:
                    reasons.append(f"before enrollment ({format_utc(o.start)})")
            if ec.filter is not None and not ec.filter.value:
                reasons.extend(self.why_not(ec.filter, ev))
            if not reasons and ec.anchored is False:
                reasons.append(f"no {window['after']['event']} in the {window['after']['duration']} before it")
            log = ec.index is None or event_key(ec.time, c.event, ec.fields) in self.log_ids
            checks.append(EventCheck(ec.time, c.event, ec.fields, ec.counts, reasons, "log" if log else "workflow"))
        for t, typ, fields, eid, place in self.duplicates:
            if typ == c.event:
                checks.append(EventCheck(t, c.event, fields, False,
                                         [f'a duplicate: {place} repeats id "{eid}", so it was ignored'], "log"))
        checks.sort(key=lambda x: x.time)
        return Node("event", text, o.value, event=c.event, window=window,
                    count={"kind": c.count_kind, "n": c.count, "found": o.found}, events=checks)

    # ------------------------------------------------------------ why a part is false

    def why_not(self, o: Observed, ev: Optional[ir.EventType]) -> list[str]:
        """Why the observed part ``o`` is false (``ev``: the event type whose
        fields it tests, inside a filter), with the values it read."""
        c = o.cond
        if isinstance(c, ir.CAnd):
            out = []
            for x in o.parts:
                if not x.value:
                    out.extend(self.why_not(x, ev))
            return out
        if isinstance(c, ir.COr):
            parts = ["; ".join(self.why_not(x, ev)) for x in o.parts]
            return ["none of these held: " + " | ".join(p for p in parts if p)]
        if isinstance(c, ir.CNot):
            return [f"{show_cond(c.operand, self.events, ev)} held, wanted it not to"]
        if isinstance(c, ir.CConst):
            return ["false"]
        if isinstance(c, ir.CSegment):
            return [f"segment {c.name} was false"]
        if isinstance(c, ir.CEvent):
            return [f"{show_cond(c, self.events)} was false"]

        read = list(zip(ir.operands(c), o.operands))

        def val(op):
            return next(v for x, v in read if x is op)

        def was(op):
            v = val(op)
            return f"{show_operand(op)} was {'not set' if v is None else show_value(v, _is_bare(op, ev))}"

        if isinstance(c, ir.CCompare):
            left, right, op = c.left, c.right, c.op
            if isinstance(left, ir.OConst) and not isinstance(right, ir.OConst):
                left, right = right, left
                op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            bare = _is_bare(left, ev)
            if isinstance(right, ir.OConst):
                wanted_v = show_value(right.value, bare)
            else:
                wanted_v = f"{show_operand(right)} ({show_value(val(right), _is_bare(right, ev))})"
            wanted = {"==": wanted_v, "!=": f"anything but {wanted_v}"}.get(op, f"{op} {wanted_v}")
            return [f"{was(left)}, wanted {wanted}"]
        if isinstance(c, ir.CIn):
            if isinstance(c.right, ir.OList) and all(isinstance(x, ir.OConst) for x in c.right.items):
                bare = _is_bare(c.left, ev)
                items = [show_value(x.value, bare) for x in c.right.items]
                wanted = f"none of {', '.join(items)}" if c.negated else _or_list(items)
                return [f"{was(c.left)}, wanted {wanted}"]
            if isinstance(c.left, ir.OConst):
                inc = "not to include" if c.negated else "to include"
                return [f"{was(c.right)}, wanted it {inc} {show_value(c.left.value)}"]
            neg = "not " if c.negated else ""
            return [f"{was(c.left)}, wanted it {neg}in {show_operand(c.right)} ({show_value(val(c.right))})"]
        if isinstance(c, ir.CText):
            if isinstance(c.left, ir.OConst):
                return [f"{was(c.right)}, wanted {show_value(c.left.value)} to {c.op.replace('starts', 'start').replace('ends', 'end').replace('contains', 'contain')} it"]
            want = show_value(c.right.value) if isinstance(c.right, ir.OConst) else show_operand(c.right)
            verb = {"starts with": "starts with", "ends with": "ends with", "contains": "contains"}[c.op]
            return [f"{was(c.left)}, wanted one that {verb} {want}"]
        if isinstance(c, ir.CIsSet):
            if c.negated:
                return [f"{was(c.operand)}, wanted it not set"]
            return [f"{show_operand(c.operand)} was not set"]
        if isinstance(c, ir.CTruthy):
            return [f"{was(c.operand)}, wanted a true value"]
        return [f"{show_cond(c, self.events, ev)} was false"]


def _attr_values(o: Observed) -> list[tuple[ir.OAttr, Any]]:
    """The attributes an observed leaf names (as an operand or an item of a
    list operand), with the values it read."""
    out = []
    for op, v in zip(ir.operands(o.cond), o.operands):
        if isinstance(op, ir.OAttr):
            out.append((op, v))
        elif isinstance(op, ir.OList):
            out.extend((x, v[i]) for i, x in enumerate(op.items) if isinstance(x, ir.OAttr))
    return out


# ====================================================================== summary

def _summary(ex: Explanation, wf: ir.Workflow) -> list[str]:
    st = ex.state
    out = []
    who = f"contact {ex.contact}"
    if ex.achievements:
        times = ", ".join(format_utc(a.time) for a in ex.achievements)
        out.append(f'achieved: {who} achieved "{ex.goal}" at {times}.')
    if st.status == "never_enrolled":
        out.append(f'not achieved: {who} was never enrolled in "{ex.workflow}", so its goals are not checked.')
        if st.note.startswith("it was never enrolled: it would have"):
            out.append(st.note[len("it was never enrolled: "):] + ".")
        if ex.holds:
            out.append("the condition itself holds at this time.")
        return out
    if not ex.achievements:
        out.append(f'not achieved: "{ex.goal}" has not fired for {who} up to {format_utc(ex.at)}.')
    if st.status == "exited":
        out.append(f"{who} left the workflow at {format_utc(st.exited_at)}: {exit_words(st.exit_reason, st.exit_goal)}.")
        last = st.enrollment or 0
        if (st.exit_reason == "completed" and ex.goal_kind == "step"
                and not any(a.enrollment == last for a in ex.achievements)):
            g = next((x.goal for x in wf.steps if isinstance(x, ir.SGoal) and x.goal.name == ex.goal), None)
            if g is not None:
                out.append(f'before that it went past goal step "{g.name}" without meeting it '
                           f"({_unmet_words(g)}).")
    if ex.achievements and st.status == "exited":
        out.append(f"its condition at {format_utc(ex.at)} is {'true' if ex.holds else 'false'} (details below).")
    elif ex.holds:
        if st.status == "enrolled" and st.listening:
            if wf.every:
                nxt = ex.tick(ex.at + 1)
                out.append(f"the condition holds at {format_utc(ex.at)}; the workflow evaluates "
                           f"{ex.evaluate}, so the goal fires at its next tick ({format_utc(nxt)}).")
            else:
                out.append(f"the condition holds at {format_utc(ex.at)}.")
        else:
            out.append(f"the condition holds at {format_utc(ex.at)}.")
    else:
        ex.why = _failed_reasons(ex.condition)
        reasons = [head + (": " + "; ".join(details) if details else "") for head, details in ex.why]
        out.append(f"the condition is false at {format_utc(ex.at)}" + (": " + "; ".join(reasons) if reasons else "")
                   + ".")
    if st.status == "enrolled" and not st.listening and st.note:
        out.append(st.note + ".")
    return out


def _unmet_words(g: ir.Goal) -> str:
    if g.on_unmet == "wait_up_to":
        return f"on unmet wait up to {show_duration(g.unmet_limit)} then {g.unmet_then}"
    return f"on unmet {g.on_unmet}"


def exit_words(reason: Optional[str], goal: Optional[str]) -> str:
    if reason == "goal":
        return f'it achieved goal "{goal}"' if goal else "a goal was achieved"
    if reason == "unmet":
        return f'it reached goal step "{goal}" unmet and the unmet policy ended the workflow' if goal \
            else "a goal step was not met"
    if reason == "end":
        return "it reached an `end` step"
    if reason == "completed":
        return "it completed the last step"
    if reason == "audience":
        return "it no longer matched the audience (exit when audience no longer matches)"
    return str(reason)


def _failed_reasons(n: Node, limit: int = 4) -> list[tuple[str, list[str]]]:
    """Short reasons for the false leaves of the tree: a headline and, for
    an event atom, one line per event that did not count."""
    out: list[tuple[str, list[str]]] = []

    def walk(n: Node):
        if n.value:
            return
        if n.kind in ("and", "segment"):
            for ch in n.children:
                walk(ch)
        elif n.kind == "not":
            ch = n.children[0]
            counted = [f"{format_utc(ec.time)}: counts" for ec in ch.events if ec.counts][:3]
            out.append((f"{ch.text} holds, wanted it not to", counted or list(ch.notes)))
        elif n.kind == "or":
            parts = []
            for ch in n.children:
                for head, details in _failed_reasons(ch, limit):
                    parts.append(head + (": " + "; ".join(details) if details else ""))
            out.append((f"none of the {len(n.children)} alternatives held", parts))
        elif n.kind == "event":
            need = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}[n.count["kind"]]
            if not n.events:
                out.append((f"the contact has no {n.event} events", []))
            elif n.count["found"] == 0:
                shown = [f"{format_utc(ec.time)}: {'; '.join(ec.reasons)}" for ec in n.events[:3]]
                if len(n.events) > 3:
                    shown.append(f"and {len(n.events) - 3} more")
                many = "none counts" if len(n.events) > 1 else "it does not count"
                out.append((f"the contact has {len(n.events)} {n.event} event{'s' if len(n.events) != 1 else ''}"
                            f" but {many}", shown))
            else:
                # too few: the ones that did not count say why; too many: the ones that did
                want_counted = n.count["found"] > n.count["n"] or n.count["kind"] == "at_most"
                shown = [f"{format_utc(ec.time)}: " + ("counts" if ec.counts else "; ".join(ec.reasons))
                         for ec in n.events if ec.counts == want_counted]
                if len(shown) > 3:
                    shown = shown[:3] + [f"and {len(shown) - 3} more"]
                w = n.window
                within = f" within {w['duration']} ({format_utc(w['from'])} .. {format_utc(w['to'])})" \
                    if w["kind"] == "within" else ""
                out.append((f"{n.event} needs {need} {n.count['n']} matching events{within}, found {n.count['found']}",
                            shown))
        else:
            out.append((n.notes[0] if n.notes else f"{n.text} is false", []))

    walk(n)
    return out[:limit]


# ====================================================================== output

def _time_pair(t: Optional[int], tz: str) -> str:
    if t is None:
        return "the beginning"
    if tz in ("UTC", "Etc/UTC"):
        return format_utc(t)
    return f"{format_utc(t)} ({format_local(t, tz)})"


def _window_text(node: Node, tz: str) -> str:
    w = node.window
    if w["kind"] == "within":
        label = f"within {w['duration']}"
    elif w["kind"] == "ever":
        label = "ever"
    elif w["kind"] == "since_enrollment":
        label = "since enrollment"
    else:
        label = "since enrollment (the default in a workflow)"
    if w["from"] is None and w["kind"] != "ever":
        label += ", never enrolled: all history"
    after = w.get("after")
    pairing = f"; each within {after['duration']} after {after['event']}" if after else ""
    return f"window: {label}: {_time_pair(w['from'], tz)} .. {_time_pair(w['to'], tz)}{pairing}"


def render_text(ex: Explanation) -> str:
    tz = ex.timezone
    lines = []
    kind = f"goal step {ex.goal_step}" if ex.goal_kind == "step" else "exit goal"
    lines.append(f'goal "{ex.goal}" ({kind} of workflow "{ex.workflow}") for contact {ex.contact}')
    lines.append(f"at {_time_pair(ex.at, tz)}; time zone {tz}; evaluates {ex.evaluate}")
    lines.append("")
    for s in ex.summary:
        if ex.why and s.startswith("the condition is false"):
            lines.append(f"The condition is false at {format_utc(ex.at)}:")
            for head, details in ex.why:
                lines.append(f"  - {head}" + (":" if details else ""))
                lines.extend(f"      {d}" for d in details)
            continue
        lines.append(s[0].upper() + s[1:])
    # -------- achievements
    for a in ex.achievements:
        lines.append("")
        lines.append(f"Achieved at {_time_pair(a.time, tz)} (enrollment {a.enrollment}), by:")
        if not a.events:
            lines.append("  (no event: contact attributes made it true)")
        for ec in a.events:
            lines.append(f"  {format_utc(ec.time)}  {show_event(ec.type, ec.fields, ex.program_events)}"
                         + ("  [from a workflow]" if ec.origin == "workflow" else ""))
        for k, v in a.attributes.items():
            lines.append(f"  {k} was {show_value(v)}{_source_text(a.sources.get(k))}")
    # -------- workflow
    st = ex.state
    lines.append("")
    lines.append(f'Workflow "{ex.workflow}":')
    for e in ex.activity:
        lines.append("  " + activity_line(e))
    if st.status == "never_enrolled":
        lines.append(f"  {st.note}")
    elif st.status == "enrolled":
        lines.append(f"  now: enrolled since {format_utc(st.enrolled_at)} (enrollment {st.enrollment})")
        if st.step:
            where = f"step {st.step_index} of {st.steps}: {st.step}" if st.step_index else st.step
            wait = ""
            if st.waiting == "wait":
                wait = f", waiting until {_time_pair(st.waiting_until, tz)}"
            elif st.waiting == "goal":
                wait = ", waiting for the goal" + (f" until {_time_pair(st.waiting_until, tz)}"
                                                   if st.waiting_until is not None else " (no time limit)")
            elif st.waiting == "condition":
                wait = ", waiting for its condition" + (f" until {_time_pair(st.waiting_until, tz)}"
                                                        if st.waiting_until is not None else "")
            lines.append(f"  at {where}{wait}")
            if st.resumes_at is not None and st.resumes_at != st.waiting_until:
                lines.append(f"  (it resumes at the first tick at or after that: {format_utc(st.resumes_at)})")
        lines.append(f"  the goal is {'listening' if st.listening else 'not listening'}: {st.note}")
    else:
        lines.append(f"  now: not enrolled; {st.note}")
    if st.trigger is not None:
        t, typ, fields = st.trigger
        lines.append(f"  enrolled by {show_event(typ, fields, ex.program_events)} at {format_utc(t)} "
                     f"(what trigger.FIELD reads)")
    # -------- condition
    lines.append("")
    lines.append(f"Condition at {format_utc(ex.at)}: {'true' if ex.holds else 'false'}")
    _render_node(ex.condition, lines, 1, tz, ex.program_events)
    if ex.attributes:
        lines.append("")
        lines.append(f"Contact attributes as of {format_utc(ex.at)}:")
        for k, v in ex.attributes.items():
            lines.append(f"  {k} = {show_value(v)}{_source_text(ex.sources.get(k))}")
    return "\n".join(lines) + "\n"


def _source_text(src: Optional[tuple[int, str]]) -> str:
    return f" (set by {src[1]} at {format_utc(src[0])})" if src else " (from the contact record)"


_CONTRACT_TYPES = frozenset(("enrolled", "action", "goal_achieved", "exited", "goal_missed", "not_enrolled"))


def _render_node(n: Node, lines: list[str], depth: int, tz: str, events: dict) -> None:
    pad = "  " * depth
    mark = "true " if n.value else "false"
    lines.append(f"{pad}{mark}  {n.text if n.kind not in ('and', 'or', 'not') else n.kind}")
    sub = pad + "       "
    if n.kind == "not":
        pass
    for note in n.notes:
        lines.append(f"{sub}{note}")
    if n.kind == "event":
        lines.append(f"{sub}{_window_text(n, tz)}")
        need = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}[n.count["kind"]]
        lines.append(f"{sub}needs {need} {n.count['n']}, found {n.count['found']}")
        if not n.events:
            lines.append(f"{sub}the contact has no {n.event} events")
        for ec in n.events:
            mark = "+" if ec.counts else "-"
            origin = "  [from a workflow]" if ec.origin == "workflow" else ""
            lines.append(f"{sub}{mark} {format_utc(ec.time)}  {show_event(ec.type, ec.fields, events)}{origin}")
            if ec.counts:
                lines.append(f"{sub}    counts")
            for r in ec.reasons:
                lines.append(f"{sub}    does not count: {r}")
    for ch in n.children:
        _render_node(ch, lines, depth + 1, tz, events)


def _time_json(t: Optional[int], tz: str) -> Optional[dict]:
    if t is None:
        return None
    return {"utc": format_utc(t), "local": format_local(t, tz)}


def _node_json(n: Node, tz: str) -> dict:
    out: dict = {"kind": n.kind, "text": n.text, "value": n.value}
    if n.notes:
        out["notes"] = n.notes
    if n.kind == "event":
        w = dict(n.window)
        w["from"] = _time_json(w["from"], tz)
        w["to"] = _time_json(w["to"], tz)
        out["event"] = n.event
        out["window"] = w
        out["count"] = n.count
        out["events"] = [_check_json(ec, tz) for ec in n.events]
    if n.children:
        out["children"] = [_node_json(c, tz) for c in n.children]
    return out


def _check_json(ec: EventCheck, tz: str) -> dict:
    return {"time": format_utc(ec.time), "local": format_local(ec.time, tz), "type": ec.type, "fields": ec.fields,
            "counts": ec.counts, "reasons": ec.reasons, "origin": ec.origin}


def to_json(ex: Explanation) -> dict:
    tz = ex.timezone
    st = ex.state
    state = {"status": st.status, "note": st.note, "listening": st.listening}
    if st.status != "never_enrolled":
        state.update(enrolled_at=_time_json(st.enrolled_at, tz), enrollment=st.enrollment)
    if st.trigger is not None:
        state["trigger"] = {"time": _time_json(st.trigger[0], tz), "type": st.trigger[1], "fields": st.trigger[2]}
    if st.status == "enrolled":
        state.update(step=st.step, step_index=st.step_index, steps=st.steps, waiting=st.waiting,
                     waiting_until=_time_json(st.waiting_until, tz), resumes_at=_time_json(st.resumes_at, tz))
    if st.status == "exited":
        state.update(exited_at=_time_json(st.exited_at, tz), exit_reason=st.exit_reason, exit_goal=st.exit_goal)
    return {
        "contact": ex.contact,
        "goal": ex.goal,
        "workflow": ex.workflow,
        "goal_kind": ex.goal_kind,
        "goal_step": ex.goal_step,
        "timezone": tz,
        "evaluate": ex.evaluate,
        "at": _time_json(ex.at, tz),
        "from": _time_json(ex.start, tz),
        "holds": ex.holds,
        "achieved": [{"time": _time_json(a.time, tz), "enrollment": a.enrollment,
                      "events": [_check_json(ec, tz) for ec in a.events], "attributes": a.attributes,
                      "attribute_sources": _sources_json(a.sources)}
                     for a in ex.achievements],
        "summary": [s[0].upper() + s[1:] for s in ex.summary],
        "workflow_state": state,
        "activity": [entry_json(e) for e in ex.activity],
        "condition": _node_json(ex.condition, tz),
        "attributes": ex.attributes,
        "attribute_sources": _sources_json(ex.sources),
    }


def _sources_json(sources: dict) -> dict:
    return {k: {"time": format_utc(t), "event": typ} for k, (t, typ) in sources.items()}
