"""Helpers for the engine tests: run a program written inline over inline
contacts and events, and show the activity compactly.

A run goes through the public API (``load_program``, ``read_inputs``,
``engine_for``): the program, contacts and events are written to a fresh
temporary folder, read back with the real JSONL readers (so every inline
event is also validated), and the engine is run from ``start`` to ``until``
(both instants given explicitly).

The compact form of an activity entry, used by the hand-computed tests::

    "11-02 10:05 enrolled"
    "11-02 10:05 send_email(intro)"                 action, argument values in order
    "11-02 10:05 send_invoice(standard, 120) @inv"  ... of the step named inv
    "11-02 10:05 add_tag(hot) [Won]"                ... fired by the goal "Won"
    "11-02 10:05 achieved Won"
    "11-02 10:05 exited goal Won" / "exited unmet Won" / "exited end" / "exited completed"
    "11-02 10:05 passed unmet Won"                  a goal step passed unmet (`continue`)

Times are UTC (``MM-DD HH:MM``, with ``:SS`` when the seconds are not zero;
the year must be 2026). With ``wf=True`` the workflow name is put in front
of the description: ``"11-02 10:05 Second: enrolled"``.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from goaldsl.api import engine_for, load_program, parse_time, read_inputs
from goaldsl.semantics.calendar import format_utc


def T(text: str, tz: str = "UTC") -> int:
    """An instant: ``2026-11-02T10:05`` (UTC unless an offset or ``tz`` says otherwise)."""
    return parse_time(text, tz)


def ev(time: str, contact: str, type: str, **fields) -> dict:
    """One input event as its JSON object; ``time`` without an offset is UTC."""
    if not (time.endswith("Z") or "+" in time[10:] or "-" in time[10:]):
        time = time + "Z"
    return {"time": time, "contact": contact, "type": type, **fields}


def _jsonl(rows: Iterable) -> str:
    out = []
    for r in rows:
        out.append(r if isinstance(r, str) else json.dumps(r))
    return "".join(line + "\n" for line in out)


class Run:
    """The outcome of one run: ``entries`` (dicts as the engine wrote them,
    times as integers) plus compact views."""

    def __init__(self, entries: list[dict], engine):
        self.entries = entries
        self.engine = engine

    def lines(self, contact: Optional[str] = None, *, workflow: Optional[str] = None,
              wf: bool = False) -> list[str]:
        return [brief(e, wf=wf) for e in self.entries
                if (contact is None or e["contact"] == contact)
                and (workflow is None or e["workflow"] == workflow)]

    def of(self, contact: str, *, wf: bool = False) -> list[str]:
        return self.lines(contact, wf=wf)

    def by_contact(self, *, wf: bool = False) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in self.entries:
            out.setdefault(e["contact"], []).append(brief(e, wf=wf))
        return out

    def jsonl(self) -> list[dict]:
        """Entries as the JSONL contract shows them (UTC strings), without ``id``."""
        from goaldsl.runtime.output import entry_json
        return [{k: v for k, v in entry_json(e).items() if k != "id"} for e in self.entries]


def short_time(t: int) -> str:
    s = format_utc(t)  # 2026-11-02T10:05:00Z
    assert s.startswith("2026-"), s
    out = s[5:10] + " " + s[11:16]
    if s[17:19] != "00":
        out += ":" + s[17:19]
    return out


def _val(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def brief(e: dict, *, wf: bool = False) -> str:
    kind = e["type"]
    if kind == "action":
        args = e.get("args") or {}
        what = f"{e['action']}({', '.join(_val(v) for v in args.values())})"
        if e.get("step"):
            what += f" @{e['step']}"
        if e.get("goal"):
            what += f" [{e['goal']}]"
    elif kind == "goal_achieved":
        what = f"achieved {e['goal']}"
    elif kind == "exited":
        what = f"exited {e['reason']}" + (f" {e['goal']}" if e.get("goal") else "")
    elif kind == "goal_missed":
        what = f"missed {e['goal']} ({e['policy']})"
    elif kind == "not_enrolled":
        what = f"not enrolled {e['goal']}"
    else:
        what = kind
    if wf:
        what = f"{e['workflow']}: {what}"
    return f"{short_time(e['time'])} {what}"


def run(program: str, contacts: Iterable = (), events: Iterable = (), *, start: str, until: str,
        exhaustive: bool = False, handlers=None, files: dict[str, str] | None = None,
        keep_history: bool = True) -> Run:
    """Run ``program`` (text) over contacts (dicts) and events (dicts from
    ``ev`` or raw JSON lines) from ``start`` to ``until`` (UTC unless they
    carry an offset). Bad input lines fail the test. ``keep_history=False``:
    the lean history of ``goal run``."""
    with tempfile.TemporaryDirectory(prefix="goaltest-") as d:
        folder = Path(d)
        (folder / "program.goal").write_text(program, encoding="utf-8")
        for name, text in (files or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        (folder / "contacts.jsonl").write_text(_jsonl(contacts), encoding="utf-8")
        (folder / "events.jsonl").write_text(_jsonl(events), encoding="utf-8")
        prog = load_program(folder / "program.goal")
        inputs = read_inputs(prog, folder / "contacts.jsonl", folder / "events.jsonl")
    if keep_history:
        eng = engine_for(prog, inputs, start=T(start), handlers=handlers, exhaustive=exhaustive)
    else:
        from goaldsl.runtime.engine import Engine
        eng = Engine(prog.plan, start=T(start), handlers=handlers, exhaustive=exhaustive, keep_history=False)
        for rec in inputs.contacts:
            eng.add_contact_unchecked(rec)
        for t, cid, typ, fields in inputs.events:
            eng.add_event_unchecked(t, cid, typ, fields)
    eng.run_until(T(until))
    return Run(list(eng.activity), eng)


def without_ids(entries: Iterable[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "id"} for e in entries]
