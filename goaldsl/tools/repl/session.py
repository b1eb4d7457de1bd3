"""``ReplSession``: the REPL's state and its answer to one input at a time
(``handle(text) -> str``), with no terminal attached. It never raises and
never prints; every mistake comes back as a diagnostic. The meta-commands
are its ``Commands`` part (commands.py), the program and the data its
``Workspace`` (workspace.py), completion its ``Completer`` (completing.py)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from ...runtime.compiler import Compiler
from ...runtime.engine import EngineError
from ...runtime.inputs import Inputs, refused
from ...runtime.program import InputError, Program
from ...runtime.sources import SourceError
from ...semantics.calendar import format_local, format_utc
from ...syntax.diagnostics import GoalError
from ...syntax.values import plural, show_value
from ..completion import Completion
from ..evaluate import contact_state, matching_events, observe
from ..explain import attribute_sources, attributes_read, show_cond, show_event, why_false
from .commands import Commands
from .completing import Completer
from .workspace import ReplError, Workspace, render_diags

_SEGMENT = re.compile(r"^\s*segment\b")


def _error(message: str, hint: Optional[str] = None) -> str:
    return f"error: {message}" + (f"\n  = hint: {hint}" if hint else "")


class ReplSession(Commands):
    """The REPL's state and command handling, with no terminal attached."""

    def __init__(self, program: Optional[str | Path] = None, contacts: Optional[str | Path] = None,
                 events: Optional[str | Path] = None, *, input_format: Optional[str] = None,
                 map: Optional[str | Path] = None, skip_bad: bool = False):
        self.done = False
        self.contact: Optional[str] = None
        self.tz = "UTC"
        # The data is read as goal run reads it (see Workspace); a problem with it raises here.
        self.ws = Workspace(program, contacts, events, input_format=input_format, map=map, skip_bad=skip_bad)
        self.completer = Completer(self.ws)
        self.at: int = self.ws.end_of_log()

    @property
    def program(self) -> Program:
        return self.ws.program

    @property
    def inputs(self) -> Inputs:
        return self.ws.inputs

    def complete(self, text: str, offset: int) -> tuple[int, list[Completion]]:
        """Completions at ``offset``: how many characters before the cursor
        they replace, and the candidates."""
        return self.completer.complete(text, offset)

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
        goals = len(self.ws.goal_names())
        lines = [self.ws.startup_errors, ""] if self.ws.startup_errors else []
        self.ws.startup_errors = ""
        what = str(self.ws.program_path) if self.ws.program_path else "the standard library only"
        lines.append(f"goal repl: {what}: {plural(len(ir_.workflows), 'workflow')}, {plural(goals, 'goal')}, "
                     f"{plural(len([s for s in ir_.segments if not s.startswith('__')]), 'segment')}")
        inp = self.inputs
        if inp.events:
            lines.append(f"data: {plural(len(self.ws.contact_ids()), 'contact')}, {plural(len(inp.events), 'event')} "
                         f"from {format_utc(inp.first_time)} to {format_utc(inp.last_time)}")
        else:
            lines.append(f"data: {plural(len(inp.contacts), 'contact')}, no events")
        lines.extend(f"note: {n}" for n in self.ws.notes)
        self.ws.notes = []
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
            return render_diags(e.diagnostics, e.sources)
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

    def need_contact(self) -> str:
        if self.contact is None:
            ids = self.ws.contact_ids()
            hint = f"contacts: {', '.join(ids[:8])}{' ...' if len(ids) > 8 else ''}" if ids else \
                "there is no data yet: :load a folder, or add events with :event"
            raise ReplError("choose a contact first, with :contact ID", hint)
        return self.contact

    def _evaluate(self, text: str) -> str:
        cid = self.need_contact()
        cond, fn = self.program.condition(text, timezone=self.tz)
        c = self.ws.contact_state(cid, self.at)
        lines = []
        if c is None:
            c = contact_state(self.program, None, cid)
            value = bool(fn(c, self.at, None, None))
            lines.append("true" if value else "false")
            lines.append(f"  (contact {cid} has no record and no events)")
            return "\n".join(lines)
        # Later events of the log are shown too, so a time set too early shows.
        later = [(t, typ, f) for t, who, typ, f in self.inputs.events + self.ws.emitted if who == cid and t > self.at]
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
        name, redefined = self.ws.define_segment(text)
        return f"segment {name} {'redefined' if redefined else 'defined'} for this session: " \
               f"{show_cond(self.program.ir.segments[name], self.program.ir.events)}"
