"""``goal repl``: test conditions against contact data, interactively.

Two layers:

* ``ReplSession`` holds the state (program, data, current contact, current
  time, time zone, session segments, events added by hand) and answers one
  input at a time: ``handle(text) -> str``. It never raises and never prints;
  every mistake comes back as a diagnostic. It also answers completion
  requests (``complete(text, offset)``) through ``goaldsl.completion``, the
  completion shared with the language server, plus the meta-commands'
  arguments. Tests drive it directly.
* ``run_repl`` is the prompt-toolkit front end: Pygments highlighting, the
  completer, persistent history (``~/.goal_history`` or ``$GOAL_HISTORY``),
  and multi-line input that continues while brackets are open.

See docs/repl.md.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import stat
import time as _time
from pathlib import Path
from typing import Callable, Iterable, Optional

import attrs

from ..syntax import ast as A
from ..semantics import ir
from ..runtime.inputs import left_out, refused
from ..runtime.mapping import FORMATS, Mapping, mapping_for
from ..runtime.program import InputError, Program, engine_for, read_inputs
from ..runtime.readers import data_kind
from ..runtime.sources import SourceError
from ..semantics.calendar import add_duration, format_local, format_utc, known_zones, parse_local_datetime
from ..semantics.checker import check
from .completion import Completion, complete, word_before
from ..syntax.diagnostics import Diagnostic, GoalError, closest
from ..runtime.engine import Contact, EngineError
from ..runtime.compiler import Compiler
from .evaluate import contact_state, matching_events, observe
from .explain import (ExplainError, activity_line, attribute_sources, attributes_read, evaluate_words, explain,
                      fresh_inputs, render_text, show_cond, show_event, show_value, why_false)
from ..runtime.inputs import MAX_EVENT_TIME, MIN_EVENT_TIME, EventValidator, Inputs
from ..semantics.loader import Loaded, data_beside, data_files, data_problem, program_files
from ..syntax.parser import parse
from ..runtime.plan import build_plan

INPUT = "<input>"
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
_SEGMENT = re.compile(r"^\s*segment\b")
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


class ReplError(Exception):
    """A user mistake in a meta-command; the message is shown as an error."""

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.hint = hint


def _error(message: str, hint: Optional[str] = None) -> str:
    return f"error: {message}" + (f"\n  = hint: {hint}" if hint else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@attrs.define
class _Data:
    inputs: Inputs
    contacts_path: Optional[Path] = None
    events_path: Optional[Path] = None
    events_format: Optional[str] = None  # the --input-format the events file was read with


class ReplSession:
    """The REPL's state and command handling, with no terminal attached.

    The data is read as ``goal run`` reads it (``read_inputs``): every
    format, the mapping file (``map`` or ``map.toml`` beside the program),
    bad lines refused unless ``skip_bad``. At start-up a problem with the
    data raises (``InputError``, ``SourceError``, ``GoalError`` for the
    mapping file): the command says it as ``goal run`` does."""

    def __init__(self, program: Optional[str | Path] = None, contacts: Optional[str | Path] = None,
                 events: Optional[str | Path] = None, *, input_format: Optional[str] = None,
                 map: Optional[str | Path] = None, skip_bad: bool = False):
        self.done = False
        self.contact: Optional[str] = None
        self.tz = "UTC"
        self.notes: list[str] = []  # things to say at start-up (skipped bad lines)
        self._startup_errors = ""  # diagnostics of a program that did not load
        self._cache: dict[str, tuple] = {}
        self._segments: dict[str, A.Module] = {}  # session segments, by name
        self._segment_sources: dict[str, str] = {}
        self._added: list[tuple] = []  # events added with :event
        self._emitted: list[tuple] = []  # (time, contact, type, fields) emitted by the last :run
        self._shown: dict[tuple, int] = {}  # activity entries already shown by :run (how many of each)
        self.program_path: Optional[Path] = None
        self._base: Program = _load_program(None)
        self.data = _Data(Inputs())
        # How data is read, for the whole session (:load --map and --skip-bad change them):
        self.skip_bad = skip_bad
        self.map_given: Optional[Path] = Path(map) if map else None  # --map; else map.toml beside the program
        self.mapping: Optional[Mapping] = None
        self._load_paths(program, contacts, events, input_format)
        self.at: int = self.end_of_log()

    # ------------------------------------------------------------------ loading

    def _load_paths(self, program, contacts, events, fmt: Optional[str]) -> None:
        base = Path(program) if program else None
        if base is not None and not base.exists():
            raise ReplError(f"no such file or folder: {program}")
        for given, what in ((contacts, "contacts"), (events, "events")):
            if given is not None and str(given) == "-":
                raise ReplError(f"the REPL reads what you type from standard input: give the {what} as a file")
        try:
            cpath, epath = data_files(base, contacts, events)
        except OSError as e:
            raise ReplError(str(e)) from None
        for p in (cpath, epath):
            if p is not None:
                _data_file(p, "data")
        try:
            self._base = _load_program(base)
        except GoalError as e:  # start anyway: the standard library is enough to test conditions
            self._startup_errors = _render_diags(e.diagnostics, e.sources)
            self._base = _load_program(None)
            self.notes.append(f"{program} has errors (above), so only the standard library is loaded; "
                              f"fix them and :load {program}")
        self.program_path = base
        self._rebuild()
        self._find_mapping()
        self._read_data(cpath, epath, fmt)

    def _find_mapping(self) -> None:
        """The session's mapping file, checked against the program (raises GoalError)."""
        try:
            self.mapping = mapping_for(self.map_given, self.program_path, self.program.ir.events)
        except FileNotFoundError as e:
            raise ReplError(str(e)) from None

    def _read_data(self, cpath: Optional[Path], epath: Optional[Path], fmt: Optional[str] = None) -> None:
        """Read the data as goal run does; raises InputError (bad lines,
        without skip_bad), SourceError (a file that cannot be read)."""
        inputs = read_inputs(self.program, cpath, epath, skip_bad=self.skip_bad, fmt=fmt, mapping=self.mapping)
        self.notes.extend(left_out(inputs))
        self.data = _Data(inputs, cpath, epath, fmt)
        self._added = []
        self._forget_run()

    def _forget_run(self) -> None:
        self._emitted = []
        self._shown = {}

    def _rebuild(self, extra: Optional[A.Module] = None, extra_name: Optional[str] = None,
                 extra_text: str = "") -> Program:
        """The program with the session segments (and ``extra``) added."""
        base = self._base.loaded
        loaded = Loaded(list(base.modules), dict(base.sources), [], set(base.stdlib_names))
        for name, mod in self._segments.items():
            if name != extra_name:
                loaded.modules.append(mod)
                loaded.sources[f"<segment {name}>"] = self._segment_sources[name]
        if extra is not None:
            loaded.modules.append(extra)
            loaded.sources[INPUT] = extra_text
        res = check(loaded)
        errors = [d for d in res.diagnostics if d.is_error]
        if errors or res.program is None:
            raise GoalError(errors, loaded.sources)
        self.program = Program(res.program, build_plan(res.program), loaded, res.diagnostics)
        return self.program

    # ------------------------------------------------------------------ facts

    @property
    def inputs(self) -> Inputs:
        return self.data.inputs

    def end_of_log(self) -> int:
        last = self.inputs.last_time
        if last is None:
            return int(_time.time()) // 60 * 60
        return last

    def _cached(self, name: str, compute: Callable[[], list[str]]) -> list[str]:
        """``compute()``, remembered until the data changes (completion asks
        on every key press; a large log must not make typing slow)."""
        key = (name, id(self.data), len(self.inputs.contacts), len(self.inputs.events))
        hit = self._cache.get(name)
        if hit is None or hit[0] != key:
            hit = self._cache[name] = (key, compute())
        return hit[1]

    def contact_ids(self) -> list[str]:
        return self._cached("contact_ids", self._contact_ids)

    def _contact_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.inputs.contacts:
            seen[c["id"]] = None
        for e in self.inputs.events:
            seen[e[1]] = None
        return list(seen)

    def attribute_paths(self) -> list[str]:
        """Contact attributes seen in the data, as dotted paths."""
        return self._cached("attribute_paths", self._attribute_paths)

    def _attribute_paths(self) -> list[str]:
        out: dict[str, None] = {}

        def walk(d: dict, prefix: str):
            for k, v in d.items():
                path = prefix + k
                out[path] = None
                if isinstance(v, dict):
                    walk(v, path + ".")

        for c in self.inputs.contacts:
            walk(c, "")
        effects = self.program.plan.effects
        keyed = effects.keys_fields
        for _, _, typ, fields in self.inputs.events:
            key = keyed.get(typ)
            if key is not None and isinstance(fields.get(key), dict):
                walk(fields[key], "")
        for name in effects.list_attributes:  # every contact has them
            out.setdefault(name, None)
        return sorted(out)

    def step_names(self) -> list[str]:
        names = []
        for wf in self.program.ir.workflows:
            stack = list(wf.steps)
            while stack:
                st = stack.pop()
                if isinstance(st, ir.SIf):
                    for _, body in st.branches:
                        stack.extend(body)
                    stack.extend(st.else_steps)
                elif isinstance(st, ir.SGoal):
                    names.append(st.goal.name)
                elif getattr(st, "name", None):
                    names.append(st.name)
        return sorted(set(names))

    def goal_names(self) -> list[str]:
        out = []
        for wf in self.program.ir.workflows:
            out += [st.goal.name for st in wf.steps if isinstance(st, ir.SGoal)]
            out += [g.name for g in wf.goals]
        return out

    def contact_state(self, cid: str, at: int) -> Optional[Contact]:
        """The contact as of ``at``: its record, its events (and those the last
        :run emitted for it) up to ``at`` applied in time order."""
        record = next((c for c in self.inputs.contacts if c["id"] == cid), None)
        evs = [(t, 0, i, typ, f) for i, (t, c, typ, f) in enumerate(self.inputs.events) if c == cid and t <= at]
        evs += [(t, 1, i, typ, f) for i, (t, c, typ, f) in enumerate(self._emitted) if c == cid and t <= at]
        if record is None and not evs:
            return None
        evs.sort(key=lambda e: (e[0], e[1], e[2]))
        return contact_state(self.program, record, cid, [(t, typ, f) for t, _, _, typ, f in evs])

    # ------------------------------------------------------------------ display

    def show_time(self, t: int, *, short: bool = False) -> str:
        if self.tz in ("UTC", "Etc/UTC"):
            s = format_utc(t)
            return s.replace("T", " ").replace(":00Z", " UTC") if short and s.endswith(":00Z") else s
        local = format_local(t, self.tz)
        if short:
            shown = local[:16].replace("T", " ") if local[17:19] in ("00", "") else local[:19].replace("T", " ")
            return f"{shown} {self.tz}"
        return f"{format_utc(t)} ({local})"

    def prompt_text(self) -> str:
        who = self.contact if self.contact is not None else "no contact"
        return f"{who} @ {self.show_time(self.at, short=True)}> "

    def banner(self) -> str:
        ir_ = self.program.ir
        goals = len(self.goal_names())
        lines = [self._startup_errors, ""] if self._startup_errors else []
        self._startup_errors = ""
        what = str(self.program_path) if self.program_path else "the standard library only"
        lines.append(f"goal repl: {what}: {_plural(len(ir_.workflows), 'workflow')}, {_plural(goals, 'goal')}, "
                     f"{_plural(len([s for s in ir_.segments if not s.startswith('__')]), 'segment')}")
        inp = self.inputs
        if inp.events:
            lines.append(f"data: {_plural(len(self.contact_ids()), 'contact')}, {_plural(len(inp.events), 'event')} "
                         f"from {format_utc(inp.first_time)} to {format_utc(inp.last_time)}")
        else:
            lines.append(f"data: {_plural(len(inp.contacts), 'contact')}, no events")
        lines.extend(f"note: {n}" for n in self.notes)
        self.notes = []
        lines.append("type a condition to evaluate it, or :help. Start with :contact ID.")
        return "\n".join(lines)

    # ------------------------------------------------------------------ input

    @staticmethod
    def needs_more(text: str) -> bool:
        """True while the input has open brackets (or a string), so Enter
        should start a new line instead of running it."""
        if text.lstrip().startswith(":"):
            return False
        depth = 0
        in_str = False
        esc = False
        for ch in text:
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
                elif ch == "\n":
                    in_str = False
                continue
            if ch == "#":
                break
            if ch == '"':
                in_str = True
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
        if depth > 0:
            return True
        stripped = re.sub(r"#[^\n]*", "", text).rstrip()
        return bool(re.search(r"(?:\band|\bor|\bnot|,)$", stripped))

    def handle(self, text: str) -> str:
        """Run one input (a condition, a segment definition or a
        meta-command) and return what to show. Never raises."""
        text = text.strip()
        if not text or text.startswith("#"):
            return ""
        try:
            if text.startswith(":"):
                return self._command(text[1:])
            if _SEGMENT.match(text):
                return self._define_segment(text)
            return self._evaluate(text)
        except ReplError as e:
            return _error(str(e), e.hint)
        except GoalError as e:
            return _render_diags(e.diagnostics, e.sources)
        except InputError as e:  # bad lines in data being loaded: the same words as goal run
            return _error("\n".join(refused(e.bad, "loaded")),
                          "fix the lines, or load them with --skip-bad to leave them out")
        except SourceError as e:  # a data file that cannot be read at all
            return _error(str(e))
        except EngineError as e:
            return _error(str(e))
        except KeyboardInterrupt:
            return "interrupted"
        except Exception as e:  # a bug: say so, keep the session
            if os.environ.get("GOAL_DEBUG"):
                raise
            return _error(f"internal error: {type(e).__name__}: {e}",
                          "this is a bug in goal; run with GOAL_DEBUG=1 for details and report it")

    # ------------------------------------------------------------------ conditions

    def _need_contact(self) -> str:
        if self.contact is None:
            ids = self.contact_ids()
            hint = f"contacts: {', '.join(ids[:8])}{' ...' if len(ids) > 8 else ''}" if ids else \
                "there is no data yet: :load a folder, or add events with :event"
            raise ReplError("choose a contact first, with :contact ID", hint)
        return self.contact

    def _evaluate(self, text: str) -> str:
        cid = self._need_contact()
        cond, fn = self.program.condition(text, timezone=self.tz)
        c = self.contact_state(cid, self.at)
        lines = []
        if c is None:
            c = contact_state(self.program, None, cid)
            value = bool(fn(c, self.at, None, None))
            lines.append("true" if value else "false")
            lines.append(f"  (contact {cid} has no record and no events)")
            return "\n".join(lines)
        # Later events of the log are shown too, so a time set too early shows.
        later = [(t, typ, f) for t, who, typ, f in self.inputs.events + self._emitted if who == cid and t > self.at]
        seen = observe(Compiler(self.program.ir, self.tz), cond, c, self.at, None, later)
        lines.append("true" if seen.value else "false")
        if seen.value:
            for typ, t, fields in matching_events(seen):
                lines.append(f"  {self.show_time(t)}  {show_event(typ, fields, self.program.ir.events)}")
            read = attributes_read(seen)
            sources = attribute_sources(self.program, read, c.events, self.at)
            for path, v in read.items():
                src = sources.get(path)
                lines.append(f"  {path} is {show_value(v)}"
                             + (f" (set by {src[1]} at {self.show_time(src[0])})" if src else ""))
        else:
            # why it is false, in the words of `goal explain`
            for head, details in why_false(self.program, seen, self.tz):
                lines.append(f"  {head}" + (":" if details else ""))
                lines.extend(f"    {d}" for d in details)
        return "\n".join(lines)

    def _define_segment(self, text: str) -> str:
        res = parse(text, INPUT)
        if res.module is None or any(d.is_error for d in res.diagnostics):
            return _render_diags([d for d in res.diagnostics if d.is_error], {INPUT: text})
        items = res.module.items
        if len(items) != 1 or not isinstance(items[0], A.SegmentDef):
            raise ReplError("expected one definition: segment NAME = CONDITION")
        name = items[0].name.name
        self._rebuild(res.module, name, text)  # raises GoalError; the old program stays
        redefined = name in self._segments
        # Stored under its own file name, so later diagnostics point at it.
        self._segments[name] = parse(text, f"<segment {name}>").module
        self._segment_sources[name] = text
        return f"segment {name} {'redefined' if redefined else 'defined'} for this session: " \
               f"{show_cond(self.program.ir.segments[name], self.program.ir.events)}"

    # ------------------------------------------------------------------ meta-commands

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
        ids = self.contact_ids()
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
        c = self.contact_state(cid, self.at)
        evs = [e for e in self.inputs.events if e[1] == cid]
        before = [e for e in evs if e[0] <= self.at]
        attrs_ = {k: v for k, v in (c.attrs.items() if c else ()) if k != "id" and v not in ([], None, "")}
        shown = ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in attrs_.items()) or "no attributes"
        line2 = f"  {_plural(len(evs), 'event')}"
        if evs:
            line2 += f", {len(before)} up to now; first {format_utc(evs[0][0])}, last {format_utc(evs[-1][0])}"
        return f"contact {cid}: {shown}\n{line2}"

    def cmd_at(self, rest: str) -> str:
        if not rest:
            return f"current time: {self.show_time(self.at)}"
        if rest.lower() in ("now", "end", "last"):
            self.at = self.end_of_log()
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
        self.at = self._in_range(t, f"{_show_duration(d)} later")
        return f"time: {self.show_time(self.at)} (+{_show_duration(d)})"

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
        if self._segments:
            lines.append("session segments:")
            for name in self._segments:
                lines.append(f"  {name} = {show_cond(self.program.ir.segments[name], events)}")
        return "\n".join(lines) if lines else "the program has no workflows"

    def cmd_explain(self, rest: str) -> str:
        cid = self._need_contact()
        name = _unquote(rest)
        if not name:
            goals = self.goal_names()
            raise ReplError("which goal? :explain GOAL NAME",
                            f"goals: {', '.join(goals)}" if goals else "the program has no goals")
        try:
            ex = explain(self.program, self.inputs, cid, name, at=self.at)
        except ExplainError as e:
            raise ReplError(str(e)) from None
        return render_text(ex).rstrip("\n")

    def cmd_event(self, rest: str) -> str:
        cid = self._need_contact()
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
        self._added.append((t, cid, typ, fields))
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
        self._emitted = emitted
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
            if seen[key] > self._shown.get(key, 0):
                if everyone or e["contact"] == self.contact:
                    new.append(e)
                    self._shown[key] = seen[key]
                else:
                    others += 1
        who = "" if everyone else f" for {self.contact}"
        head = f"ran {_plural(len(self.program.ir.workflows), 'workflow')} up to {self.show_time(self.at)}"
        count = "no new activity" if not new else ("1 new entry" if len(new) == 1 else f"{len(new)} new entries")
        lines = [f"{head}: {count}{who}" + (f" ({others} more for other contacts: :run all)" if others else "")]
        cw = max((len(e["contact"]) for e in new), default=0)
        ww = max((len(e["workflow"]) for e in new), default=0)
        for e in new:
            line = activity_line(e)
            t, _, what = line.partition("  ")
            cols = [t]
            if everyone:
                cols.append(f"{e['contact']:<{cw}}")
            if several:
                cols.append(f"{e['workflow']:<{ww}}")
            lines.append("  ".join(cols + [what]))
        return "\n".join(lines)

    def cmd_load(self, rest: str) -> str:
        args = _load_args(rest)
        if not args:
            raise ReplError("what to load? :load FILE", "a .goal file, a folder, or a file of contacts or events "
                                                        "(JSON Lines, Segment, CSV, Parquet)")
        # All or nothing: a load that fails leaves the session as it was.
        saved = {k: getattr(self, k) for k in _LOAD_STATE}
        saved["notes"] = list(self.notes)  # extended in place by a load
        try:
            return self._load(args) + self._take_notes()
        except BaseException:
            for k, v in saved.items():
                setattr(self, k, v)
            raise

    def _load(self, args: dict) -> str:
        fmt = args.get("--input-format")
        if args.get("--skip-bad"):
            self.skip_bad = True
        if args.get("--map"):
            self.map_given = _existing(args["--map"], "mapping file")
        contacts = _data_file(_existing(args["--contacts"], "contacts file"), "contacts") \
            if "--contacts" in args else None
        events = _data_file(_existing(args["--events"], "events file"), "events") if "--events" in args else None
        path = _existing(args["path"], "file or folder") if "path" in args else None
        if path is not None and (path.is_dir() or path.suffix == ".goal"):
            return self._load_program_path(path, contacts, events, fmt)
        if args.get("--map"):
            self._find_mapping()
        if path is not None:
            _data_file(path, "data")
            from ..runtime.inputs import as_source
            if data_kind(as_source(path), fmt, self.mapping) == "events":
                events = path
            else:
                contacts = path
        if contacts is None and events is None and not (args.get("--map") or args.get("--skip-bad")):
            raise ReplError("what to load? :load FILE", "a .goal file, a folder, or a file of contacts or events")
        cpath = contacts if contacts is not None else self.data.contacts_path
        epath = events if events is not None else self.data.events_path
        self._read_data(cpath, epath, fmt if events is not None else self.data.events_format)
        self.at = self.end_of_log()
        loaded = [f"{what} from {p}" for what, p in (("contacts", contacts), ("events", events)) if p is not None]
        return f"{'loaded ' + ' and '.join(loaded) if loaded else 'read the data again'}: " \
               f"{_plural(len(self.contact_ids()), 'contact')}, {_plural(len(self.inputs.events), 'event')}; " \
               f"time: {self.show_time(self.at)}"

    def _load_program_path(self, path: Path, contacts: Optional[Path], events: Optional[Path],
                           fmt: Optional[str]) -> str:
        dropped = list(self._segments)
        self._base = _load_program(path)
        self._segments, self._segment_sources = {}, {}
        self._rebuild()
        self.program_path = path
        self._find_mapping()  # --map, else the new program's map.toml
        cpath, epath = data_beside(path)
        cpath = contacts if contacts is not None else cpath
        epath = events if events is not None else epath
        msg = f"loaded {path}: {_plural(len(self.program.ir.workflows), 'workflow')}, {_plural(len(self.goal_names()), 'goal')}"
        if dropped:
            msg += f" (session segments dropped: {', '.join(dropped)})"
        if cpath is not None or epath is not None:
            for p in (cpath, epath):
                if p is not None:
                    _data_file(p, "data")
            self._read_data(cpath, epath, fmt)
            self.at = self.end_of_log()
            msg += f"; data: {_plural(len(self.contact_ids()), 'contact')}, {_plural(len(self.inputs.events), 'event')}" \
                   f"; time: {self.show_time(self.at)}"
        else:
            self._forget_run()
        return msg

    def _take_notes(self) -> str:
        notes, self.notes = self.notes, []
        return "".join(f"\nnote: {n}" for n in notes)

    # ------------------------------------------------------------------ completion

    def complete(self, text: str, offset: int) -> tuple[int, list[Completion]]:
        """Completions at ``offset``: how many characters before the cursor
        they replace, and the candidates."""
        before = text[:offset]
        if before.lstrip().startswith(":"):
            return self._complete_command(before.lstrip()[1:])
        items = complete(text, offset, self.program.ir, attributes=self.attribute_paths(),
                         steps=self.step_names(), statement=False)
        return len(word_before(text, offset)), items

    def _complete_command(self, before: str) -> tuple[int, list[Completion]]:
        if " " not in before:
            low = before.lower()
            return len(before) + 1, [Completion(":" + c, "command", COMMANDS[c][1],
                                                insert=":" + c + (" " if COMMANDS[c][0] else ""))
                                     for c in COMMANDS if c.startswith(low)]
        word, _, rest = before.partition(" ")
        word = ALIASES.get(word.lower(), word.lower())
        rest = rest.lstrip()
        if word == "contact":
            low = rest.lower()
            ids = [i for i in self.contact_ids() if i.lower().startswith(low)][:200] or \
                [i for i in self.contact_ids() if low in i.lower()][:200]
            return len(rest), [Completion(i, "contact", "contact id") for i in ids]
        if word == "explain":
            return len(rest), _prefixed([Completion(g, "goal", "goal") for g in self.goal_names()], rest)
        if word == "tz":
            return len(rest), _prefixed([Completion(z, "zone") for z in sorted(known_zones())], rest, limit=50)
        if word == "at":
            return len(rest), _prefixed([Completion("now", "keyword", "the end of the log")], rest)
        if word == "advance":
            return len(rest), _prefixed([Completion(x, "duration") for x in ("5 minutes", "1 hour", "1 day", "7 days")], rest)
        if word == "load":
            if not re.search(r"(?:^|\s)--", rest):  # a path alone (it may hold spaces)
                return len(rest), _path_completions(rest)
            before_cur, _, cur = rest.rpartition(" ")
            prev = before_cur.split()[-1] if before_cur.split() else ""
            if prev == "--input-format":
                return len(cur), _prefixed([Completion(f, "format", "input format") for f in FORMATS], cur)
            if cur.startswith("-"):
                return len(cur), _prefixed([Completion(o, "option", LOAD_OPTIONS[o] or "flag",
                                                       insert=o + " ") for o in LOAD_OPTIONS], cur)
            return len(cur), _path_completions(cur)
        if word == "event":
            return self._complete_event(rest)
        return 0, []

    def _complete_event(self, rest: str) -> tuple[int, list[Completion]]:
        events = self.program.ir.events
        parts = rest.split(" ")
        if len(parts) == 1:
            return len(rest), _prefixed([Completion(e, "event", "event") for e in sorted(events)], rest)
        decl = events.get(parts[0])
        if decl is None:
            return 0, []
        cur = parts[-1]
        given = {p.partition("=")[0] for p in parts[1:-1]}
        if "=" in cur:
            key, _, val = cur.partition("=")
            ft = decl.fields.get(key)
            if ft is not None and ft.kind == "enum":
                return len(val), _prefixed([Completion(v, "enum", f"{parts[0]}.{key}") for v in ft.values], val)
            if ft is not None and ft.kind == "step":
                return len(val), _prefixed([Completion(s, "step", "step") for s in self.step_names()], val)
            return 0, []
        return len(cur), _prefixed([Completion(f, "field", t.describe(), insert=f + "=")
                                    for f, t in decl.fields.items() if f not in given], cur)


# ====================================================================== helpers

def _load_program(path: Optional[Path]) -> Program:
    from ..runtime.program import load_program
    if path is None:
        return load_program([], allow_empty=True)
    if path.is_dir() and not program_files(path):
        return load_program([], allow_empty=True)
    return load_program(path, allow_empty=True)


def _render_diags(diags: Iterable[Diagnostic], sources) -> str:
    out = []
    for d in diags:
        text = d.render(sources)
        if d.span is not None and d.span.file in (INPUT, "<condition>"):
            text = text[len(f"{d.span}: "):]
        out.append(text)
    return "\n".join(out)


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


def _show_duration(d: A.Duration) -> str:
    return " ".join(f"{n} {u if n == 1 else u + 's'}" for n, u in d.parts)


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


#: What a :load changes, put back when it fails.
_LOAD_STATE = ("_base", "_segments", "_segment_sources", "program", "program_path", "skip_bad", "map_given",
               "mapping", "data", "_added", "_emitted", "_shown", "at", "notes")

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


def _data_file(path: Path, what: str) -> Path:
    """A contacts or events file the REPL can read, and read again at :load:
    a regular file (not a pipe, a device or a folder)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        mode = None
    if mode is not None and stat.S_ISFIFO(mode):
        raise ReplError(f"{path} is a pipe: the REPL reads its data again at :load, so give a file")
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise ReplError(f"{path} is a device, not a {what} file: give a file")
    problem = data_problem(path, what)  # not there, a folder, unreadable
    if problem:
        raise ReplError(problem)
    return path


def _prefixed(items: list[Completion], prefix: str, limit: int = 200) -> list[Completion]:
    low = prefix.lower()
    out = [c for c in items if c.label.lower().startswith(low)]
    if not out and low:
        out = [c for c in items if low in c.label.lower()]
    return out[:limit]


#: The files :load completes: programs, data in every format (compressed too), mapping files.
_LOADABLE = (".goal", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq", ".toml")


def _path_completions(prefix: str) -> list[Completion]:
    base = os.path.expanduser(prefix)
    folder, _, start = base.rpartition("/")
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return []
    out = []
    for n in names:
        if n.startswith(start) and not n.startswith("."):
            full = os.path.join(folder, n) if folder else n
            is_dir = os.path.isdir(full)
            plain = n[: -len(n.rpartition(".")[2]) - 1] if n.endswith((".gz", ".zst")) else n
            if is_dir or plain.endswith(_LOADABLE):
                shown = (prefix[: len(prefix) - len(start)] + n) + ("/" if is_dir else "")
                out.append(Completion(shown, "path", "folder" if is_dir else "file"))
    return out


# ====================================================================== the front end

def history_path() -> str:
    return os.environ.get("GOAL_HISTORY") or os.path.join(os.path.expanduser("~"), ".goal_history")


def _colored(text: str):
    """The text with true/false and errors colored, for the terminal."""
    from prompt_toolkit.formatted_text import FormattedText
    parts = []
    for line in text.split("\n"):
        style = ""
        if line == "true":
            style = "class:true"
        elif line == "false":
            style = "class:false"
        elif line.startswith("error"):
            style = "class:error"
        elif line.startswith(("warning", "note:")):
            style = "class:warning"
        elif line.lstrip().startswith("= hint"):
            style = "class:hint"
        parts.append((style, line + "\n"))
    return FormattedText(parts)


def build_prompt_session(session: ReplSession, *, input=None, output=None, history=None,
                         complete_while_typing: bool = True):
    """The prompt-toolkit PromptSession for ``session``."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import Completer, Completion as PTCompletion
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from prompt_toolkit.styles import Style

    class _History(FileHistory):
        def store_string(self, string: str) -> None:
            try:
                super().store_string(string)
            except OSError:
                pass  # an unwritable history file must not stop the REPL

        def load_history_strings(self):
            try:
                return list(super().load_history_strings())
            except OSError:
                return []

    class _Completer(Completer):
        def get_completions(self, document, complete_event):
            try:
                n, items = session.complete(document.text, document.cursor_position)
            except Exception:  # completion must never break typing
                return
            for c in items:
                yield PTCompletion(c.text, start_position=-n, display=c.label, display_meta=c.detail or c.kind)

    kb = KeyBindings()

    @kb.add("enter")
    @kb.add("c-j")
    def _enter(event):
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            chosen = state.current_completion
            buf.apply_completion(chosen)
            if chosen.text.endswith((" ", "=", "(", ".", "/")):
                return  # the completion asks for more: let the user go on typing
        if session.needs_more(buf.document.text_before_cursor) and buf.document.is_cursor_at_the_end:
            buf.insert_text("\n")
        else:
            buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event):
        event.current_buffer.insert_text("\n")

    style = Style.from_dict({"true": "ansigreen bold", "false": "ansired bold", "error": "ansired",
                             "warning": "ansiyellow", "hint": "ansicyan", "prompt": "ansiblue"})
    return PromptSession(
        history=history if history is not None else _History(history_path()),
        lexer=PygmentsLexer(_repl_lexer()),
        completer=_Completer(),
        complete_while_typing=complete_while_typing,
        auto_suggest=AutoSuggestFromHistory(),
        multiline=True,
        key_bindings=kb,
        prompt_continuation=lambda width, line_number, wrap_count: "." * (width - 1) + " ",
        style=style,
        input=input,
        output=output,
        enable_history_search=False,
    ), style


def _repl_lexer():
    from pygments.lexer import inherit
    from pygments.token import Keyword

    from ..syntax.highlight import GoalLexer

    class ReplLexer(GoalLexer):
        name = "Goal REPL"
        aliases = []
        filenames = []
        tokens = {"root": [(r"^\s*:[A-Za-z?]+", Keyword.Pseudo), inherit]}

    return ReplLexer


def run_repl(program: Optional[str] = None, contacts: Optional[str] = None, events: Optional[str] = None, *,
             input_format: Optional[str] = None, map: Optional[str] = None, skip_bad: bool = False,
             input=None, output=None, write: Optional[Callable[[str], None]] = None, history=None,
             complete_while_typing: bool = True) -> int:
    """Run the interactive REPL until :quit or end of input. ``write``
    receives each block of output (default: the terminal, colored). The
    data is read as ``goal run`` reads it (``input_format``, ``map``,
    ``skip_bad``); bad lines or a bad mapping file raise as they do there."""
    try:
        session = ReplSession(program, contacts, events, input_format=input_format, map=map, skip_bad=skip_bad)
    except ReplError as e:
        import sys
        sys.stderr.write(f"goal repl: {e}\n")
        return 2
    if input is None and not _stdin_is_terminal():
        return _run_script(session, write)
    ps, style = build_prompt_session(session, input=input, output=output, history=history,
                                     complete_while_typing=complete_while_typing)
    if write is None:
        from prompt_toolkit import print_formatted_text

        def write(text: str) -> None:
            print_formatted_text(_colored(text), style=style, output=output, end="")

    write(session.banner() + "\n")
    while not session.done:
        try:
            text = ps.prompt([("class:prompt", session.prompt_text())])
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        out = session.handle(text)
        if out:
            write(out + "\n")
    return 0


def _stdin_is_terminal() -> bool:
    import sys
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _run_script(session: ReplSession, write: Optional[Callable[[str], None]] = None, stdin=None) -> int:
    """Input that is not a terminal (``goal repl DIR < session.txt``): the
    same inputs, one a line (continued while a bracket is open), with no
    prompt, colors or history. Each input is echoed after the prompt, so the
    output reads like the interactive session."""
    import sys
    stdin = stdin or sys.stdin
    if write is None:
        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()
    write(session.banner() + "\n")
    pending: list[str] = []
    for raw in stdin:
        pending.append(raw.rstrip("\n"))
        text = "\n".join(pending)
        if session.needs_more(text):
            continue
        pending = []
        if not text.strip():
            continue
        write(session.prompt_text() + text + "\n")
        out = session.handle(text)
        if out:
            write(out + "\n")
        if session.done:
            break
    if pending and "\n".join(pending).strip():  # end of input inside a bracket: run what there is
        text = "\n".join(pending)
        write(session.prompt_text() + text + "\n")
        out = session.handle(text)
        if out:
            write(out + "\n")
    return 0
