"""Action calls: arguments (positional, named, rest), defaults, and text templates
(``{contact.first_name}``).

A part of ``Checker`` (``checker/__init__.py``): the methods run on the one
checker and share its state (declared events, actions and segments; diagnostics)."""
from __future__ import annotations

import re

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any


from ...syntax import ast as A
from .. import ir
from .common import IR, Context, kind_words, show_value

_INTERP = re.compile(r"\{contact\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


class Actions:
    def call(self, call: A.ActionCall, ctx: Context) -> ir.Call | None:
        act = self.actions.get(call.name.name)
        if act is None:
            self.err("E0501", f"unknown action {call.name.name}", call.name.span,
                     hint=self.did_you_mean(call.name.name, self.actions)
                     or "declare it with: action NAME(param: type)")
            return None
        given: dict[str, ir.ArgValue] = {}
        rest: list[tuple[str, ir.ArgValue]] = []
        positional = 0
        seen_named = False
        for arg in call.args:
            if arg.name is None:
                if seen_named:
                    self.err("E0503", "a positional argument cannot follow a named one", arg.span)
                    continue
                if positional >= len(act.params):
                    self.err("E0503", f"{act.name} takes {len(act.params)} positional argument"
                                      f"{'s' if len(act.params) != 1 else ''}", arg.span,
                             hint="write it as NAME: VALUE" if act.rest else None)
                    continue
                p = act.params[positional]
                positional += 1
            else:
                seen_named = True
                p = act.param(arg.name.name)
                if p is None:
                    if act.rest:
                        rest.append((arg.name.name, self.arg_value(arg.value, None, ctx)))
                        continue
                    self.err("E0502", f'{act.name} has no parameter "{arg.name.name}"', arg.name.span,
                             hint=self.did_you_mean(arg.name.name, [q.name for q in act.params])
                             or f"its parameters are: {', '.join(q.name for q in act.params) or '(none)'}")
                    continue
            if p.name in given:
                self.err("E0505", f'argument "{p.name}" is given twice', arg.span)
                continue
            given[p.name] = self.arg_value(arg.value, p.type, ctx)
        args = []
        for p in act.params:
            if p.name in given:
                args.append((p.name, given[p.name]))
            elif p.has_default:
                args.append((p.name, IR.ArgValue("const", p.default)))
            else:
                self.err("E0504", f'{act.name} needs the argument "{p.name}"', call.span,
                         hint=f"add {p.name}: {_example(p.type)}")
        return IR.Call(act.name, tuple(args), tuple(rest), span=call.span)

    def arg_value(self, v: A.Value, t: ir.FieldType | None, ctx: Context) -> ir.ArgValue:
        if isinstance(v, A.Ref):
            if v.parts[0] == "contact" and len(v.parts) > 1:
                return IR.ArgValue("attr", parts=v.parts[1:])
            if t is not None and t.kind in ("enum", "step") and len(v.parts) == 1:
                value = v.parts[0]
                self.check_arg_type(t, v, value, None)
                return IR.ArgValue("const", value)
            self.err("E0309", f'"{v.dotted}" is not a value here', v.span,
                     hint=f'write text in quotes: "{v.dotted}"')
            return IR.ArgValue("const", None)
        value = self.literal(v)
        if t is not None:
            self.check_arg_type(t, v, value, None)
        if isinstance(v, A.Str) and "{" in v.value:
            return self.template(v)
        return IR.ArgValue("const", value)

    def template(self, s: A.Str) -> ir.ArgValue:
        parts: list = []
        pos = 0
        for m in _INTERP.finditer(s.value):
            parts.append(s.value[pos:m.start()])
            parts.append(tuple(m.group(1).split(".")))
            pos = m.end()
        parts.append(s.value[pos:])
        if len(parts) == 1:
            return IR.ArgValue("const", s.value)
        return IR.ArgValue("template", s.value, tuple(parts))

    def check_arg_type(self, t: ir.FieldType, node: A.Value, value: Any, pname: str | None) -> None:
        if value is None and isinstance(node, A.Ref):
            return
        if t.accepts(value):
            return
        if t.kind == "enum":
            self.err("E0305", f'"{value}" is not one of the allowed values', node.span,
                     detail=f"allowed: {', '.join(t.values)}",
                     hint=self.did_you_mean(str(value), t.values))
        else:
            self.err("E0506", f"expected {kind_words(t.kind)}, not {show_value(value)}", node.span)


def _example(t: ir.FieldType) -> str:
    return {"string": '"..."', "number": "0", "bool": "true", "map": "{}", "list": "[]",
            "enum": t.values[0] if t.values else "VALUE", "step": "STEP"}.get(t.kind, "VALUE")
