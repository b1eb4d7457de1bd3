"""Help while typing: completion items (action calls as snippets where the
client takes them), the step names around the cursor, signature help."""
from __future__ import annotations

import re
from typing import Optional

from lsprotocol import types as T

from ...semantics import ir
from ...syntax import ast as A
from ...syntax.formatter import name_or_quote
from ...syntax.parser import reserved_words
from ...syntax.values import show_value
from ..completion import Completion, enclosing_call
from .cursor import workflow_region, workflows
from .documents import Analysis

_AS_NAME = re.compile(r"\bas[ \t]+([A-Za-z_][A-Za-z0-9_]*)")

_KIND = {
    "keyword": T.CompletionItemKind.Keyword,
    "event": T.CompletionItemKind.Event,
    "field": T.CompletionItemKind.Field,
    "enum": T.CompletionItemKind.EnumMember,
    "action": T.CompletionItemKind.Function,
    "param": T.CompletionItemKind.Property,
    "segment": T.CompletionItemKind.Variable,
    "step": T.CompletionItemKind.Reference,
    "attribute": T.CompletionItemKind.Property,
    "contact": T.CompletionItemKind.Value,
}


class Editing:
    """The server's part that helps while typing (a part of
    ``GoalLanguageServer``)."""

    def step_names(self, a: Analysis, offset: int) -> list[str]:
        """Names of the steps of the workflow around ``offset``."""
        names: set[str] = set()
        region = workflow_region(a.text, offset)
        wf_name = None
        if region is not None:
            wf_name, lo, hi = region
            names.update(n for n in _AS_NAME.findall(a.text[lo:hi]) if n not in reserved_words())
        b = self.base(a)
        for wf in workflows(b.module):
            span = b.place(wf.span)
            inside = span.start <= offset <= span.end if a.module is not None else False
            if inside or (wf_name is not None and wf.name.name == wf_name):
                for st in A.all_steps(wf.steps):
                    ident = A.step_name(st)
                    if ident is not None:
                        names.add(name_or_quote(ident.name))
        return sorted(names)

    def signature_help(self, a: Analysis, offset: int) -> Optional[T.SignatureHelp]:
        """The parameters of the action called (or the fields of the event
        filtered) around ``offset``, the one being written active."""
        head = a.text[:offset]
        enclosing = enclosing_call(head)
        program = self.base(a).program or a.program
        if enclosing is None or program is None:
            return None
        name, inner = enclosing
        index, named, current = _current_argument(inner)
        if name in program.actions:
            act = program.actions[name]
            labels = [f"{p.name}: {p.type.describe()}" + (f" = {show_value(p.default)}" if p.has_default else "")
                      for p in act.params] + ([f"...{act.rest}"] if act.rest else [])
            names = [p.name for p in act.params]
            if named is not None:
                active = names.index(named) if named in names else (len(names) if act.rest else None)
            else:
                active = index if index < len(names) else None
            kind = "action"
        elif name in program.events:
            ev = program.events[name]
            labels = [f"{f}: {t.describe()}" for f, t in ev.fields.items()]
            names = list(ev.fields)
            word = re.match(r"\s*(?:not\s+)?([A-Za-z_][A-Za-z0-9_]*)", current)
            active = names.index(word.group(1)) if word and word.group(1) in names else None
            kind = "event"
        else:
            return None
        label = f"{name}({', '.join(labels)})"
        count = self.lines("").count  # offsets in the client's position units
        params, at = [], len(name) + 1
        for text in labels:
            start = count(label[:at])
            params.append(T.ParameterInformation(label=(start, start + count(text))))
            at += len(text) + 2
        b = self.base(a)
        md = self.declaration_markdown(b, b.index.get((kind, name)), f"{kind} `{name}`")
        doc = T.MarkupContent(kind=T.MarkupKind.Markdown, value=md) if md else None
        sig = T.SignatureInformation(label=label, documentation=doc, parameters=params, active_parameter=active)
        return T.SignatureHelp(signatures=[sig], active_signature=0, active_parameter=active)

    # -------------------------------------------------------------- completion items

    def completion_item(self, c: Completion, i: int, rng: T.Range, b: Analysis) -> T.CompletionItem:
        doc = None
        if c.kind in ("event", "action"):
            md = self.declaration_markdown(b, b.index.get((c.kind, c.label)), f"{c.kind} `{c.label}`")
            doc = T.MarkupContent(kind=T.MarkupKind.Markdown, value=md) if md else None
        text, fmt = c.text, None
        act = b.program.actions.get(c.label) if c.kind == "action" and b.program else None
        if act is not None and self.snippets():
            text, fmt = call_snippet(act), T.InsertTextFormat.Snippet
        return T.CompletionItem(
            label=c.label, kind=_KIND.get(c.kind, T.CompletionItemKind.Text), detail=c.detail or None,
            documentation=doc, sort_text=f"{i:05d}", filter_text=c.label,
            text_edit=T.TextEdit(range=rng, new_text=text), insert_text_format=fmt)

    def snippets(self) -> bool:
        """Whether the client takes snippets in completion items."""
        td = self.client_capabilities.text_document
        item = td.completion.completion_item if td and td.completion else None
        return bool(item and item.snippet_support)


def call_snippet(act: ir.ActionType) -> str:
    """A call of ``act`` as an LSP snippet, a placeholder for each required
    parameter (``send_invoice("${1:template}")$0``); a choice for an enum."""
    parts = []
    for p in act.params:
        if p.has_default:
            continue
        n = len(parts) + 1
        if p.type.kind == "enum" and p.type.values:
            parts.append(f"${{{n}|{','.join(p.type.values)}|}}")
        elif p.type.kind == "string":
            parts.append(f'"${{{n}:{p.name}}}"')
        else:
            parts.append(f"${{{n}:{p.name}}}")
    if act.rest and not parts:  # update_contact(...fields): named arguments
        parts.append("${1:name}: ${2:value}")
    return f"{act.name}({', '.join(parts) if parts else '$1'})$0"


def _current_argument(inner: str) -> tuple[int, Optional[str], str]:
    """For the text of a call after its '(': the index of the argument being
    written (commas outside strings and brackets), its name if it is a named
    argument (``amount: 1``), and its text so far."""
    depth, index, start, in_str, i = 0, 0, 0, False, 0
    while i < len(inner):
        ch = inner[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            index, start = index + 1, i + 1
        i += 1
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:", inner[start:])
    return index, (m.group(1) if m else None), inner[start:]
