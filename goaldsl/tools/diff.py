"""``goal diff OLD NEW``: two versions of a program over the same contacts
and events, compared.

The inputs are read once: the event log is decoded in pieces, and each
piece is fed to both engines (each gets its own copy of the contact
records; events are shared, with ``contact.updated`` fields copied, since
applying them may store their values in a contact). After each piece both
engines have run to the same instant, so every activity entry up to it is
final in both, and the two streams are compared there and then, per contact
and workflow; nothing of a stream is kept but the entries not yet matched,
the first difference of each contact, and what the summary needs.

The figures (enrolled, achieved, conversion, median time to goal) are
``runtime.summary``'s, the one computation behind ``goal run``'s table and
``goal report``.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Optional

import attrs

from ..runtime.engine import Engine
from ..runtime.inputs import Inputs, iter_events, read_contacts
from ..runtime.program import InputError, Program, shown_path
from ..runtime.summary import Summary, shapes_of
from .evaluate import deep_copy
from .explain import activity_line

PIECE = 4096
_SKIP = ("id",)  # an action's id names the step and enrollment: not behaviour


def _same(a: dict, b: dict) -> bool:
    if len(a) != len(b):
        keys = (set(a) | set(b)) - set(_SKIP)
        return all(a.get(k) == b.get(k) for k in keys)
    return all(v == b.get(k) for k, v in a.items() if k not in _SKIP) and all(k in a for k in b)


class _Pair:
    """One contact in one workflow: where its two streams stand."""
    __slots__ = ("old", "new", "diverged", "first_old", "first_new", "out_old", "out_new")

    def __init__(self):
        self.old: list[dict] = []  # entries not matched yet
        self.new: list[dict] = []
        self.diverged = False
        self.first_old: Optional[dict] = None
        self.first_new: Optional[dict] = None
        self.out_old: list[str] = []  # outcome, per enrollment
        self.out_new: list[str] = []


def _outcome(out: list[str], e: dict) -> None:
    kind = e["type"]
    if kind == "enrolled":
        out.append("in the workflow")
    elif not out:
        return
    elif kind == "goal_achieved":
        out[-1] = (out[-1] if out[-1] != "in the workflow" else "") + f'achieved "{e["goal"]}", '
    elif kind == "exited":
        head = out[-1] if out[-1] != "in the workflow" else ""
        if e["reason"] == "goal":
            out[-1] = head.rstrip(", ")
        else:
            out[-1] = head + f"exited ({e['reason']})"


def outcome_text(out: list[str]) -> str:
    if not out:
        return "not enrolled"
    return "; ".join(o.rstrip(", ") if not o.endswith(", ") else o.rstrip(", ") + ", still in it" for o in out)


@attrs.define
class DiffResult:
    old_summary: dict
    new_summary: dict
    changed: dict  # (workflow, old outcome, new outcome) -> [count, examples]
    other_activity: dict  # workflow -> contacts whose activity differs but not their outcome
    differ: bool
    inputs: Inputs


class _Differ:
    def __init__(self, old: Program, new: Program, inputs: Inputs, start: int, examples: int):
        self.pairs: dict[tuple[str, str], _Pair] = defaultdict(_Pair)
        self.examples = examples
        self.engines = []
        self.sums = []
        for prog, side in ((old, "old"), (new, "new")):
            buf: list[dict] = []
            eng = Engine(prog.plan, start=start, on_activity=buf.append, keep_history=False)
            for rec in inputs.contacts:
                eng.add_contact(deep_copy(rec))
            self.engines.append((eng, buf, side))
            self.sums.append(Summary(shapes_of(prog.ir)))

    def feed(self, events: list[tuple], bound: int) -> None:
        for eng, _, side in self.engines:
            add = eng.add_event
            copy_updates = side == "new"
            for t, cid, typ, fields in events:
                add(t, cid, typ, deep_copy(fields) if copy_updates and typ == "contact.updated" else fields)
            if bound >= eng.start:
                eng.run_until(bound)
        self.settle()

    def settle(self, final: bool = False) -> None:
        touched = set()
        for (eng, buf, side), summ in zip(self.engines, self.sums):
            for e in buf:
                summ.add(e)
                p = self.pairs[(e["contact"], e["workflow"])]
                _outcome(p.out_old if side == "old" else p.out_new, e)
                if p.diverged:
                    if side == "old" and p.first_old is None:
                        p.first_old = e
                    elif side == "new" and p.first_new is None:
                        p.first_new = e
                    continue
                (p.old if side == "old" else p.new).append(e)
                touched.add((e["contact"], e["workflow"]))
            buf.clear()
            eng.activity.clear()
        for key in touched:
            p = self.pairs[key]
            i = 0
            while i < len(p.old) and i < len(p.new) and _same(p.old[i], p.new[i]):
                i += 1
            if i < len(p.old) or i < len(p.new):
                p.diverged = True
                p.first_old = p.old[i] if i < len(p.old) else None
                p.first_new = p.new[i] if i < len(p.new) else None
            p.old, p.new = [], []

    def result(self, inputs: Inputs, until: int) -> DiffResult:
        changed: dict = {}
        other: dict = defaultdict(int)
        differ = False
        for (cid, wf), p in self.pairs.items():
            if not p.diverged:
                continue
            differ = True
            a, b = outcome_text(p.out_old), outcome_text(p.out_new)
            if a == b:
                other[wf] += 1
                continue
            slot = changed.setdefault((wf, a, b), [0, []])
            slot[0] += 1
            if len(slot[1]) < self.examples:
                slot[1].append((cid, p.first_old, p.first_new))
        window = None
        return DiffResult(self.sums[0].result(window), self.sums[1].result(window), changed, dict(other), differ,
                          inputs)


class _Unsorted(Exception):
    pass


def run_diff(old: Program, new: Program, contacts: Optional[Path], events: Optional[Path], *,
             start: Optional[int], until: Optional[int], window, examples: int = 3,
             skip_bad: bool = False) -> DiffResult:
    """Both programs over one reading of the inputs. ``window(inputs)``
    gives the run's bounds once the log is read (as for ``goal run``);
    events are validated against NEW's declarations."""
    try:
        return _streamed(old, new, contacts, events, start, until, window, examples, skip_bad)
    except _Unsorted:
        # A log out of time order is read whole and sorted (stably), as goal run does.
        from ..runtime.program import read_inputs
        inputs = read_inputs(new, contacts, events, skip_bad=skip_bad)
        first, final = window(inputs)
        differ = _Differ(old, new, inputs, first, examples)
        differ.feed([e for e in inputs.events if e[0] <= final], final)
        return differ.result(inputs, final)


def _streamed(old, new, contacts, events, start, until, window, examples, skip_bad) -> DiffResult:
    inputs = Inputs()
    if contacts is not None:
        read_contacts(contacts, shown_path(contacts), inputs)
    differ: Optional[_Differ] = None
    last = None
    piece: list[tuple] = []
    if events is not None:
        for ev in iter_events(events, new.ir.events, shown_path(events), inputs):
            t = ev[0]
            if last is not None and t < last:
                raise _Unsorted()
            if last is None:
                inputs.first_time = t
            last = t
            if until is not None and t > until:
                continue  # still read to the end: every bad line is reported
            piece.append(ev)
            if len(piece) >= PIECE:
                if differ is None:
                    differ = _Differ(old, new, inputs, start if start is not None else inputs.first_time, examples)
                differ.feed(piece, t - 1 if until is None else min(t - 1, until))
                piece = []
    inputs.last_time = last
    if inputs.bad and not skip_bad:
        raise InputError(inputs.bad)
    first, final = window(inputs)
    if differ is None:
        differ = _Differ(old, new, inputs, first, examples)
    differ.feed(piece, final)
    return differ.result(inputs, final)


# ====================================================================== reports

def _rows(summary: dict) -> dict:
    out = {}
    for w in summary.get("workflows", []):
        goals = {g["goal"]: g for g in w.get("goals", [])}
        out[w["workflow"]] = (w, goals)
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _dur(s) -> str:
    if s is None:
        return "-"
    s = int(s)
    d, rem = divmod(abs(s), 86400)
    h, rem = divmod(rem, 3600)
    m, _ = divmod(rem, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m or not (d or h) else ""]
    return ("-" if s < 0 else "") + " ".join(p for p in parts if p)


def _change(a, b, kind: str) -> str:
    if a is None or b is None or a == b:
        return ""
    if kind == "count":
        return f"  ({b - a:+d})"
    if kind == "pct":
        return f"  ({100 * (b - a):+.1f} points)"
    return f"  ({'+' if b > a else '-'}{_dur(abs(b - a))})"


def figures(res: DiffResult) -> list[dict]:
    """Per workflow and goal: old and new figures, as JSON-ready dicts."""
    old, new = _rows(res.old_summary), _rows(res.new_summary)
    out = []
    for wf in list(dict.fromkeys([*old, *new])):
        ow, og = old.get(wf, ({}, {}))
        nw, ng = new.get(wf, ({}, {}))
        row = {"workflow": wf, "in_old": wf in old, "in_new": wf in new,
               "enrolled": {"old": ow.get("enrolled"), "new": nw.get("enrolled")}, "goals": []}
        for g in dict.fromkeys([*og, *ng]):
            a, b = og.get(g, {}), ng.get(g, {})
            row["goals"].append({
                "goal": g, "in_old": g in og, "in_new": g in ng,
                "achieved": {"old": a.get("achieved"), "new": b.get("achieved")},
                "conversion": {"old": a.get("conversion"), "new": b.get("conversion")},
                "median_time_to_goal": {"old": (a.get("time_to_goal") or {}).get("p50"),
                                        "new": (b.get("time_to_goal") or {}).get("p50")}})
        out.append(row)
    return out


def render_text(res: DiffResult, old_name: str, new_name: str) -> str:
    lines = [f"goal diff: {old_name} -> {new_name}"]
    for row in figures(res):
        lines.append("")
        tag = "" if row["in_old"] and row["in_new"] else (" (only in new)" if row["in_new"] else " (only in old)")
        lines.append(f'Workflow "{row["workflow"]}"{tag}')
        e = row["enrolled"]
        lines.append(_line("  enrolled", _n(e["old"]), _n(e["new"]), _change(e["old"], e["new"], "count")))
        for g in row["goals"]:
            tag = "" if g["in_old"] and g["in_new"] else (" (only in new)" if g["in_new"] else " (only in old)")
            lines.append(f'  goal "{g["goal"]}"{tag}')
            a, c, m = g["achieved"], g["conversion"], g["median_time_to_goal"]
            lines.append(_line("    achieved", _n(a["old"]), _n(a["new"]), _change(a["old"], a["new"], "count")))
            lines.append(_line("    conversion", _pct(c["old"]), _pct(c["new"]), _change(c["old"], c["new"], "pct")))
            lines.append(_line("    median time to goal", _dur(m["old"]), _dur(m["new"]),
                               _change(m["old"], m["new"], "time")))
    lines.append("")
    total = sum(n for n, _ in res.changed.values())
    lines.append(f"Contacts whose outcome changed: {total}")
    for (wf, a, b), (n, examples) in sorted(res.changed.items(), key=lambda kv: (-kv[1][0], kv[0])):
        lines.append(f'  "{wf}": {a} -> {b}: {n}')
        for cid, fo, fn in examples:
            lines.append(f"    {cid}, first difference:")
            lines.append(f"      old: {activity_line(fo) if fo else '(no such entry)'}")
            lines.append(f"      new: {activity_line(fn) if fn else '(no such entry)'}")
    other = sum(res.other_activity.values())
    if other:
        lines.append(f"Contacts with other activity but the same outcome: {other}")
    lines.append("the two versions do the same" if not res.differ else "the two versions differ")
    return "\n".join(lines) + "\n"


def _line(label: str, old: str, new: str, change: str) -> str:
    return f"{label:<24}{old} -> {new}{change}"


def _n(x) -> str:
    return "-" if x is None else str(x)


def to_json(res: DiffResult, old_name: str, new_name: str) -> dict:
    from ..runtime.output import entry_json
    return {"old": old_name, "new": new_name, "differ": res.differ, "workflows": figures(res),
            "outcome_changes": [{"workflow": wf, "old": a, "new": b, "contacts": n,
                                 "examples": [{"contact": cid, "old": entry_json(fo) if fo else None,
                                               "new": entry_json(fn) if fn else None} for cid, fo, fn in ex]}
                                for (wf, a, b), (n, ex) in sorted(res.changed.items(),
                                                                  key=lambda kv: (-kv[1][0], kv[0]))],
            "other_activity": res.other_activity}
