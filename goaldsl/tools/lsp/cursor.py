"""What the cursor is on: the chain of nodes down to the name at an
offset, resolved against the checked program to a ``Target`` (an event, a
field, a step, a setting ...); on text that does not parse, the word under
the cursor."""
from __future__ import annotations

import re
from typing import Any, Optional

import attrs

from ...semantics import ir
from ...syntax import ast as A
from ...syntax.source import Span
from .documents import Analysis
from .positions import span_of

_WF_START = re.compile(r'^[ \t]*(?:workflow|drip)[ \t]+"((?:\\.|[^"\\\n])*)"', re.MULTILINE)
_WORD_AT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@attrs.frozen
class Target:
    """What the cursor is on."""
    kind: str  # event action segment step field enum param import attribute workflow goal effect
    name: str
    span: Span  # the reference in the document
    event: Optional[str] = None  # field, enum: the event filtered
    field: Optional[str] = None  # enum: the field compared
    action: Optional[str] = None  # param: the action called or declared
    workflow: Optional[A.Workflow] = None
    node: Any = None  # step: the step; import: the Import


class Cursor:
    """The server's part that finds what is at the cursor (a part of
    ``GoalLanguageServer``)."""

    def target_at(self, a: Analysis, offset: int) -> Optional[Target]:
        b = self.base(a)
        program = b.program
        if a.module is not None:
            chain = _chain_at(a.module, offset)
            if chain:
                t = _resolve(chain, program)
                if t is not None:
                    return t
            for wf in workflows(a.module):
                for it in wf.items:
                    if A.is_setting(it) and it.span.start <= offset <= it.span.end:
                        return Target("setting", type(it).__name__, it.span, workflow=wf, node=it)
            return None
        # The document does not parse: go by the word under the cursor.
        for m in _WORD_AT.finditer(a.text, max(0, offset - 200), offset + 200):
            if m.start() <= offset <= m.end():
                word = m.group(0)
                span = span_of(a.name, a.text, m.start(), m.end())
                if program and word in program.events:
                    return Target("event", word, span)
                if program and word in program.actions:
                    return Target("action", word, span)
                if ("segment", word) in b.index:
                    return Target("segment", word, span)
                return None
        return None


def workflows(module: Optional[A.Module]) -> list[A.Workflow]:
    return [it for it in (module.items if module else ()) if isinstance(it, A.Workflow)]


def find_step(wf: A.Workflow, name: str):
    """(step, its top-level step) for a step name (quoted goal names too)."""
    bare = name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name
    for top in wf.steps:
        for st in A.all_steps([top]):
            ident = A.step_name(st)
            if ident is not None and ident.name == bare:
                return st, top
    return None


def _step_names_of(wf: Optional[A.Workflow]) -> set[str]:
    out = set()
    for st in A.all_steps(wf.steps) if wf else ():
        ident = A.step_name(st)
        if ident is not None:
            out.add(ident.name)
    return out


def _contains_offset(span: Span, file: str, offset: int) -> bool:
    return span.file == file and span.start <= offset <= span.end and span.end > span.start


def _chain_at(module: A.Module, offset: int) -> list:
    """The nodes from the module down to the innermost name at ``offset``."""
    chain = [module]
    node = module
    while True:
        nxt = None
        for child in A.children(node):
            span = getattr(child, "span", None)
            if span is not None and _contains_offset(span, module.file, offset):
                nxt = child
                break
        if nxt is None:
            return chain
        chain.append(nxt)
        node = nxt


def _resolve(chain: list, program: Optional[ir.Program]) -> Optional[Target]:
    node = chain[-1]
    parent = chain[-2] if len(chain) > 1 else None
    wf = next((n for n in reversed(chain) if isinstance(n, A.Workflow)), None)
    if isinstance(node, A.Str):
        if isinstance(parent, A.Import):
            return Target("import", node.value, node.span, node=parent)
        return None
    if isinstance(node, A.Ident):
        return _resolve_name(chain, node, parent, wf)
    if not isinstance(node, A.Ref):
        return None
    return _resolve_ref(chain, node, parent, wf, program)


def _resolve_name(chain: list, node: A.Ident, parent, wf: Optional[A.Workflow]) -> Optional[Target]:
    """A name that declares or refers to something: an action, a step, a
    parameter, a field, a goal, a workflow, a test's names."""
    name = node.name
    if isinstance(parent, A.ActionCall) and parent.name is node:
        return Target("action", name, node.span)
    if isinstance(parent, (A.SkipStep, A.OnAchieved)):
        return Target("step", name, node.span, workflow=wf)
    if isinstance(parent, (A.ActionStep, A.WaitFor, A.WaitUntilTime, A.WaitUntilDate, A.WaitUntilCond)):
        return Target("step", name, node.span, workflow=wf)
    if isinstance(parent, A.ActionDecl):
        return Target("action", name, node.span)
    if isinstance(parent, A.Effect):
        return Target("effect", name, node.span)
    if isinstance(parent, A.SegmentDef):
        return Target("segment", name, node.span)
    if isinstance(parent, A.Arg):
        call = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.ActionCall) else None
        return Target("param", name, node.span, action=call.name.name) if call else None
    if isinstance(parent, A.Param):
        decl = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.ActionDecl) else None
        return Target("param", name, node.span, action=decl.name.name) if decl else None
    if isinstance(parent, A.FieldDecl):
        decl = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.EventDecl) else None
        return Target("field", name, node.span, event=decl.name.dotted) if decl else None
    if isinstance(parent, A.GoalBlock):
        exit_goal = any(isinstance(n, A.GoalsSection) for n in chain)
        if exit_goal:
            return Target("goal", name, node.span, workflow=wf, node=parent)
        return Target("step", name, node.span, workflow=wf)
    if isinstance(parent, A.Workflow):
        return Target("workflow", name, node.span, workflow=parent, node=parent)
    if isinstance(parent, A.Expect):
        for kind in ("goal", "workflow", "step", "contact"):
            if getattr(parent, kind) is node:
                return Target(f"test_{kind}", name, node.span, node=parent)
    if isinstance(parent, (A.TestContact, A.TestEvent)):
        return Target("test_contact", name, node.span, node=parent)
    return None


def _resolve_ref(chain: list, node: A.Ref, parent, wf: Optional[A.Workflow],
                 program: Optional[ir.Program]) -> Optional[Target]:
    """A reference in a condition or a declaration: an event, a contact
    attribute, a field, an enum value, a step or a segment."""
    events = program.events if program else {}
    segments = program.segments if program else {}
    dotted = node.dotted
    if isinstance(parent, (A.EventDecl, A.Emit)):
        return Target("event", dotted, node.span)
    if isinstance(parent, A.RefAtom) and parent.ref is node and dotted in events:
        return Target("event", dotted, node.span)
    if node.parts[0] == "contact" and len(node.parts) > 1:
        return Target("attribute", ".".join(node.parts[1:]), node.span)
    if isinstance(parent, A.Effect):  # add_to(contact.tags, tag): a field of the event declared
        decl = chain[-3] if len(chain) > 2 and isinstance(chain[-3], A.EventDecl) else None
        return Target("field", dotted, node.span, event=decl.name.dotted) if decl else None
    if node.parts[0] == "trigger" and len(node.parts) == 2 and dotted not in events:
        return Target("trigger", node.parts[1], node.span, workflow=wf)
    # Inside an event's filter: a field, an enum value or a step name.
    atom = next((n for n in reversed(chain[:-1]) if isinstance(n, A.RefAtom) and n.ref is not node
                 and n.ref.dotted in events), None)
    if atom is not None and len(node.parts) == 1:
        ev = events[atom.ref.dotted]
        if dotted in ev.fields and _is_field_side(chain, node):
            return Target("field", dotted, node.span, event=ev.name)
        field = _compared_field(chain, node, ev)
        if field is not None:
            ft = ev.fields[field]
            if ft.kind == "enum" and dotted in ft.values:
                return Target("enum", dotted, node.span, event=ev.name, field=field)
            if ft.kind == "step":
                return Target("step", dotted, node.span, workflow=wf)
        if dotted in ev.fields:
            return Target("field", dotted, node.span, event=ev.name)
    if len(node.parts) == 1:
        if dotted in _step_names_of(wf):
            return Target("step", dotted, node.span, workflow=wf)
        if dotted in segments:
            return Target("segment", dotted, node.span)
    if dotted in events:
        return Target("event", dotted, node.span)
    return None


def _comparison(chain: list):
    return next((n for n in reversed(chain) if isinstance(n, (A.Compare, A.In, A.TextOp))), None)


def _is_field_side(chain: list, node: A.Ref) -> bool:
    """True unless ``node`` is the value side of a comparison with a field."""
    cmp = _comparison(chain)
    if cmp is None:
        return True
    return cmp.left is node or (isinstance(cmp, A.In) and not isinstance(cmp.right, A.ListLit) and cmp.right is node)


def _compared_field(chain: list, node: A.Ref, ev: ir.EventType) -> Optional[str]:
    """The field the value ``node`` is compared with (``status == paid``,
    ``status in [paid, void]``)."""
    cmp = _comparison(chain)
    if cmp is None:
        return None
    for side in (cmp.left, cmp.right):
        if isinstance(side, A.Ref) and side is not node and len(side.parts) == 1 and side.parts[0] in ev.fields:
            return side.parts[0]
    return None


def workflow_region(text: str, offset: int) -> Optional[tuple[str, int, int]]:
    """(name, start, end) of the workflow whose text surrounds ``offset``,
    found by the ``workflow "..."`` lines (works on text that does not parse)."""
    starts = list(_WF_START.finditer(text))
    before = [m for m in starts if m.start() <= offset]
    if not before:
        return None
    m = before[-1]
    after = [s.start() for s in starts if s.start() > m.start()]
    name = m.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return name, m.start(), after[0] if after else len(text)
