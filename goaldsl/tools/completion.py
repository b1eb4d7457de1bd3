"""Completion, shared by the REPL and the language server.

It reads the text before the cursor (which is often not valid yet) and
decides what is being typed: a contact attribute after ``contact.``, an
event type after ``email.``, a field or an enum value inside an event's
filter, a parameter or enum value inside an action call, a step name after
``skip to``, or else keywords, segments, event types and actions.

With ``in_file=True`` (the language server) the text is a whole ``.goal``
file: the grammar itself then says which keywords can come next, and
whether a condition (event types, segments, ``contact.``) or a step (actions)
can start at the cursor. When the text before the cursor does not parse,
every keyword is offered, as in the REPL.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable, Optional

import attrs

from ..semantics import ir
from ..syntax.formatter import quote
from ..syntax.parser import keywords, plain_parser

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*$")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*$")
# a field compared with a value: `status == |`, `channel in [sms, |` (earlier items only inside `[`)
_OPERAND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|not\s+in|in)\s*(?:\[(?:[^\[\]()]*,\s*)?)?$")
_ARG = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*$")
_SKIP = re.compile(r"skip\s+to\s+$")
_TOP_ITEM = re.compile(r"^(?:import|segment|workflow|drip|event|action|test)\b", re.MULTILINE)
# In a test block: what a name or a quoted name after these words is.
_TEST_GOAL = re.compile(r"\bexpect\s+\S+\s+(?:not\s+)?achieved\s+\"([^\"\n]*)$")
_TEST_WORKFLOW = re.compile(r"\bexpect\s+\S+\s+(?:not\s+)?(?:exited|in|.*\s+in)\s+\"([^\"\n]*)$")
_TEST_STEP = re.compile(r"\bin\s+step\s+$")
_TEST_CONTACT = re.compile(r"(?:^|\n)\s*(?:expect|event)\s+$")
_TEST_EVENT = re.compile(r"(?:^|\n)\s*event\s+(?:\"[^\"\n]*\"|[A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z_][A-Za-z0-9_.]*)?$")
_CONTACT_LINE = re.compile(r"^\s*(?:contact|event|expect)\s+(\"[^\"\n]*\"|[A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


@attrs.frozen
class Completion:
    label: str
    kind: str  # keyword event field enum action param segment step attribute contact
    detail: str = ""
    insert: Optional[str] = None  # text to insert instead of the label

    @property
    def text(self) -> str:
        return self.insert if self.insert is not None else self.label


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


def word_before(text: str, offset: int) -> str:
    # _WORD searched in text[:offset], but from where the run of word
    # characters before the cursor starts, not from the top of the file
    # (`$` also matches before a last newline, so the run may end there).
    start = offset - 1 if offset and text[offset - 1] == "\n" else offset
    while start > 0 and text[start - 1] in _WORD_CHARS:
        start -= 1
    m = _WORD.search(text, start, offset)
    return m.group(0) if m else ""


def complete(text: str, offset: int, program: Optional[ir.Program], *, attributes: Iterable[str] = (),
             contact_ids: Iterable[str] = (), steps: Iterable[str] = (), statement: bool = True,
             in_file: bool = False) -> list[Completion]:
    """Completions at ``offset`` in ``text``, filtered by the word being typed.

    ``in_file``: ``text`` is a whole .goal file; keywords, conditions and
    actions are offered only where the grammar allows them."""
    before = text[:offset]
    prefix = word_before(text, offset)
    head = before[: len(before) - len(prefix)]
    events = program.events if program else {}
    actions = program.actions if program else {}
    segments = program.segments if program else {}

    if in_file and program is not None:
        found = _in_test(before, text, program)
        if found is not None:
            return found
    where = _line_state(before[before.rfind("\n") + 1:])
    if where == "comment" or (where == "string" and not prefix.startswith("contact.")):
        return []  # nothing to offer inside a comment or a string, but {contact.x}
    if prefix.startswith("contact."):
        return _filter([Completion("contact." + a, "attribute", "contact attribute") for a in sorted(set(attributes))],
                       prefix)
    if prefix.startswith("trigger.") and in_file and program is not None:
        return _filter(_trigger_fields(head, program), prefix)
    if _SKIP.search(head):
        return _filter([Completion(s, "step", "step") for s in sorted(set(steps))], prefix)

    enclosing = enclosing_call(head)
    if enclosing is not None:
        found = _in_call(enclosing, prefix, program, steps)
        if found is not None:
            return found

    if "." in prefix:
        return _filter([Completion(e, "event", _event_detail(events[e])) for e in sorted(events)], prefix)

    ctx = file_context(head) if in_file else None
    if ctx is not None:
        items = [Completion(k, "keyword") for k in sorted(ctx.keywords)]
        if ctx.condition or ctx.event:
            items += [Completion(e, "event", _event_detail(events[e])) for e in sorted(events)]
        if ctx.condition:
            items += [Completion(s, "segment", "segment") for s in sorted(segments)]
            items.append(Completion("contact.", "attribute", "a contact attribute"))
        if ctx.statement and statement:
            items += [Completion(a, "action", _action_detail(actions[a]), insert=a + "(") for a in sorted(actions)]
        return _filter(items, prefix)

    items: list[Completion] = [Completion(k, "keyword") for k in sorted(keywords())]
    items += [Completion(e, "event", _event_detail(events[e])) for e in sorted(events)]
    items += [Completion(s, "segment", "segment") for s in sorted(segments)]
    if statement:
        items += [Completion(a, "action", _action_detail(actions[a]), insert=a + "(") for a in sorted(actions)]
    items.append(Completion("contact.", "attribute", "a contact attribute"))
    items += [Completion(c, "contact", "contact id") for c in sorted(set(contact_ids))]
    return _filter(items, prefix)


_WORKFLOW_HEAD = re.compile(r'(?:^|\n)[ \t]*(?:workflow|drip)[ \t]+"((?:[^"\\\n]|\\.)*)"')


def _trigger_fields(before: str, program: ir.Program) -> list[Completion]:
    """``trigger.`` in a workflow with ``enroll when``: the fields of its
    trigger events, and ``time``."""
    heads = _WORKFLOW_HEAD.findall(before)
    name = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), heads[-1]) if heads else None
    wf = program.workflow(name) if name is not None else None
    if wf is None or wf.trigger is None:
        return []
    out = {"time": "the instant of the enrolling event, UTC text"}
    for x in (wf.trigger.items if isinstance(wf.trigger, ir.COr) else (wf.trigger,)):
        ev = program.events.get(x.event) if isinstance(x, ir.CEvent) else None
        for f, t in (ev.fields.items() if ev is not None else ()):
            out.setdefault(f, f"{t.describe()} (field of {ev.name})")
    return [Completion("trigger." + f, "field", d) for f, d in out.items()]


def _in_call(enclosing: tuple[str, str], prefix: str, program: Optional[ir.Program],
             steps: Iterable[str]) -> Optional[list[Completion]]:
    """Inside an event's filter or an action call's arguments: its fields,
    the values a field compared takes, its parameters. None elsewhere."""
    events = program.events if program else {}
    actions = program.actions if program else {}
    name, inner = enclosing
    if name in events:
        ev = events[name]
        m = _OPERAND.search(inner)
        if m and m.group(1) in ev.fields:
            ft = ev.fields[m.group(1)]
            if ft.kind == "enum":
                return _filter([Completion(v, "enum", f"{name}.{m.group(1)}") for v in ft.values], prefix)
            if ft.kind == "step":
                return _filter([Completion(s, "step", "step name") for s in sorted(set(steps))], prefix)
            if m.group(1) == "workflow" and program is not None:  # the workflow an action ran in
                return _filter([Completion(quote(w.name), "workflow", "workflow") for w in program.workflows],
                               prefix)
            return []
        items = [Completion(f, "field", f"{t.describe()}") for f, t in ev.fields.items()]
        items.append(Completion("contact.", "attribute", "a contact attribute"))
        return _filter(items, prefix)
    if name in actions:
        act = actions[name]
        m = _ARG.search(inner)
        if m:
            p = act.param(m.group(1))
            if p is not None and p.type.kind == "enum":
                return _filter([Completion(v, "enum", f"{name}.{p.name}") for v in p.type.values], prefix)
            return []
        return _filter([Completion(p.name, "param", p.type.describe(), insert=f"{p.name}: ") for p in act.params],
                       prefix)
    return None


def _in_test(before: str, text: str, program: ir.Program) -> Optional[list[Completion]]:
    """Completions inside a test block: goal and workflow names in their
    quotes, step names after `in step`, the test's contacts after `expect`
    and `event`. None when the cursor is not at one of those places."""
    start = before.rfind("\ntest ")
    if start < 0 and not before.startswith("test "):
        return None
    m = _TEST_GOAL.search(before)
    if m:
        goals = sorted({g.name for w in program.workflows for g in ir.all_goals(w)})
        return _filter([Completion(g, "goal", "goal") for g in goals], m.group(1))
    m = _TEST_WORKFLOW.search(before)
    if m:
        return _filter([Completion(w.name, "workflow", "workflow") for w in program.workflows], m.group(1))
    if _TEST_STEP.search(before):
        names = sorted({n for w in program.workflows for n in ir.step_names(w)})
        from ..syntax.formatter import name_or_quote
        return [Completion(name_or_quote(n), "step", "step") for n in names]
    m = _TEST_EVENT.search(before)
    if m:
        return _filter([Completion(e, "event", _event_detail(program.events[e])) for e in sorted(program.events)],
                       m.group(1) or "")
    if _TEST_CONTACT.search(before):
        block_end = text.find("\n}", len(before))
        block = text[max(start, 0):block_end if block_end >= 0 else len(text)]
        ids = sorted({m.group(1) for m in _CONTACT_LINE.finditer(block)})
        return [Completion(i, "contact", "contact in this test") for i in ids]
    return None


@attrs.frozen
class FileContext:
    """What the grammar allows at a point of a .goal file."""
    keywords: frozenset[str]
    condition: bool  # a condition can start here (event types, segments, contact.)
    statement: bool  # a step can start here (actions)
    event: bool = False  # only an event type can come here (`within D after |`)


@functools.lru_cache(maxsize=1)
def _grammar():
    """The plain parser of the grammar and its keyword terminals."""
    lark = plain_parser()
    words = {t.name: t.pattern.value for t in lark.terminals
             if t.pattern.type == "str" and t.pattern.value in keywords()}
    return lark, words


def file_context(head: str) -> Optional[FileContext]:
    """Which keywords may follow ``head`` (the start of a .goal file), or None
    when ``head`` does not parse. A syntax error in an earlier top-level item
    does not matter: the current item is read on its own."""
    from lark import Token
    from lark.exceptions import LarkError
    lark, words = _grammar()
    # The current top-level item on its own first: it says the same as the
    # whole file (top-level items start unindented) and costs no more than
    # that item, however long the file.
    last = None
    for m in _TOP_ITEM.finditer(head):
        last = m.start()
    starts = [last, 0] if last else [0]
    for start in starts:
        try:
            ip = lark.parse_interactive(head[start:])
            for _ in ip.iter_parse():
                pass
            accepted = ip.accepts()
        except LarkError:
            continue
        condition = statement = event = False
        if "NAME" in accepted:
            after = ip.copy()
            try:
                after.feed_token(Token("NAME", "x"))
                follow = after.accepts()
            except LarkError:
                follow = set()
            condition = "CMP_OP" in follow
            # a dotted name with a filter but no comparison: an event type (`within D after |`)
            event = "DOT" in follow and "LPAR" in follow and not condition
            statement = "LPAR" in follow and not condition and not event
        return FileContext(frozenset(words[t] for t in accepted if t in words), condition, statement, event)
    return None


def _line_state(line: str) -> str:
    """Where the end of ``line`` (the text before the cursor on its line) is:
    "string", "comment" or "code". Strings do not span lines."""
    return _scan_line(line)[0]


def _scan_line(line: str) -> tuple[str, int]:
    """``_line_state`` and where the string or comment open at the end starts
    (-1 in code)."""
    opened = -1
    i = 0
    while i < len(line):
        ch = line[i]
        if opened >= 0:
            if ch == "\\":
                i += 1
            elif ch == '"':
                opened = -1
        elif ch == '"':
            opened = i
        elif ch == "#":
            return "comment", i
        i += 1
    return ("string", opened) if opened >= 0 else ("code", -1)


def enclosing_call(head: str) -> Optional[tuple[str, str]]:
    """The name before the innermost unclosed '(' and the text after it."""
    line_start = head.rfind("\n") + 1
    state, at = _scan_line(head[line_start:])
    if state != "code":  # the cursor is in a string or a comment: look from where it starts
        head = head[:line_start + at]
    depth = 0
    in_str = False
    for i in range(len(head) - 1, -1, -1):
        ch = head[i]
        if ch == '"' and (i == 0 or head[i - 1] != "\\"):
            in_str = not in_str
        if in_str:
            continue
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                m = _CALL.search(head[:i])
                return (m.group(1), head[i + 1:]) if m else None
            depth -= 1
        elif ch in "{}\n" and depth == 0 and ch != "\n":
            return None
    return None


def _filter(items: list[Completion], prefix: str) -> list[Completion]:
    if not prefix:
        return items
    low = prefix.lower()
    seen = set()
    out = []
    for c in items:
        if c.label.lower().startswith(low) and c.label not in seen:
            seen.add(c.label)
            out.append(c)
    return out


def _event_detail(ev: ir.EventType) -> str:
    return f"event ({', '.join(f'{k}: {t.describe()}' for k, t in ev.fields.items())})"


def _action_detail(a: ir.ActionType) -> str:
    params = [f"{p.name}: {p.type.describe()}" for p in a.params] + ([f"...{a.rest}"] if a.rest else [])
    return f"action ({', '.join(params)})"
