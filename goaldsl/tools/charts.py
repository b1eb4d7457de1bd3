"""The report's charts, drawn with matplotlib from the figures alone (the
dict that runtime/summary.py makes), as SVG text or PNG bytes.

Each chart is one ``Chart``: what it shows, its SVG or PNG, and nothing the
figures do not hold, so a chart and the table beside it always agree. Text in
the SVG stays text (``svg.fonttype: none``): a browser draws it with the
page's fonts and a reader can search and copy it. The output is the same
for the same figures (fixed hash salt, no date in the metadata).
"""
from __future__ import annotations

import io
from typing import Any

import attrs

from ..runtime.summary import duration_text

# Colours: one per way of leaving or staying, the same in every chart.
COLOURS = {
    "moved_on": "#4c78a8", "waiting": "#bab0ac", "goal": "#54a24b", "unmet": "#f58518",
    "end": "#e45756", "completed": "#72b7b2",
    "arrived_met": "#2e7d32", "waited_then_met": "#66bb6a", "jumped_forward": "#a5d6a7",
    "unmet_then_ended": "#e45756", "unmet_then_continued": "#f58518", "still_waiting": "#bab0ac",
    "left_by_other_goal": "#9467bd",
}
SERIES = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#eeca3b"]
REASON_WORDS = {"moved_on": "moved on", "waiting": "still waiting", "goal": "left: goal", "unmet": "left: unmet",
                "end": "left: end", "completed": "completed"}
OUTCOME_WORDS = {"arrived_met": "met on arrival", "waited_then_met": "waited, then met",
                 "jumped_forward": "jumped forward to it", "unmet_then_ended": "ran out: ended",
                 "unmet_then_continued": "ran out: continued", "still_waiting": "still waiting",
                 "left_by_other_goal": "left by another goal"}
WIDTH = 7.2  # inches: fits a laptop screen's column and an A4 page


@attrs.define
class Chart:
    """A chart to draw: plain data, so a worker process can draw it."""
    id: str  # unique in a report, also the image's file name
    kind: str  # funnel, cohorts, time_to_goal, exits, goal_order, goal_steps
    workflow: int  # index into the figures' workflows
    title: str
    data: Any  # what the kind's drawing function takes
    height: float  # inches
    labels: int = 0  # the longest label on the y axis, in characters (the left margin)

    def svg(self) -> str:
        fig = self._figure()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        text = buf.getvalue()
        return text[text.index("<svg"):]  # no XML prolog or doctype inside HTML

    def png(self) -> bytes:
        fig = self._figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
        return buf.getvalue()

    def _figure(self):
        mpl = matplotlib()
        fig = mpl.figure.Figure(figsize=(WIDTH, self.height))
        # Margins by hand (a layout engine would draw every chart twice):
        # room for the y labels on the left, a legend above, an axis title below.
        left = min(0.55, (0.45 + 0.062 * self.labels) / WIDTH)
        fig.subplots_adjust(left=left, right=0.97, bottom=0.62 / self.height, top=1 - 0.42 / self.height,
                            hspace=0.9)
        _DRAW[self.kind](fig, self.data)
        return fig


_mpl = None


def available() -> bool:
    """Whether matplotlib is installed (the optional extra `report`)."""
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def matplotlib():
    """matplotlib, set up for the report (imported on first use: it takes a
    good part of a second)."""
    global _mpl
    if _mpl is None:
        import matplotlib as mpl
        import matplotlib.figure  # noqa: F401 - the object-oriented interface, no pyplot state
        mpl.rcParams.update({
            "svg.fonttype": "none", "svg.hashsalt": "goal-report", "font.size": 9,
            "text.parse_math": False,  # a label with two $ signs is text, not a formula
            # Text is measured with matplotlib's own DejaVu Sans; the page
            # lists fallbacks for browsers without it (tools/report.py).
            "font.family": "DejaVu Sans",
            "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10,
            "axes.titleweight": "bold", "axes.titlelocation": "left", "legend.frameon": False,
        })
        _mpl = mpl
    return _mpl


def charts_of(figures: dict) -> list[Chart]:
    """Every chart of a report, workflow by workflow."""
    out: list[Chart] = []
    for i, w in enumerate(figures["workflows"]):
        def cid(kind: str) -> str:
            return f"w{i + 1}-{kind}"
        steps = [s for s in w["steps"] if "reached" in s]
        if steps:
            out.append(Chart(cid("funnel"), "funnel", i, "Funnel: contacts at each step", steps,
                             1.2 + 0.3 * len(steps), max(len(f'{s["step"]}. {s["label"]}') for s in steps)))
        goals = w["goals"]
        if w["cohorts"]["rows"] and goals:
            out.append(Chart(cid("cohorts"), "cohorts", i,
                             f"Conversion per goal by enrollment {w['cohorts']['unit']}",
                             {"cohorts": w["cohorts"], "goals": [(g["goal"], g["conversion"]) for g in goals]},
                             2.8, 4))
        achieved = [{"goal": g["goal"], "time_to_goal": g["time_to_goal"]} for g in goals if g["achieved"]]
        if achieved:
            out.append(Chart(cid("time-to-goal"), "time_to_goal", i, "Time to goal", achieved,
                             0.3 + 1.75 * len(achieved), 4))
        exits = exit_rows(w)
        if exits:
            out.append(Chart(cid("exits"), "exits", i, "Exits by reason", exits, 1.0 + 0.28 * len(exits),
                             max(len(lab) for lab, _, _ in exits)))
        if goals:
            order = [(g["goal"], g["achieved"], sum(g["lost_to"].values())) for g in goals]
            out.append(Chart(cid("goal-order"), "goal_order", i, "Goal order: achieved, and held but taken first",
                             order, 1.2 + 0.3 * len(goals), max(len(g) + 6 for g, _, _ in order)))
        step_goals = [{"goal": g["goal"], "step": g["step"], "outcomes": g["outcomes"]}
                      for g in goals if "outcomes" in g]
        if step_goals:
            out.append(Chart(cid("goal-steps"), "goal_steps", i, "Goal steps: how contacts met them", step_goals,
                             1.3 + 0.34 * len(step_goals), max(len(g["goal"]) + 12 for g in step_goals)))
    return out


def exit_rows(w: dict) -> list[tuple[str, int, str]]:
    """(label, count, colour) per way of leaving: each reason, with the goal
    for goal exits and unmet goal steps."""
    rows = []
    by_goal = {g["goal"]: g for g in w["goals"]}
    for reason, n in w["exits"].items():
        if reason == "goal":
            named = 0
            for g in w["goals"]:
                k = g["achieved"] if g["kind"] == "exit" else 0
                if k:
                    rows.append((f'goal "{g["goal"]}"', k, COLOURS["goal"]))
                    named += k
            if n - named > 0:
                rows.append(("goal (a goal step that ends)", n - named, COLOURS["goal"]))
        elif reason == "unmet":
            named = 0
            for g in by_goal.values():
                k = g.get("outcomes", {}).get("unmet_then_ended", 0)
                if k:
                    rows.append((f'unmet "{g["goal"]}"', k, COLOURS["unmet"]))
                    named += k
            if n - named > 0:
                rows.append(("unmet", n - named, COLOURS["unmet"]))
        else:
            rows.append((reason, n, COLOURS.get(reason, "#888888")))
    return rows


# ---------------------------------------------------------------- drawing

def _funnel(fig, steps: list[dict]) -> None:
    ax = fig.subplots()
    labels = [f'{s["step"]}. {s["label"]}' for s in steps]
    ys = list(range(len(steps)))[::-1]
    left = [0] * len(steps)
    parts = [("moved_on", [s["moved_on"] for s in steps]), ("waiting", [s["waiting"] for s in steps])]
    for reason in ("goal", "unmet", "end", "completed"):
        parts.append((reason, [s["left"].get(reason, 0) for s in steps]))
    for key, values in parts:
        if any(values):
            ax.barh(ys, values, left=left, color=COLOURS[key], label=REASON_WORDS[key], height=0.7)
            left = [a + b for a, b in zip(left, values)]
    for y, s in zip(ys, steps):
        ax.text(s["reached"], y, f' {s["reached"]:,}', va="center", fontsize=8)
    ax.set_yticks(ys, labels)
    _counts(ax.xaxis)
    ax.set_xlabel("contacts that reached the step")
    ax.set_xlim(0, max([s["reached"] for s in steps] + [1]) * 1.12)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=6, fontsize=8)


def _cohorts(fig, w: dict) -> None:
    import datetime as dt
    import matplotlib.dates as mdates
    ax = fig.subplots()
    rows = w["cohorts"]["rows"]
    xs = [dt.date.fromisoformat(r["start"]) for r in rows]
    span = (xs[-1] - xs[0]).days
    if w["cohorts"]["unit"] == "week":
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO, interval=max(1, span // 70)))
    else:
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, -(-span // 10))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    if span == 0:
        ax.set_xlim(xs[0] - dt.timedelta(days=1), xs[0] + dt.timedelta(days=1))
    for k, (goal, conversion) in enumerate(w["goals"]):
        colour = SERIES[k % len(SERIES)]
        ys = [100 * r["conversion"][goal] for r in rows]
        ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=goal)
        if conversion is not None:
            ax.axhline(100 * conversion, color=colour, linestyle=":", linewidth=1)
    ax.set_ylabel("% of the cohort's enrollments")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.annotate("dotted: over all enrollments", xy=(1, 0), xycoords="axes fraction", ha="right", va="bottom",
                fontsize=7, color="#555555")


def _time_to_goal(fig, goals: list[dict]) -> None:
    axes = fig.subplots(len(goals), 1, squeeze=False)[:, 0]
    for ax, g in zip(axes, goals):
        ttg = g["time_to_goal"]
        hist = ttg["histogram"]
        width = hist["bin_seconds"]
        unit, scale = _unit(width * len(hist["counts"]))
        xs = [k * width / scale for k in range(len(hist["counts"]))]
        ax.bar(xs, hist["counts"], width=width / scale, align="edge", color="#9ecae1", edgecolor="#4c78a8",
               linewidth=0.5)
        top = max(hist["counts"])
        for key, style in (("p25", ":"), ("p50", "-"), ("p75", ":"), ("p90", "--")):
            v = ttg[key] / scale
            ax.axvline(v, color="#c0392b", linestyle=style, linewidth=1.2)
            ax.text(v, top * 1.02, f" {key}", color="#c0392b", fontsize=7, va="bottom")
        ax.set_ylim(0, top * 1.25)
        ax.set_title(f'"{g["goal"]}": {ttg["count"]:,} achieved, median {duration_text(ttg["p50"])}',
                     fontsize=9, fontweight="normal")
        ax.set_ylabel("contacts")
        _counts(ax.yaxis)
        ax.set_xlabel(f"time from enrollment to goal ({unit})")


def _counts(axis) -> None:
    """Whole numbers only on an axis of counts."""
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True))


def _unit(span: float) -> tuple[str, float]:
    if span > 3 * 86400:
        return "days", 86400.0
    if span > 3 * 3600:
        return "hours", 3600.0
    return "minutes", 60.0


def _hbars(fig, rows: list[tuple[str, int, str]]) -> None:
    ax = fig.subplots()
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, [n for _, n, _ in rows], color=[c for _, _, c in rows], height=0.7)
    for y, (_, n, _) in zip(ys, rows):
        ax.text(n, y, f" {n:,}", va="center", fontsize=8)
    ax.set_yticks(ys, [lab for lab, _, _ in rows])
    ax.set_xlim(0, max(n for _, n, _ in rows) * 1.15)
    _counts(ax.xaxis)
    ax.set_xlabel("enrollments")


def _goal_order(fig, goals: list[tuple[str, int, int]]) -> None:
    ax = fig.subplots()
    ys = list(range(len(goals)))[::-1]
    won = [a for _, a, _ in goals]
    lost = [b for _, _, b in goals]
    ax.barh(ys, won, color=COLOURS["goal"], height=0.7, label="achieved")
    ax.barh(ys, lost, left=won, color="#d62728", height=0.7, label="held too, but an earlier goal took the contact")
    for y, a, b in zip(ys, won, lost):
        ax.text(a + b, y, f" {a:,}" + (f" + {b:,}" if b else ""), va="center", fontsize=8)
    ax.set_yticks(ys, [f'{k + 1}. "{g}"' for k, (g, _, _) in enumerate(goals)])
    ax.set_xlim(0, max([a + b for a, b in zip(won, lost)] + [1]) * 1.18)
    _counts(ax.xaxis)
    ax.set_xlabel("enrollments (goals in the order they are checked)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8)


def _goal_steps(fig, goals: list[dict]) -> None:
    ax = fig.subplots()
    ys = list(range(len(goals)))[::-1]
    left = [0] * len(goals)
    for key, words in OUTCOME_WORDS.items():
        values = [g["outcomes"][key] for g in goals]
        if any(values):
            ax.barh(ys, values, left=left, color=COLOURS[key], label=words, height=0.7)
            left = [a + b for a, b in zip(left, values)]
    for y, total in zip(ys, left):
        ax.text(total, y, f" {total:,}", va="center", fontsize=8)
    ax.set_yticks(ys, [f'step {g["step"]}: "{g["goal"]}"' for g in goals])
    ax.set_xlim(0, max(left + [1]) * 1.12)
    _counts(ax.xaxis)
    ax.set_xlabel("contacts that reached the goal step")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, fontsize=8)


_DRAW = {"funnel": _funnel, "cohorts": _cohorts, "time_to_goal": _time_to_goal, "exits": _hbars,
         "goal_order": _goal_order, "goal_steps": _goal_steps}


def _render(chart: Chart, fmt: str):
    return chart.svg() if fmt == "svg" else chart.png()


class Painter:
    """Draws charts in a worker process when it can: the worker starts, and
    imports matplotlib (most of a second), while the run that makes the
    figures goes on; then it forks once (the copy shares the import) and the
    two draw half the charts each, side by side. Where no process can be
    made, or the worker fails, the charts are drawn in this process. Use it
    as a context manager."""

    def __init__(self):
        self.proc = self.conn = None
        try:
            import multiprocessing
            ctx = multiprocessing.get_context("fork")
            self.conn, theirs = ctx.Pipe()
            self.proc = ctx.Process(target=_worker, args=(theirs,), daemon=True)
            self.proc.start()
            theirs.close()
        except (ImportError, OSError, ValueError):  # pragma: no cover - no fork, no pipes
            self.proc = self.conn = None

    def __enter__(self) -> "Painter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.conn.send(None)
            except OSError:  # pragma: no cover - the worker is gone
                pass
            self.proc.join(timeout=5)
            if self.proc.is_alive():  # pragma: no cover
                self.proc.kill()
                self.proc.join()
            self.conn.close()
            self.proc = self.conn = None

    def render(self, charts: list[Chart], fmt: str = "svg") -> list:
        """Each chart's SVG text (or PNG bytes), in order."""
        if self.proc is not None:
            try:
                self.conn.send((charts, fmt))
                ok, out = self.conn.recv()
                if ok:
                    return out
            except (OSError, EOFError):  # pragma: no cover - the worker died: draw here instead
                pass
            self.close()
        return [_render(c, fmt) for c in charts]


def _worker(conn) -> None:
    """The drawing process: import matplotlib, then draw what it is sent."""
    import os

    from msgspec import msgpack
    try:
        matplotlib()
    except Exception:  # pragma: no cover - reported when the charts are asked for
        pass
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        charts, fmt = job
        try:
            conn.send((True, _render_forked(charts, fmt, os, msgpack)))
        except Exception:  # the caller draws them itself and sees the error
            conn.send((False, None))


def _render_forked(charts: list[Chart], fmt: str, os, msgpack) -> list:
    """Half the charts in a forked copy of this process, half here (the copy
    sends its SVG texts or PNG bytes back as MessagePack: data, not code)."""
    if len(charts) < 2:
        return [_render(c, fmt) for c in charts]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: the odd charts, back through the pipe
        code = 0
        try:
            data = msgpack.encode([_render(c, fmt) for c in charts[1::2]])
            with os.fdopen(w, "wb") as f:
                f.write(data)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    mine = [_render(c, fmt) for c in charts[0::2]]
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError("the drawing copy failed")
    theirs = msgpack.decode(data)
    out = []
    for k in range(len(charts)):
        out.append(mine[k // 2] if k % 2 == 0 else theirs[k // 2])
    return out
