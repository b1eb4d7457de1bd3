"""What a run accomplished, per workflow and goal: the one computation behind
the table's last lines, ``goal run --summary`` and ``goal report``.

A ``Summary`` is fed the activity stream one entry at a time (``add``), so a
long run is summarised without holding its stream: it keeps, per workflow,
the enrollments still open (their start), counters, and the time to goal of
each achievement (the quantiles are exact, so they need every duration).
``result()`` gives the figures as a JSON-ready dict; docs/reports.md
describes every key.

The figures read these keys of the entries (docs/spec.md section 8 lists
the rest): ``at`` (the top-level step, from 1, a contact was at; 0 before
the first), ``skipped`` (steps jumped over), ``via`` and ``also`` on
``goal_achieved``, and the entry types ``goal_missed`` (a goal step passed
or left unmet), ``not_enrolled`` (a contact kept out by a goal it already
met) and ``waiting`` (where each contact still in a workflow is when the
run ends). A stream written before those keys existed still gives the
enrollment, goal and exit figures; the per-step figures then stay empty.
"""
from __future__ import annotations

import time as _time
from collections import Counter
from fractions import Fraction
from typing import Iterable, Optional, Sequence

import attrs

from ..semantics import ir
from ..semantics.calendar import format_utc
from ..syntax.formatter import duration

QUANTILES = (("p25", Fraction(1, 4)), ("p50", Fraction(1, 2)), ("p75", Fraction(3, 4)), ("p90", Fraction(9, 10)))
DAY = 86400
# Enrollment cohorts are days when the enrollments span at most this many
# days, weeks (from Monday, UTC) beyond.
DAILY_COHORTS_UP_TO = 62
VERSION = 1


def quantile(xs: Sequence[int], p: Fraction) -> Optional[int | float]:
    """The ``p`` quantile of sorted ``xs`` by linear interpolation between
    closest ranks (Hyndman and Fan's type 7, the default of R, NumPy and
    spreadsheets' PERCENTILE.INC): with h = (n - 1) p, the value is
    x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]). Computed
    exactly with fractions; an integer when whole, else the nearest float.
    The median (p = 1/2) is the middle value, or the mean of the two middle
    ones, as ``statistics.median`` gives it."""
    n = len(xs)
    if not n:
        return None
    h = (n - 1) * p
    i = h.numerator // h.denominator
    v = Fraction(xs[i])
    if i + 1 < n:
        v += (h - i) * (xs[i + 1] - xs[i])
    return v.numerator if v.denominator == 1 else float(v)


# Widths of the time-to-goal histogram's bins: the first that makes at most
# HISTOGRAM_BINS bins from 0 to the longest time.
BIN_WIDTHS = (60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY,
              30 * DAY, 91 * DAY, 365 * DAY)
HISTOGRAM_BINS = 24


def histogram(xs: Sequence[int]) -> dict:
    """Counts of sorted ``xs`` (seconds) in bins [k w, (k + 1) w) from 0."""
    if not xs:
        return {"bin_seconds": BIN_WIDTHS[0], "counts": []}
    top = xs[-1]
    width = next((w for w in BIN_WIDTHS if top // w < HISTOGRAM_BINS), None)
    if width is None:
        width = -(-(top + 1) // HISTOGRAM_BINS)
    counts = [0] * (top // width + 1)
    for x in xs:
        counts[x // width] += 1
    return {"bin_seconds": width, "counts": counts}


@attrs.define
class GoalShape:
    name: str
    kind: str  # "step" (a goal step) or "exit" (in `goals { }`)
    step: Optional[int] = None  # a goal step's top-level step number, from 1
    on_unmet: Optional[str] = None  # a goal step's unmet policy, as written


@attrs.define
class WorkflowShape:
    """What the program says of a workflow: its goals in the order they are
    checked (goal steps, then exit goals) and a label per top-level step."""
    name: str
    goals: list[GoalShape] = attrs.Factory(list)
    steps: Optional[list[str]] = None


def shapes_of(program: ir.Program) -> list[WorkflowShape]:
    """The shapes of a checked program's workflows."""
    return [_shape(w, program.sources) for w in program.workflows]


def _shape(w: ir.Workflow, sources: dict[str, str]) -> WorkflowShape:
    goals = []
    for i, st in enumerate(w.steps):
        if isinstance(st, ir.SGoal):
            goals.append(GoalShape(st.goal.name, "step", i + 1, _unmet_policy(st.goal)))
    goals += [GoalShape(g.name, "exit") for g in w.goals]
    return WorkflowShape(w.name, goals, [step_label(st, sources) for st in w.steps])


def _unmet_policy(g: ir.Goal) -> str:
    if g.on_unmet == "wait_up_to":
        return f"wait up to {duration(g.unmet_limit)} then {g.unmet_then}"
    return g.on_unmet


def step_label(st, sources: dict[str, str], width: int = 48) -> str:
    """A top-level step as a person reads it: its source text, on one line
    (an `if` or a goal step by its head), shortened to ``width`` characters."""
    if isinstance(st, ir.SGoal):
        return f'goal "{st.goal.name}"'
    span = st.span
    text = sources.get(span.file)
    if text is not None and span.end > span.start:
        src = text[span.start:span.end]
    else:
        src = {ir.SAction: lambda: f"{st.call.action}(…)", ir.SWait: lambda: "wait",
               ir.SWaitTime: lambda: "wait until …", ir.SWaitDate: lambda: "wait until …",
               ir.SWaitCond: lambda: "wait until …", ir.SIf: lambda: "if …",
               ir.SSkip: lambda: f"skip to {st.target}", ir.SEnd: lambda: "end"}.get(type(st), lambda: "step")()
    if isinstance(st, ir.SIf):
        src = src.split("{", 1)[0]
    src = " ".join(src.split())
    return src if len(src) <= width else src[:width - 1].rstrip() + "…"


class _Goal:
    __slots__ = ("times", "cohorts", "via", "lost_to", "unmet_ended", "unmet_continued", "still_waiting", "step",
                 "kept_out")

    def __init__(self, step: Optional[int] = None):
        self.times: list[int] = []
        self.cohorts: Counter = Counter()  # enrollment day -> achievements
        self.via: Counter = Counter()
        self.lost_to: Counter = Counter()
        self.unmet_ended = 0
        self.unmet_continued = 0
        self.still_waiting = 0
        self.step = step
        self.kept_out = 0  # `not_enrolled` entries naming this goal


class _Workflow:
    __slots__ = ("shape", "enrolled", "open", "exits", "goals", "cohorts", "final", "skips", "left", "goal_exits",
                 "waiting", "positions", "not_enrolled")

    def __init__(self, shape: WorkflowShape):
        self.shape = shape
        self.enrolled = 0
        self.open: dict[str, tuple[int, int]] = {}  # contact -> (enrolled at, enrollment day)
        self.exits: Counter = Counter()
        self.goals: dict[str, _Goal] = {g.name: _Goal(g.step) for g in shape.goals}
        self.cohorts: Counter = Counter()  # enrollment day -> enrollments
        self.final: Counter = Counter()  # step an enrollment left at or waits at -> count
        self.skips: Counter = Counter()  # (first, last) steps jumped over -> count
        self.left: dict[int, Counter] = {}  # step -> reason -> count
        self.goal_exits: Counter = Counter()  # (step, goal) of exits for reason goal
        self.waiting: Counter = Counter()  # step -> contacts waiting there at the end
        self.positions = False  # the stream said where contacts left (`at`)
        self.not_enrolled = 0  # contacts kept out by `skip enrollment if goal met`

    def goal(self, name: str) -> _Goal:
        g = self.goals.get(name)
        if g is None:
            g = self.goals[name] = _Goal()
        return g


class Summary:
    """Feed entries with ``add`` (or ``add_all``); read ``result()``.

    ``shapes``: the workflows to report on, in order (``shapes_of(program)``,
    or bare ``WorkflowShape(name)``s); entries of other workflows are
    ignored. Without shapes, workflows are reported in the order the stream
    names them (``goal report --from-run`` without the program)."""

    def __init__(self, shapes: Optional[Iterable[WorkflowShape]] = None):
        self.discover = shapes is None
        self._w: dict[str, _Workflow] = {s.name: _Workflow(s) for s in (shapes or ())}

    def add_all(self, entries: Iterable[dict]) -> "Summary":
        for e in entries:
            self.add(e)
        return self

    def add(self, e: dict) -> None:
        kind = e["type"]
        if kind == "action":
            return  # the most frequent entry, and no figure counts it
        w = self._w.get(e["workflow"])
        if w is None:
            if not self.discover:
                return
            w = self._w[e["workflow"]] = _Workflow(WorkflowShape(e["workflow"]))
        if kind == "enrolled":
            t = e["time"]
            day = t // DAY
            w.enrolled += 1
            w.open[e["contact"]] = (t, day)
            w.cohorts[day] += 1
        elif kind == "goal_achieved":
            g = w.goal(e["goal"])
            start = w.open.get(e["contact"])
            if start is None:  # pragma: no cover - every stream enrolls before it achieves
                g.times.append(0)
            else:
                g.times.append(e["time"] - start[0])
                g.cohorts[start[1]] += 1
            via = e.get("via")
            if via is not None:
                g.via[via] += 1
                if via != "jumped" and g.step is None:
                    g.step = e.get("at")
            for other in e.get("also", ()):
                w.goal(other).lost_to[e["goal"]] += 1
        elif kind == "exited":
            reason = e["reason"]
            w.exits[reason] += 1
            w.open.pop(e["contact"], None)
            at = e.get("at")
            if at is not None:
                w.positions = True
                self._place(w, at, e.get("skipped"))
                left = w.left.get(at)
                if left is None:
                    left = w.left[at] = Counter()
                left[reason] += 1
                if reason == "goal":
                    w.goal_exits[(at, e.get("goal"))] += 1
            if reason == "unmet" and e.get("goal") is not None:
                g = w.goal(e["goal"])
                g.unmet_ended += 1
                if g.step is None:
                    g.step = at
        elif kind == "goal_missed":
            # Left unmet (policy end): counted by its exit, reason unmet.
            if e.get("policy") != "end":
                g = w.goal(e["goal"])
                g.unmet_continued += 1
                if g.step is None:
                    g.step = e.get("at")
        elif kind == "not_enrolled":
            w.not_enrolled += 1
            w.goal(e["goal"]).kept_out += 1
        elif kind == "waiting":
            at = e["at"]
            w.positions = True
            w.waiting[at] += 1
            self._place(w, at, e.get("skipped"))
            if e.get("goal") is not None:
                g = w.goal(e["goal"])
                g.still_waiting += 1
                if g.step is None:
                    g.step = at

    def merge(self, other: "Summary") -> "Summary":
        """Add the figures of another part of the same run, over other
        contacts (a partition of a run split by contact, docs/scale.md):
        counts add, and every time to goal is kept, so the quantiles of the
        sum are exactly those of one summary fed the whole stream."""
        for name, ow in other._w.items():
            w = self._w.get(name)
            if w is None:
                if not self.discover:
                    continue
                w = self._w[name] = _Workflow(ow.shape)
            w.enrolled += ow.enrolled
            w.open.update(ow.open)
            for mine, theirs in ((w.exits, ow.exits), (w.cohorts, ow.cohorts), (w.final, ow.final),
                                 (w.skips, ow.skips), (w.goal_exits, ow.goal_exits), (w.waiting, ow.waiting)):
                mine.update(theirs)
            for at, reasons in ow.left.items():
                w.left.setdefault(at, Counter()).update(reasons)
            w.positions = w.positions or ow.positions
            for gname, og in ow.goals.items():
                g = w.goal(gname)
                g.times.extend(og.times)
                g.cohorts.update(og.cohorts)
                g.via.update(og.via)
                g.lost_to.update(og.lost_to)
                g.unmet_ended += og.unmet_ended
                g.unmet_continued += og.unmet_continued
                g.still_waiting += og.still_waiting
                if g.step is None:
                    g.step = og.step
        return self

    @staticmethod
    def _place(w: _Workflow, at: int, skipped) -> None:
        w.final[at] += 1
        if skipped:
            for first, last in skipped:
                w.skips[(first, last)] += 1

    # ------------------------------------------------------------ figures

    def result(self, window: Optional[Sequence[int]] = None) -> dict:
        """The figures; ``window``: the run's first and last instants, shown
        as ``from`` and ``until``."""
        out: dict = {"version": VERSION}
        if window:
            out["from"], out["until"] = format_utc(window[0]), format_utc(window[1])
        out["workflows"] = [self._workflow(w) for w in self._w.values()]
        return out

    def _workflow(self, w: _Workflow) -> dict:
        n = w.enrolled
        kinds = {g.name: g for g in w.shape.goals}
        goals = []
        for name, g in w.goals.items():
            shape = kinds.get(name)
            times = sorted(g.times)
            ttg = {"count": len(times), "min": times[0] if times else None}
            for key, p in QUANTILES:
                ttg[key] = quantile(times, p)
            ttg["max"] = times[-1] if times else None
            ttg["histogram"] = histogram(times)
            item = {"goal": name, "kind": shape.kind if shape else None,
                    "step": g.step, "achieved": len(times),
                    "conversion": len(times) / n if n else None,
                    "time_to_goal": ttg,
                    "lost_to": dict(sorted(g.lost_to.items()))}
            if shape is None or shape.kind != "step":
                item["kept_out"] = g.kept_out
            if g.step is not None and (shape is None or shape.kind == "step"):
                item["unmet_policy"] = shape.on_unmet if shape else None
                item["outcomes"] = {
                    "arrived_met": g.via["arrived"],
                    "waited_then_met": g.via["waited"],
                    "jumped_forward": g.via["jumped"],
                    "unmet_then_ended": g.unmet_ended,
                    "unmet_then_continued": g.unmet_continued,
                    "still_waiting": g.still_waiting,
                    "left_by_other_goal": sum(c for (at, other), c in w.goal_exits.items()
                                              if at == g.step and other != name),
                }
            goals.append(item)
        return {
            "workflow": w.shape.name,
            "enrolled": n,
            "not_enrolled": w.not_enrolled,
            "still_in": len(w.open),
            "exits": dict(sorted(w.exits.items())),
            "goals": goals,
            "steps": self._steps(w),
            "cohorts": self._cohorts(w),
        }

    @staticmethod
    def _steps(w: _Workflow) -> list[dict]:
        labels = w.shape.steps
        if not w.positions:
            # No `at` in the stream (an old one): the steps are known by name only.
            return [{"step": i + 1, "label": lab} for i, lab in enumerate(labels or ())]
        count = max([len(labels or ())] + list(w.final) + list(w.left))
        # reached(k): enrollments whose last place is step k or later, less
        # those that jumped over k.
        beyond = [0] * (count + 2)
        for at, c in w.final.items():
            beyond[at] += c
        for k in range(count, -1, -1):
            beyond[k] += beyond[k + 1]
        jumped = [0] * (count + 2)
        for (first, last), c in w.skips.items():
            jumped[first] += c
            jumped[last + 1] -= c
        out = []
        over = 0
        for k in range(1, count + 1):
            over += jumped[k]
            reached = beyond[k] - over
            left = dict(sorted(w.left.get(k, {}).items()))
            waiting = w.waiting.get(k, 0)
            out.append({"step": k, "label": labels[k - 1] if labels and k <= len(labels) else f"step {k}",
                        "reached": reached, "left": left, "waiting": waiting,
                        "moved_on": reached - sum(left.values()) - waiting})
        return out

    @staticmethod
    def _cohorts(w: _Workflow) -> dict:
        if not w.cohorts:
            return {"unit": "day", "rows": []}
        days = sorted(w.cohorts)
        weekly = days[-1] - days[0] + 1 > DAILY_COHORTS_UP_TO
        def key(day: int) -> int:  # 1970-01-01 was a Thursday: weeks start on Mondays
            return day - (day + 3) % 7 if weekly else day
        enrolled: Counter = Counter()
        for day, c in w.cohorts.items():
            enrolled[key(day)] += c
        achieved = {name: Counter() for name in w.goals}
        for name, g in w.goals.items():
            for day, c in g.cohorts.items():
                achieved[name][key(day)] += c
        rows = []
        for k in sorted(enrolled):
            n = enrolled[k]
            rows.append({"start": _time.strftime("%Y-%m-%d", _time.gmtime(k * DAY)), "enrolled": n,
                         "achieved": {name: a[k] for name, a in achieved.items()},
                         "conversion": {name: a[k] / n for name, a in achieved.items()}})
        return {"unit": "week" if weekly else "day", "rows": rows}


# ---------------------------------------------------------------- the table's lines

def table_lines(result: dict) -> list[str]:
    """The summary at the end of ``goal run --format table``."""
    lines = []
    for w in result["workflows"]:
        n = w["enrolled"]
        kept = w.get("not_enrolled")
        lines.append(f'Workflow "{w["workflow"]}": {n} enrolled, {w["still_in"]} still in it'
                     + (f", {kept} not enrolled (a goal already met)" if kept else ""))
        for g in w["goals"]:
            k = g["achieved"]
            rate = f"{100 * k / n:.1f}%" if n else "-"
            med = g["time_to_goal"]["p50"]
            lines.append(f'  goal "{g["goal"]}": {k} achieved ({rate} of enrollments), median time to goal '
                         f'{duration_text(med) if med is not None else "-"}')
        if w["exits"]:
            lines.append("  exits: " + ", ".join(f"{r} {c}" for r, c in w["exits"].items()))
    return lines


def duration_text(seconds: float) -> str:
    """Seconds as days, hours and minutes (``1d 15h 25m``; under a minute: ``0m``)."""
    s = int(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, _ = divmod(rem, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m or not (d or h) else ""]
    return " ".join(p for p in parts if p)
