"""The compiled plan of a program: per workflow, compiled conditions, a flat
instruction list for its steps, its goals, and what can wake it up."""
from __future__ import annotations

import hashlib
from typing import Callable, NamedTuple, Optional, Union

import attrs

from ..semantics import ir
from ..semantics.calendar import local_tick_at_or_after
from ..syntax.ast import Duration
from ..semantics.effects import ContactEffects
from .compiler import Atoms, Compiler, Cond, expiry_windows, referenced_types


# Instructions: one named tuple per kind. Every kind's first field, ``top``,
# is the index of the top-level step the instruction belongs to. The engine
# dispatches on the class (``type(ins) is Wait``), as fast as the integer
# opcodes it replaced; ``name`` is the step's `as NAME`, if any.

class Action(NamedTuple):
    top: int
    call: ir.Call
    name: Optional[str]


class Wait(NamedTuple):
    """``wait 3 days``"""
    top: int
    duration: Duration
    name: Optional[str]


class WaitTime(NamedTuple):
    """``wait until [weekday] HH:MM`` (in the workflow's time zone)"""
    top: int
    hour: int
    minute: int
    weekday: Optional[int]
    name: Optional[str]


class WaitDate(NamedTuple):
    """``wait until 2026-12-01T09:00Z``"""
    top: int
    at: int
    name: Optional[str]


class WaitUntil(NamedTuple):
    """``wait until CONDITION [up to DURATION]``"""
    top: int
    cond: Cond
    limit: Optional[Duration]
    name: Optional[str]


class Branch(NamedTuple):
    """Go on when ``cond`` holds, else jump to ``target`` (an `if` branch)."""
    top: int
    cond: Cond
    target: int


class Jump(NamedTuple):
    top: int
    target: int


class GoalStep(NamedTuple):
    top: int
    goal: "CGoal"


class End(NamedTuple):
    top: int


Instruction = Union[Action, Wait, WaitTime, WaitDate, WaitUntil, Branch, Jump, GoalStep, End]
# The kinds in a fixed order: a kind's number is its index (shape digests
# stored in state files use these numbers: do not reorder).
KINDS = (Action, Wait, WaitTime, WaitDate, WaitUntil, Branch, Jump, GoalStep, End)


@attrs.define(eq=False)
class CGoal:
    goal: ir.Goal
    cond: Cond
    then: tuple[ir.Call, ...]
    then_ifs: tuple[tuple[Cond, tuple[ir.Call, ...], Optional[tuple[ir.Call, ...]]], ...]
    pc: Optional[int] = None  # for goal steps: the instruction index
    top: Optional[int] = None  # for goal steps: the top-level step index
    target_pc: Optional[int] = None  # for `on achieved skip to`
    name: str = attrs.field(init=False)  # the goal's name: read at every goal check, so an attribute

    def __attrs_post_init__(self) -> None:
        self.name = self.goal.name


@attrs.define(eq=False)
class CWorkflow:
    index: int
    wf: ir.Workflow
    audience: Optional[Cond]
    triggers: tuple[tuple[str, Optional[Cond]], ...]  # (event type, filter)
    code: list[Instruction]
    step_goals: list[CGoal]
    exit_goals: list[CGoal]
    relevant: frozenset[str]  # event types that can change a goal or wait condition (enrolled contacts)
    audience_relevant: frozenset[str]  # event types that can change the audience (contacts not enrolled)
    windows: dict[str, tuple[Duration, ...]]  # within-durations per event type
    trigger_types: frozenset[str]
    # The step (ir) each instruction comes from, by instruction index: for
    # tools that map the engine's place back to the source (coverage).
    origins: list = attrs.field(factory=list)
    # A digest of what places in the steps mean (instruction kinds, step
    # indexes, jumps, names): a stored place is valid for another plan of
    # the workflow only when the shapes are equal.
    shape: str = ""
    # Some condition reads `trigger.FIELD`: the engine keeps each contact's enrolling event.
    keeps_trigger: bool = False
    # The goal check of a woken contact (Compiler.first_goal): the index, in
    # step_goals then exit_goals, of the first goal that listens and holds.
    first_goal: Optional[Callable] = None

    @property
    def name(self) -> str:
        return self.wf.name

    @property
    def every(self) -> Optional[int]:
        """The tick's length in seconds (nominal for wall-clock ticks); None: evaluate on event."""
        return self.wf.every

    def tick(self, t: int) -> int:
        """The first tick at or after ``t`` (a tick workflow's acting instants:
        multiples of ``every`` since the epoch, or a wall-clock time)."""
        at = self.wf.tick_time
        if at is None:
            return -(-t // self.wf.every) * self.wf.every
        return local_tick_at_or_after(t, self.wf.every // 86400, at[0], at[1], at[2], self.wf.timezone)

    @property
    def tz(self) -> str:
        return self.wf.timezone


@attrs.define(eq=False)
class Plan:
    program: ir.Program
    workflows: list[CWorkflow]
    # What events do to contacts, compiled from the event declarations.
    effects: ContactEffects = attrs.field(factory=lambda: ContactEffects({}))
    # The lean plan only: what its counts keep per contact (compiler.Atoms).
    atoms: Optional[Atoms] = None
    _lean: Optional["Plan"] = None

    def workflow(self, name: str) -> Optional[CWorkflow]:
        return next((w for w in self.workflows if w.name == name), None)

    def lean(self) -> "Plan":
        """The same plan with counts that read the lean history
        (``Engine(keep_history=False)``): same workflows, steps and places,
        built once on first use."""
        if self.atoms is not None:
            return self
        if self._lean is None:
            self._lean = build_plan(self.program, lean=True)
        return self._lean


def build_plan(program: ir.Program, *, lean: bool = False) -> Plan:
    effects = ContactEffects(program.events)
    atoms = Atoms(program) if lean else None
    workflows = [_workflow(i, w, program, effects.state_events, atoms) for i, w in enumerate(program.workflows)]
    return Plan(program, workflows, effects, atoms)


def _code(wf: ir.Workflow, comp: Compiler, cgoal) -> tuple[list, list, list[CGoal]]:
    """A workflow's steps as a flat instruction list, the step each
    instruction comes from, and its goal steps."""
    code: list = []
    origins: list = []
    step_goals: list[CGoal] = []
    names: dict[str, int] = {}
    fixups: list[tuple[int, str]] = []  # (pc, target name) for skip
    goal_fixups: list[CGoal] = []

    def one(st, top):
        first = len(code)
        emit(st, top)
        # the instructions this step added itself (an if's nested steps say their own)
        origins.extend([None] * (len(code) - len(origins)))
        for pc in range(first, len(code)):
            if origins[pc] is None:
                origins[pc] = st

    def emit(st, top):
        name = getattr(st, "name", None)
        if name and isinstance(st, (ir.SAction, ir.SWait, ir.SWaitTime, ir.SWaitDate, ir.SWaitCond)):
            names[name] = len(code)
        if isinstance(st, ir.SAction):
            code.append(Action(top, st.call, name))
        elif isinstance(st, ir.SWait):
            code.append(Wait(top, st.duration, name))
        elif isinstance(st, ir.SWaitTime):
            code.append(WaitTime(top, st.hour, st.minute, st.weekday, name))
        elif isinstance(st, ir.SWaitDate):
            code.append(WaitDate(top, st.at, name))
        elif isinstance(st, ir.SWaitCond):
            code.append(WaitUntil(top, comp.cond(st.cond), st.limit, name))
        elif isinstance(st, ir.SIf):
            ends: list[int] = []
            for cond, body in st.branches:
                at = len(code)
                code.append(None)  # Branch placeholder
                for sub in body:
                    one(sub, top)
                ends.append(len(code))
                code.append(None)  # Jump to the end placeholder
                code[at] = Branch(top, comp.cond(cond), len(code))
            for sub in st.else_steps:
                one(sub, top)
            for at in ends:
                code[at] = Jump(top, len(code))
        elif isinstance(st, ir.SGoal):
            g = cgoal(st.goal)
            g.pc, g.top = len(code), top
            names[st.goal.name] = len(code)
            step_goals.append(g)
            if st.goal.on_achieved == "skip":
                goal_fixups.append(g)
            code.append(GoalStep(top, g))
        elif isinstance(st, ir.SSkip):
            fixups.append((len(code), st.target))
            code.append(Jump(top, -1))
        elif isinstance(st, ir.SEnd):
            code.append(End(top))

    for i, st in enumerate(wf.steps):
        one(st, i)
    for pc, target in fixups:
        code[pc] = Jump(code[pc].top, names.get(target, len(code)))
    for g in goal_fixups:
        g.target_pc = names.get(g.goal.achieved_target, len(code))
    return code, origins, step_goals


def _workflow(index: int, wf: ir.Workflow, program: ir.Program, state_events: frozenset[str],
              atoms: Optional[Atoms] = None) -> CWorkflow:
    comp = Compiler(program, wf.timezone, wf.name, lean=atoms)

    def cgoal(g: ir.Goal) -> CGoal:
        return CGoal(g, comp.cond(g.cond), g.then,
                     tuple((comp.cond(c), calls, els) for c, calls, els in g.then_ifs))

    code, origins, step_goals = _code(wf, comp, cgoal)
    exit_goals = [cgoal(g) for g in wf.goals]

    listening: list[Optional[ir.Cond]] = [g.cond for g in wf.goals] + [g.goal.cond for g in step_goals]
    wait_conds = [st for st in ir.all_steps(wf.steps) if isinstance(st, ir.SWaitCond)]
    listening += [st.cond for st in wait_conds]
    relevant: set[str] = set()
    windows: dict[str, set] = {}
    audience_relevant: set[str] = set()
    if wf.audience is not None:
        types, reads_attrs = referenced_types(wf.audience, program)
        audience_relevant = types | (set(state_events) if reads_attrs else set())
        listening.append(wf.audience)
    for c in listening:
        # `exit when audience no longer matches`: an enrolled contact is
        # looked at when its audience may change, both ways.
        if c is not wf.audience or wf.exit_on_audience:
            types, reads_attrs = referenced_types(c, program)
            relevant |= types
            if reads_attrs:
                relevant |= state_events
        audience = c is wf.audience and (wf.once_at is None or wf.exit_on_audience)
        for k, v in expiry_windows(c, program, both_ways=audience).items():
            windows.setdefault(k, set()).update(v)
    triggers = []
    if wf.trigger is not None:
        items = wf.trigger.items if isinstance(wf.trigger, ir.COr) else (wf.trigger,)
        for x in items:
            if isinstance(x, ir.CEvent):
                triggers.append((x.event, comp.cond(x.filter) if x.filter is not None else None))
    audience = comp.cond(wf.audience) if wf.audience is not None else None
    first_goal = comp.first_goal([(g.top, g.pc, g.name, g.goal.cond) for g in step_goals],
                                 [g.goal.cond for g in exit_goals])
    return CWorkflow(index, wf, audience, tuple(triggers),
                     code, step_goals, exit_goals, frozenset(relevant), frozenset(audience_relevant),
                     {k: tuple(sorted(v, key=lambda d: d.approx_seconds())) for k, v in windows.items()},
                     frozenset(t for t, _ in triggers), origins, code_shape(code), comp.reads_trigger, first_goal)


def code_shape(code: list) -> str:
    """What places in a workflow's code mean: instruction kinds, step
    indexes, jump targets, goal and step names (not durations, calls or
    conditions: those may change under a contact without moving it)."""
    out = []
    for ins in code:
        kind = type(ins)
        if kind is Jump or kind is Branch:
            extra = ins.target
        elif kind is GoalStep:
            extra = ins.goal.name
        else:
            extra = getattr(ins, "name", None)
        out.append((KINDS.index(kind), ins.top, extra))
    return hashlib.sha256(repr(out).encode("utf-8", "surrogatepass")).hexdigest()[:32]

