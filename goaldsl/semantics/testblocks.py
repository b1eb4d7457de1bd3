"""Checking `test` blocks (``*_test.goal`` files): AST to ``TestCase``.

A test gives contacts and events inline, an optional run window and time
zone, and expectations (docs/spec.md section 11). Every name is resolved
against the program under test, with the checker's own rules for
conditions, event fields and action arguments; every problem is a
diagnostic with a code (``E06xx``, listed in docs/diagnostics.md).

Times: a date-time with ``Z`` or an offset is that instant; without one it
is read in the test's time zone (``timezone "..."``, default UTC). ``+D``
is D after the test's start: ``from`` when given, else the earliest
date-time of the test's events.
"""
from __future__ import annotations

from pathlib import PurePath

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any, Optional

from ..syntax import ast as A
from ..syntax import nodes
from ..syntax.nodes import Node, node
from ..syntax.diagnostics import Diagnostic, Related, error
from ..syntax.source import Span
from . import ir
from .effects import ContactEffects
from .calendar import add, parse_local_datetime
from .loader import TEST_SUFFIX, is_test_file
EXIT_REASONS = ("goal", "end", "unmet", "completed", "audience")


@node
class Expectation(Node):
    """One ``expect`` line, names resolved, times absolute."""
    kind: str  # achieved | ran | exited | enrolled | step | holds
    contact: str
    negated: bool
    text: str  # as written (canonical form), for reports
    time: int  # `by` (achieved, ran, exited) or `at` (enrolled, step, holds); default: the run's end
    workflow: Optional[str] = None  # achieved, ran, exited, enrolled, step
    goal: Optional[str] = None
    action: Optional[str] = None
    args: tuple[tuple[str, Any], ...] = ()  # ran: the arguments given, by parameter name
    reason: Optional[str] = None  # exited
    step: Optional[str] = None  # step: the step's name (as NAME, or a goal step's name)
    cond: Optional[ir.Cond] = None  # holds
    span: Span = nodes.field(default=None, eq=False, repr=False)


@node
class TestCase(Node):
    name: str
    file: str
    timezone: str
    start: int
    until: int
    contacts: tuple[dict, ...]
    events: tuple[tuple[int, str, str, dict], ...]  # (time, contact, type, fields), in time order
    expects: tuple[Expectation, ...]
    span: Span = nodes.field(default=None, eq=False, repr=False)


def check_tests(loaded, checker, program: ir.Program) -> tuple[list[TestCase], list[Diagnostic]]:
    """Check every test block of ``loaded`` with ``checker`` (a Checker that
    has run over the program, whose rules the tests share: its diagnostics
    about the tests land in ``checker.diags``). Returns the tests and the
    other diagnostics."""
    return _TestChecker(loaded, checker, program).run()


class _TestChecker:
    def __init__(self, loaded, checker, program: ir.Program):
        self.loaded = loaded
        self.c = checker
        self.diags: list[Diagnostic] = []
        self.program = program
        self.list_attributes = ContactEffects(program.events).list_attributes  # tags, lists
        # goal name -> [(workflow, goal)], step name -> [(workflow, step)]
        self.goals: dict[str, list[str]] = {}
        self.steps: dict[str, list[str]] = {}
        for wf in program.workflows:
            for g in ir.all_goals(wf):
                self.goals.setdefault(g.name, []).append(wf.name)
            for name in ir.step_names(wf):
                self.steps.setdefault(name, []).append(wf.name)

    def err(self, code: str, summary: str, span: Optional[Span], **kw) -> None:
        self.diags.append(error(code, summary, span, **kw))

    def run(self) -> tuple[list[TestCase], list[Diagnostic]]:
        cases: list[TestCase] = []
        seen: dict[str, Span] = {}
        for m in self.loaded.modules:
            if m.file in self.loaded.stdlib_names:
                continue
            test_file = is_test_file(m.file)
            for item in m.items:
                if isinstance(item, A.TestBlock):
                    if not test_file:
                        self.err("E0601", "a test block belongs in a test file, whose name ends in _test.goal",
                                 item.name.span, hint=f"move it to a file such as {_suggest(m.file)}")
                        continue
                    if item.name.name in seen:
                        self.err("E0602", f'two tests are named "{item.name.name}"', item.name.span,
                                 related=(Related(seen[item.name.name], "first named here"),))
                        continue
                    seen[item.name.name] = item.name.span
                    case = self.test(item, m.file)
                    if case is not None:
                        cases.append(case)
                elif test_file:
                    self.err("E0603", "a test file holds only test blocks", item.span,
                             hint="declarations, segments and workflows belong in the program's files")
        return cases, self.diags

    # ---------------------------------------------------------------- one test

    def test(self, t: A.TestBlock, file: str) -> Optional[TestCase]:
        before = len(self.diags) + len(self.c.diags)
        settings: dict[str, Any] = {}
        contacts: dict[str, tuple[dict, Span]] = {}
        events: list = []
        expects: list = []
        for item in t.items:
            if isinstance(item, (A.TestFrom, A.TestUntil, A.TestTimezone)):
                key = type(item).__name__
                if key in settings:
                    self.err("E0402", "this setting is given twice", item.span,
                             related=(Related(settings[key].span, "first given here"),))
                    continue
                settings[key] = item
            elif isinstance(item, A.TestContact):
                rec = self.contact(item)
                if item.id.name in contacts:
                    self.err("E0604", f"contact {item.id.name} is given twice", item.id.span,
                             related=(Related(contacts[item.id.name][1], "first given here"),),
                             hint="give all of its attributes on one contact line")
                elif rec is not None:
                    contacts[item.id.name] = (rec, item.id.span)
            elif isinstance(item, A.TestEvent):
                events.append(item)
            elif isinstance(item, A.Expect):
                expects.append(item)
        tz = "UTC"
        if "TestTimezone" in settings:
            node = settings["TestTimezone"].name
            tz = self.c.timezone_name(node)
        # the start: `from`, or the earliest absolute time of an event
        start = None
        if "TestFrom" in settings:
            start = self.absolute(settings["TestFrom"].time, tz, None, "from")
        if start is None:
            absolute = [self.absolute(e.at, tz, None, None, quiet=True) for e in events
                        if e.at is not None and e.at.text is not None]
            absolute = [x for x in absolute if x is not None]
            start = min(absolute) if absolute else None
        if start is None:
            relative = [x for x in [*(e.at for e in events), *(x.by or x.at for x in expects),
                                    getattr(settings.get("TestUntil"), "time", None)]
                        if x is not None and x.offset is not None]
            if relative or events or not settings.get("TestFrom"):
                where = relative[0].span if relative else t.name.span
                self.err("E0605", f'test "{t.name.name}" has no start: nothing says when "+..." times count from'
                         if relative else f'test "{t.name.name}" has no start time', where,
                         hint="add a line `from 2026-11-16T09:00Z` (or give an event an absolute time with at)")
            return None
        timed_events = []
        for e in events:
            te = self.event(e, tz, start)
            if te is not None:
                timed_events.append(te)
        timed_events.sort(key=lambda x: x[0])  # stable: the order written within one instant
        contact_ids = set(contacts) | {e[1] for e in timed_events}
        ex = [x for x in (self.expect(x, tz, start, contact_ids) for x in expects) if x is not None]
        until = None
        if "TestUntil" in settings:
            until = self.absolute(settings["TestUntil"].time, tz, start, "until")
            if until is not None and until < start:
                self.err("E0606", "the test ends before it starts (until is before from)", settings["TestUntil"].span)
                until = None
        if until is None:
            until = max([start] + [e[0] for e in timed_events] + [x.time for x, _ in ex if x.time is not None])
        else:
            for x, node in ex:
                if x.time is not None and x.time > until:
                    self.err("E0606", "this time is after the test's end (until)", (node.by or node.at).span,
                             hint="move the until line later, or the expectation earlier")
        for x, node in ex:
            when = node.by or node.at
            if when is not None and x.time is not None and x.time < start:
                self.err("E0606", "this time is before the test's start", when.span,
                         hint="an expectation looks at the run, which begins at the start")
        if len(self.diags) + len(self.c.diags) > before:
            return None
        final = tuple(nodes.evolve(x, time=x.time if x.time is not None else until) for x, _ in ex)
        return TestCase(t.name.name, file, tz, start, until, tuple(dict(r, id=cid) for cid, (r, _) in contacts.items()),
                        tuple(timed_events), final, span=t.span)

    # ---------------------------------------------------------------- times

    def absolute(self, tt: Optional[A.TestTime], tz: str, start: Optional[int], what: Optional[str],
                 quiet: bool = False) -> Optional[int]:
        if tt is None:
            return None
        if tt.text is not None:
            try:
                return parse_local_datetime(tt.text, tz)
            except ValueError as e:
                if not quiet:
                    self.err("E0413", f"{tt.text} is not a valid date-time: {e}", tt.span)
                return None
        if start is None:
            return None
        d = tt.offset
        return add(start, d.months, d.days, d.seconds, tz)

    # ---------------------------------------------------------------- contacts and events

    def contact(self, item: A.TestContact) -> Optional[dict]:
        rec: dict = {}
        ok = True
        for key, value in (item.record.entries if item.record is not None else ()):
            if key == "id":
                self.err("E0604", "the contact's id is the name after `contact`", item.record.span,
                         hint=f"remove id: it is {item.id.name}")
                ok = False
                continue
            v = self.c.literal(value)
            if isinstance(value, A.Ref):
                self.err("E0309", f'"{value.dotted}" is not a value here', value.span,
                         hint=f'write text in quotes: "{value.dotted}"')
                ok = False
                continue
            if key in self.list_attributes and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                self.err("E0604", f"{key} must be a list of texts, like [\"vip\"]", value.span)
                ok = False
                continue
            rec[key] = v
        return rec if ok else None

    def event(self, e: A.TestEvent, tz: str, start: int) -> Optional[tuple]:
        ev = self.program.events.get(e.type.dotted)
        if ev is None:
            self.c.unknown_event(e.type)
            return None
        fields: dict = {}
        ok = True
        for name, value in e.fields:
            ft = ev.fields.get(name.name)
            if ft is None:
                self.err("E0304", f'event {ev.name} has no field "{name.name}"', name.span,
                         hint=self.c.did_you_mean(name.name, ev.fields)
                         or f"its fields are: {', '.join(ev.fields) or '(none)'}")
                ok = False
                continue
            if name.name in fields:
                self.err("E0505", f'field "{name.name}" is given twice', name.span)
                ok = False
                continue
            v = self.field_value(ft, value)
            if v is _BAD:
                ok = False
                continue
            fields[name.name] = v
        for fname, ft in ev.fields.items():
            if ok and fname not in fields and not ft.optional:
                self.err("E0607", f'{ev.name} needs the field "{fname}"', e.span,
                         hint=f"add {fname}: {_example(ft)}")
                ok = False
        when = self.absolute(e.at, tz, start, "at") if e.at is not None else start
        if not ok or when is None:
            return None
        return (when, e.contact.name, ev.name, fields)

    def field_value(self, ft: ir.FieldType, value: A.Value):
        if isinstance(value, A.Ref):
            if ft.kind in ("enum", "step") and len(value.parts) == 1:
                v = value.parts[0]
            else:
                self.err("E0309", f'"{value.dotted}" is not a value here', value.span,
                         hint=f'write text in quotes: "{value.dotted}"')
                return _BAD
        else:
            v = self.c.literal(value)
        before = len(self.c.diags)
        self.c.check_arg_type(ft, value, v, None)
        return _BAD if len(self.c.diags) > before else v

    # ---------------------------------------------------------------- expectations

    def expect(self, x: A.Expect, tz: str, start: int, contact_ids: set[str]):
        cid = x.contact.name
        if cid not in contact_ids:
            from ..syntax.diagnostics import did_you_mean
            self.err("E0608", f"the test has no contact {cid}", x.contact.span,
                     hint=did_you_mean(cid, contact_ids) or "give it with a contact line, or an event for it")
            return None
        when = x.by or x.at
        time = self.absolute(when, tz, start, "by") if when is not None else None
        if when is not None and time is None:
            return None
        base = dict(kind=x.kind, contact=cid, negated=x.negated, text=_expect_text(x), time=time, span=x.span)
        wf = x.workflow.name if x.workflow is not None else None
        if wf is not None and self.program.workflow(wf) is None:
            from ..syntax.diagnostics import did_you_mean
            self.err("E0609", f'there is no workflow "{wf}"', x.workflow.span,
                     hint=did_you_mean(wf, [w.name for w in self.program.workflows]))
            return None
        if x.kind == "achieved":
            wf = self.resolve(x.goal, self.goals, wf, "goal")
            if wf is None:
                return None
            return Expectation(workflow=wf, goal=x.goal.name, **base), x
        if x.kind == "step":
            wf = self.resolve(x.step, self.steps, wf, "step")
            if wf is None:
                return None
            return Expectation(workflow=wf, step=x.step.name, **base), x
        if x.kind == "ran":
            got = self.call(x.call)
            if got is None:
                return None
            return Expectation(workflow=wf, action=x.call.name.name, args=got, **base), x
        if x.kind == "exited":
            reason = x.reason.name if x.reason is not None else None
            if reason is not None and reason not in EXIT_REASONS:
                from ..syntax.diagnostics import did_you_mean
                self.err("E0610", f'"{reason}" is not a reason to leave a workflow', x.reason.span,
                         detail=f"reasons: {', '.join(EXIT_REASONS)}", hint=did_you_mean(reason, EXIT_REASONS))
                return None
            return Expectation(workflow=wf, reason=reason, **base), x
        if x.kind == "enrolled":
            return Expectation(workflow=wf, **base), x
        if x.kind == "holds":
            from .checker import Context
            before = len(self.c.diags)
            cond = self.c.cond(x.cond, Context())
            if len(self.c.diags) > before:
                return None
            return Expectation(cond=cond, **base), x
        raise AssertionError(x.kind)

    def resolve(self, name: A.Ident, table: dict[str, list[str]], wf: Optional[str], what: str) -> Optional[str]:
        owners = table.get(name.name, [])
        if wf is not None:
            if wf in owners:
                return wf
            self.err("E0609", f'workflow "{wf}" has no {what} "{name.name}"', name.span,
                     hint=self.c.did_you_mean(name.name, [n for n, ws in table.items() if wf in ws]))
            return None
        if not owners:
            from ..syntax.diagnostics import did_you_mean
            self.err("E0609", f'no workflow has a {what} "{name.name}"', name.span,
                     hint=did_you_mean(name.name, table) or (f"the {what}s are: " + ", ".join(
                         f'"{n}"' for n in sorted(table)) if table else None))
            return None
        if len(set(owners)) > 1:
            self.err("E0611", f'{what} "{name.name}" is in several workflows: ' + ", ".join(
                f'"{w}"' for w in sorted(set(owners))), name.span,
                hint=f'say which one: ... "{name.name}" in "{owners[0]}"')
            return None
        return owners[0]

    def call(self, call: A.ActionCall) -> Optional[tuple]:
        """The arguments an expected action call gives, by parameter name.
        Unlike a step, it may leave out any of them: only those given are compared."""
        act = self.program.actions.get(call.name.name)
        if act is None:
            self.err("E0501", f"unknown action {call.name.name}", call.name.span,
                     hint=self.c.did_you_mean(call.name.name, self.program.actions)
                     or "declare it with: action NAME(param: type)")
            return None
        out: list[tuple[str, Any]] = []
        positional = 0
        seen_named = False
        ok = True
        for arg in call.args:
            if arg.name is None:
                if seen_named:
                    self.err("E0503", "a positional argument cannot follow a named one", arg.span)
                    ok = False
                    continue
                if positional >= len(act.params):
                    self.err("E0503", f"{act.name} takes {len(act.params)} positional argument"
                                      f"{'s' if len(act.params) != 1 else ''}", arg.span)
                    ok = False
                    continue
                p = act.params[positional]
                positional += 1
                pname, ptype = p.name, p.type
            else:
                seen_named = True
                p = act.param(arg.name.name)
                if p is None and not act.rest:
                    self.err("E0502", f'{act.name} has no parameter "{arg.name.name}"', arg.name.span,
                             hint=self.c.did_you_mean(arg.name.name, [q.name for q in act.params])
                             or f"its parameters are: {', '.join(q.name for q in act.params) or '(none)'}")
                    ok = False
                    continue
                pname, ptype = arg.name.name, (p.type if p is not None else ir.FieldType("any"))
            if any(n == pname for n, _ in out):
                self.err("E0505", f'argument "{pname}" is given twice', arg.span)
                ok = False
                continue
            v = self.field_value(ptype, arg.value)
            if v is _BAD:
                ok = False
                continue
            out.append((pname, v))
        return tuple(out) if ok else None


_BAD = object()


def _suggest(file: str) -> str:
    p = PurePath(file)
    return str(p.with_name(p.stem + TEST_SUFFIX))


def _example(t: ir.FieldType) -> str:
    return {"string": '"..."', "number": "0", "bool": "true", "map": "{}", "list": "[]",
            "enum": t.values[0] if t.values else "VALUE", "step": "STEP"}.get(t.kind, "VALUE")


def _expect_text(x: A.Expect) -> str:
    from ..syntax.formatter import expectation
    return expectation(x)
