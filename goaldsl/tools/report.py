"""`goal report`: the figures of a run (runtime/summary.py) as one HTML page
that opens offline, or as JSON, or as chart images (docs/reports.md).

The figures come from running a program over its inputs (streamed, as
`goal run --format jsonl` runs), from a stored activity stream (JSON Lines
written by `goal run`), or from a state file. The page holds everything it
shows: styles inline, charts as inline SVG (tools/charts.py), and a table
of the numbers beside every chart.
"""
from __future__ import annotations

import html
import json
import os
import sqlite3
from pathlib import Path
from typing import Callable, Optional

from .. import __version__
from ..runtime.program import Program
from ..runtime.summary import Summary, duration_text, shapes_of
from .charts import OUTCOME_WORDS, REASON_WORDS, Chart, exit_rows


class ReportError(Exception):
    """A report cannot be made as asked; the message says why and what to do."""


# ---------------------------------------------------------------- figures

def figures_of_program(program: Program, contacts: Optional[Path], events: Optional[Path], *,
                       start: Optional[int], until: Optional[int], window: Callable, skip_bad: bool, **reading):
    """(figures, inputs) of running ``program``: the stream goes only to the
    summary. ``reading``: how to read the events (``fmt``, ``mapping``), as
    for ``run_jsonl``."""
    from ..runtime.backtest import run_jsonl
    made: list[Summary] = []
    bounds: list[int] = []

    def tap():
        made.append(Summary(shapes_of(program.ir)))
        return made[-1].add

    def run_window(inputs):
        bounds[:] = window(inputs)
        return bounds[0], bounds[1]
    inputs = run_jsonl(program, contacts, events, None, start=start, until=until, window=run_window,
                       skip_bad=skip_bad, tap=tap, **reading)
    return made[-1].result(window=bounds), inputs


def figures_of_file(path: Path, program: Optional[Program] = None) -> dict:
    """The figures of a stored run: a state file (SQLite) or the JSON Lines
    that `goal run` wrote. ``program`` (optional) gives the steps' labels and
    the goals nobody achieved."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ReportError(f"cannot read {path}: {e.strerror or e}") from None
    if head == b"SQLite format 3\x00":
        from ..durable.commands import state_summary
        try:
            return state_summary(path, program)
        except sqlite3.Error as e:
            raise ReportError(f"{path}: {e}") from None
    return _figures_of_jsonl(path, program)


def _figures_of_jsonl(path: Path, program: Optional[Program]) -> dict:
    from ..semantics.calendar import parse_local_datetime
    summary = Summary(shapes_of(program.ir) if program is not None else None)
    times: dict[str, int] = {}
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                e = json.loads(raw)
                text = e["time"]
                t = times.get(text)
                if t is None:
                    if len(times) > 4096:
                        times.clear()
                    t = times[text] = parse_local_datetime(text, "UTC")
                e["time"] = t
                e["type"], e["workflow"], e["contact"]  # noqa: B018 - required keys
            except (ValueError, KeyError, TypeError) as exc:
                why = f"no {exc}" if isinstance(exc, KeyError) else "not an activity entry of goal run --format jsonl"
                raise ReportError(f"{path}:{n}: {why}") from None
            summary.add(e)
    # The stream does not say where the run started: no window.
    return summary.result()


# ---------------------------------------------------------------- HTML

def number(v) -> str:
    """How the page shows a count."""
    return f"{v:,}"


def percent(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def duration(v) -> str:
    return "-" if v is None else duration_text(v)


def render_html(figures: dict, charts: list[Chart], svgs: list[str], title: str) -> str:
    """The report page. Every figure a table shows carries ``data-key``, its
    place in the figures as a JSON list (``["workflows", 0, "goals", 1,
    "achieved"]``), so a test can hold the page against the JSON."""
    by_wf: dict[int, list[tuple[Chart, str]]] = {}
    for c, svg in zip(charts, svgs):
        by_wf.setdefault(c.workflow, []).append((c, svg))
    span = ""
    if "from" in figures:
        span = f'Run from <b>{_e(figures["from"])}</b> until <b>{_e(figures["until"])}</b> · '
    parts = [_HEAD.replace("{title}", _e(title)),
             f'<header><h1>{_e(title)}</h1><p class="meta">{span}made by goal {_e(__version__)} · '
             f'how to read it: docs/reports.md</p>']
    if len(figures["workflows"]) > 1:
        parts.append("<nav><ol>" + "".join(f'<li><a href="#w{i + 1}">{_e(w["workflow"])}</a></li>'
                                            for i, w in enumerate(figures["workflows"])) + "</ol></nav>")
    parts.append("</header><main>")
    for i, w in enumerate(figures["workflows"]):
        parts.append(_workflow_html(i, w, {c.kind: (c, svg) for c, svg in by_wf.get(i, [])}))
    parts.append("</main></body></html>\n")
    return "".join(parts)


def _key(*parts) -> str:
    """The ``data-key`` attribute of a figure: its path in the figures, as JSON."""
    return f' data-key="{_e(json.dumps(parts, ensure_ascii=False))}"'


def _workflow_html(i: int, w: dict, charts: dict) -> str:
    k = ("workflows", i)
    out = [f'<section class="workflow" id="w{i + 1}"><h2>Workflow “{_e(w["workflow"])}”</h2>',
           '<dl class="kpis">',
           f'<div><dt>enrolled</dt><dd{_key(*k, "enrolled")}>{number(w["enrolled"])}</dd></div>',
           f'<div><dt>still in it</dt><dd{_key(*k, "still_in")}>{number(w["still_in"])}</dd></div>']
    for j, g in enumerate(w["goals"]):
        out.append(f'<div><dt>“{_e(g["goal"])}”</dt><dd{_key(*k, "goals", j, "conversion")}>'
                   f'{percent(g["conversion"])}</dd></div>')
    out.append("</dl>")
    out.append(_funnel_html(k, w, charts.get("funnel")))
    for name, figure in (("cohorts", _cohorts_html), ("time_to_goal", _time_to_goal_html), ("exits", _exits_html),
                         ("goal_order", _goal_order_html), ("goal_steps", _goal_steps_html)):
        if name in charts:
            out.append(figure(k, w, charts[name]))
    out.append("</section>")
    return "".join(out)


def _funnel_html(k: tuple, w: dict, chart) -> str:
    """The funnel: contacts at each top-level step and what became of them."""
    out = []
    if chart is not None:
        rows = []
        for j, s in enumerate(w["steps"]):
            sk = (*k, "steps", j)
            rows.append(f'<tr><td>{s["step"]}</td><th scope="row">{_e(s["label"])}</th>'
                        f'<td{_key(*sk, "reached")}>{number(s["reached"])}</td>'
                        f'<td{_key(*sk, "moved_on")}>{number(s["moved_on"])}</td>'
                        f'<td{_key(*sk, "waiting")}>{number(s["waiting"])}</td>'
                        + "".join(f'<td{_key(*sk, "left", r)}>{number(s["left"][r])}</td>' if r in s["left"]
                                  else "<td>0</td>" for r in ("goal", "unmet", "end", "completed")) + "</tr>")
        out.append(_figure(chart, "Funnel",
                           "Contacts that reached each top-level step, and what became of them there.",
                           ["#", "step", "reached", REASON_WORDS["moved_on"], REASON_WORDS["waiting"],
                            REASON_WORDS["goal"], REASON_WORDS["unmet"], REASON_WORDS["end"],
                            REASON_WORDS["completed"]], rows))
    elif w["steps"]:
        out.append('<p class="note">Where contacts are by step is not known: the stored stream has no '
                   "positions (it was written before goal recorded them).</p>")
    return "".join(out)


def _cohorts_html(k: tuple, w: dict, chart) -> str:
    """Conversion by enrollment cohort."""
    goals = w["goals"]
    rows = []
    for j, r in enumerate(w["cohorts"]["rows"]):
        ck = (*k, "cohorts", "rows", j)
        cells = "".join(f'<td{_key(*ck, "achieved", g["goal"])}>{number(r["achieved"][g["goal"]])}</td>'
                        f'<td{_key(*ck, "conversion", g["goal"])}>{percent(r["conversion"][g["goal"]])}</td>'
                        for g in goals)
        rows.append(f'<tr><th scope="row">{_e(r["start"])}</th>'
                    f'<td{_key(*ck, "enrolled")}>{number(r["enrolled"])}</td>{cells}</tr>')
    overall = "".join(f'<td{_key(*k, "goals", j, "achieved")}>{number(g["achieved"])}</td>'
                      f'<td{_key(*k, "goals", j, "conversion")}>{percent(g["conversion"])}</td>'
                      for j, g in enumerate(goals))
    rows.append(f'<tr class="total"><th scope="row">all</th><td{_key(*k, "enrolled")}>'
                f'{number(w["enrolled"])}</td>{overall}</tr>')
    head = [f'enrollment {w["cohorts"]["unit"]} (UTC)', "enrolled"]
    for g in goals:
        head += [f'“{g["goal"]}”', "conversion"]
    return _figure(chart, f'Conversion by enrollment {w["cohorts"]["unit"]}',
                   "Of the contacts enrolled each "
                   f'{w["cohorts"]["unit"]}, the share that achieved each goal (recent cohorts have '
                   "had less time). Dotted lines: over all enrollments.", head, rows)


def _time_to_goal_html(k: tuple, w: dict, chart) -> str:
    """Time from enrollment to each goal."""
    rows = []
    for j, g in enumerate(w["goals"]):
        if not g["achieved"]:
            continue
        tk = (*k, "goals", j, "time_to_goal")
        t = g["time_to_goal"]
        rows.append(f'<tr><th scope="row">“{_e(g["goal"])}”</th><td{_key(*tk, "count")}>{number(t["count"])}</td>'
                    + "".join(f'<td{_key(*tk, q)}>{duration(t[q])}</td>'
                              for q in ("min", "p25", "p50", "p75", "p90", "max")) + "</tr>")
    return _figure(chart, "Time to goal",
                   "Time from enrollment to achieving the goal: how many took how long, with the "
                   "quartiles and the 90th percentile marked.",
                   ["goal", "achieved", "fastest", "p25", "median (p50)", "p75", "p90", "slowest"], rows)


def _exits_html(k: tuple, w: dict, chart) -> str:
    """Exits by reason."""
    rows = [f'<tr><th scope="row">{_e(label)}</th><td>{number(n)}</td></tr>' for label, n, _ in exit_rows(w)]
    rows += [f'<tr class="total"><th scope="row">{_e(r)} (all)</th><td{_key(*k, "exits", r)}>{number(n)}'
             f"</td></tr>" for r, n in w["exits"].items()]
    return _figure(chart, "Exits by reason",
                   "How enrollments ended: a goal, a goal step unmet, an end step, or the last step done.",
                   ["reason", "enrollments"], rows)


def _goal_order_html(k: tuple, w: dict, chart) -> str:
    """The goals in the order they are checked, and what each lost to an earlier one."""
    rows = []
    for j, g in enumerate(w["goals"]):
        lost = "; ".join(f'{n:,} to “{_e(x)}”' for x, n in g["lost_to"].items()) or "-"
        rows.append(f'<tr><td>{j + 1}</td><th scope="row">“{_e(g["goal"])}”</th><td>{_e(g["kind"] or "")}</td>'
                    f'<td{_key(*k, "goals", j, "achieved")}>{number(g["achieved"])}</td><td>{lost}</td></tr>')
    return _figure(chart, "Goal order",
                   "Goals are checked in this order and the first that holds wins. Red: a goal that "
                   "held at the same instant, but an earlier one took the contact.",
                   ["order", "goal", "kind", "achieved", "held too, taken first by"], rows)


def _goal_steps_html(k: tuple, w: dict, chart) -> str:
    """How the contacts that reached each goal step met it or not."""
    rows = []
    for j, g in enumerate(w["goals"]):
        if "outcomes" not in g:
            continue
        ok = (*k, "goals", j, "outcomes")
        rows.append(f'<tr><th scope="row">step {g["step"]}: “{_e(g["goal"])}”</th>'
                    f'<td>{_e(g["unmet_policy"] or "")}</td>'
                    + "".join(f'<td{_key(*ok, o)}>{number(g["outcomes"][o])}</td>' for o in OUTCOME_WORDS)
                    + "</tr>")
    return _figure(chart, "Goal steps",
                   "For each goal step, how the contacts that reached it met it or not.",
                   ["goal step", "on unmet"] + list(OUTCOME_WORDS.values()), rows)


def _figure(chart_svg: tuple[Chart, str], heading: str, what: str, head: list[str], rows: list[str]) -> str:
    chart, svg = chart_svg
    wide = " wide" if len(head) > 5 else ""  # a wide table goes under its chart
    return (f'<figure class="chart{wide}" id="{chart.id}" data-chart="{chart.kind}"><h3>{_e(heading)}</h3>'
            f'<p class="what">{_e(what)}</p><div class="svg" role="img" aria-label="{_e(chart.title)}">{svg}</div>'
            f'<figcaption class="numbers"><table><thead><tr>'
            + "".join(f'<th scope="col">{_e(h)}</th>' for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></figcaption></figure>")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root { color-scheme: light; --ink: #1f2328; --soft: #57606a; --line: #d0d7de; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink); }
header, main { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.6em; margin: 0 0 4px; }
.meta, .what, .note { color: var(--soft); margin: 0 0 12px; }
nav ol { display: flex; flex-wrap: wrap; gap: 4px 20px; padding-left: 1.2em; margin: 0 0 12px; }
h2 { font-size: 1.3em; margin: 28px 0 8px; padding-top: 8px; border-top: 3px solid var(--ink); }
h3 { font-size: 1.05em; margin: 0 0 2px; }
.kpis { display: flex; flex-wrap: wrap; gap: 8px; margin: 0 0 16px; }
.kpis div { background: var(--band); border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
.kpis dt { color: var(--soft); font-size: .85em; }
.kpis dd { margin: 0; font-size: 1.35em; font-weight: bold; }
figure.chart { margin: 0 0 24px; padding: 12px 0; border-top: 1px solid var(--line);
  display: grid; grid-template-columns: minmax(0, 7fr) minmax(0, 5fr); gap: 4px 24px;
  grid-template-areas: "head head" "what what" "svg numbers"; }
figure.chart.wide { grid-template-columns: minmax(0, 1fr); grid-template-areas: "head" "what" "svg" "numbers"; }
figure.chart.wide .svg { max-width: 820px; }
figure.chart h3 { grid-area: head; } figure.chart .what { grid-area: what; }
.svg { grid-area: svg; } .svg svg { width: 100%; height: auto; }
.svg svg text { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif !important; }
.numbers { grid-area: numbers; overflow-x: auto; }
table { border-collapse: collapse; font-size: .85em; width: 100%; }
th, td { padding: 3px 6px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th[scope="row"], thead th:first-child { text-align: left; white-space: normal; }
thead th { border-bottom: 2px solid var(--ink); vertical-align: bottom; }
tr.total th, tr.total td { font-weight: bold; }
@media (max-width: 900px) { figure.chart { grid-template-columns: 1fr; grid-template-areas: "head" "what" "svg" "numbers"; } }
@media print {
  body { font-size: 10pt; } header, main { max-width: none; padding: 0; } nav { display: none; }
  section.workflow { break-before: page; } section.workflow:first-child { break-before: auto; }
  figure.chart { break-inside: avoid; grid-template-columns: 1fr; grid-template-areas: "head" "what" "svg" "numbers"; }
  .svg svg { max-height: 14cm; }
}
</style></head><body>
"""


# ---------------------------------------------------------------- images

def write_images(charts: list[Chart], images: list, folder: Path, fmt: str) -> list[Path]:
    """Each chart as ``FOLDER/<id>.svg`` or ``.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for c, data in zip(charts, images):
        p = folder / f"{c.id}.{fmt}"
        if fmt == "svg":
            p.write_text('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + data, encoding="utf-8")
        else:
            p.write_bytes(data)
        paths.append(p)
    return paths


def title_of(program_arg: Optional[str], from_run: Optional[str]) -> str:
    what = from_run if from_run else (os.path.basename(os.path.normpath(program_arg)) if program_arg else "")
    return f"goal report: {what}" if what else "goal report"
