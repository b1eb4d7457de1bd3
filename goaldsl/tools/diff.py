"""``goal diff OLD NEW``: two versions of a program over the same contacts
and events, compared.

The inputs are read once, by the streamed run's reader
(``runtime.backtest.stream``): each piece of the log is fed to both
versions' partitions (``runtime.partition.PartitionRun``, every contact in
one, as ``goal run`` runs), each with its own copy of the contact records
(applying events changes them); the events are shared. After each piece
both engines have run to the same instant, so every activity entry up to it is final in both, and the
two streams are compared there and then, per contact and workflow; nothing
of a stream is kept but the entries not yet matched, the first difference
of each contact, its outcome, and what the summary needs.

What is compared: every entry of the stream ``goal run`` writes, its
``waiting`` entries at the end included (where each contact still in a
workflow is), key by key, except an action's ``id`` (docs/decisions.md).

The figures (enrolled, achieved, conversion, median time to goal) are
``runtime.summary``'s, the one computation behind ``goal run``'s table and
``goal report``.
"""
from __future__ import annotations

from functools import partial
from typing import Iterable, Optional

import attrs

from ..runtime.backtest import stream
from ..runtime.engine import EngineError
from ..runtime.inputs import Inputs, copy_value
from ..runtime.output import activity_line, entry_json
from ..runtime.partition import PartitionRun
from ..runtime.program import Program
from ..runtime.summary import Summary, duration_text, shapes_of, step_label


def same_entry(a: dict, b: dict, moved: Optional[dict] = None) -> bool:
    """Two activity entries say the same (docs/decisions.md): key by key,
    but for an action's ``id`` (a delivery key: it numbers unnamed steps by
    position, so it changes whenever a step is added above, though nothing a
    contact sees does), and with the positions ``at`` and ``skipped`` read
    through ``moved`` (``step_map``: OLD's top-level step numbers to NEW's;
    None when the steps did not move) when ``a`` is OLD's."""
    if len(a) != len(b):
        return False
    for k, v in a.items():
        if k not in b:
            return False
        if k == "id":
            continue
        w = b[k]
        if moved is None or k not in _POSITIONS:
            if v != w:
                return False
        elif k == "at":
            if moved.get(v) != w:
                return False
        elif [moved.get(n) for f, l in v for n in range(f, l + 1)] != [n for f, l in w for n in range(f, l + 1)]:
            return False  # skipped: the steps jumped over, one by one
    return True


_POSITIONS = ("at", "skipped")


def step_map(old: list[str], new: list[str]) -> Optional[dict[int, int]]:
    """Which top-level step of NEW each step of OLD is (numbers from 1; 0,
    before the first step, is 0), from the steps as written, aligned as a
    text diff aligns lines: steps written alike are the same step, and a
    run of steps edited in place (as many in both) are the same steps. A
    step added or removed has no counterpart. None when no step moved."""
    import difflib
    out = {0: 0}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for k in range(i2 - i1):
                out[i1 + k + 1] = j1 + k + 1
    if len(old) == len(new) and all(out.get(k) == k for k in range(len(old) + 1)):
        return None
    return out


def step_texts(program: Program) -> dict[str, list[str]]:
    """Per workflow, its top-level steps as written (on one line, an `if` by
    its head): what ``step_map`` aligns."""
    return {w.name: [step_label(st, program.ir.sources, width=1 << 30) for st in w.steps]
            for w in program.ir.workflows}


class _Pair:
    """One contact in one workflow: where its two streams stand."""
    __slots__ = ("pending", "diverged", "first", "outcome")

    def __init__(self):
        self.pending: tuple[list, list] = ([], [])  # per side: entries not matched yet
        self.diverged = False
        self.first: list = [None, None]  # per side: the entry where the streams part
        self.outcome: tuple[list, list] = ([], [])  # per side: [exit reason or None, goals achieved...] per enrollment


_KEPT_OUT = object()  # an outcome record's mark: not enrolled, since a goal already held


def _track(out: list, e: dict) -> None:
    """One entry's part in a contact's outcome in a workflow: per enrollment,
    ``[exit reason or None, goals achieved...]``; ``[_KEPT_OUT, goal]`` where
    ``skip enrollment if goal met`` kept it out (once for a run of them)."""
    kind = e["type"]
    if kind == "enrolled":
        out.append([None])
    elif kind == "not_enrolled":
        if not out or out[-1] != [_KEPT_OUT, e["goal"]]:
            out.append([_KEPT_OUT, e["goal"]])
    elif not out or out[-1][0] is _KEPT_OUT:
        return
    elif kind == "goal_achieved":
        out[-1].append(e["goal"])
    elif kind == "exited":
        out[-1][0] = e["reason"]


def outcome_text(out: list) -> str:
    """A contact's outcome in a workflow: per enrollment, the goals it
    achieved, then how it left or that it is still in (docs/cli.md)."""
    if not out:
        return "not enrolled"
    texts = []
    for end, *goals in out:
        if end is _KEPT_OUT:
            texts.append(f'not enrolled ("{goals[0]}" already met)')
            continue
        parts = [f'achieved "{g}"' for g in goals]
        if end is None:
            parts.append("still in it" if goals else "in the workflow")
        elif end != "goal" or not goals:
            parts.append(f"exited ({end})")
        texts.append(", ".join(parts))
    return "; ".join(texts)


@attrs.define
class Group:
    """Contacts of one workflow whose streams differ, with the same
    (old outcome, new outcome); ``examples``: (contact, old entry, new entry)
    where the streams part, None where a stream has no entry there."""
    workflow: str
    old: str
    new: str
    contacts: int = 0
    examples: list = attrs.Factory(list)


@attrs.define
class DiffResult:
    old_summary: dict
    new_summary: dict
    changed: list[Group]  # outcome changed: old != new
    same_outcome: list[Group]  # other activity, the same outcome (old == new)
    differ: bool
    inputs: Inputs
    shapes: tuple  # per side: workflow name -> WorkflowShape (step labels)


class _Side:
    """One version: its partition (every contact), its summary, its steps."""
    __slots__ = ("run", "summary", "shapes", "steps", "name")

    def __init__(self, name: str, program: Program, contacts: Iterable[dict], start: int, until: Optional[int]):
        self.name = name
        self.run = PartitionRun(program, contacts, start=start, until=until)
        shapes = shapes_of(program.ir)
        self.summary = Summary(shapes)
        self.shapes = {s.name: s for s in shapes}
        self.steps = step_texts(program)

    def entries(self, step, arg) -> list[dict]:
        """``step(arg)`` (the partition's feed or finish), its entries; an
        engine failure names the version."""
        try:
            return step(arg)
        except EngineError as e:
            raise EngineError(f"the {self.name} version: {e}") from None


class _Differ:
    """Both versions' partitions, fed the same pieces of the log (the
    ``Runs`` of ``backtest.stream``); after each piece both have run to the
    same instant, and their entries are compared."""

    def __init__(self, old: Program, new: Program, inputs: Inputs, start: int, until: Optional[int], examples: int):
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self.examples = examples
        # Each engine its own contact records: applying events changes them.
        self.sides = (_Side("old", old, inputs.contacts, start, until),
                      _Side("new", new, (copy_value(rec) for rec in inputs.contacts), start, until))
        a, b = self.sides[0].steps, self.sides[1].steps
        # Per workflow in both versions whose steps moved: OLD's step numbers to NEW's.
        self.moved = {wf: m for wf in a.keys() & b.keys() for m in [step_map(a[wf], b[wf])] if m is not None}

    def feed(self, piece: list[tuple]) -> None:
        old, new = self.sides
        # The events are shared: applying one never changes it (semantics/effects.py copies what it stores).
        # stream() found the piece in time order: neither run checks it again.
        self.settle(old.entries(partial(old.run.feed, ordered=True), piece),
                    new.entries(partial(new.run.feed, ordered=True), piece))

    def finish(self, until: int) -> None:
        """The run's end, then where each contact still in a workflow waits."""
        old, new = self.sides
        a = old.entries(old.run.finish, until) + old.run.waiting()
        b = new.entries(new.run.finish, until) + new.run.waiting()
        self.settle(a, b)

    def settle(self, *got: list[dict]) -> None:
        pairs = self.pairs
        touched = set()
        for i, side in enumerate(self.sides):
            add = side.summary.add
            for e in got[i]:
                add(e)
                key = (e["contact"], e["workflow"])
                p = pairs.get(key)
                if p is None:
                    p = pairs[key] = _Pair()
                if e["type"] != "action":
                    _track(p.outcome[i], e)
                if p.diverged:
                    if p.first[i] is None:
                        p.first[i] = e
                    continue
                p.pending[i].append(e)
                touched.add(key)
        moved = self.moved
        for key in touched:
            p = pairs[key]
            a, b = p.pending
            n = min(len(a), len(b))
            m = moved.get(key[1])
            k = 0
            while k < n and same_entry(a[k], b[k], m):
                k += 1
            if k < len(a) or k < len(b):
                p.diverged = True
                p.first = [a[k] if k < len(a) else None, b[k] if k < len(b) else None]
            p.pending = ([], [])

    def result(self, inputs: Inputs, window: tuple[int, int]) -> DiffResult:
        groups: dict[tuple[str, str, str], Group] = {}
        for (cid, wf), p in self.pairs.items():
            if not p.diverged:
                continue
            a, b = outcome_text(p.outcome[0]), outcome_text(p.outcome[1])
            g = groups.get((wf, a, b))
            if g is None:
                g = groups[(wf, a, b)] = Group(wf, a, b)
            g.contacts += 1
            if len(g.examples) < self.examples:
                g.examples.append((cid, p.first[0], p.first[1]))
        ordered = sorted(groups.values(), key=lambda g: (-g.contacts, g.workflow, g.old, g.new))
        return DiffResult(self.sides[0].summary.result(window), self.sides[1].summary.result(window),
                          [g for g in ordered if g.old != g.new], [g for g in ordered if g.old == g.new],
                          bool(groups), inputs, tuple(s.shapes for s in self.sides))


def run_diff(old: Program, new: Program, contacts, events, *, start: Optional[int], until: Optional[int],
             window, examples: int = 3, skip_bad: bool = False, fmt: Optional[str] = None, mapping=None,
             on_batch=None) -> DiffResult:
    """Both programs over one reading of the inputs. ``window(inputs)``
    gives the run's bounds once the log is read (as for ``goal run``);
    events are checked against NEW's declarations (and read with
    ``fmt``/``mapping``, as ``goal run`` reads them)."""
    made: list[_Differ] = []
    bounds: list[int] = []

    def begin(inputs: Inputs, first: int, last: Optional[int]) -> _Differ:
        made.append(_Differ(old, new, inputs, first, last, examples))  # again when an unsorted log starts over
        return made[-1]

    def bounded(inputs: Inputs) -> tuple[int, int]:
        bounds[:] = window(inputs)
        return bounds[0], bounds[1]

    inputs = stream(new, contacts, events, begin, start=start, until=until, window=bounded, skip_bad=skip_bad,
                    fmt=fmt, mapping=mapping, on_batch=on_batch)
    return made[-1].result(inputs, (bounds[0], bounds[1]))


# ====================================================================== reports

def _rows(summary: dict) -> dict:
    return {w["workflow"]: (w, {g["goal"]: g for g in w["goals"]}) for w in summary["workflows"]}


def figures(res: DiffResult) -> list[dict]:
    """Per workflow and goal: old and new figures (the summary's), as JSON-ready dicts."""
    old, new = _rows(res.old_summary), _rows(res.new_summary)
    out = []
    for wf in dict.fromkeys([*old, *new]):
        ow, og = old.get(wf, ({}, {}))
        nw, ng = new.get(wf, ({}, {}))
        row = {"workflow": wf, "in_old": wf in old, "in_new": wf in new,
               "enrolled": _pair(ow.get("enrolled"), nw.get("enrolled")), "goals": []}
        for g in dict.fromkeys([*og, *ng]):
            a, b = og.get(g, {}), ng.get(g, {})
            row["goals"].append({
                "goal": g, "in_old": g in og, "in_new": g in ng,
                "achieved": _pair(a.get("achieved"), b.get("achieved")),
                "conversion": _pair(a.get("conversion"), b.get("conversion")),
                "median_time_to_goal": _pair(a["time_to_goal"]["p50"] if a else None,
                                             b["time_to_goal"]["p50"] if b else None)})
        out.append(row)
    return out


def _pair(old, new) -> dict:
    """A figure old -> new, with the change (new - old; None when a side has
    no figure: the workflow or goal is only in one version, or no one
    enrolled or achieved it there)."""
    return {"old": old, "new": new, "change": None if old is None or new is None else new - old}


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _dur(s) -> str:
    return "-" if s is None else duration_text(s)


def _n(x) -> str:
    return "-" if x is None else str(x)


def _change(fig: dict, kind: str) -> str:
    d = fig["change"]
    if not d:
        return ""
    if kind == "count":
        return f"  ({d:+d})"
    if kind == "pct":
        return f"  ({100 * d:+.1f} points)"
    return f"  ({'+' if d > 0 else '-'}{duration_text(abs(d))})"


def _line(label: str, old: str, new: str, change: str) -> str:
    return f"{label:<24}{old} -> {new}{change}"


def _only(row: dict) -> str:
    return "" if row["in_old"] and row["in_new"] else (" (only in new)" if row["in_new"] else " (only in old)")


def entry_text(e: Optional[dict], shapes: dict) -> str:
    """An entry where two streams part, as ``goal explain`` shows activity,
    with what the stream says of positions and goals that activity lines
    leave out (they may be all that differs): the step it names, as its
    version writes it, how a goal step was met, the goals that held too,
    the steps jumped over."""
    if e is None:
        return "(no such entry)"
    text = activity_line(e)
    shape = shapes.get(e["workflow"])
    labels = (shape.steps if shape is not None else None) or []
    at = e.get("at")
    label = f"{labels[at - 1]}" if at is not None and 1 <= at <= len(labels) else None
    if e["type"] == "waiting":  # the step as written names its goal, if any
        return (activity_line({**e, "goal": None}) + f": {label}" if label else text) + _skipped_text(e)
    notes = []
    if at is not None:
        notes.append("before the first step" if at == 0 else f"at step {at}" + (f": {label}" if label else ""))
    if e.get("via"):
        notes.append(f"met: {e['via']}")
    if e.get("also"):
        notes.append("also held: " + ", ".join(f'"{g}"' for g in e["also"]))
    return text + (f"  [{'; '.join(notes)}]" if notes else "") + _skipped_text(e)


def _skipped_text(e: dict) -> str:
    skipped = e.get("skipped")
    if not skipped:
        return ""
    return "  [jumped over step " + ", ".join(str(f) if f == l else f"{f}-{l}" for f, l in skipped) + "]"


def _groups_text(groups: list[Group], res: DiffResult, lines: list[str]) -> None:
    for g in groups:
        head = f'  "{g.workflow}": ' + (f"{g.old} -> {g.new}" if g.old != g.new else g.old)
        lines.append(f"{head}: {g.contacts}")
        for cid, fo, fn in g.examples:
            lines.append(f"    {cid}, first difference:")
            lines.append(f"      old: {entry_text(fo, res.shapes[0])}")
            lines.append(f"      new: {entry_text(fn, res.shapes[1])}")


def render_text(res: DiffResult, old_name: str, new_name: str) -> str:
    lines = [f"goal diff: {old_name} -> {new_name}"]
    for row in figures(res):
        lines.append("")
        lines.append(f'Workflow "{row["workflow"]}"{_only(row)}')
        e = row["enrolled"]
        lines.append(_line("  enrolled", _n(e["old"]), _n(e["new"]), _change(e, "count")))
        for g in row["goals"]:
            lines.append(f'  goal "{g["goal"]}"{_only(g)}')
            a, c, m = g["achieved"], g["conversion"], g["median_time_to_goal"]
            lines.append(_line("    achieved", _n(a["old"]), _n(a["new"]), _change(a, "count")))
            lines.append(_line("    conversion", _pct(c["old"]), _pct(c["new"]), _change(c, "pct")))
            lines.append(_line("    median time to goal", _dur(m["old"]), _dur(m["new"]),
                               _change(m, "time")))
    lines.append("")
    lines.append(f"Contacts whose outcome changed: {sum(g.contacts for g in res.changed)}")
    _groups_text(res.changed, res, lines)
    if res.same_outcome:
        lines.append(f"Contacts whose activity changed but not their outcome: "
                     f"{sum(g.contacts for g in res.same_outcome)}")
        _groups_text(res.same_outcome, res, lines)
    lines.append("the two versions differ" if res.differ else "the two versions do the same")
    return "\n".join(lines) + "\n"


def _groups_json(groups: list[Group]) -> list[dict]:
    return [{"workflow": g.workflow, "old": g.old, "new": g.new, "contacts": g.contacts,
             "examples": [{"contact": cid, "old": entry_json(fo) if fo else None,
                           "new": entry_json(fn) if fn else None} for cid, fo, fn in g.examples]}
            for g in groups]


def to_json(res: DiffResult, old_name: str, new_name: str) -> dict:
    return {"old": old_name, "new": new_name, "differ": res.differ,
            "from": res.old_summary.get("from"), "until": res.old_summary.get("until"),
            "workflows": figures(res),
            "outcome_changes": _groups_json(res.changed),
            "activity_changes": _groups_json(res.same_outcome)}
