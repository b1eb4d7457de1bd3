"""Steps and goals: step names, ``skip to`` targets, the drip rules, goal clauses.

A part of ``Checker`` (``checker/__init__.py``): the methods run on the one
checker and share its state (declared events, actions and segments; diagnostics)."""
from __future__ import annotations

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any, Iterable


from ...syntax import ast as A
from .. import ir
from .common import IR, WEEKDAYS, Context, kind_of

DRIP_ACTION_PREFIX = "send_"

#: The step classes, in the order a step's class is looked for among them
#: (``isinstance``) when it is none of them itself (a subclass).
_STEPS = (A.ActionStep, A.WaitFor, A.WaitUntilTime, A.WaitUntilDate, A.WaitUntilCond, A.IfStep, A.GoalBlock,
          A.SkipStep, A.EndStep)
_STEP_SET = frozenset(_STEPS)


class Steps:
    def steps(self, steps: list[A.Step] | tuple, ctx: Context, top_names, *, top: bool, drip: bool,
              tz: str, at: int | None = None) -> list[ir.Step]:
        # ``at``: the index of the top-level step that holds these nested steps.
        out: list[ir.Step] = []
        for i, st in enumerate(steps):
            if drip and not _drip_ok(st):
                self.err("E0414", "a drip holds only sends, waits and goal steps", st.span,
                         hint="use a workflow for branches, skips and other actions")
            r = self.step(st, ctx, top_names, i if top else None, drip=drip, tz=tz, at=i if top else at)
            if r is not None:
                out.append(r)
        return out

    def step(self, st: A.Step, ctx: Context, top_names, index: int | None, *, drip: bool, tz: str,
             at: int | None = None):
        # By the step's class, compared by identity (cheaper than a call of
        # isinstance for each kind tried); a subclass as isinstance finds it.
        t = type(st)
        if t not in _STEP_SET:
            t = kind_of(st, _STEPS)
        name = st.name.name if t is not A.GoalBlock and getattr(st, "name", None) is not None else None
        if t is A.ActionStep:
            call = self.call(st.call, ctx)
            return IR.SAction(call, name, span=st.span) if call else None
        if t is A.WaitFor:
            return IR.SWait(st.duration, name, span=st.span)
        if t is A.IfStep:
            branches = tuple((self.cond(c, ctx), tuple(self.steps(b, ctx, top_names, top=False, drip=drip, tz=tz,
                                                                  at=at)))
                             for c, b in st.branches)
            els = tuple(self.steps(st.else_steps, ctx, top_names, top=False, drip=drip, tz=tz, at=at)) \
                if st.else_steps is not None else ()
            return IR.SIf(branches, els, span=st.span)
        if t is A.GoalBlock:
            if index is None:
                self.err("E0415", "a goal step must be at the top level of the workflow", st.span,
                         hint="move it out of the if block")
                return None
            goal = self.goal(st, ctx, top_names, index, is_step=True)
            return IR.SGoal(goal, span=st.span) if goal else None
        if t is A.WaitUntilTime:
            wd = WEEKDAYS.index(st.weekday) if st.weekday else None
            return IR.SWaitTime(st.hour, st.minute, wd, name, span=st.span)
        if t is A.WaitUntilDate:
            at = self.datetime(st.text, tz, st.span)
            return IR.SWaitDate(at or 0, name, span=st.span)
        if t is A.WaitUntilCond:
            return IR.SWaitCond(self.cond(st.cond, ctx), st.limit, name, span=st.span)
        if t is A.SkipStep:
            self.skip_target(st.target, top_names, at, "skip to", nested=ctx.steps)
            return IR.SSkip(st.target.name, span=st.span)
        if t is A.EndStep:
            return IR.SEnd(span=st.span)
        raise AssertionError(type(st))

    def skip_target(self, target: A.Ident, top_names, index: int | None, what: str,
                    nested: Iterable[str] = ()) -> None:
        cached = getattr(self, "_skip_names", None)
        if cached is None or cached[0] is not top_names:  # built once per workflow, not once per skip
            cached = self._skip_names = (top_names, {n: i for n, _, i in top_names})
        names = cached[1]
        if target.name not in names:
            if target.name in self._kw:
                return
            if target.name in nested:
                hint = f"{target.name} is inside an if block; skip to jumps only to top-level steps"
            else:
                hint = self.did_you_mean(target.name, names) or "name the step with `as NAME`"
            self.err("E0416", f"{what} {target.name}: there is no top-level step with that name", target.span,
                     hint=hint)
            return
        if index is not None and names[target.name] <= index:
            self.err("E0417", f"{what} {target.name} must jump forward to a later step", target.span,
                     hint="skip to only moves ahead; this step comes before")

    def goal(self, g: A.GoalBlock, ctx: Context, top_names, index: int | None, *, is_step: bool) -> ir.Goal | None:
        whens = [c for c in g.clauses if isinstance(c, A.When)]
        if not whens:
            self.err("E0418", f'goal "{g.name.name}" needs a when clause', g.name.span,
                     hint="add: when CONDITION")
            return None
        for extra in whens[1:]:
            self.err("E0418", "a goal has one when clause", extra.span,
                     hint="combine the conditions with and / or")
        cond = self.cond(whens[0].cond, ctx)
        then: list[ir.Call] = []
        then_ifs = []
        achieved = [c for c in g.clauses if isinstance(c, A.OnAchieved)]
        unmet = [c for c in g.clauses if isinstance(c, A.OnUnmet)]
        for c in g.clauses:
            if isinstance(c, A.Then):
                then.extend(x for x in (self.call(a, ctx) for a in c.actions) if x)
            elif isinstance(c, A.ThenIf):
                then_ifs.append((self.cond(c.cond, ctx),
                                 tuple(x for x in (self.call(a, ctx) for a in c.actions) if x),
                                 tuple(x for x in (self.call(a, ctx) for a in c.else_actions) if x)
                                 if c.else_actions is not None else None))
        if not is_step:
            for c in achieved + unmet:
                self.err("E0419", f"{'on achieved' if isinstance(c, A.OnAchieved) else 'on unmet'} "
                                  "belongs to goal steps; an exit goal always takes the contact out", c.span,
                         hint="move the goal into the steps to make it a checkpoint")
            return IR.Goal(g.name.name, cond, tuple(then), tuple(then_ifs), "end", span=g.span)
        for extra in achieved[1:] + unmet[1:]:
            self.err("E0402", "this clause is given twice", extra.span)
        kw: dict[str, Any] = {}
        if achieved:
            a = achieved[0]
            kw["on_achieved"] = a.policy
            if a.policy == "skip":
                self.skip_target(a.target, top_names, index, "on achieved skip to", nested=ctx.steps)
                kw["achieved_target"] = a.target.name
        if unmet:
            u = unmet[0]
            kw.update(on_unmet=u.policy, unmet_limit=u.limit, unmet_then=u.then)
        return IR.Goal(g.name.name, cond, tuple(then), tuple(then_ifs), is_step=True, span=g.span, **kw)


def _drip_ok(st) -> bool:
    if isinstance(st, A.ActionStep):
        return st.call.name.name.startswith(DRIP_ACTION_PREFIX)
    return isinstance(st, (A.WaitFor, A.WaitUntilTime, A.WaitUntilDate, A.WaitUntilCond, A.GoalBlock))
