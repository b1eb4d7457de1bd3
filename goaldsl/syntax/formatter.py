"""``goal fmt``: print an AST in the canonical style, keeping every comment.

Canonical style: 4-space indents, one setting, step, clause or action per
line, single spaces around operators, parentheses only where precedence
needs them (or where the source nested the same operator, so the tree stays
identical). Comments are re-attached by position: a comment before a line
stays before it, a comment at the end of a line stays there, and a comment
inside a multi-line condition moves to its own line after the statement.
"""
from __future__ import annotations

import re

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Optional

from . import ast as A
from .diagnostics import Diagnostic
from .parser import parse, reserved_words

INDENT = "    "


def format_source(text: str, file: str = "<input>") -> tuple[Optional[str], tuple[Diagnostic, ...]]:
    """The formatted text, or None with the diagnostics if it does not parse."""
    res = parse(text, file)
    if res.module is None or any(d.is_error for d in res.diagnostics):
        return None, res.diagnostics
    return Printer(text, res.module).run(), res.diagnostics


def format_module(module: A.Module) -> str:
    """Print an AST without source text (no comments)."""
    return Printer("", module).run()


# ---------------------------------------------------------------- values and conditions

def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def number(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = repr(v)
    if "e" in s or "E" in s:
        from decimal import Decimal  # (a number this large or small is rare: decimal is imported then)
        s = format(Decimal(s), "f")
    if s in ("nan", "inf", "-inf"):
        return "0"
    return s


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def name_or_quote(name: str) -> str:
    # The grammar's names are ASCII (str.isidentifier would take "À").
    if _NAME.fullmatch(name) and name not in reserved_words():
        return name
    return quote(name)


def duration(d: A.Duration) -> str:
    return " ".join(f"{n} {u}{'' if n == 1 else 's'}" for n, u in d.parts)


def value(v: A.Value) -> str:
    if isinstance(v, A.Ref):
        return v.dotted
    if isinstance(v, A.Str):
        return quote(v.value)
    if isinstance(v, A.Num):
        return number(v.value)
    if isinstance(v, A.Bool):
        return "true" if v.value else "false"
    if isinstance(v, A.ListLit):
        return "[" + ", ".join(value(x) for x in v.items) + "]"
    if isinstance(v, A.MapLit):
        return "{" + ", ".join(f"{k if k.isidentifier() else quote(k)}: {value(x)}" for k, x in v.entries) + "}"
    raise AssertionError(type(v))


_PREC = {A.Or: 1, A.And: 2, A.Not: 3}


def cond(c: A.Cond) -> str:
    if isinstance(c, A.Or):
        return " or ".join(_child(x, 1) for x in c.items)
    if isinstance(c, A.And):
        return " and ".join(_child(x, 2) for x in c.items)
    if isinstance(c, A.Not):
        return "not " + _child(c.operand, 3)
    if isinstance(c, A.Compare):
        return f"{value(c.left)} {c.op} {value(c.right)}"
    if isinstance(c, A.In):
        return f"{value(c.left)} {'not in' if c.negated else 'in'} {value(c.right)}"
    if isinstance(c, A.TextOp):
        return f"{value(c.left)} {c.op} {value(c.right)}"
    if isinstance(c, A.IsSet):
        return f"{value(c.ref)} is {'not set' if c.negated else 'set'}"
    if isinstance(c, A.RefAtom):
        out = c.ref.dotted
        if c.filter is not None:
            out += "(" + ", ".join(cond(x) for x in c.filter) + ")"
        if c.count is not None:
            words = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}[c.count.kind]
            out += f" {words} {c.count.n} {'time' if c.count.n == 1 else 'times'}"
        if c.window is not None:
            if c.window.kind == "within":
                out += f" within {duration(c.window.duration)}"
            elif c.window.kind == "within_after":
                out += f" within {duration(c.window.duration)} after {cond(c.window.after)}"
                out += {"since_enrollment": " since enrollment", "ever": " ever"}.get(c.window.scope, "")
            elif c.window.kind == "since_enrollment":
                out += " since enrollment"
            else:
                out += " ever"
        return out
    raise AssertionError(type(c))


def _child(c: A.Cond, parent: int) -> str:
    # Parenthesise a child that binds looser than its parent, or that repeats
    # the parent's operator (so `a or (b or c)` keeps its shape).
    p = _PREC.get(type(c))
    if p is not None and p <= parent and not (parent == 3 and p == 3):
        return f"({cond(c)})"
    return cond(c)


def call(c: A.ActionCall) -> str:
    args = ", ".join((f"{a.name.name}: " if a.name else "") + value(a.value) for a in c.args)
    return f"{c.name.name}({args})"


def test_time(t: A.TestTime) -> str:
    return t.text if t.text is not None else f"+{duration(t.offset)}"


def _map_entries(entries) -> str:
    return ", ".join(f"{k if k.isidentifier() else quote(k)}: {value(x)}" for k, x in entries)


def expectation(x: A.Expect) -> str:
    """An ``expect`` line, without its indentation."""
    who = name_or_quote(x.contact.name)
    neg = "not " if x.negated else ""
    wf = f" in {quote(x.workflow.name)}" if x.workflow is not None else ""
    by = f" by {test_time(x.by)}" if x.by is not None else ""
    at = f" at {test_time(x.at)}" if x.at is not None else ""
    if x.kind == "achieved":
        body = f"{neg}achieved {quote(x.goal.name)}{wf}{by}"
    elif x.kind == "ran":
        body = f"{neg}ran {call(x.call)}{wf}{by}"
    elif x.kind == "exited":
        body = f"{neg}exited" + (f" {quote(x.workflow.name)}" if x.workflow is not None else "") + (
            f" with {x.reason.name}" if x.reason is not None else "") + by
    elif x.kind == "enrolled":
        body = f"{neg}in {quote(x.workflow.name)}{at}"
    elif x.kind == "step":
        body = f"{neg}in step {name_or_quote(x.step.name)}{wf}{at}"
    else:
        body = f"{cond(x.cond)}{at}"
    return f"expect {who} {body}"


def test_item(it) -> str:
    if isinstance(it, A.TestFrom):
        return f"from {test_time(it.time)}"
    if isinstance(it, A.TestUntil):
        return f"until {test_time(it.time)}"
    if isinstance(it, A.TestTimezone):
        return f"timezone {quote(it.name.value)}"
    if isinstance(it, A.TestContact):
        rec = ""
        if it.record is not None:
            rec = " { " + _map_entries(it.record.entries) + " }" if it.record.entries else " { }"
        return f"contact {name_or_quote(it.id.name)}{rec}"
    if isinstance(it, A.TestEvent):
        fields = ""
        if it.has_fields:
            fields = "(" + ", ".join(f"{n.name}: {value(v)}" for n, v in it.fields) + ")"
        at = f" at {test_time(it.at)}" if it.at is not None else ""
        return f"event {name_or_quote(it.contact.name)} {it.type.dotted}{fields}{at}"
    if isinstance(it, A.Expect):
        return expectation(it)
    raise AssertionError(type(it))


def type_expr(t: A.TypeExpr) -> str:
    base = f"enum({', '.join(t.values)})" if t.name == "enum" else t.name
    return base + ("?" if t.optional else "")


# ---------------------------------------------------------------- statements with comments

class Printer:
    def __init__(self, text: str, module: A.Module):
        self.text = text
        self.module = module
        self.comments = sorted(module.comments)
        self.next_comment = 0
        self.lines: list[str] = []

    # -- comments
    def _line_end(self, offset: int) -> int:
        i = self.text.find("\n", offset)
        return len(self.text) if i < 0 else i

    def leading(self, before: int, indent: int) -> None:
        """Own-line comments that come before ``before``."""
        while self.next_comment < len(self.comments) and self.comments[self.next_comment][0] < before:
            off, text = self.comments[self.next_comment]
            self.next_comment += 1
            # Keep one blank line that separated the comment from what came before.
            if self.lines and self.lines[-1] != "" and self._blank_before(off):
                self.lines.append("")
            self.lines.append(INDENT * indent + text.rstrip())

    def _blank_before(self, off: int) -> bool:
        start = self.text.rfind("\n", 0, off)
        prev = self.text.rfind("\n", 0, max(start, 0))
        return start > 0 and self.text[prev + 1:start].strip() == ""

    def trailing(self, end: int) -> str:
        """A comment on the same source line after ``end``."""
        if self.next_comment < len(self.comments):
            off, text = self.comments[self.next_comment]
            if end <= off <= self._line_end(end) and "\n" not in self.text[end:off]:
                self.next_comment += 1
                return "  " + text.rstrip()
        return ""

    def emit(self, node, line: str, indent: int) -> None:
        """A one-line statement with its leading, trailing and inner comments."""
        span = node.span
        self.leading(span.start, indent)
        # Comments inside a multi-line statement follow it on their own lines.
        inner = []
        while self.next_comment < len(self.comments) and self.comments[self.next_comment][0] < span.end:
            inner.append(self.comments[self.next_comment][1])
            self.next_comment += 1
        self.lines.append(INDENT * indent + line + self.trailing(span.end))
        for text in inner:
            self.lines.append(INDENT * indent + text.rstrip())

    def open_block(self, node, header: str, indent: int, first_child_start: Optional[int]) -> None:
        self.leading(node.span.start, indent)
        limit = first_child_start if first_child_start is not None else node.span.end
        tail = ""
        if self.next_comment < len(self.comments):
            off, text = self.comments[self.next_comment]
            same_line = "\n" not in self.text[node.span.start:off]
            if off < limit and same_line:
                self.next_comment += 1
                tail = "  " + text.rstrip()
        self.lines.append(INDENT * indent + header + " {" + tail)

    def close_block(self, node, indent: int, closing: str = "}") -> None:
        self.leading(node.span.end - 1 if node.span.end else node.span.end, indent + 1)
        self.lines.append(INDENT * indent + closing + self.trailing(node.span.end))

    # -- driver
    def run(self) -> str:
        prev = None
        for item in self.module.items:
            if prev is not None and (not _simple(item) or not _simple(prev) or type(item) is not type(prev)):
                self.lines.append("")
            self.top(item)
            prev = item
        self.leading(len(self.text) + 1, 0)
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def top(self, item) -> None:
        if isinstance(item, A.Import):
            self.emit(item, f"import {quote(item.path.value)}", 0)
        elif isinstance(item, A.SegmentDef):
            self.emit(item, f"segment {item.name.name} = {cond(item.cond)}", 0)
        elif isinstance(item, A.EventDecl):
            fields = ", ".join(f"{f.name.name}: {type_expr(f.type)}" for f in item.fields)
            line = f"event {item.name.dotted} {{ {fields} }}" if fields else f"event {item.name.dotted} {{ }}"
            if item.effects:
                line += " effect " + ", ".join(
                    f"{e.op.name}({', '.join(a.dotted for a in e.args)})" for e in item.effects)
            self.emit(item, line, 0)
        elif isinstance(item, A.ActionDecl):
            params = []
            for p in item.params:
                if p.rest:
                    params.append(f"...{p.name.name}")
                else:
                    params.append(f"{p.name.name}: {type_expr(p.type)}" + (f" = {value(p.default)}" if p.default is not None else ""))
            line = f"action {item.name.name}({', '.join(params)})"
            if item.emits:
                line += " emits " + ", ".join(
                    e.event.dotted + (f"({', '.join(f'{n.name}: {value(v)}' for n, v in e.fields)})" if e.fields else "")
                    for e in item.emits)
            self.emit(item, line, 0)
        elif isinstance(item, A.Workflow):
            self.workflow(item)
        elif isinstance(item, A.TestBlock):
            self.test_block(item)
        else:  # pragma: no cover
            raise AssertionError(type(item))

    def workflow(self, w: A.Workflow) -> None:
        kw = "drip" if w.is_drip else "workflow"
        first = w.items[0].span.start if w.items else None
        self.open_block(w, f"{kw} {quote(w.name.name)}", 0, first)
        prev_kind = None
        for item in w.items:
            kind = "setting" if A.is_setting(item) else ("goals" if isinstance(item, A.GoalsSection) else "step")
            if prev_kind is not None and kind != prev_kind:
                self.lines.append("")
            prev_kind = kind
            if kind == "setting":
                self.emit(item, setting(item), 1)
            elif kind == "goals":
                self.goals_section(item, 1)
            else:
                self.step(item, 1)
        self.close_block(w, 0)

    def test_block(self, t: A.TestBlock) -> None:
        first = t.items[0].span.start if t.items else None
        self.open_block(t, f"test {quote(t.name.name)}", 0, first)
        prev = None
        for item in t.items:
            kind = _TEST_GROUP.get(type(item), "")
            if prev is not None and kind != prev:
                self.lines.append("")
            prev = kind
            self.emit(item, test_item(item), 1)
        self.close_block(t, 0)

    def goals_section(self, s: A.GoalsSection, indent: int) -> None:
        self.open_block(s, "goals", indent, s.goals[0].span.start if s.goals else None)
        for g in s.goals:
            self.goal(g, indent + 1)
        self.close_block(s, indent)

    def step(self, st, indent: int) -> None:
        if isinstance(st, A.IfStep):
            self.if_step(st, indent)
        elif isinstance(st, A.GoalBlock):
            self.goal(st, indent)
        else:
            self.emit(st, simple_step(st), indent)

    def if_step(self, st: A.IfStep, indent: int) -> None:
        for i, (c, body) in enumerate(st.branches):
            header = f"if {cond(c)}"
            if i == 0:
                first = body[0].span.start if body else None
                self.open_block(st, header, indent, first)
            else:
                self.lines.append(INDENT * indent + f"}} else {header} {{")
            for sub in body:
                self.step(sub, indent + 1)
        if st.else_steps is not None:
            self.lines.append(INDENT * indent + "} else {")
            for sub in st.else_steps:
                self.step(sub, indent + 1)
        self.close_block(st, indent)

    def goal(self, g: A.GoalBlock, indent: int) -> None:
        self.open_block(g, f"goal {quote(g.name.name)}", indent, g.clauses[0].span.start if g.clauses else None)
        for c in g.clauses:
            self.clause(c, indent + 1)
        self.close_block(g, indent)

    def clause(self, c, indent: int) -> None:
        if isinstance(c, A.When):
            self.emit(c, f"when {cond(c.cond)}", indent)
        elif isinstance(c, A.Then):
            self.action_block(c, "then", c.actions, None, indent)
        elif isinstance(c, A.ThenIf):
            self.action_block(c, f"then if {cond(c.cond)}", c.actions, c.else_actions, indent)
        elif isinstance(c, A.OnAchieved):
            tail = {"continue": "continue", "end": "end"}.get(c.policy) or f"skip to {name_or_quote(c.target.name)}"
            self.emit(c, f"on achieved {tail}", indent)
        elif isinstance(c, A.OnUnmet):
            if c.policy == "wait_up_to":
                tail = f"wait up to {duration(c.limit)} then {c.then}"
            else:
                tail = c.policy
            self.emit(c, f"on unmet {tail}", indent)

    def action_block(self, node, header: str, actions, else_actions, indent: int) -> None:
        has_comments = self.next_comment < len(self.comments) and self.comments[self.next_comment][0] < node.span.end
        if not has_comments and len(actions) <= 1 and not else_actions:
            inner = f" {call(actions[0])} " if actions else " "
            line = f"{header} {{{inner}}}"
            if else_actions is not None:
                line += " else { }"
            self.emit(node, line, indent)
            return
        self.open_block(node, header, indent, actions[0].span.start if actions else None)
        for a in actions:
            self.emit(a, call(a), indent + 1)
        if else_actions is not None:
            self.lines.append(INDENT * indent + "} else {")
            for a in else_actions:
                self.emit(a, call(a), indent + 1)
        self.close_block(node, indent)


# Blank lines between the groups of a test's lines.
_TEST_GROUP = {A.TestFrom: "settings", A.TestUntil: "settings", A.TestTimezone: "settings",
               A.TestContact: "contacts", A.TestEvent: "events", A.Expect: "expect"}


def _simple(item) -> bool:
    return isinstance(item, (A.Import, A.SegmentDef, A.EventDecl, A.ActionDecl))


def setting(s) -> str:
    if isinstance(s, A.RunsPerpetual):
        return "runs perpetual"
    if isinstance(s, A.RunsOnce):
        return f"runs once at {s.text}"
    if isinstance(s, A.EvaluateEvery):
        return f"evaluate every {duration(s.duration)}"
    if isinstance(s, A.EvaluateEveryAt):
        day = f" on {s.weekday}" if s.weekday else ""
        return f"evaluate every {duration(s.duration)}{day} at {s.hour:02d}:{s.minute:02d}"
    if isinstance(s, A.EvaluateOnEvent):
        return "evaluate on event"
    if isinstance(s, A.TimezoneSetting):
        return f"timezone {quote(s.name.value)}"
    if isinstance(s, A.EnrollWhen):
        return f"enroll when {cond(s.cond)}"
    if isinstance(s, A.Audience):
        return f"audience {cond(s.cond)}"
    if isinstance(s, A.AllowReentry):
        return "allow reentry" + (f" after {duration(s.after)}" if s.after is not None else "")
    if isinstance(s, A.SkipIfGoalMet):
        return "skip enrollment if goal met"
    if isinstance(s, A.ExitWhenAudienceFails):
        return "exit when audience no longer matches"
    raise AssertionError(type(s))


def _as(name) -> str:
    return f" as {name.name}" if name is not None else ""


def simple_step(st) -> str:
    if isinstance(st, A.ActionStep):
        return call(st.call) + _as(st.name)
    if isinstance(st, A.WaitFor):
        return f"wait {duration(st.duration)}" + _as(st.name)
    if isinstance(st, A.WaitUntilTime):
        day = f"{st.weekday} " if st.weekday else ""
        return f"wait until {day}{st.hour:02d}:{st.minute:02d}" + _as(st.name)
    if isinstance(st, A.WaitUntilDate):
        return f"wait until {st.text}" + _as(st.name)
    if isinstance(st, A.WaitUntilCond):
        lim = f" up to {duration(st.limit)}" if st.limit is not None else ""
        return f"wait until {cond(st.cond)}{lim}" + _as(st.name)
    if isinstance(st, A.SkipStep):
        return f"skip to {name_or_quote(st.target.name)}"
    if isinstance(st, A.EndStep):
        return "end"
    raise AssertionError(type(st))
