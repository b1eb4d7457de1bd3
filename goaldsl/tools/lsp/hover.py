"""Hover and go-to-definition: what a ``Target`` is, in Markdown, and
where it is declared."""
from __future__ import annotations

from pathlib import PurePosixPath
from typing import Optional

from lsprotocol import types as T

from ...semantics import ir
from ...semantics.effects import OPS
from ...syntax import ast as A
from ...syntax.values import show_value
from .cursor import Target, find_step
from .documents import Analysis


class Hover:
    """The server's part that answers hover and definition requests (a
    part of ``GoalLanguageServer``)."""

    def hover_text(self, t: Target, a: Analysis) -> Optional[str]:
        b = self.base(a)
        program = b.program
        if t.kind in ("event", "action", "segment"):
            return self.declaration_markdown(b, b.index.get((t.kind, t.name)), f"{t.kind} `{t.name}`")
        if t.kind in ("field", "enum"):
            ev = program.events.get(t.event) if program else None
            ft = ev.fields.get(t.name if t.kind == "field" else t.field) if ev else None
            if ft is None:
                return None
            if t.kind == "field":
                return f"```goal\n{t.name}: {ft.describe()}\n```\nfield of event `{t.event}`"
            return f"`{t.name}`: a value of `{t.event}` field `{t.field}`, {ft.describe()}"
        if t.kind == "param":
            act = program.actions.get(t.action) if program else None
            p = act.param(t.name) if act else None
            if p is None:
                if act is not None and act.rest:
                    return f"`{t.name}`: a field of `{t.action}(...{act.rest})`"
                return None
            default = f" = {show_value(p.default)}" if p.has_default else ""
            return f"```goal\n{p.name}: {p.type.describe()}{default}\n```\nparameter of action `{t.action}`"
        if t.kind == "step":
            return self.step_markdown(t, a)
        if t.kind == "effect":
            op = OPS.get(t.name)
            return f"effect `{t.name}`: {op.meaning}" if op else None
        if t.kind == "import":
            target = (a.path.parent / t.name).resolve()
            state = "" if target.exists() else " (missing)"
            return f"import `{t.name}`\n\n`{target}`{state}"
        if t.kind == "attribute":
            seen = next((f for f in self.contacts_files(a.path) if t.name in self.contact_keys(f)), None)
            return f"contact attribute `{t.name}`" + (f" (seen in `{self.shown(seen)}`)" if seen else "")
        if t.kind == "workflow":
            wf = t.workflow
            steps = list(wf.steps) if wf else []
            goals = [g for it in (wf.items if wf else ()) if isinstance(it, A.GoalsSection) for g in it.goals]
            kind = "drip" if wf and wf.is_drip else "workflow"
            return f'{kind} "{t.name}": {len(steps)} step{"s" if len(steps) != 1 else ""}, ' \
                   f'{len(goals)} exit goal{"s" if len(goals) != 1 else ""}'
        if t.kind == "goal":
            return f'exit goal "{t.name}" of workflow "{t.workflow.name.name}"' if t.workflow else None
        if t.kind.startswith("test_"):
            return self.test_hover(t, program)
        if t.kind == "setting":
            return setting_markdown(t.node)
        if t.kind == "trigger":
            return trigger_markdown(t.name, program.workflow(t.workflow.name.name) if program and t.workflow else None,
                                    program)
        return None

    def test_hover(self, t: Target, program: Optional[ir.Program]) -> Optional[str]:
        """Hover in a test block: what an expectation's name refers to."""
        from ..explain import show_cond
        if program is None:
            return None
        wanted = t.node.workflow.name if isinstance(t.node, A.Expect) and t.node.workflow is not None else None
        if t.kind == "test_goal":
            found = [(w, st.goal if isinstance(st, ir.SGoal) else st) for w in program.workflows
                     for st in [*w.steps, *w.goals] if isinstance(st, (ir.SGoal, ir.Goal))
                     and (st.goal if isinstance(st, ir.SGoal) else st).name == t.name
                     and (wanted is None or w.name == wanted)]
            return "\n\n".join(f'{"goal step" if g.is_step else "exit goal"} "{g.name}" of workflow "{w.name}"'
                                 f"\n\n```goal\nwhen {show_cond(g.cond, program.events)}\n```"
                                 for w, g in found) or None
        if t.kind == "test_workflow":
            w = program.workflow(t.name)
            return f'workflow "{w.name}": {len(w.steps)} steps, {len(w.goals)} exit goals' if w else None
        if t.kind == "test_step":
            return f"step `{t.name}`: the expectation holds when the contact is at this step at that time"
        if t.kind == "test_contact":
            return f"contact `{t.name}` of this test (its records and events are given in the test)"
        return None

    def declaration_markdown(self, a: Analysis, node, title: str) -> Optional[str]:
        if node is None:
            return None
        span = a.place(node.span)
        source = a.loaded.sources.get(span.file, "")
        text = source[span.start:span.end] if span.end > span.start else ""
        docs = _doc_comment(source, span.line)
        where = f"standard library, `{PurePosixPath(span.file).name}`" if span.file.startswith("<stdlib>/") \
            else f"`{span.file}`, line {span.line}"
        out = f"```goal\n{text}\n```"
        if docs:
            out += f"\n\n{docs}"
        return out + f"\n\n{title} — {where}"

    def step_markdown(self, t: Target, a: Analysis) -> Optional[str]:
        wf = t.workflow
        if wf is None:
            return None
        top = list(wf.steps)
        found = find_step(wf, t.name)
        if found is None:
            return f"step `{t.name}` (not found in workflow \"{wf.name.name}\")"
        step, top_step = found
        pos = top.index(top_step) + 1
        where = f"step {pos} of {len(top)}" if step is top_step else f"inside step {pos} of {len(top)} (an `if`)"
        kind = "goal step" if isinstance(step, A.GoalBlock) else "step"
        source = a.loaded.sources.get(step.span.file, a.text)
        first = source[step.span.start:step.span.end].split("\n")[0] if step.span.end > step.span.start else ""
        return (f"{kind} `{t.name}` — {where} in {'drip' if wf.is_drip else 'workflow'} \"{wf.name.name}\", "
                f"line {step.span.line}\n\n```goal\n{first}\n```")

    def definition(self, t: Target, a: Analysis) -> list[T.Location]:
        b = self.base(a)
        node = None
        if t.kind in ("event", "action", "segment"):
            node = b.index.get((t.kind, t.name))
        elif t.kind in ("field", "enum"):
            node = b.index.get(("field", t.event, t.field or t.name))
        elif t.kind == "param":
            node = b.index.get(("param", t.action, t.name))
        elif t.kind == "step" and t.workflow is not None:
            found = find_step(t.workflow, t.name)
            node = found[0] if found else None
        elif t.kind == "import":
            target = a.path.parent / t.name
            if target.exists():
                uri = self.uri_for(str(target.resolve()), a)
                return [T.Location(uri=uri, range=T.Range(T.Position(0, 0), T.Position(0, 0)))]
            return []
        elif t.kind in ("workflow", "goal") and t.node is not None:
            node = t.node
        if node is None:
            return []
        return [self.location(node.span, b if node.span.file != a.name else a)]


def trigger_markdown(name: str, wf: Optional[ir.Workflow], program: Optional[ir.Program]) -> Optional[str]:
    """Hover text for ``trigger.NAME``: which events it reads, and its type."""
    if wf is None or wf.trigger is None or program is None:
        return None
    types = [x.event for x in (wf.trigger.items if isinstance(wf.trigger, ir.COr) else (wf.trigger,))
             if isinstance(x, ir.CEvent)]
    which = ", ".join(f"`{t}`" for t in types)
    if name == "time":
        return (f"```goal\ntrigger.time: string\n```\nthe instant of the event that enrolled the contact "
                f"({which}), as UTC text like `2026-11-16T14:02:00Z`")
    fts = [program.events[t].fields[name] for t in types if t in program.events and name in program.events[t].fields]
    if not fts:
        return None
    return (f"```goal\ntrigger.{name}: {fts[0].describe()}\n```\nfield `{name}` of the event that enrolled the "
            f"contact in this enrollment ({which})")


def setting_markdown(node) -> Optional[str]:
    """Hover text for a workflow setting: what it makes the engine do."""
    from ...syntax.formatter import setting
    text = _SETTING_DOCS.get(type(node).__name__)
    if text is None:
        return None
    if isinstance(node, A.AllowReentry) and node.after is not None:
        text = ("A contact may enroll again, by a new trigger event, once at least this long has passed since "
                "its previous enrollment began (calendar days in the workflow's time zone); a trigger event "
                "before then enrolls nobody.")
    return f"```goal\n{setting(node)}\n```\n{text}"


_SETTING_DOCS = {
    "RunsPerpetual": "The workflow runs for the whole run, enrolling contacts as they qualify (the default).",
    "RunsOnce": "The audience is evaluated once, at this instant; nobody enrolls later.",
    "EvaluateEvery": "The workflow acts only at its ticks: whole multiples of this length since "
                     "1970-01-01T00:00Z.",
    "EvaluateEveryAt": "The workflow acts only at its ticks: this time of day on the wall clock of the "
                       "workflow's time zone (on that weekday), whatever daylight saving does; a time the clock "
                       "skips moves forward by the gap, one it passes twice is the later instant.",
    "EvaluateOnEvent": "The workflow acts for a contact at each of its events, at its timers and at activation.",
    "TimezoneSetting": "Calendar units, times of day and date-times without an offset are read in this zone.",
    "EnrollWhen": "A matching event enrolls a contact that is not enrolled and has never been.",
    "Audience": "A contact that matches enrolls at an acting instant; one that leaves while still matching "
                "waits until it is seen not matching.",
    "AllowReentry": "A contact that has left may enroll again at its next trigger event.",
    "SkipIfGoalMet": "A contact that would enroll while an exit goal already holds is not enrolled: the activity "
                     "stream writes `not_enrolled` with the goal. An audience contact is then treated as one "
                     "that left while matching.",
    "ExitWhenAudienceFails": "At each acting instant, after the goal check, an enrolled contact that no longer "
                             "matches the audience leaves the workflow (reason `audience`).",
}


def _doc_comment(source: str, line: int) -> str:
    """The ``#`` comment lines right above line ``line`` (1-based)."""
    lines = source.split("\n")
    out = []
    i = line - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        out.append(lines[i].strip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))
