"""Workflows: settings, audience and triggers, time zones, fixed dates.

A part of ``Checker`` (``checker/__init__.py``): the methods run on the one
checker and share its state (declared events, actions and segments; diagnostics)."""
from __future__ import annotations

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any

from ...syntax import ast as A
from .. import ir
from ..calendar import is_zone, known_zones, parse_local_datetime
from ...syntax.diagnostics import Related
from ...syntax.source import Span
from .common import IR, WEEKDAYS, Context


#: The settings given at most once together (a workflow runs one way, is evaluated one way); each other
#: setting is its own, by its class's name.
_SETTING_KEYS = {"RunsOnce": "runs", "RunsPerpetual": "runs", "EvaluateEvery": "evaluate",
                 "EvaluateEveryAt": "evaluate", "EvaluateOnEvent": "evaluate"}


class Workflows:
    def workflow(self, w: A.Workflow) -> ir.Workflow | None:
        name = w.name.name
        settings, steps, goals_sections = self.workflow_items(w)
        tz = "UTC"
        if "TimezoneSetting" in settings:
            tz = self.timezone_name(settings["TimezoneSetting"].name)
        once_at = None
        runs = settings.get("runs")
        if isinstance(runs, A.RunsOnce):
            once_at = self.datetime(runs.text, tz, runs.span)
        every, tick_time = self.evaluation(settings.get("evaluate"))
        audience = settings.get("Audience")
        trigger = settings.get("EnrollWhen")
        reentry = settings.get("AllowReentry")
        skip_met = settings.get("SkipIfGoalMet")
        exit_aud = settings.get("ExitWhenAudienceFails")
        self.check_enrollment(w, settings, goals_sections, once_at)
        reentry_after = reentry.after if reentry is not None else None
        top_names, all_names = self.workflow_step_names(steps, goals_sections)
        ctx = Context(workflow=name, steps=frozenset(all_names), in_workflow=True,
                      no_trigger="audience" if audience else None)
        aud = self.cond(audience.cond, ctx.but(in_workflow=False)) if audience else None
        trig = None
        if trigger:
            before = len(self.diags)
            trig = self.cond(trigger.cond, ctx.but(in_workflow=False, no_trigger="trigger"))
            if len(self.diags) == before:  # an unknown event already said what is wrong
                self.check_trigger(trig)
            ctx = ctx.but(trigger=self.trigger_fields(trig))
        ir_steps = self.steps(steps, ctx, top_names, top=True, drip=w.is_drip, tz=tz)
        exit_goals = []
        for gs in goals_sections:
            for g in gs.goals:
                goal = self.goal(g, ctx, top_names, None, is_step=False)
                if goal:
                    exit_goals.append(goal)
        return IR.Workflow(name, w.is_drip, once_at, every, tz, aud, trig, reentry is not None,
                           tuple(ir_steps), tuple(exit_goals), tick_time, reentry_after,
                           skip_met is not None, exit_aud is not None, span=w.span)

    def workflow_items(self, w: A.Workflow) -> tuple[dict[str, Any], list[A.Step], list[A.GoalsSection]]:
        """A workflow's settings (by kind), steps and goals sections, in the
        order they must come (settings, steps, one goals section)."""
        settings: dict[str, Any] = {}
        steps: list[A.Step] = []
        goals_sections: list[A.GoalsSection] = []
        seen_step = False
        for item in w.items:
            if isinstance(item, A.GoalsSection):
                if goals_sections:
                    self.err("E0420", "a workflow has at most one goals section", item.span,
                             related=(Related(goals_sections[0].span, "the first one"),))
                goals_sections.append(item)
            elif A.is_setting(item):
                key = type(item).__name__
                key = _SETTING_KEYS.get(key, key)
                if seen_step or goals_sections:
                    self.err("E0401", "settings come before the steps", item.span,
                             hint="move this line to the top of the workflow")
                if key in settings:
                    self.err("E0402", "this setting is given twice", item.span,
                             related=(Related(settings[key].span, "first given here"),))
                    continue
                settings[key] = item
            else:
                if goals_sections:
                    self.err("E0421", "steps go before the goals section", item.span,
                             hint="the goals { } section comes last in a workflow")
                seen_step = True
                steps.append(item)
        return settings, steps, goals_sections

    def evaluation(self, ev) -> tuple[int | None, tuple[int, int, int | None] | None]:
        """``evaluate ...``: the tick in seconds (None: on events) and the
        wall-clock time of day of the ticks (None: epoch-aligned)."""
        every: int | None = 300
        tick_time = None
        if isinstance(ev, A.EvaluateOnEvent):
            every = None
        elif isinstance(ev, A.EvaluateEveryAt):
            # Ticks on the wall clock: whole days (whole weeks with a weekday).
            d = ev.duration
            every = d.days * 86400
            if d.months or d.seconds or not d.days:
                self.err("E0406", f"evaluate every ... at {ev.hour:02d}:{ev.minute:02d} takes days or weeks", d.span,
                         hint="write `evaluate every 1 day at 09:00`, or leave out `at` for ticks of minutes "
                              "or hours")
                every = 86400
            elif ev.weekday is not None and d.days % 7:
                self.err("E0406", f"evaluate every ... on {ev.weekday} takes whole weeks", d.span,
                         hint=f"write `evaluate every 1 week on {ev.weekday} at {ev.hour:02d}:{ev.minute:02d}`")
                every = 7 * 86400
            tick_time = (ev.hour, ev.minute, WEEKDAYS.index(ev.weekday) if ev.weekday else None)
        elif isinstance(ev, A.EvaluateEvery):
            d = ev.duration
            if d.months:
                self.err("E0406", "evaluate every takes minutes, hours, days or weeks, not months", d.span)
            every = d.days * 86400 + d.seconds
            if every <= 0:
                if not d.months:
                    self.err("E0406", "evaluate every needs a duration above zero", d.span)
                every = 300
        return every, tick_time

    def check_enrollment(self, w: A.Workflow, settings: dict[str, Any], goals_sections: list[A.GoalsSection],
                         once_at: int | None) -> None:
        """How contacts enroll: an audience or an enrolling event (not both),
        and the settings that need one or the other."""
        name = w.name.name
        audience = settings.get("Audience")
        trigger = settings.get("EnrollWhen")
        reentry = settings.get("AllowReentry")
        if audience and trigger:
            self.err("E0403", "a workflow has either audience or enroll when, not both", trigger.span,
                     related=(Related(audience.span, "audience given here"),))
        if not audience and not trigger:
            self.err("E0404", f'workflow "{name}" has no way to enroll contacts', w.name.span,
                     hint="add `audience CONDITION` or `enroll when EVENT`")
        if reentry and not trigger:
            self.err("E0407", "allow reentry only applies to enroll when", reentry.span,
                     hint="audience workflows re-enroll contacts that qualify again")
        skip_met = settings.get("SkipIfGoalMet")
        if skip_met and not any(gs.goals for gs in goals_sections):
            self.err("E0422", "skip enrollment if goal met needs an exit goal", skip_met.span,
                     hint="add a goals { goal \"NAME\" { when CONDITION } } section: its goals are "
                          "checked before a contact enrolls")
        exit_aud = settings.get("ExitWhenAudienceFails")
        if exit_aud and not audience:
            self.err("E0423", "exit when audience no longer matches needs an audience", exit_aud.span,
                     hint="a workflow with `enroll when` has no audience to stop matching")
        if trigger and once_at is not None:
            self.err("E0408", "a one-time workflow enrolls its audience once; it cannot use enroll when",
                     trigger.span, hint="use `audience CONDITION`, or `runs perpetual`")

    def workflow_step_names(self, steps: list[A.Step], goals_sections: list[A.GoalsSection]
                            ) -> tuple[list, dict[str, Span]]:
        """The names of the top-level steps (and goal steps), in order, for
        skip targets; every step name (two steps named alike, two goals named
        alike are errors)."""
        top_names: list[tuple[str, Span, int]] = []
        all_names: dict[str, Span] = {}
        goal_names: dict[str, Span] = {}
        for i, st in enumerate(steps):
            n = A.step_name(st)
            if n is not None:
                top_names.append((n.name, n.span, i))
        for st in A.all_steps(steps):
            n = A.step_name(st)
            if n is not None and not isinstance(st, A.GoalBlock):
                if n.name in all_names:
                    self.err("E0411", f"two steps are named {n.name}", n.span,
                             related=(Related(all_names[n.name], "first named here"),))
                else:
                    all_names[n.name] = n.span
        for g in [s for s in steps if isinstance(s, A.GoalBlock)] + [g for gs in goals_sections for g in gs.goals]:
            if g.name.name in goal_names:
                self.err("E0412", f'two goals are named "{g.name.name}"', g.name.span,
                         related=(Related(goal_names[g.name.name], "first named here"),))
            else:
                goal_names[g.name.name] = g.name.span
        return top_names, all_names

    def timezone_name(self, node: A.Str) -> str:
        """A time zone as written, or UTC after reporting an unknown one."""
        if is_zone(node.value):
            return node.value
        self.err("E0405", f'unknown time zone "{node.value}"', node.span,
                 hint=self.did_you_mean(node.value, known_zones()) or 'use an IANA name like "America/New_York"')
        return "UTC"

    def trigger_fields(self, trig: ir.Cond) -> dict[str, ir.FieldType]:
        """What ``trigger.`` can read: the fields of the trigger's event types
        (a field two of them declare with different types has type any) and
        ``time``, the event's instant as UTC text."""
        out: dict[str, ir.FieldType] = {}
        for x in (trig.items if isinstance(trig, ir.COr) else (trig,)):
            ev = self.events.get(x.event) if isinstance(x, ir.CEvent) else None
            for f, t in (ev.fields.items() if ev is not None else ()):
                if f in out and out[f] != t:
                    t = IR.FieldType("any", (), True)
                out[f] = t
        out["time"] = IR.FieldType("string")
        return out

    def check_trigger(self, c: ir.Cond) -> None:
        items = c.items if isinstance(c, ir.COr) else (c,)
        for x in items:
            if not isinstance(x, ir.CEvent):
                self.err("E0409", "enroll when takes an event, like form.submitted(form == \"demo\")", x.span,
                         hint="for a condition on contact data, use `audience`")
            elif x.window != "default" or x.after is not None or (x.count_kind, x.count) != ("at_least", 1):
                self.err("E0409", "an enroll-when event takes no count or window", x.span,
                         hint="each matching event enrolls the contact")

    def datetime(self, text: str, tz: str, span: Span) -> int | None:
        try:
            return parse_local_datetime(text, tz)
        except ValueError as e:
            self.err("E0413", f"{text} is not a valid date-time: {e}", span)
            return None
