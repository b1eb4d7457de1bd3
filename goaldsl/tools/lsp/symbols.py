"""Document symbols: declarations, workflows and their steps and goals,
for the editor's outline."""
from __future__ import annotations

from typing import Optional

from lsprotocol import types as T

from ...syntax import ast as A
from .documents import Analysis
from .positions import Lines, contains


class Symbols:
    """The server's part that lists a document's symbols (a part of
    ``GoalLanguageServer``)."""

    def symbols(self, a: Analysis) -> list[T.DocumentSymbol]:
        if a.module is None:
            return []
        lines = self.lines(a.text)
        out = []
        for item in a.module.items:
            sym = self.symbol(item, a, lines)
            if sym is not None:
                out.append(sym)
        return out

    def symbol(self, node, a: Analysis, lines: Lines) -> Optional[T.DocumentSymbol]:
        def make(name, kind, span, sel=None, detail=None, children=None):
            rng = lines.range(span)
            srng = lines.range(sel) if sel is not None else rng
            if not contains(rng, srng):
                srng = rng
            return T.DocumentSymbol(name=name or "(unnamed)", kind=kind, range=rng, selection_range=srng,
                                    detail=detail, children=children)

        if isinstance(node, A.Import):
            return make(node.path.value, T.SymbolKind.File, node.span, node.path.span, "import")
        if isinstance(node, A.SegmentDef):
            return make(node.name.name, T.SymbolKind.Variable, node.span, node.name.span, "segment")
        if isinstance(node, A.EventDecl):
            fields = [make(f.name.name, T.SymbolKind.Field, f.span, f.name.span, _type_text(f.type))
                      for f in node.fields]
            return make(node.name.dotted, T.SymbolKind.Event, node.span, node.name.span, "event", fields)
        if isinstance(node, A.ActionDecl):
            params = ", ".join(("..." + p.name.name) if p.rest else f"{p.name.name}: {_type_text(p.type)}"
                               for p in node.params)
            return make(node.name.name, T.SymbolKind.Function, node.span, node.name.span, f"action({params})")
        if isinstance(node, A.Workflow):
            children = []
            for item in node.items:
                if isinstance(item, A.GoalsSection):
                    children += [make(g.name.name, T.SymbolKind.Event, g.span, g.name.span, "exit goal")
                                 for g in item.goals]
                elif not A.is_setting(item):
                    children.append(self.step_symbol(item, a, make))
            return make(node.name.name, T.SymbolKind.Class, node.span, node.name.span,
                        "drip" if node.is_drip else "workflow", children)
        return None

    def step_symbol(self, st, a: Analysis, make) -> T.DocumentSymbol:
        text = _one_line(a.text[st.span.start:st.span.end])
        if isinstance(st, A.GoalBlock):
            return make(st.name.name, T.SymbolKind.Event, st.span, st.name.span, "goal step")
        if isinstance(st, A.ActionStep):
            call = _one_line(a.text[st.call.span.start:st.call.span.end])
            if st.name is not None:
                return make(st.name.name, T.SymbolKind.Method, st.span, st.name.span, call)
            return make(st.call.name.name, T.SymbolKind.Method, st.span, st.call.name.span, call)
        if isinstance(st, A.IfStep):
            nested = [self.step_symbol(s, a, make) for _, body in st.branches for s in body]
            nested += [self.step_symbol(s, a, make) for s in (st.else_steps or ())]
            return make(text.split("{")[0].strip() or "if", T.SymbolKind.Operator, st.span, None, "if", nested)
        name = getattr(st, "name", None)
        if isinstance(name, A.Ident):
            return make(name.name, T.SymbolKind.Operator, st.span, name.span, text.rsplit(" as ", 1)[0])
        kind = {A.SkipStep: "skip", A.EndStep: "end"}.get(type(st), "wait")
        return make(text or kind, T.SymbolKind.Operator, st.span, None, kind)


def _type_text(t: Optional[A.TypeExpr]) -> str:
    if t is None:
        return ""
    base = f"enum({', '.join(t.values)})" if t.name == "enum" else t.name
    return base + ("?" if t.optional else "")


def _one_line(text: str, limit: int = 60) -> str:
    first = " ".join(text.split("\n")[0].split())
    return first if len(first) <= limit else first[: limit - 1] + "…"
