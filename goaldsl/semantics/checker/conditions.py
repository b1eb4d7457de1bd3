"""Conditions: names (events, fields, attributes, segments), operands, and the
types of comparisons and of the values compared with a field.

A part of ``Checker`` (``checker/__init__.py``): the methods run on the one
checker and share its state (declared events, actions and segments; diagnostics)."""
from __future__ import annotations

from ...syntax import ast as A
from .. import ir
from .common import IR, Context, kind_of, kind_words, show_value


#: The condition classes, in the order a condition's class is looked for
#: among them (``isinstance``) when it is none of them itself (a subclass).
_CONDS = (A.Or, A.And, A.Not, A.Compare, A.In, A.TextOp, A.IsSet, A.RefAtom)
_COND_SET = frozenset(_CONDS)


class Conditions:
    def cond(self, c: A.Cond, ctx: Context) -> ir.Cond:
        # By the node's class, compared by identity (the most frequent first):
        # cheaper than a call of isinstance for each kind tried.
        t = type(c)
        if t not in _COND_SET:
            t = kind_of(c, _CONDS)
        if t is A.RefAtom:
            return self.ref_atom(c, ctx)
        if t is A.Compare:
            return self.compare(c, ctx)
        if t is A.And:
            return IR.CAnd(tuple([self.cond(x, ctx) for x in c.items]), span=c.span)
        if t is A.Or:
            return IR.COr(tuple([self.cond(x, ctx) for x in c.items]), span=c.span)
        if t is A.In:
            left = self.operand(c.left, ctx)
            lt = self.operand_type(left, ctx)
            right = self.operand(c.right, ctx, expect=lt if lt is not None and lt.kind in ("enum", "step") else None)
            self.check_membership(c, lt, right, ctx)
            return IR.CIn(left, right, c.negated, span=c.span)
        if t is A.Not:
            return IR.CNot(self.cond(c.operand, ctx), span=c.span)
        if t is A.TextOp:
            left, right = self.operand(c.left, ctx), self.operand(c.right, ctx)
            for side, node in ((left, c.left), (right, c.right)):
                st = self.operand_type(side, ctx)
                if st is not None and st.kind not in ("string", "any", "step", "enum", "list") and not (
                        c.op == "contains" and st.kind == "list"):
                    self.err("E0506", f'"{c.op}" works on text, but this is a {st.kind}', node.span)
            return IR.CText(c.op, left, right, span=c.span)
        if t is A.IsSet:
            op = self.operand(c.ref, ctx)
            return IR.CIsSet(op, c.negated, span=c.span)
        raise AssertionError(type(c))

    def ref_atom(self, c: A.RefAtom, ctx: Context) -> ir.Cond:
        parts = c.ref.parts
        dotted = c.ref.dotted
        if len(parts) == 1:
            name = parts[0]
            extras = c.filter is not None or c.count or c.window
            if name in ("true", "false"):
                return IR.CConst(name == "true", span=c.span)
            if ctx.event is not None and name in ctx.event.fields and not extras:
                return IR.CTruthy(IR.OField(name, span=c.ref.span), span=c.span)
            if name in self._kw:
                self.err("E0006", f'"{name}" is a keyword and cannot be used as a name', c.ref.span)
                return IR.CConst(False, span=c.span)
            if name not in self.segment_defs:
                hint = self.did_you_mean(name, lambda: list(self.segment_defs) + list(self.events))
                self.err("E0301", f"unknown segment {name}", c.ref.span,
                         hint=hint or "define it with: segment NAME = CONDITION")
                return IR.CConst(False, span=c.span)
            if extras:
                self.err("E0307", f"{name} is a segment; a filter, count or window goes after an event type",
                         c.span)
            return IR.CSegment(name, span=c.span)
        if dotted in self.events:
            return self.event_atom(c, self.events[dotted], ctx)
        if parts[0] == "contact":
            if c.filter is not None or c.count or c.window:
                self.unknown_event(c.ref)
                return IR.CConst(False, span=c.span)
            return IR.CTruthy(IR.OAttr(parts[1:], span=c.ref.span), span=c.span)
        if parts[0] == "trigger" and not (c.filter is not None or c.count or c.window):
            op = self.trigger_operand(c.ref, ctx)
            return IR.CTruthy(op, span=c.span) if isinstance(op, ir.OTrigger) else IR.CConst(False, span=c.span)
        self.unknown_event(c.ref)
        return IR.CConst(False, span=c.span)

    def unknown_event(self, ref: A.Ref) -> None:
        hint = self.did_you_mean(ref.dotted, self.events)
        if hint is None and "." in ref.dotted:
            family = ref.parts[0] + "."
            known = sorted(e for e in self.events if e.startswith(family))
            if known:
                hint = f"{ref.parts[0]} events are: {', '.join(known)}"
        self.err("E0303", f"unknown event type {ref.dotted}", ref.span,
                 hint=hint or "declare it with: event NAME { field: type }")

    def event_atom(self, c: A.RefAtom, ev: ir.EventType, ctx: Context) -> ir.Cond:
        flt = None
        if c.filter:
            sub = ctx.but(event=ev)
            parts = [self.cond(x, sub) for x in c.filter]
            flt = parts[0] if len(parts) == 1 else IR.CAnd(tuple(parts), span=c.span)
        kind, n = ("at_least", 1) if c.count is None else (c.count.kind, c.count.n)
        after = None
        if c.window is None:
            window, dur = "default", None
        elif c.window.kind == "within_after":
            # `within D after OTHER(FILTER)`: both events from the scope written
            # (or the place's default); the anchor is an event with a filter.
            window, dur = c.window.scope or "default", c.window.duration
            after = self.anchor(c.window.after, ctx)
            if after is None:
                return IR.CConst(False, span=c.span)
        else:
            window, dur = c.window.kind, c.window.duration
            if window == "since_enrollment" and not ctx.in_workflow and ctx.workflow is None:
                pass  # segments may be used inside workflows; checked where used
        return IR.CEvent(ev.name, flt, kind, n, window, dur, after=after, span=c.span)

    def anchor(self, a: A.RefAtom, ctx: Context) -> ir.CEvent | None:
        """The OTHER of ``EVENT within D after OTHER(FILTER)``: an event type
        and its filter (E0303 for anything else)."""
        ev = self.events.get(a.ref.dotted)
        if ev is None:
            if a.ref.dotted in self.segment_defs:
                self.err("E0312", f"{a.ref.dotted} is a segment; within ... after takes an event type", a.ref.span,
                         hint="name an event, with a filter if needed: within 3 days after email.sent(email == \"x\")")
            else:
                self.unknown_event(a.ref)
            return None
        flt = None
        if a.filter:
            sub = ctx.but(event=ev)
            parts = [self.cond(x, sub) for x in a.filter]
            flt = parts[0] if len(parts) == 1 else IR.CAnd(tuple(parts), span=a.span)
        return IR.CEvent(ev.name, flt, "at_least", 1, "default", span=a.span)

    def operand(self, v: A.Value, ctx: Context, expect: ir.FieldType | None = None) -> ir.Operand:
        if isinstance(v, A.Ref):
            parts = v.parts
            if parts[0] == "contact" and len(parts) > 1:
                return IR.OAttr(parts[1:], span=v.span)
            if parts[0] == "trigger" and len(parts) > 1:
                return self.trigger_operand(v, ctx)
            if ctx.event is not None and len(parts) == 1 and parts[0] in ctx.event.fields:
                return IR.OField(parts[0], span=v.span)
            if expect is not None and expect.kind in ("enum", "step") and len(parts) == 1:
                return IR.OConst(parts[0], span=v.span)
            if ctx.event is not None and len(parts) == 1 and expect is None:
                self.err("E0304", f'event {ctx.event.name} has no field "{parts[0]}"', v.span,
                         hint=self.did_you_mean(parts[0], ctx.event.fields)
                         or f"its fields are: {', '.join(ctx.event.fields) or '(none)'}")
                return IR.OConst(None, span=v.span)
            if parts[0] == "contact":
                self.err("E0308", "write a contact attribute as contact.NAME", v.span)
                return IR.OConst(None, span=v.span)
            self.err("E0309", f'"{v.dotted}" is not a value here', v.span,
                     hint=f'write text in quotes: "{v.dotted}"; contact attributes start with contact.')
            return IR.OConst(None, span=v.span)
        if isinstance(v, A.ListLit):
            item_expect = expect if expect is not None else None
            return IR.OList(tuple(self.operand(x, ctx, item_expect) for x in v.items), span=v.span)
        if isinstance(v, A.MapLit):
            return IR.OConst(self.literal(v), span=v.span)
        return IR.OConst(v.value, span=v.span)

    def trigger_operand(self, v: A.Ref, ctx: Context) -> ir.Operand:
        """``trigger.FIELD``: a field of the event that enrolled the contact."""
        if ctx.trigger is None:
            why = {"audience": "an audience workflow enrolls contacts by a condition, not by an event",
                   "trigger": "the trigger's own filter reads the event's fields by their bare names",
                   }.get(ctx.no_trigger, "it reads the event that enrolled the contact, so only the conditions "
                                         "of a workflow with enroll when can use it")
            hint = {"trigger": f"write {v.parts[-1]} instead of {v.dotted}"}.get(ctx.no_trigger)
            self.err("E0310", f"{v.dotted} cannot be used here: {why}", v.span,
                     hint=hint or "use trigger.FIELD in the goals, waits and branches of a workflow with "
                                  "`enroll when EVENT`")
            return IR.OConst(None, span=v.span)
        name = v.parts[1]
        if len(v.parts) > 2 or name not in ctx.trigger:
            known = sorted(ctx.trigger)
            self.err("E0311", f'the trigger event has no field "{".".join(v.parts[1:])}"', v.span,
                     hint=self.did_you_mean(name, known) or f"its fields are: {', '.join(known)}")
            return IR.OConst(None, span=v.span)
        return IR.OTrigger(name, span=v.span)

    def operand_type(self, op: ir.Operand, ctx: Context) -> ir.FieldType | None:
        if isinstance(op, ir.OField) and ctx.event is not None:
            return ctx.event.fields.get(op.name)
        if isinstance(op, ir.OTrigger) and ctx.trigger is not None:
            return ctx.trigger.get(op.name)
        if isinstance(op, ir.OConst):
            kind = ir.value_kind(op.value)
            if kind in ("bool", "number", "string"):
                return IR.FieldType(kind)
        if isinstance(op, ir.OList):
            return IR.FieldType("list")
        return None  # contact attributes: the schema is open

    def _typed_side(self, left: A.Value, right: A.Value, ctx: Context):
        """Resolve ``left OP right`` where one side may be a field whose type
        decides how a bare name on the other side reads (enum value, step)."""
        lt, rt = self._ref_type(left, ctx), self._ref_type(right, ctx)
        lo = self.operand(left, ctx, rt)
        ro = self.operand(right, ctx, lt)
        return lo, ro

    @staticmethod
    def _ref_type(v: A.Value, ctx: Context) -> ir.FieldType | None:
        """The declared type of a field written as a bare name (in a filter)
        or as trigger.FIELD."""
        if not isinstance(v, A.Ref):
            return None
        if ctx.event is not None and len(v.parts) == 1:
            return ctx.event.fields.get(v.parts[0])
        if ctx.trigger is not None and len(v.parts) == 2 and v.parts[0] == "trigger":
            return ctx.trigger.get(v.parts[1])
        return None

    def compare(self, c: A.Compare, ctx: Context) -> ir.CCompare:
        lo, ro = self._typed_side(c.left, c.right, ctx)
        lt, rt = self.operand_type(lo, ctx), self.operand_type(ro, ctx)
        for field_side, other, other_node in ((lt, ro, c.right), (rt, lo, c.left)):
            if field_side is None:
                continue
            self.check_value(field_side, other, other_node, ctx)
        if self.contact_schema:
            self.check_contact_kind(lo, ro, c.right)
            self.check_contact_kind(ro, lo, c.left)
        if lt is not None and rt is not None and c.op in ("<", "<=", ">", ">="):
            for t, node in ((lt, c.left), (rt, c.right)):
                if t.kind in ("enum", "bool", "list", "map", "step"):
                    article = "an" if t.kind[0] in "aeiou" else "a"
                    self.err("E0506", f'"{c.op}" compares numbers or text, not {article} {t.kind}', node.span)
                    break
        return IR.CCompare(c.op, lo, ro, span=c.span)

    def check_contact_kind(self, attr: ir.Operand, other: ir.Operand, node: A.Value) -> None:
        """Warn when a contact attribute whose data always holds one kind is
        compared with a constant of another kind (W0501: schemas are open)."""
        if not isinstance(attr, ir.OAttr) or not isinstance(other, ir.OConst) or other.value is None:
            return
        kind = self.contact_schema.get(attr.path)
        if kind not in ("number", "string", "bool"):
            return
        v = other.value
        got = ir.value_kind(v)
        if got not in ("number", "string", "bool") or got == kind:
            return
        words = {"number": "a number", "string": "text", "bool": "true or false"}
        shown = f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        hint = None
        if kind == "number" and isinstance(v, str):
            try:
                float(v)
                hint = f"write the number without quotes: {v}"
            except ValueError:
                pass
        elif kind == "string" and got == "number":
            hint = f'write it in quotes: "{v}"'
        self.warn("W0501", f"contact.{'.'.join(attr.path)} is {words[kind]} in the contact data, "
                  f"compared here with {words[got].replace('a number', 'the number')} {shown}", node.span, hint=hint)

    def check_membership(self, c: A.In, lt, right, ctx: Context) -> None:
        if isinstance(right, ir.OList):
            for item, node in zip(right.items, getattr(c.right, "items", ())):
                if lt is not None:
                    self.check_value(lt, item, node, ctx)
        else:
            rt = self.operand_type(right, ctx)
            if rt is not None and rt.kind not in ("list", "any", "string"):
                self.err("E0506", '"in" needs a list on its right, like ["US", "CA"]', c.right.span)

    def check_value(self, t: ir.FieldType, op: ir.Operand, node: A.Value, ctx: Context) -> None:
        """A value compared with a field of type ``t``."""
        if not isinstance(op, ir.OConst) or op.value is None:
            return
        v = op.value
        if t.kind == "enum":
            if not isinstance(v, str) or v not in t.values:
                shown = v if isinstance(v, str) else repr(v)
                self.err("E0305", f'"{shown}" is not one of the allowed values', node.span,
                         detail=f"allowed: {', '.join(t.values)}",
                         hint=self.did_you_mean(str(v), t.values) if isinstance(v, str) else None)
        elif t.kind == "step":
            if ctx.workflow is not None and isinstance(v, str) and isinstance(node, A.Ref) and v not in ctx.steps:
                owner = self.step_owners.get(v)
                hint = (f'a bare name is a step of this workflow; for the step of workflow "{owner}", write it '
                        f'in quotes: "{v}"') if owner is not None else None
                self.err("E0410", f'workflow "{ctx.workflow}" has no step named {v}', node.span,
                         hint=hint or self.did_you_mean(v, ctx.steps) or "name a step with: ACTION(...) as NAME")
        elif t.kind in ("number", "string", "bool") and not t.accepts(v):
            self.err("E0506", f"expected {kind_words(t.kind)}, not {show_value(v)}", node.span,
                     hint=f'write it in quotes: "{v}"' if t.kind == "string" and isinstance(v, (int, float)) else None)

