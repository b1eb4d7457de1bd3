"""Declarations: event and action declarations, field types, literal values, and
segment definitions (cycles and nesting depth).

A part of ``Checker`` (``checker/__init__.py``): the methods run on the one
checker and share its state (declared events, actions and segments; diagnostics)."""
from __future__ import annotations

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Any


from ...syntax import ast as A
from .. import effects, ir
from .common import IR
from ..loader import duplicate
from ...syntax.parser import MAX_NESTING


class Declarations:
    def type_expr(self, t: A.TypeExpr) -> ir.FieldType:
        if t.name == "enum":
            if len(set(t.values)) != len(t.values):
                self.err("E0202", "an enum lists the same value twice", t.span)
            return IR.FieldType("enum", t.values, t.optional)
        if t.name not in ir.TYPE_NAMES:
            self.err("E0202", f'unknown type "{t.name}"', t.span, hint=self.did_you_mean(t.name, ir.TYPE_NAMES)
                     or f"the types are {', '.join(ir.TYPE_NAMES)} and enum(...)")
            return IR.FieldType("any", (), t.optional)
        return IR.FieldType(t.name, (), t.optional)

    def declare_event(self, d: A.EventDecl) -> None:
        name = d.name.dotted
        if name in self.events:
            self.diags.append(duplicate("event", name, d.name.span, self.events[name].span))
            return
        if len(d.name.parts) < 2:
            self.err("E0203", f'event type "{name}" needs a dotted name, like "form.submitted"', d.name.span)
        fields: dict[str, ir.FieldType] = {}
        for f in d.fields:
            if f.name.name in fields:
                self.err("E0201", f'field "{f.name.name}" is declared twice in {name}', f.name.span)
            fields[f.name.name] = self.type_expr(f.type)
        declared = tuple(filter(None, (self.effect(e, name, fields, d.span.file) for e in d.effects)))
        self.events[name] = IR.EventType(name, fields, declared, span=d.span)

    def effect(self, e: A.Effect, event: str, fields: dict[str, ir.FieldType], file: str) -> ir.Effect | None:
        """An ``effect`` of an event declaration (semantics/effects.py)."""
        if file not in self.loaded.stdlib_names:
            self.err("E0204", "only the standard library declares what an event does to a contact", e.span,
                     hint="change a contact with the standard actions: update_contact, add_tag, add_to_list, "
                          "adjust_score …")
            return None
        op = effects.OPS.get(e.op.name)
        if op is None:
            self.err("E0205", f'unknown effect "{e.op.name}"', e.op.span,
                     hint=self.did_you_mean(e.op.name, effects.OPS) or f"the effects are {', '.join(effects.OPS)}")
            return None
        usage = f"{op.name}({'contact' if op.whole_contact else 'contact.NAME'}, FIELD)"
        if len(e.args) != 2:
            self.err("E0205", f"write {usage}", e.span)
            return None
        target, field = e.args
        if op.whole_contact:
            misplaced = target.parts != ("contact",)
        else:
            misplaced = len(target.parts) != 2 or target.parts[0] != "contact"
        if misplaced:
            self.err("E0205", f"{op.name} changes {'the contact' if op.whole_contact else 'a contact attribute'}: "
                              f"write {usage}", target.span)
            return None
        ft = fields.get(field.dotted)
        if ft is None:
            self.err("E0304", f'event {event} has no field "{field.dotted}"', field.span,
                     hint=self.did_you_mean(field.dotted, fields))
            return None
        if op.field_kind is not None and ft.kind != op.field_kind:
            self.err("E0506", f"{op.name} needs a {op.field_kind} field; {field.dotted} is {ft.describe()}",
                     field.span)
            return None
        return IR.Effect(op.name, None if op.whole_contact else target.parts[1], field.dotted)

    def declare_action(self, d: A.ActionDecl) -> None:
        name = d.name.name
        if name in self.actions:
            self.diags.append(duplicate("action", name, d.name.span, self.actions[name].span))
            return
        params: list[ir.ParamType] = []
        rest = None
        for p in d.params:
            if any(q.name == p.name.name for q in params) or rest == p.name.name:
                self.err("E0201", f'parameter "{p.name.name}" is declared twice', p.name.span)
                continue
            if p.rest:
                rest = p.name.name
                continue
            t = self.type_expr(p.type)
            default, has_default = None, p.default is not None
            if p.default is not None:
                default = self.literal(p.default)
                self.check_arg_type(t, p.default, default, p.name.name)
            params.append(IR.ParamType(p.name.name, t, default, has_default))
        emits = []
        pnames = {q.name for q in params} | ({rest} if rest else set())
        for e in d.emits:
            ev = self.events.get(e.event.dotted)
            if ev is None:
                self.unknown_event(e.event)
                continue
            mapping = []
            for fname, value in e.fields:
                if fname.name not in ev.fields:
                    self.err("E0304", f'event {ev.name} has no field "{fname.name}"', fname.span,
                             hint=self.did_you_mean(fname.name, ev.fields))
                    continue
                if isinstance(value, A.Ref) and len(value.parts) == 1 and value.parts[0] in pnames:
                    mapping.append((fname.name, ("param", value.parts[0])))
                elif isinstance(value, A.Ref):
                    self.err("E0502", f'"{value.dotted}" is not a parameter of {name}', value.span,
                             hint=self.did_you_mean(value.dotted, pnames))
                else:
                    mapping.append((fname.name, ("const", self.literal(value))))
            # Where it came from (issue 16.8): fields of type step get the
            # step's name, a text field `workflow` the workflow's name.
            for fname, ft in ev.fields.items():
                if all(m[0] != fname for m in mapping):
                    if ft.kind == "step":
                        mapping.append((fname, ("step", None)))
                    elif fname == "workflow" and ft.kind == "string":
                        mapping.append((fname, ("workflow", None)))
            emits.append(IR.EmitSpec(ev.name, tuple(mapping)))
        self.actions[name] = IR.ActionType(name, tuple(params), rest, tuple(emits), span=d.span)

    def literal(self, v: A.Value) -> Any:
        if isinstance(v, (A.Str, A.Num, A.Bool)):
            return v.value
        if isinstance(v, A.ListLit):
            return [self.literal(x) for x in v.items]
        if isinstance(v, A.MapLit):
            return {k: self.literal(x) for k, x in v.entries}
        if isinstance(v, A.Ref):
            return v.dotted
        return None

    def check_segment_cycles(self) -> None:
        # Iterative DFS over segment references; a cycle is reported once.
        shapes = {name: self.segment_shape(d) for name, d in self.segment_defs.items()}
        refs = {name: [r for r in shapes[name][0] if r.parts[0] in self.segment_defs] for name in shapes}
        state: dict[str, int] = {}
        depth: dict[str, int] = {}  # nesting with the segments used inlined (they are, when compiled)
        for start in self.segment_defs:
            if state.get(start):
                continue
            stack = [(start, iter(refs[start]))]
            path = [start]
            state[start] = 1
            while stack:
                name, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[name] = 2
                    below = [depth[r.parts[0]] for r in refs[name] if r.parts[0] in depth]
                    depth[name] = shapes[name][1] + max(below, default=0)
                    if depth[name] > MAX_NESTING >= max(below, default=0):
                        # Report where the chain crosses the limit, not at every segment above.
                        self.err("E0003", f"segment {name} is nested {depth[name]} levels deep, counting the "
                                          f"segments it uses; the limit is {MAX_NESTING}",
                                 self.segment_defs[name].name.span,
                                 hint="use fewer segments inside one another, or flatten the condition")
                    continue
                target = nxt.parts[0]
                if state.get(target) == 1:
                    cycle = path[path.index(target):] + [target]
                    if len(cycle) == 2:
                        self.err("E0302", f"segment {target} refers to itself", nxt.span,
                                 hint="a segment cannot be defined in terms of itself")
                    else:
                        self.err("E0302", f"segments refer to each other in a cycle: {' -> '.join(cycle)}",
                                 nxt.span, hint="break the cycle by rewriting one segment")
                elif not state.get(target):
                    state[target] = 1
                    path.append(target)
                    stack.append((target, iter(refs[target])))


    def segment_shape(self, d: A.SegmentDef) -> tuple[list, int]:
        """The one-word names a segment's condition uses (segments, maybe),
        and how deep it nests: one walk of the condition."""
        return _shape(d.cond)


def _shape(cond) -> tuple[list, int]:
    """The one-word references of a condition, in the order ``A.walk``
    meets them, and how deep it nests (and, or, not, event filters);
    without recursion."""
    refs: list = []
    deepest, stack = 0, [(cond, 0)]
    nests, children, push = (A.Or, A.And, A.Not, A.RefAtom), A.children, stack.append
    while stack:
        n, d = stack.pop()
        if isinstance(n, nests):
            d += 1
            if d > deepest:  # (only a nesting node goes deeper than its parent)
                deepest = d
            if type(n) is A.RefAtom and len(n.ref.parts) == 1:
                refs.append(n.ref)
        elif type(n) is not A.Window:
            # A comparison, a value, a count or a duration holds no condition
            # (a window may: its `after` event's filter): not walked into.
            continue
        for c in reversed(children(n)):  # (depth first, left to right: A.walk's order)
            push((c, d))
    return refs, deepest
