"""The REPL's meta-commands (``:contact``, ``:at``, ``:event``, ``:run``,
...): one ``cmd_NAME`` method each, a part of ``ReplSession`` (the session's
state is the contact, the clock and the time zone; the program and the data
are its ``Workspace``)."""
from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from ...runtime.inputs import MAX_EVENT_TIME, MIN_EVENT_TIME, EventValidator, Inputs
from ...runtime.output import activity_words
from ...runtime.program import engine_for
from ...semantics import ir
from ...semantics.calendar import add_duration, format_local, format_utc, known_zones, parse_local_datetime
from ...semantics.loader import data_problem, is_pipe
from ...syntax import ast as A
from ...syntax.diagnostics import closest
from ...syntax.formatter import duration
from ...syntax.values import plural, show_json
from ..explain import ExplainError, evaluate_words, explain, fresh_inputs, render_text, show_cond, show_event
from .workspace import ReplError

COMMANDS = {  # name: (arguments, what it does)
    "contact": ("ID", "choose the contact conditions are evaluated for"),
    "at": ("TIME | now", "set the current time (now = the end of the log)"),
    "advance": ("DURATION", "move the current time forward: :advance 2 days"),
    "tz": ("ZONE", "time zone for windows and typed times: :tz America/New_York"),
    "event": ("TYPE f=v ...", "add an event for the current contact at the current time"),
    "run": ("[all]", "run the workflows up to the current time, show the contact's (or all) new activity"),
    "explain": ("GOAL", "why a goal did or did not fire for the current contact"),
    "goals": ("", "list the workflows' goals"),
    "load": ("FILE", "load a .goal file or folder, or a contacts/events .jsonl file"),
    "help": ("", "this help"),
    "quit": ("", "leave (also Ctrl-D)"),
}
ALIASES = {"q": "quit", "exit": "quit", "h": "help", "?": "help", "time": "at", "timezone": "tz"}
_UNITS = {"m": "minute", "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
          "h": "hour", "hour": "hour", "hours": "hour", "d": "day", "day": "day", "days": "day",
          "w": "week", "week": "week", "weeks": "week", "month": "month", "months": "month"}
_DURATION = re.compile(r"(\d+)\s*([A-Za-z]+)")
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


class Commands:
    """The meta-commands, for ``ReplSession`` (which provides ``ws``,
    ``program``, ``inputs``, ``contact``, ``at``, ``tz``, ``show_time`` and
    ``need_contact``)."""

    def _command(self, text: str) -> str:
        word, _, rest = text.strip().partition(" ")
        word = word.lower()
        rest = rest.strip()
        word = ALIASES.get(word, word)
        if word not in COMMANDS:
            best = closest(word, list(COMMANDS))
            raise ReplError(f"unknown command :{word}", f'did you mean ":{best}"?' if best else "type :help")
        return getattr(self, f"cmd_{word}")(rest)

    def cmd_help(self, rest: str) -> str:
        lines = ["Type a condition to evaluate it for the current contact at the current time:",
                 '  page.visited(url starts with "/pricing") within 7 days',
                 "  contact.lead_score >= 50 and not email.unsubscribed",
                 "It prints true or false, then the events that matched (or why it is false).",
                 "Windows without `within` count all history here (there is no enrollment).",
                 "Define a segment for this session:  segment hot = contact.lead_score >= 80",
                 "Input continues on the next line while a bracket is open.",
                 "",
                 "Commands:"]
        for name, (args, what) in COMMANDS.items():
            lines.append(f"  {':' + name + ' ' + args:<24}{what}")
        lines.append("")
        lines.append("Tab completes event types, fields, enum values, contact.attributes, segments,")
        lines.append("contact ids and goal names.")
        return "\n".join(lines)

    def cmd_quit(self, rest: str) -> str:
        self.done = True
        return ""

    def cmd_contact(self, rest: str) -> str:
        ids = self.ws.contact_ids()
        if not rest:
            cur = f"current contact: {self.contact}" if self.contact else "no contact chosen"
            more = f"{', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}" if ids else "(none)"
            return f"{cur}\ncontacts: {more}"
        cid = _unquote(rest)
        self.contact = cid
        if cid not in ids:
            best = closest(cid, ids)
            note = f"contact {cid} has no record and no events yet; :event adds events for it"
            if best:
                note += f' (did you mean "{best}"?)'
            elif ids:
                note += f"\nknown contacts: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
            return note
        return self._describe_contact(cid)

    def _describe_contact(self, cid: str) -> str:
        c = self.ws.contact_state(cid, self.at)
        evs = [e for e in self.inputs.events if e[1] == cid]
        before = [e for e in evs if e[0] <= self.at]
        attrs_ = {k: v for k, v in (c.attrs.items() if c else ()) if k != "id" and v not in ([], None, "")}
        shown = ", ".join(f"{k}: {show_json(v)}" for k, v in attrs_.items()) or "no attributes"
        line2 = f"  {plural(len(evs), 'event')}"
        if evs:
            line2 += f", {len(before)} up to now; first {format_utc(evs[0][0])}, last {format_utc(evs[-1][0])}"
        return f"contact {cid}: {shown}\n{line2}"

    def cmd_at(self, rest: str) -> str:
        if not rest:
            return f"current time: {self.show_time(self.at)}"
        if rest.lower() in ("now", "end", "last"):
            self.at = self.ws.end_of_log()
            return f"time: {self.show_time(self.at)} (the end of the log)"
        text = _unquote(rest)
        if _TIME_OF_DAY.match(text):  # a time of day: on the current date, in the session's time zone
            text = format_local(self.at, self.tz)[:10] + "T" + text
        try:
            t = parse_local_datetime(text, self.tz)
        except (ValueError, OverflowError) as e:
            why = "" if str(e) in ("", "not a date-time") else f" ({e})"
            raise ReplError(f"{rest!r} is not a date-time{why}",
                            "write it like 2026-11-16T14:00 (in the session's time zone) or 2026-11-16T14:00Z, "
                            "14:00 for that time on the current date, or :at now for the end of the log") from None
        self.at = self._in_range(t, f"{rest!r}")
        return f"time: {self.show_time(self.at)}"

    def cmd_advance(self, rest: str) -> str:
        d = parse_duration(rest)
        try:
            t = add_duration(self.at, d, self.tz)
        except (ValueError, OverflowError):  # past what a date can hold
            t = MAX_EVENT_TIME
        self.at = self._in_range(t, f"{duration(d)} later")
        return f"time: {self.show_time(self.at)} (+{duration(d)})"

    def _in_range(self, t: int, what: str) -> int:
        """The clock stays where event times may be (docs/limits.md): the
        engine, explain and the four-digit years of the output work there."""
        if not MIN_EVENT_TIME <= t < MAX_EVENT_TIME:
            raise ReplError(f"{what} is out of range: the clock stays between the years 1900 and 8999, as event "
                            f"times do; it is still {self.show_time(self.at)}",
                            "use :at TIME, or :advance a shorter time")
        return t

    def cmd_tz(self, rest: str) -> str:
        if not rest:
            return f"time zone: {self.tz}"
        name = _unquote(rest)
        zones = known_zones()
        if name not in zones:
            low = {z.lower(): z for z in zones}
            city = [z for z in zones if z.rsplit("/", 1)[-1].lower() == name.lower().replace(" ", "_")]
            if name.lower() in low:
                name = low[name.lower()]
            elif len(city) == 1:  # :tz denver
                name = city[0]
            else:
                best = closest(name, zones)
                raise ReplError(f'unknown time zone "{name}"',
                                f'did you mean "{best}"?' if best else 'use an IANA name like "America/New_York"')
        self.tz = name
        return f"time zone: {name}; time: {self.show_time(self.at)}"

    def cmd_goals(self, rest: str) -> str:
        lines = []
        events = self.program.ir.events
        for wf in self.program.ir.workflows:
            how = evaluate_words(wf)
            lines.append(f'workflow "{wf.name}" (evaluates {how}, time zone {wf.timezone})')
            for i, st in enumerate(wf.steps):
                if isinstance(st, ir.SGoal):
                    lines.append(f'  goal step {i + 1} "{st.goal.name}": {show_cond(st.goal.cond, events)}')
            for g in wf.goals:
                lines.append(f'  exit goal "{g.name}": {show_cond(g.cond, events)}')
            if not any(isinstance(st, ir.SGoal) for st in wf.steps) and not wf.goals:
                lines.append("  (no goals)")
        if self.ws.segments:
            lines.append("session segments:")
            for name in self.ws.segments:
                lines.append(f"  {name} = {show_cond(self.program.ir.segments[name], events)}")
        return "\n".join(lines) if lines else "the program has no workflows"

    def cmd_explain(self, rest: str) -> str:
        cid = self.need_contact()
        name = _unquote(rest)
        if not name:
            goals = self.ws.goal_names()
            raise ReplError("which goal? :explain GOAL NAME",
                            f"goals: {', '.join(goals)}" if goals else "the program has no goals")
        try:
            ex = explain(self.program, self.inputs, cid, name, at=self.at)
        except ExplainError as e:
            raise ReplError(str(e)) from None
        return render_text(ex).rstrip("\n")

    def cmd_event(self, rest: str) -> str:
        cid = self.need_contact()
        try:
            words = shlex.split(rest)
        except ValueError as e:
            raise ReplError(f"cannot read the fields: {e}", 'quote values with spaces: link="https://x.y/a b"')
        if not words:
            raise ReplError("which event? :event TYPE field=value ...", 'for example :event page.visited url="/pricing"')
        typ, pairs = words[0], words[1:]
        events = self.program.ir.events
        decl = events.get(typ)
        if decl is None:
            best = closest(typ, events)
            raise ReplError(f"unknown event type {typ}", f'did you mean "{best}"?' if best else
                            "see the event types with Tab, or declare one in a .goal file")
        fields: dict = {}
        for p in pairs:
            key, eq, raw = p.partition("=")
            if not eq or not key:
                raise ReplError(f"expected field=value, not {p!r}",
                                f"fields of {typ}: {', '.join(decl.fields) or '(none)'}")
            if key not in decl.fields:
                keyed = self.program.plan.effects.keys_fields.get(typ)
                if keyed is not None:  # contact.updated stage=SQL: a contact field
                    fields.setdefault(keyed, {})[key] = _json_or_text(raw)
                    continue
                best = closest(key, decl.fields)
                raise ReplError(f'event {typ} has no field "{key}"',
                                f'did you mean "{best}"?' if best else f"its fields are: {', '.join(decl.fields) or '(none)'}")
            fields[key] = _convert(decl.fields[key], raw, key, typ)
        obj = {"time": format_utc(self.at), "contact": cid, "type": typ, **fields}
        res = EventValidator(events).check(obj)
        if isinstance(res, str):
            missing = [f for f, t in decl.fields.items() if not t.optional and f not in fields]
            hint = f"write it like :event {typ} " + " ".join(f"{f}=..." for f in missing) if missing else None
            raise ReplError(res, hint)
        t, cid, typ, fields, _ = res
        _insert_event(self.inputs, (t, cid, typ, fields))
        return f"added {show_event(typ, fields, events)} for {cid} at {self.show_time(t)}"

    def cmd_run(self, rest: str) -> str:
        inp = self.inputs
        start = inp.first_time if inp.first_time is not None else self.at
        if self.at < start:
            raise ReplError(f"the current time is before the first event ({format_utc(start)})", "use :at now")
        if not self.program.ir.workflows:
            raise ReplError("the program has no workflows to run", "load one with :load FILE")
        emitted: list[tuple] = []
        eng = engine_for(self.program, fresh_inputs(inp), start=start)
        eng.run_until(self.at)
        # The engine keeps the log's field dicts as given: anything else was emitted by the run.
        logged = {id(fields) for _, _, _, fields in inp.events}
        for c in eng.contacts.values():
            for typ, lst in c.events.items():
                for t, fields in lst:
                    if id(fields) not in logged:
                        emitted.append((t, c.id, typ, fields))
        emitted.sort(key=lambda e: e[0])
        self.ws.emitted = emitted
        everyone = rest.strip().lower() == "all" or self.contact is None
        if rest.strip() and rest.strip().lower() != "all":
            raise ReplError(f"unexpected {rest.strip()!r} after :run", ":run shows the current contact's activity, "
                                                                         ":run all everyone's")
        several = len(self.program.ir.workflows) > 1
        new: list[dict] = []
        others = 0
        seen: dict[tuple, int] = {}
        for e in eng.activity:  # an entry is new until it has been shown once
            key = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in e.items()))
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > self.ws.shown.get(key, 0):
                if everyone or e["contact"] == self.contact:
                    new.append(e)
                    self.ws.shown[key] = seen[key]
                else:
                    others += 1
        who = "" if everyone else f" for {self.contact}"
        head = f"ran {plural(len(self.program.ir.workflows), 'workflow')} up to {self.show_time(self.at)}"
        count = "no new activity" if not new else ("1 new entry" if len(new) == 1 else f"{len(new)} new entries")
        lines = [f"{head}: {count}{who}" + (f" ({others} more for other contacts: :run all)" if others else "")]
        cw = max((len(e["contact"]) for e in new), default=0)
        ww = max((len(e["workflow"]) for e in new), default=0)
        for e in new:
            cols = [format_utc(e["time"])]
            if everyone:
                cols.append(f"{e['contact']:<{cw}}")
            if several:
                cols.append(f"{e['workflow']:<{ww}}")
            lines.append("  ".join(cols + [activity_words(e)]))
        return "\n".join(lines)

    def cmd_load(self, rest: str) -> str:
        path = Path(os.path.expanduser(_unquote(rest))) if rest else None
        if path is None:
            raise ReplError("what to load? :load FILE", "a .goal file, a folder, or a .jsonl file of contacts or events")
        if not path.exists():
            raise ReplError(f"no such file or folder: {path}")
        if path.suffix == ".jsonl":
            problem = data_problem(path, "data")
            if problem is None and is_pipe(path):
                problem = f"{path} is a pipe: the REPL reads its data again at :load, so give a file"
            if problem:
                raise ReplError(problem)
            kind = _jsonl_kind(path)
            cpath = path if kind == "contacts" else self.ws.data.contacts_path
            epath = path if kind == "events" else self.ws.data.events_path
            self.ws.read_data(cpath, epath)
            self.at = self.ws.end_of_log()
            return f"loaded {kind} from {path}: {plural(len(self.ws.contact_ids()), 'contact')}, " \
                   f"{plural(len(self.inputs.events), 'event')}; time: {self.show_time(self.at)}" + self.ws.take_notes()
        dropped, data = self.ws.load_program(path)
        msg = f"loaded {path}: {plural(len(self.program.ir.workflows), 'workflow')}, {plural(len(self.ws.goal_names()), 'goal')}"
        if dropped:
            msg += f" (session segments dropped: {', '.join(dropped)})"
        if data:
            self.at = self.ws.end_of_log()
            msg += f"; data: {plural(len(self.ws.contact_ids()), 'contact')}, {plural(len(self.inputs.events), 'event')}" \
                   f"; time: {self.show_time(self.at)}"
        return msg + self.ws.take_notes()


# ====================================================================== helpers

def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def parse_duration(text: str) -> A.Duration:
    """``2 days``, ``1 day 12 hours``, ``90 minutes``, ``3h`` -> a Duration."""
    text = text.strip()
    if text.startswith("-"):
        raise ReplError(":advance only moves forward", "to go back, set the time with :at TIME")
    parts = []
    pos = 0
    for m in _DURATION.finditer(text):
        if text[pos:m.start()].strip(" ,"):
            break
        unit = _UNITS.get(m.group(2).lower())
        if unit is None:
            names = [u for u in _UNITS if len(u) > 2 and u.endswith("s") == (int(m.group(1)) != 1)]
            best = closest(m.group(2).lower(), names)
            raise ReplError(f'"{m.group(2)}" is not a unit of time',
                            f'did you mean "{best}"?' if best else "use minutes, hours, days, weeks or months")
        parts.append((int(m.group(1)), unit))
        pos = m.end()
    if not parts or text[pos:].strip():
        raise ReplError(f"{text!r} is not a duration" if text else "how long? :advance DURATION",
                        "write it like 2 days, 1 day 12 hours or 30 minutes")
    return A.Duration(tuple(parts))


def _json_or_text(raw: str):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _convert(ft: ir.FieldType, raw: str, key: str, typ: str):
    kind = ft.kind
    if kind == "number":
        try:
            v = float(raw)
        except ValueError:
            raise ReplError(f'field "{key}" of {typ} must be a number, not {raw!r}') from None
        return int(v) if v.is_integer() and "." not in raw else v
    if kind == "bool":
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ReplError(f'field "{key}" of {typ} must be true or false, not {raw!r}')
    if kind in ("map", "list", "any"):
        return _json_or_text(raw)
    if kind == "enum" and raw not in ft.values:
        best = closest(raw, ft.values)
        raise ReplError(f'"{raw}" is not an allowed value of {key} ({typ})',
                        (f'did you mean "{best}"? ' if best else "") + f"allowed: {', '.join(ft.values)}")
    return raw


def _insert_event(inputs: Inputs, ev: tuple) -> None:
    i = len(inputs.events)
    while i > 0 and inputs.events[i - 1][0] > ev[0]:
        i -= 1
    inputs.events.insert(i, ev)
    inputs.first_time = inputs.events[0][0]
    inputs.last_time = inputs.events[-1][0]


def _jsonl_kind(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    obj = json.loads(line)
                    return "events" if isinstance(obj, dict) and "type" in obj and "time" in obj else "contacts"
    except (OSError, ValueError):
        pass
    return "events" if "event" in path.name else "contacts"
