"""``goal lint``: warnings about programs that check clean but cannot do
what they say. Each lint has a code (``L0xx``), points at the place, says in
plain words what is wrong and, where it can, how to fix it. docs/lints.md
documents every one; tests/test_lint.py shows each one firing and not
firing.

The lints about conditions ask the reasoner (``reasoner.py``), which only
answers what it can prove: where it cannot decide, the lint stays silent.

A warning is silenced by a comment on its line, or on the line before it
when the comment stands alone::

    goal "Bought" { when purchase.completed }   # lint: ignore[L003]
    # lint: ignore[L001, L003]
    goal "Bought big" { when purchase.completed(amount > 100) }
    # lint: ignore            (every lint, on the next line)
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

import attrs

from ..semantics import ir
from ..semantics.calendar import format_utc
from ..semantics.loader import Loaded
from ..syntax import ast as A
from ..syntax.formatter import duration
from ..syntax.diagnostics import Diagnostic, Related, sort_key, warning
from ..syntax.source import Span
from .reasoner import Context, Reasoner


@attrs.frozen
class LintRule:
    code: str
    name: str
    title: str  # one line: what the warning means


RULES: dict[str, LintRule] = {r.code: r for r in (
    LintRule("L001", "shadowed-goal", "an exit goal that can never fire: an earlier goal holds whenever it does"),
    LintRule("L002", "goal-never-holds", "a goal whose condition can never hold"),
    LintRule("L003", "goal-in-audience", "a goal already true for every contact the audience admits"),
    LintRule("L004", "nobody-enrolls", "an audience or enroll-when that admits no one"),
    LintRule("L005", "window-shorter-than-wait", "a window shorter than the wait before the condition is checked"),
    LintRule("L006", "window-longer-than-log", "a within window longer than the event log the run can see"),
    LintRule("L007", "unreachable-step", "steps that can never run: after an end, a skip to, or a goal step that always leaves"),
    LintRule("L008", "unreachable-branch", "an if, else if, else or then if branch that can never be taken"),
    LintRule("L009", "unused-segment", "a segment no workflow uses"),
    LintRule("L010", "goal-step-never-reached", "a goal step the flow never reaches: every path ends before it"),
    LintRule("L011", "keeps-contacts-forever", "a workflow with no goals and no end that can keep contacts forever"),
    LintRule("L012", "wait-never-ends", "a wait until whose condition can never hold"),
)}

DESCRIPTIONS = {code: r.title for code, r in RULES.items()}

_IGNORE = re.compile(r"#\s*lint:\s*ignore\b(?:\[([^\]]*)\])?")

IN_WORKFLOW = Context(enrolled=True)
NO_ENROLLMENT = Context(enrolled=False)


def lint(loaded: Loaded, program: ir.Program, *, own_files: Optional[Iterable[str]] = None,
         log_span: Optional[tuple[int, int]] = None) -> list[Diagnostic]:
    """The lint warnings for a checked program, silenced ones left out.
    ``own_files``: the files the user asked about (imported libraries are
    not told about their unused segments); ``log_span``: the first and last
    event times of the event log, for L006."""
    own = set(own_files) if own_files is not None else {m.file for m in loaded.modules
                                                          if m.file not in loaded.stdlib_names}
    out = _Linter(loaded, program, own, log_span).run()
    silenced = _silenced(loaded)
    kept = []
    seen = set()
    for d in sorted(out, key=sort_key):
        key = (d.code, d.span.file if d.span else "", d.span.line if d.span else 0, d.span.col if d.span else 0)
        if key in seen:
            continue
        seen.add(key)
        if d.span is not None:
            codes = silenced.get((d.span.file, d.span.line))
            if codes is not None and (not codes or d.code in codes):
                continue
        kept.append(d)
    return kept


def _silenced(loaded: Loaded) -> dict[tuple[str, int], set[str]]:
    """(file, line) -> the codes silenced there (an empty set: all)."""
    out: dict[tuple[str, int], set[str]] = {}
    for m in loaded.modules:
        text = loaded.sources.get(m.file, "")
        for offset, comment in m.comments:
            mm = _IGNORE.match(comment)
            if mm is None:
                continue
            codes = {c.strip().upper() for c in (mm.group(1) or "").split(",") if c.strip()}
            line = text.count("\n", 0, offset) + 1
            start = text.rfind("\n", 0, offset) + 1
            if not text[start:offset].strip():  # a comment on its own line speaks for the next line of code
                line = _next_code_line(text, offset, line)
            have = out.setdefault((m.file, line), set() if not codes else set(codes))
            if have and codes:
                have |= codes
            elif not codes:
                have.clear()
    return out


def _next_code_line(text: str, offset: int, line: int) -> int:
    lines = text[offset:].split("\n")
    for i, raw in enumerate(lines[1:], 1):
        s = raw.strip()
        if s and not s.startswith("#"):
            return line + i
    return line + 1


class _Linter:
    def __init__(self, loaded: Loaded, program: ir.Program, own: set[str], log_span):
        self.loaded = loaded
        self.program = program
        self.own = own
        self.log_span = log_span
        self.r = Reasoner(program)
        self.out: list[Diagnostic] = []

    def warn(self, code: str, summary: str, span: Optional[Span], hint: Optional[str] = None,
             related: tuple = (), detail: Optional[str] = None) -> None:
        self.out.append(warning(code, summary, span, hint=hint, related=related, detail=detail))

    def run(self) -> list[Diagnostic]:
        for wf in self.program.workflows:
            if wf.span.file not in self.own:
                continue
            self.enrollment(wf)
            self.goals(wf)
            self.flow(wf)
            self.branches(wf)
            self.waits(wf)
            self.forever(wf)
        self.unused_segments()
        if self.log_span is not None:
            self.long_windows()
        return self.out

    # ---------------------------------------------------------------- L004

    def enrollment(self, wf: ir.Workflow) -> None:
        if wf.audience is not None and self.r.never(wf.audience, NO_ENROLLMENT):
            self.warn("L004", f'the audience of workflow "{wf.name}" admits no one: its condition can never hold',
                      wf.audience.span, hint="fix the contradiction in the audience; as written no contact enrolls")
        if wf.trigger is not None:
            items = wf.trigger.items if isinstance(wf.trigger, ir.COr) else (wf.trigger,)
            dead = [x for x in items if isinstance(x, ir.CEvent) and x.filter is not None
                    and self.r.never(x.filter, NO_ENROLLMENT)]
            if dead and len(dead) == len(items):
                self.warn("L004", f'no event can enroll a contact in workflow "{wf.name}": the filter can never hold',
                          dead[0].filter.span, hint="fix the contradiction in the filter")

    # ---------------------------------------------------------------- L001, L002, L003

    def goals(self, wf: ir.Workflow) -> None:
        step_goals = [st.goal for st in wf.steps if isinstance(st, ir.SGoal)]
        never = set()
        for g in step_goals + list(wf.goals):
            if self.r.never(g.cond, IN_WORKFLOW):
                never.add(g.name)
                self.warn("L002", f'goal "{g.name}" can never fire: its condition can never hold', g.cond.span,
                          hint="look for a contradiction such as x > 5 and x < 3, or two values for one field")
        for j, b in enumerate(wf.goals):
            if b.name in never:
                continue
            for a in wf.goals[:j]:
                if a.name not in never and self.r.implies(b.cond, a.cond, IN_WORKFLOW):
                    self.warn("L001", f'goal "{b.name}" can never fire: whenever it holds, goal "{a.name}" above it '
                                      "holds too, and the first goal that holds wins", b.span,
                              related=(Related(a.span, f'goal "{a.name}" is here'),),
                              hint=f'move goal "{b.name}" above goal "{a.name}", or make "{a.name}" more specific')
                    break
        if wf.audience is not None and not _reads_enrollment(wf.audience, self.program):
            for g in step_goals + list(wf.goals):
                if g.name in never or _reads_enrollment(g.cond, self.program):
                    continue
                if self.r.implies(wf.audience, g.cond, NO_ENROLLMENT, IN_WORKFLOW):
                    # With `skip enrollment if goal met`, an exit goal like that lets nobody in.
                    skipped = wf.skip_if_goal_met and not g.is_step
                    self.warn("L003", f'goal "{g.name}" holds for every contact the audience admits: '
                                      + ("with skip enrollment if goal met, no contact ever enrolls" if skipped else
                                         "each one achieves it the moment it enrolls"), g.cond.span,
                              related=(Related(wf.audience.span, "the audience is here"),),
                              hint="a goal is what the workflow works toward: take it out of the audience, or count "
                                   "only what happens since the enrollment")

    # ---------------------------------------------------------------- L007, L010

    def flow(self, wf: ir.Workflow) -> None:
        targets = {st.name for st in wf.steps if getattr(st, "name", None)}
        jumped_to = set()
        for st in ir.all_steps(wf.steps):
            if isinstance(st, ir.SSkip):
                jumped_to.add(st.target)
        for g in (st.goal for st in wf.steps if isinstance(st, ir.SGoal)):
            if g.on_achieved == "skip" and g.achieved_target:
                jumped_to.add(g.achieved_target)
        self._dead_runs(wf, wf.steps, top=True, jumped_to=jumped_to & targets)
        for st in ir.all_steps(wf.steps):
            if isinstance(st, ir.SIf):
                for _, body in st.branches:
                    self._dead_runs(wf, body, top=False, jumped_to=set())
                self._dead_runs(wf, st.else_steps, top=False, jumped_to=set())

    def _dead_runs(self, wf: ir.Workflow, steps, *, top: bool, jumped_to: set[str]) -> None:
        why: Optional[tuple[str, Span]] = None
        reported = False
        for st in steps:
            entry = isinstance(st, ir.SGoal) or getattr(st, "name", None) in jumped_to
            if why is not None and isinstance(st, ir.SGoal):
                self.warn("L010", f'the flow never reaches goal step "{st.goal.name}": {why[0]}', st.span,
                          related=(Related(why[1], "the flow ends or jumps here"),),
                          hint="the goal still fires if it is met before then, but its on unmet policy never "
                               "applies; move the step earlier or let the path before it continue")
                why, reported = None, False  # achieving the goal step jumps here
            elif why is not None and not entry:
                if not reported:
                    self.warn("L007", f"this step can never run: {why[0]}", st.span,
                              related=(Related(why[1], "the flow ends or jumps here"),),
                              hint="remove the steps, or move them before it")
                    reported = True
                continue
            elif entry:
                why, reported = None, False
            reason = _leaves(st)
            if reason is not None:
                why = (reason, st.span)
                reported = False

    # ---------------------------------------------------------------- L008

    def branches(self, wf: ir.Workflow) -> None:
        for st in ir.all_steps(wf.steps):
            if isinstance(st, ir.SIf):
                conds = [c for c, _ in st.branches]
                for i, c in enumerate(conds):
                    if self.r.never(c, IN_WORKFLOW):
                        self.warn("L008", "this branch can never be taken: its condition can never hold", c.span,
                                  hint="fix the contradiction, or remove the branch")
                    elif i and self.r.all_false(conds[:i], IN_WORKFLOW, also_true=c):
                        self.warn("L008", "this branch can never be taken: every contact it would take is taken "
                                          "by an earlier branch", c.span,
                                  related=(Related(conds[0].span, "the first branch is here"),),
                                  hint="reorder the branches, most specific first")
                if st.else_steps and self.r.all_false(conds, IN_WORKFLOW):
                    self.warn("L008", "the else branch can never be taken: every contact takes an earlier branch",
                              st.else_steps[0].span, related=(Related(st.span, "the if is here"),),
                              hint="remove the else branch, or narrow the conditions before it")
        goals = ir.all_goals(wf)
        for g in goals:
            for cond, calls, els in g.then_ifs:
                if self.r.never(cond, IN_WORKFLOW):
                    self.warn("L008", f'the actions of this then if in goal "{g.name}" can never run: its condition '
                                      "can never hold", cond.span, hint="fix the contradiction, or remove the clause")
                elif els and self.r.always(cond, IN_WORKFLOW):
                    self.warn("L008", f'the else actions of this then if in goal "{g.name}" can never run: its '
                                      "condition always holds", cond.span, hint="remove the else block")

    # ---------------------------------------------------------------- L005, L012

    def waits(self, wf: ir.Workflow) -> None:
        for steps in _blocks(wf.steps):
            waited = 0
            waited_span = None
            for st in steps:
                if isinstance(st, ir.SWaitCond):
                    if self.r.never(st.cond, IN_WORKFLOW):
                        self.warn("L012", "this wait never ends by its condition: the condition can never hold",
                                  st.cond.span, hint="fix the contradiction" + (
                                      "" if st.limit is not None else "; without `up to` contacts wait here forever"))
                    elif waited:
                        for atom in _positive_windows(st.cond, self.program):
                            if _max_seconds(atom.duration) < waited:
                                self.warn("L005", f"this condition is first checked {_words(waited_span)} after the "
                                                  f"step before it, but it counts {atom.event} only within "
                                                  f"{duration(atom.duration)}: events early in that wait never count",
                                          atom.span, hint=f"count since enrollment, or widen the window to at least "
                                                          f"{_words(waited_span)}")
                if isinstance(st, ir.SWait):
                    waited += _min_seconds(st.duration)
                    waited_span = (waited_span or ()) + (st.duration,)
                else:
                    waited, waited_span = 0, None
        if wf.once_at is None:
            return
        # A one-time workflow checks its goals only when a wait ends.
        waits = [(i, st) for i, st in enumerate(wf.steps) if isinstance(st, ir.SWait)]
        for g, limit in [(st.goal, i) for i, st in enumerate(wf.steps) if isinstance(st, ir.SGoal)] + \
                        [(g, len(wf.steps)) for g in wf.goals]:
            longest = max((st for i, st in waits if i < limit), key=lambda s: _min_seconds(s.duration), default=None)
            if longest is None:
                continue
            for atom in _positive_windows(g.cond, self.program):
                if _max_seconds(atom.duration) < _min_seconds(longest.duration):
                    self.warn("L005", f'workflow "{wf.name}" runs once, so goal "{g.name}" is checked only when a '
                                      f"wait ends; the wait of {duration(longest.duration)} is longer than the window of "
                                      f"{duration(atom.duration)}, so {atom.event} events early in it never count",
                              atom.span, related=(Related(longest.span, "the wait is here"),),
                              hint=f"widen the window to at least {duration(longest.duration)}, or count since enrollment")

    # ---------------------------------------------------------------- L011

    def forever(self, wf: ir.Workflow) -> None:
        if wf.goals or any(isinstance(st, (ir.SGoal, ir.SEnd)) for st in ir.all_steps(wf.steps)):
            return
        if wf.exit_on_audience:
            return  # contacts leave when they stop matching the audience
        for st in ir.all_steps(wf.steps):
            if isinstance(st, ir.SWaitCond) and st.limit is None and not self.r.always(st.cond, IN_WORKFLOW):
                self.warn("L011", f'contacts that never meet this condition stay in workflow "{wf.name}" forever: '
                                  "it has no goals and no end", st.span,
                          hint="add `up to DURATION` to the wait, or a goal that takes contacts out")
                return

    # ---------------------------------------------------------------- L009

    def unused_segments(self) -> None:
        if not self.program.workflows:
            return  # a file of segments alone is a library
        used = _used_segments(self.program)
        for m in self.loaded.modules:
            if m.file not in self.own:
                continue
            for item in m.items:
                if isinstance(item, A.SegmentDef) and item.name.name not in used:
                    self.warn("L009", f"segment {item.name.name} is not used by any workflow", item.name.span,
                              hint="remove it, or use it in an audience, goal or branch")

    # ---------------------------------------------------------------- L006

    def long_windows(self) -> None:
        first, last = self.log_span
        span = last - first
        seen = set()
        conds = [c for wf in self.program.workflows for c in _workflow_conds(wf)]
        for m in self.loaded.modules:
            if m.file in self.own:
                conds += [self.program.segments[i.name.name] for i in m.items
                          if isinstance(i, A.SegmentDef) and i.name.name in self.program.segments]
        for c in conds:
            for atom in _events(c):
                if atom.window != "within" or atom.span in seen or atom.span.file not in self.own:
                    continue
                seen.add(atom.span)
                if _min_seconds(atom.duration) > span:
                    self.warn("L006", f"this window is {duration(atom.duration)}, but the event log covers only "
                                      f"{_seconds_words(span)} ({format_utc(first)} .. {format_utc(last)}): until "
                                      "the run has gone that far, the window counts less history than it says",
                              atom.span, hint="load more history into the log, or shorten the window")


# ====================================================================== helpers

def _blocks(steps) -> Iterable:
    """The step lists of a workflow: the top level and each branch."""
    yield steps
    for st in ir.all_steps(steps):
        if isinstance(st, ir.SIf):
            for _, body in st.branches:
                yield body
            yield st.else_steps


def _leaves(st) -> Optional[str]:
    """Why the flow never goes on after ``st``, or None when it can."""
    if isinstance(st, ir.SEnd):
        return "the end before it always leaves the workflow"
    if isinstance(st, ir.SSkip):
        return f"the skip to {st.target} before it always jumps past it"
    if isinstance(st, ir.SGoal):
        g = st.goal
        goes_on = g.on_achieved == "continue" or g.on_unmet == "continue" or (
            g.on_unmet == "wait_up_to" and g.unmet_then == "continue")
        if not goes_on:
            return f'goal step "{g.name}" before it always ends the workflow or jumps past it, met or not'
    if isinstance(st, ir.SIf) and st.else_steps:
        reasons = [_block_leaves(b) for _, b in st.branches] + [_block_leaves(st.else_steps)]
        if all(reasons):
            return "every branch of the if before it ends the workflow or jumps away"
    return None


def _block_leaves(steps) -> Optional[str]:
    for st in steps:
        r = _leaves(st)
        if r is not None and not isinstance(st, ir.SGoal):
            return r
    return None


def log_span(path, events: Optional[dict] = None, *, fmt: Optional[str] = None,
             mapping=None) -> Optional[tuple[int, int]]:
    """The first and last event times of an events file (for L006), or
    None when it holds no readable event. Given the program's ``events``,
    any format ``goal run`` reads (docs/inputs.md: CSV, Parquet, a Segment
    export, a mapping file, compressed); the project's JSON Lines are
    scanned for their times alone. Bad lines are left to `goal run`."""
    from ..runtime.inputs import MAX_EVENT_TIME, MIN_EVENT_TIME, as_source, event_batches
    from ..runtime.sources import detect_format
    from ..runtime.sources import SourceError
    from ..semantics.calendar import parse_event_time
    import json
    source = as_source(path)

    def jsonl_times():
        with source.open() as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    yield parse_event_time(json.loads(line).get("time"))
                except (ValueError, AttributeError, TypeError, OverflowError):
                    continue

    first = last = None
    try:
        if events is None or (mapping is None and detect_format(source, fmt) == "jsonl"):
            times = jsonl_times()
        else:
            times = (row[0] for batch in event_batches(source, events, [], fmt=fmt, mapping=mapping)
                     for row in batch)
        for t in times:
            if not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
                continue
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
    except (OSError, SourceError):
        return None
    return None if first is None else (first, last)


def _reads_enrollment(c: ir.Cond, program: ir.Program) -> bool:
    """Does ``c`` count events the enrollment itself writes?"""
    return any(e.event in ("workflow.enrolled",) for e in _events(c, program))


def _events(c: Optional[ir.Cond], program: Optional[ir.Program] = None) -> list[ir.CEvent]:
    """The event atoms of ``c`` (inside filters too); with ``program``, those
    of the segments it uses as well."""
    return [n for n, _ in ir.walk(c, program.segments if program is not None else None) if isinstance(n, ir.CEvent)]


def _positive_windows(c: ir.Cond, program: ir.Program) -> list[ir.CEvent]:
    """``at least`` event atoms with a within window, not under a `not`
    (the ones an earlier event should make true)."""
    return [n for n, positive in ir.walk(c, program.segments, filters=False)
            if positive and isinstance(n, ir.CEvent) and n.window == "within" and n.count_kind == "at_least"
            and n.count >= 1]


def _used_segments(program: ir.Program) -> set[str]:
    """The segments the workflows use, directly or through other segments."""
    return {n.name for wf in program.workflows for c in _workflow_conds(wf) for n, _ in ir.walk(c, program.segments)
            if isinstance(n, ir.CSegment) and n.name in program.segments}


def _workflow_conds(wf: ir.Workflow) -> list[ir.Cond]:
    out = [c for c in (wf.audience, wf.trigger) if c is not None]
    goals = list(wf.goals)
    for st in ir.all_steps(wf.steps):
        if isinstance(st, ir.SGoal):
            goals.append(st.goal)
        elif isinstance(st, ir.SIf):
            out.extend(c for c, _ in st.branches)
        elif isinstance(st, ir.SWaitCond):
            out.append(st.cond)
    for g in goals:
        out.append(g.cond)
        out.extend(c for c, _, _ in g.then_ifs)
    return out


# Calendar units bend with daylight saving (a day is 23 to 25 hours) and
# months differ in length: a comparison of durations takes the shortest a
# wait can be and the longest a window can be, so it never claims too much.

def _min_seconds(d) -> int:
    calendar = d.months or d.days
    return d.months * 28 * 86400 + d.days * 86400 + d.seconds - (2 * 3600 if calendar else 0)


def _max_seconds(d) -> int:
    calendar = d.months or d.days
    return d.months * 31 * 86400 + d.days * 86400 + d.seconds + (2 * 3600 if calendar else 0)


def _words(durations) -> str:
    return " ".join(duration(d) for d in durations) if durations else "some time"


def _seconds_words(s: int) -> str:
    days, rest = divmod(max(s, 0), 86400)
    hours = rest // 3600
    if days and hours:
        return f"{days} day{'s' if days != 1 else ''} {hours} hour{'s' if hours != 1 else ''}"
    if days:
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"
