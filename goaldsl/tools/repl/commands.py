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

from ...runtime.inputs import MAX_EVENT_TIME, MIN_EVENT_TIME, EventValidator, Inputs, as_source
from ...runtime.mapping import FORMATS
from ...runtime.output import activity_words
from ...runtime.program import engine_for
from ...runtime.readers import data_kind
from ...semantics import ir
from ...semantics.calendar import add_duration, format_local, format_utc, known_zones, parse_local_datetime
from ...syntax import ast as A
from ...syntax.diagnostics import closest
from ...syntax.formatter import duration
from ...syntax.values import plural, show_json
from ..explain import ExplainError, evaluate_words, explain, fresh_inputs, render_text, show_cond, show_event
from .workspace import ReplError, data_file

COMMANDS = {  # name: (arguments, what it does)
    "contact": ("ID", "choose the contact conditions are evaluated for"),
    "at": ("TIME | now", "set the current time (now = the end of the log)"),
    "advance": ("DURATION", "move the current time forward: :advance 2 days"),
    "tz": ("ZONE", "time zone for windows and typed times: :tz America/New_York"),
    "event": ("TYPE f=v ...", "add an event for the current contact at the current time"),
    "run": ("[all]", "run the workflows up to the current time, show the contact's (or all) new activity"),
    "explain": ("GOAL", "why a goal did or did not fire for the current contact"),
    "goals": ("", "list the workflows' goals"),
    "load": ("FILE", "load a .goal file or folder, or a contacts or events file (options: --map F, --skip-bad, ...)"),
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
        args = _load_args(rest)
        if not args:
            raise ReplError("what to load? :load FILE", "a .goal file, a folder, or a file of contacts or events "
                                                        "(JSON Lines, Segment, CSV, Parquet)")
        # All or nothing: a load that fails leaves the session as it was.
        saved, at = self.ws.saved(), self.at
        try:
            return self._load(args) + self.ws.take_notes()
        except BaseException:
            self.ws.restore(saved)
            self.at = at
            raise

    def _load(self, args: dict) -> str:
        ws = self.ws
        fmt = args.get("--input-format")
        if args.get("--skip-bad"):
            ws.skip_bad = True
        if args.get("--map"):
            ws.map_given = _existing(args["--map"], "mapping file")
        contacts = data_file(_existing(args["--contacts"], "contacts file"), "contacts") \
            if "--contacts" in args else None
        events = data_file(_existing(args["--events"], "events file"), "events") if "--events" in args else None
        path = _existing(args["path"], "file or folder") if "path" in args else None
        if path is not None and (path.is_dir() or path.suffix == ".goal"):
            return self._load_program(path, contacts, events, fmt)
        if args.get("--map"):
            ws.find_mapping()
        if path is not None:
            data_file(path, "data")
            if data_kind(as_source(path), fmt, ws.mapping) == "events":
                events = path
            else:
                contacts = path
        if contacts is None and events is None and not (args.get("--map") or args.get("--skip-bad")):
            raise ReplError("what to load? :load FILE", "a .goal file, a folder, or a file of contacts or events")
        cpath = contacts if contacts is not None else ws.data.contacts_path
        epath = events if events is not None else ws.data.events_path
        ws.read_data(cpath, epath, fmt if events is not None else ws.data.events_format)
        self.at = ws.end_of_log()
        loaded = [f"{what} from {p}" for what, p in (("contacts", contacts), ("events", events)) if p is not None]
        return f"{'loaded ' + ' and '.join(loaded) if loaded else 'read the data again'}: " \
               f"{plural(len(ws.contact_ids()), 'contact')}, {plural(len(self.inputs.events), 'event')}; " \
               f"time: {self.show_time(self.at)}"

    def _load_program(self, path: Path, contacts, events, fmt) -> str:
        dropped, data = self.ws.load_program(path, contacts, events, fmt)
        msg = f"loaded {path}: {plural(len(self.program.ir.workflows), 'workflow')}, {plural(len(self.ws.goal_names()), 'goal')}"
        if dropped:
            msg += f" (session segments dropped: {', '.join(dropped)})"
        if data:
            self.at = self.ws.end_of_log()
            msg += f"; data: {plural(len(self.ws.contact_ids()), 'contact')}, {plural(len(self.inputs.events), 'event')}" \
                   f"; time: {self.show_time(self.at)}"
        return msg


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


#: The options of :load, those of `goal repl` (None: a flag).
LOAD_OPTIONS = {"--contacts": "F", "--events": "F", "--input-format": "FMT", "--map": "FILE", "--skip-bad": None}


def _load_args(rest: str) -> dict:
    """The arguments of :load: ``path`` (a program or a data file) and the
    options. Without an option the whole text is the path (it may hold spaces)."""
    if not rest:
        return {}
    if not re.search(r"(?:^|\s)--", rest):
        return {"path": _unquote(rest)}
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise ReplError(f"cannot read the arguments of :load ({e})") from None
    out: dict = {}
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            if w not in LOAD_OPTIONS:
                best = closest(w, list(LOAD_OPTIONS))
                raise ReplError(f"unknown option {w} of :load",
                                f'did you mean "{best}"?' if best else f"options: {', '.join(LOAD_OPTIONS)}")
            if LOAD_OPTIONS[w] is None:
                out[w] = True
                i += 1
                continue
            if i + 1 >= len(words):
                raise ReplError(f"{w} needs a value: {w} {LOAD_OPTIONS[w]}")
            out[w] = words[i + 1]
            i += 2
            continue
        if "path" in out:
            raise ReplError(f"one file or folder at a time: {out['path']} or {w}?",
                            "name a contacts and an events file with --contacts F --events F")
        out["path"] = w
        i += 1
    fmt = out.get("--input-format")
    if fmt is not None and fmt not in FORMATS:
        best = closest(fmt, list(FORMATS))
        raise ReplError(f'unknown input format "{fmt}"', f'did you mean "{best}"?' if best else
                        f"formats: {', '.join(FORMATS)}")
    return out


def _existing(text: str, what: str) -> Path:
    path = Path(os.path.expanduser(text))
    if text == "-":
        raise ReplError(f"the REPL reads what you type from standard input: give the {what} as a file")
    if not path.exists() and not path.is_symlink():
        raise ReplError(f"no such {what}: {path}")
    return path
