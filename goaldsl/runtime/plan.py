"""The compiled plan of a program: per workflow, compiled conditions, a flat
instruction list for its steps, its goals, and what can wake it up."""
from __future__ import annotations

from typing import Any, Optional

import attrs

from ..semantics import ir
from ..semantics.calendar import local_tick_at_or_after
from ..syntax.ast import Duration
from .compiler import STATE_EVENTS, Compiler, Cond, expiry_windows, referenced_types

# Instruction opcodes. Each instruction is a tuple whose first item is the
# opcode and whose last item is the index of the top-level step it belongs to.
ACTION, WAIT, WAIT_TIME, WAIT_DATE, WAIT_COND, JUMP_UNLESS, JUMP, GOAL, END = range(9)


@attrs.define(eq=False)
class CGoal:
    goal: ir.Goal
    cond: Cond
    then: tuple[ir.Call, ...]
    then_ifs: tuple[tuple[Cond, tuple[ir.Call, ...], Optional[tuple[ir.Call, ...]]], ...]
    pc: Optional[int] = None  # for goal steps: the instruction index
    top: Optional[int] = None  # for goal steps: the top-level step index
    target_pc: Optional[int] = None  # for `on achieved skip to`

    @property
    def name(self) -> str:
        return self.goal.name


@attrs.define(eq=False)
class CWorkflow:
    index: int
    wf: ir.Workflow
    audience: Optional[Cond]
    triggers: tuple[tuple[str, Optional[Cond]], ...]  # (event type, filter)
    code: list[tuple]
    step_goals: list[CGoal]
    exit_goals: list[CGoal]
    relevant: frozenset[str]  # event types that can change a goal or wait condition (enrolled contacts)
    audience_relevant: frozenset[str]  # event types that can change the audience (contacts not enrolled)
    windows: dict[str, tuple[Duration, ...]]  # within-durations per event type
    trigger_types: frozenset[str]
    # The step (ir) each instruction comes from, by instruction index: for
    # tools that map the engine's place back to the source (coverage).
    origins: list = attrs.field(factory=list)

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
    # Event types some compiled condition counts -> how far back it looks
    # (seconds, an upper bound), or None for the whole history.
    reads: dict[str, Optional[int]] = attrs.field(factory=dict)

    def workflow(self, name: str) -> Optional[CWorkflow]:
        return next((w for w in self.workflows if w.name == name), None)


def build_plan(program: ir.Program) -> Plan:
    reads: dict[str, Optional[int]] = {}
    workflows = [_workflow(i, w, program, reads) for i, w in enumerate(program.workflows)]
    return Plan(program, workflows, reads)


def _workflow(index: int, wf: ir.Workflow, program: ir.Program, reads: dict[str, Optional[int]]) -> CWorkflow:
    comp = Compiler(program, wf.timezone)
    code: list[tuple] = []
    step_goals: list[CGoal] = []
    names: dict[str, int] = {}
    fixups: list[tuple[int, str]] = []  # (pc, target name) for skip
    goal_fixups: list[CGoal] = []

    def cgoal(g: ir.Goal) -> CGoal:
        return CGoal(g, comp.cond(g.cond), g.then,
                     tuple((comp.cond(c), calls, els) for c, calls, els in g.then_ifs))

    def emit(steps, top: Optional[int]):
        for i, st in enumerate(steps):
            t = i if top is None else top
            _one(st, t)

    origins: list = []

    def _one(st, top):
        first = len(code)
        _emit(st, top)
        # the instructions this step added itself (an if's nested steps say their own)
        origins.extend([None] * (len(code) - len(origins)))
        for pc in range(first, len(code)):
            if origins[pc] is None:
                origins[pc] = st

    def _emit(st, top):
        name = getattr(st, "name", None)
        if isinstance(st, ir.SAction):
            if name:
                names[name] = len(code)
            code.append((ACTION, st.call, name, top))
        elif isinstance(st, ir.SWait):
            if name:
                names[name] = len(code)
            code.append((WAIT, st.duration, name, top))
        elif isinstance(st, ir.SWaitTime):
            if name:
                names[name] = len(code)
            code.append((WAIT_TIME, (st.hour, st.minute, st.weekday), name, top))
        elif isinstance(st, ir.SWaitDate):
            if name:
                names[name] = len(code)
            code.append((WAIT_DATE, st.at, name, top))
        elif isinstance(st, ir.SWaitCond):
            if name:
                names[name] = len(code)
            code.append((WAIT_COND, (comp.cond(st.cond), st.limit), name, top))
        elif isinstance(st, ir.SIf):
            ends: list[int] = []
            for cond, body in st.branches:
                at = len(code)
                code.append(None)  # JUMP_UNLESS placeholder
                for sub in body:
                    _one(sub, top)
                ends.append(len(code))
                code.append(None)  # JUMP to the end placeholder
                code[at] = (JUMP_UNLESS, comp.cond(cond), len(code), top)
            for sub in st.else_steps:
                _one(sub, top)
            for at in ends:
                code[at] = (JUMP, len(code), None, top)
        elif isinstance(st, ir.SGoal):
            g = cgoal(st.goal)
            g.pc, g.top = len(code), top
            names[st.goal.name] = len(code)
            step_goals.append(g)
            if st.goal.on_achieved == "skip":
                goal_fixups.append(g)
            code.append((GOAL, g, None, top))
        elif isinstance(st, ir.SSkip):
            fixups.append((len(code), st.target))
            code.append((JUMP, -1, None, top))
        elif isinstance(st, ir.SEnd):
            code.append((END, None, None, top))

    for i, st in enumerate(wf.steps):
        _one(st, i)
    for pc, target in fixups:
        code[pc] = (JUMP, names.get(target, len(code)), None, code[pc][3])
    for g in goal_fixups:
        g.target_pc = names.get(g.goal.achieved_target, len(code))
    exit_goals = [cgoal(g) for g in wf.goals]

    listening: list[Optional[ir.Cond]] = [g.cond for g in wf.goals] + [g.goal.cond for g in step_goals]
    wait_conds = [st for st in _walk_steps(wf.steps) if isinstance(st, ir.SWaitCond)]
    listening += [st.cond for st in wait_conds]
    relevant: set[str] = set()
    windows: dict[str, set] = {}
    audience_relevant: set[str] = set()
    if wf.audience is not None:
        types, reads_attrs = referenced_types(wf.audience, program)
        audience_relevant = types | (set(STATE_EVENTS) if reads_attrs else set())
        listening.append(wf.audience)
    for c in listening:
        # `exit when audience no longer matches`: an enrolled contact is
        # looked at when its audience may change, both ways.
        if c is not wf.audience or wf.exit_on_audience:
            types, reads_attrs = referenced_types(c, program)
            relevant |= types
            if reads_attrs:
                relevant |= STATE_EVENTS
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
    for etype, back in comp.reads.items():
        if etype in reads:
            old = reads[etype]
            back = None if old is None or back is None else max(old, back)
        reads[etype] = back
    return CWorkflow(index, wf, audience, tuple(triggers),
                     code, step_goals, exit_goals, frozenset(relevant), frozenset(audience_relevant),
                     {k: tuple(sorted(v, key=lambda d: d.approx_seconds())) for k, v in windows.items()},
                     frozenset(t for t, _ in triggers), origins)


def _walk_steps(steps):
    stack = list(steps)
    while stack:
        st = stack.pop()
        yield st
        if isinstance(st, ir.SIf):
            for _, body in st.branches:
                stack.extend(body)
            stack.extend(st.else_steps)
