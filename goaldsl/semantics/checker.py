"""The checker: AST modules to a checked program (``ir.Program``).

It resolves every name (events, fields, actions, arguments, segments, steps,
enum values, time zones), checks types and the structural rules of
docs/spec.md sections 2-4, and collects every diagnostic in one pass rather
than stopping at the first. Diagnostic codes are stable; docs/diagnostics.md
lists them.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

import attrs

from ..syntax import ast as A
from . import ir
from .calendar import known_zones, parse_local_datetime
from ..syntax.diagnostics import Diagnostic, Related, did_you_mean, error, sort_key, warning
from .loader import Loaded, duplicate
from .testblocks import check_tests, is_test_file
from ..syntax.parser import MAX_NESTING, reserved_words
from ..syntax.source import Span

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DRIP_ACTION_PREFIX = "send_"
_INTERP = re.compile(r"\{contact\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


@attrs.define
class Context:
    """Where a condition stands: which workflow, which event it filters."""
    workflow: Optional[str] = None
    steps: frozenset[str] = frozenset()
    event: Optional[ir.EventType] = None
    in_workflow: bool = False


@attrs.frozen
class CheckResult:
    program: Optional[ir.Program]
    diagnostics: tuple[Diagnostic, ...]
    tests: tuple = ()  # testblocks.TestCase, one per test block (when the files hold tests)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def check(loaded: Loaded, contact_schema: dict[tuple[str, ...], str] | None = None) -> CheckResult:
    """Check a loaded program. ``contact_schema`` (attribute path -> kind,
    see ``schema.py``) turns on warnings for contact attributes compared with
    values of another kind."""
    c = Checker(loaded, contact_schema)
    program = c.run()
    tests, test_diags = [], []
    if any(isinstance(it, A.TestBlock) for m in loaded.modules for it in m.items) or any(
            is_test_file(m.file) for m in loaded.modules):
        # Test blocks are checked in their own module, with this checker's rules.
        tests, test_diags = check_tests(loaded, c, program)
    diags = tuple(sorted(_dedupe(loaded.diagnostics + c.diags + test_diags), key=sort_key))
    return CheckResult(program, diags, tuple(tests))


def _dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.summary, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


HINT_BUDGET = 100_000  # candidates compared for "did you mean" suggestions in one check


class Checker:
    def __init__(self, loaded: Loaded, contact_schema: dict[tuple[str, ...], str] | None = None):
        self.loaded = loaded
        self.contact_schema = contact_schema or {}
        self.diags: list[Diagnostic] = []
        self.events: dict[str, ir.EventType] = {}
        self.actions: dict[str, ir.ActionType] = {}
        self.segment_defs: dict[str, A.SegmentDef] = {}
        self.segments: dict[str, ir.Cond] = {}
        self._kw = reserved_words()
        self._hint_budget = HINT_BUDGET
        self.step_owners: dict[str, str] = {}  # a step name -> the first workflow naming a step so

    # ---------------------------------------------------------------- driver

    def did_you_mean(self, word: str, candidates) -> str | None:
        # A suggestion costs a fuzzy match against every candidate: a file
        # with thousands of unknown names among thousands of segments would
        # take hours. One check compares at most HINT_BUDGET candidates in
        # all; a file that broken needs no more suggestions. ``candidates``
        # may be a function, so a large list is not even built then.
        if self._hint_budget <= 0:
            return None
        pool = candidates() if callable(candidates) else candidates
        if len(pool) > self._hint_budget:
            self._hint_budget = 0
            return None
        self._hint_budget -= max(1, len(pool))
        return did_you_mean(word, pool)

    def err(self, code: str, summary: str, span: Span | None, **kw) -> None:
        self.diags.append(error(code, summary, span, **kw))

    def warn(self, code: str, summary: str, span: Span | None, **kw) -> None:
        self.diags.append(warning(code, summary, span, **kw))

    def run(self) -> ir.Program:
        items = [it for m in self.loaded.modules for it in m.items]
        for it in items:
            if isinstance(it, A.EventDecl):
                self.declare_event(it)
        for it in items:
            if isinstance(it, A.ActionDecl):
                self.declare_action(it)
        for it in items:
            if isinstance(it, A.SegmentDef):
                if it.name.name in self.segment_defs:
                    self.diags.append(duplicate("segment", it.name.name, it.name.span,
                                                self.segment_defs[it.name.name].name.span))
                else:
                    self.segment_defs[it.name.name] = it
        self.check_segment_cycles()
        for name, seg in self.segment_defs.items():
            self.segments[name] = self.cond(seg.cond, Context())
        # Named steps of every workflow: a bare step name in another
        # workflow's filter gets a hint to quote it.
        for it in items:
            if isinstance(it, A.Workflow):
                for st in _all_steps(x for x in it.items if not isinstance(x, A.GoalsSection)):
                    n = _step_name(st)
                    if n is not None:
                        self.step_owners.setdefault(n.name, it.name.name)
        workflows: list[ir.Workflow] = []
        seen_wf: dict[str, Span] = {}
        for it in items:
            if isinstance(it, A.Workflow):
                if it.name.name in seen_wf:
                    self.diags.append(duplicate("workflow", f'"{it.name.name}"', it.name.span, seen_wf[it.name.name]))
                    continue
                seen_wf[it.name.name] = it.name.span
                wf = self.workflow(it)
                if wf is not None:
                    workflows.append(wf)
        return ir.Program(self.events, self.actions, self.segments, tuple(workflows), dict(self.loaded.sources))

    # ---------------------------------------------------------------- declarations

    def type_expr(self, t: A.TypeExpr) -> ir.FieldType:
        if t.name == "enum":
            if len(set(t.values)) != len(t.values):
                self.err("E0202", "an enum lists the same value twice", t.span)
            return ir.FieldType("enum", t.values, t.optional)
        if t.name not in ir.TYPE_NAMES:
            self.err("E0202", f'unknown type "{t.name}"', t.span, hint=self.did_you_mean(t.name, ir.TYPE_NAMES)
                     or f"the types are {', '.join(ir.TYPE_NAMES)} and enum(...)")
            return ir.FieldType("any", (), t.optional)
        return ir.FieldType(t.name, (), t.optional)

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
        self.events[name] = ir.EventType(name, fields, span=d.span)

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
            params.append(ir.ParamType(p.name.name, t, default, has_default))
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
            emits.append(ir.EmitSpec(ev.name, tuple(mapping)))
        self.actions[name] = ir.ActionType(name, tuple(params), rest, tuple(emits), span=d.span)

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

    # ---------------------------------------------------------------- segments

    def check_segment_cycles(self) -> None:
        # Iterative DFS over segment references; a cycle is reported once.
        refs = {name: [r for r in _segment_refs(d.cond) if r.parts[0] in self.segment_defs]
                for name, d in self.segment_defs.items()}
        state: dict[str, int] = {}
        depth: dict[str, int] = {}  # nesting with the segments used inlined (they are, when compiled)
        self.cyclic: set[str] = set()
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
                    depth[name] = _depth(self.segment_defs[name].cond) + max(below, default=0)
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
                    self.cyclic.update(cycle)
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

    # ---------------------------------------------------------------- conditions

    def cond(self, c: A.Cond, ctx: Context) -> ir.Cond:
        if isinstance(c, A.Or):
            return ir.COr(tuple(self.cond(x, ctx) for x in c.items), span=c.span)
        if isinstance(c, A.And):
            return ir.CAnd(tuple(self.cond(x, ctx) for x in c.items), span=c.span)
        if isinstance(c, A.Not):
            return ir.CNot(self.cond(c.operand, ctx), span=c.span)
        if isinstance(c, A.Compare):
            return self.compare(c, ctx)
        if isinstance(c, A.In):
            left = self.operand(c.left, ctx)
            lt = self.operand_type(left, ctx)
            right = self.operand(c.right, ctx, expect=lt if lt is not None and lt.kind in ("enum", "step") else None)
            self.check_membership(c, lt, right, ctx)
            return ir.CIn(left, right, c.negated, span=c.span)
        if isinstance(c, A.TextOp):
            left, right = self.operand(c.left, ctx), self.operand(c.right, ctx)
            for side, node in ((left, c.left), (right, c.right)):
                t = self.operand_type(side, ctx)
                if t is not None and t.kind not in ("string", "any", "step", "enum", "list") and not (
                        c.op == "contains" and t.kind == "list"):
                    self.err("E0506", f'"{c.op}" works on text, but this is a {t.kind}', node.span)
            return ir.CText(c.op, left, right, span=c.span)
        if isinstance(c, A.IsSet):
            op = self.operand(c.ref, ctx)
            return ir.CIsSet(op, c.negated, span=c.span)
        if isinstance(c, A.RefAtom):
            return self.ref_atom(c, ctx)
        raise AssertionError(type(c))

    def ref_atom(self, c: A.RefAtom, ctx: Context) -> ir.Cond:
        parts = c.ref.parts
        dotted = c.ref.dotted
        if len(parts) == 1:
            name = parts[0]
            extras = c.filter is not None or c.count or c.window
            if name in ("true", "false"):
                return ir.CConst(name == "true", span=c.span)
            if ctx.event is not None and name in ctx.event.fields and not extras:
                return ir.CTruthy(ir.OField(name, span=c.ref.span), span=c.span)
            if name in self._kw:
                self.err("E0006", f'"{name}" is a keyword and cannot be used as a name', c.ref.span)
                return ir.CConst(False, span=c.span)
            if name not in self.segment_defs:
                hint = self.did_you_mean(name, lambda: list(self.segment_defs) + list(self.events))
                self.err("E0301", f"unknown segment {name}", c.ref.span,
                         hint=hint or "define it with: segment NAME = CONDITION")
                return ir.CConst(False, span=c.span)
            if extras:
                self.err("E0307", f"{name} is a segment; a filter, count or window goes after an event type",
                         c.span)
            return ir.CSegment(name, span=c.span)
        if dotted in self.events:
            return self.event_atom(c, self.events[dotted], ctx)
        if parts[0] == "contact":
            if c.filter is not None or c.count or c.window:
                self.unknown_event(c.ref)
                return ir.CConst(False, span=c.span)
            return ir.CTruthy(ir.OAttr(parts[1:], span=c.ref.span), span=c.span)
        self.unknown_event(c.ref)
        return ir.CConst(False, span=c.span)

    def unknown_event(self, ref: A.Ref) -> None:
        hint = self.did_you_mean(ref.dotted, self.events)
        if hint is None and "." in ref.dotted:
            family = ref.parts[0] + "."
            known = sorted(e for e in self.events if e.startswith(family))
            if known:
                hint = f"{ref.parts[0]} events are: {', '.join(known)}"
        self.err("E0303", f"unknown event type {ref.dotted}", ref.span,
                 hint=hint or "declare it with: event NAME { field: type }")

    def event_atom(self, c: A.RefAtom, ev: ir.EventType, ctx: Context) -> ir.CEvent:
        flt = None
        if c.filter:
            sub = attrs.evolve(ctx, event=ev)
            parts = [self.cond(x, sub) for x in c.filter]
            flt = parts[0] if len(parts) == 1 else ir.CAnd(tuple(parts), span=c.span)
        kind, n = ("at_least", 1) if c.count is None else (c.count.kind, c.count.n)
        if c.window is None:
            window, dur = "default", None
        else:
            window, dur = c.window.kind, c.window.duration
            if window == "since_enrollment" and not ctx.in_workflow and ctx.workflow is None:
                pass  # segments may be used inside workflows; checked where used
        return ir.CEvent(ev.name, flt, kind, n, window, dur, span=c.span)

    def operand(self, v: A.Value, ctx: Context, expect: ir.FieldType | None = None) -> ir.Operand:
        if isinstance(v, A.Ref):
            parts = v.parts
            if parts[0] == "contact" and len(parts) > 1:
                return ir.OAttr(parts[1:], span=v.span)
            if ctx.event is not None and len(parts) == 1 and parts[0] in ctx.event.fields:
                return ir.OField(parts[0], span=v.span)
            if expect is not None and expect.kind in ("enum", "step") and len(parts) == 1:
                return ir.OConst(parts[0], span=v.span)
            if ctx.event is not None and len(parts) == 1 and expect is None:
                self.err("E0304", f'event {ctx.event.name} has no field "{parts[0]}"', v.span,
                         hint=self.did_you_mean(parts[0], ctx.event.fields)
                         or f"its fields are: {', '.join(ctx.event.fields) or '(none)'}")
                return ir.OConst(None, span=v.span)
            if parts[0] == "contact":
                self.err("E0308", "write a contact attribute as contact.NAME", v.span)
                return ir.OConst(None, span=v.span)
            self.err("E0309", f'"{v.dotted}" is not a value here', v.span,
                     hint=f'write text in quotes: "{v.dotted}"; contact attributes start with contact.')
            return ir.OConst(None, span=v.span)
        if isinstance(v, A.ListLit):
            item_expect = expect if expect is not None else None
            return ir.OList(tuple(self.operand(x, ctx, item_expect) for x in v.items), span=v.span)
        if isinstance(v, A.MapLit):
            return ir.OConst(self.literal(v), span=v.span)
        return ir.OConst(v.value, span=v.span)

    def operand_type(self, op: ir.Operand, ctx: Context) -> ir.FieldType | None:
        if isinstance(op, ir.OField) and ctx.event is not None:
            return ctx.event.fields.get(op.name)
        if isinstance(op, ir.OConst):
            kind = ir.value_kind(op.value)
            if kind in ("bool", "number", "string"):
                return ir.FieldType(kind)
        if isinstance(op, ir.OList):
            return ir.FieldType("list")
        return None  # contact attributes: the schema is open

    def _typed_side(self, left: A.Value, right: A.Value, ctx: Context):
        """Resolve ``left OP right`` where one side may be a field whose type
        decides how a bare name on the other side reads (enum value, step)."""
        lt = rt = None
        if ctx.event is not None:
            if isinstance(left, A.Ref) and len(left.parts) == 1:
                lt = ctx.event.fields.get(left.parts[0])
            if isinstance(right, A.Ref) and len(right.parts) == 1:
                rt = ctx.event.fields.get(right.parts[0])
        lo = self.operand(left, ctx, rt)
        ro = self.operand(right, ctx, lt)
        return lo, ro

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
        return ir.CCompare(c.op, lo, ro, span=c.span)

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
                self.err("E0506", f'"in" needs a list on its right, like ["US", "CA"]', c.right.span)

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
            self.err("E0506", f"expected {_kind_words(t.kind)}, not {_show(v)}", node.span,
                     hint=f'write it in quotes: "{v}"' if t.kind == "string" and isinstance(v, (int, float)) else None)

    # ---------------------------------------------------------------- actions

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
                             hint=f"write it as NAME: VALUE" if act.rest else None)
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
                args.append((p.name, ir.ArgValue("const", p.default)))
            else:
                self.err("E0504", f'{act.name} needs the argument "{p.name}"', call.span,
                         hint=f"add {p.name}: {_example(p.type)}")
        return ir.Call(act.name, tuple(args), tuple(rest), span=call.span)

    def arg_value(self, v: A.Value, t: ir.FieldType | None, ctx: Context) -> ir.ArgValue:
        if isinstance(v, A.Ref):
            if v.parts[0] == "contact" and len(v.parts) > 1:
                return ir.ArgValue("attr", parts=v.parts[1:])
            if t is not None and t.kind in ("enum", "step") and len(v.parts) == 1:
                value = v.parts[0]
                self.check_arg_type(t, v, value, None)
                return ir.ArgValue("const", value)
            self.err("E0309", f'"{v.dotted}" is not a value here', v.span,
                     hint=f'write text in quotes: "{v.dotted}"')
            return ir.ArgValue("const", None)
        value = self.literal(v)
        if t is not None:
            self.check_arg_type(t, v, value, None)
        if isinstance(v, A.Str) and "{" in v.value:
            return self.template(v)
        return ir.ArgValue("const", value)

    def template(self, s: A.Str) -> ir.ArgValue:
        parts: list = []
        pos = 0
        for m in _INTERP.finditer(s.value):
            parts.append(s.value[pos:m.start()])
            parts.append(tuple(m.group(1).split(".")))
            pos = m.end()
        parts.append(s.value[pos:])
        if len(parts) == 1:
            return ir.ArgValue("const", s.value)
        return ir.ArgValue("template", s.value, tuple(parts))

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
            self.err("E0506", f"expected {_kind_words(t.kind)}, not {_show(value)}", node.span)

    # ---------------------------------------------------------------- workflows

    def workflow(self, w: A.Workflow) -> ir.Workflow | None:
        name = w.name.name
        settings: dict[str, Any] = {}
        steps: list[A.Step] = []
        goals_sections: list[A.GoalsSection] = []
        seen_step = False
        for item in w.items:
            if isinstance(item, A.GoalsSection):
                if goals_sections:
                    self.err("E0420", "a workflow has at most one goals section", item.span,
                             related=(Related(goals_sections[0].span, "the first one"),))
                goals_sections.append(item)
            elif _is_setting(item):
                key = type(item).__name__
                key = {"RunsOnce": "runs", "RunsPerpetual": "runs", "EvaluateEvery": "evaluate",
                       "EvaluateEveryAt": "evaluate", "EvaluateOnEvent": "evaluate"}.get(key, key)
                if seen_step or goals_sections:
                    self.err("E0401", "settings come before the steps", item.span,
                             hint="move this line to the top of the workflow")
                if key in settings:
                    self.err("E0402", "this setting is given twice", item.span,
                             related=(Related(settings[key].span, "first given here"),))
                    continue
                settings[key] = item
            else:
                if goals_sections:
                    self.err("E0421", "steps go before the goals section", item.span,
                             hint="the goals { } section comes last in a workflow")
                seen_step = True
                steps.append(item)
        tz = "UTC"
        if "TimezoneSetting" in settings:
            tz = self.timezone_name(settings["TimezoneSetting"].name)
        once_at = None
        runs = settings.get("runs")
        if isinstance(runs, A.RunsOnce):
            once_at = self.datetime(runs.text, tz, runs.span)
        every: int | None = 300
        tick_time = None
        ev = settings.get("evaluate")
        if isinstance(ev, A.EvaluateOnEvent):
            every = None
        elif isinstance(ev, A.EvaluateEveryAt):
            # Ticks on the wall clock: whole days (whole weeks with a weekday).
            d = ev.duration
            every = d.days * 86400
            if d.months or d.seconds or not d.days:
                self.err("E0406", f"evaluate every ... at {ev.hour:02d}:{ev.minute:02d} takes days or weeks", d.span,
                         hint="write `evaluate every 1 day at 09:00`, or leave out `at` for ticks of minutes "
                              "or hours")
                every = 86400
            elif ev.weekday is not None and d.days % 7:
                self.err("E0406", f"evaluate every ... on {ev.weekday} takes whole weeks", d.span,
                         hint=f"write `evaluate every 1 week on {ev.weekday} at {ev.hour:02d}:{ev.minute:02d}`")
                every = 7 * 86400
            tick_time = (ev.hour, ev.minute, WEEKDAYS.index(ev.weekday) if ev.weekday else None)
        elif isinstance(ev, A.EvaluateEvery):
            d = ev.duration
            if d.months:
                self.err("E0406", "evaluate every takes minutes, hours, days or weeks, not months", d.span)
            every = d.days * 86400 + d.seconds
            if every <= 0:
                if not d.months:
                    self.err("E0406", "evaluate every needs a duration above zero", d.span)
                every = 300
        audience = settings.get("Audience")
        trigger = settings.get("EnrollWhen")
        reentry = settings.get("AllowReentry")
        if audience and trigger:
            self.err("E0403", "a workflow has either audience or enroll when, not both", trigger.span,
                     related=(Related(audience.span, "audience given here"),))
        if not audience and not trigger:
            self.err("E0404", f'workflow "{name}" has no way to enroll contacts', w.name.span,
                     hint="add `audience CONDITION` or `enroll when EVENT`")
        if reentry and not trigger:
            self.err("E0407", "allow reentry only applies to enroll when", reentry.span,
                     hint="audience workflows re-enroll contacts that qualify again")
        reentry_after = reentry.after if reentry is not None else None
        skip_met = settings.get("SkipIfGoalMet")
        if skip_met and not any(gs.goals for gs in goals_sections):
            self.err("E0422", "skip enrollment if goal met needs an exit goal", skip_met.span,
                     hint="add a goals { goal \"NAME\" { when CONDITION } } section: its goals are "
                          "checked before a contact enrolls")
        exit_aud = settings.get("ExitWhenAudienceFails")
        if exit_aud and not audience:
            self.err("E0423", "exit when audience no longer matches needs an audience", exit_aud.span,
                     hint="a workflow with `enroll when` has no audience to stop matching")
        if trigger and once_at is not None:
            self.err("E0408", "a one-time workflow enrolls its audience once; it cannot use enroll when",
                     trigger.span, hint="use `audience CONDITION`, or `runs perpetual`")

        # Names of top-level steps (and goal steps), in order, for skip targets.
        top_names: list[tuple[str, Span, int]] = []
        all_names: dict[str, Span] = {}
        goal_names: dict[str, Span] = {}
        for i, st in enumerate(steps):
            n = _step_name(st)
            if n is not None:
                top_names.append((n.name, n.span, i))
        for st in _all_steps(steps):
            n = _step_name(st)
            if n is not None and not isinstance(st, A.GoalBlock):
                if n.name in all_names:
                    self.err("E0411", f"two steps are named {n.name}", n.span,
                             related=(Related(all_names[n.name], "first named here"),))
                else:
                    all_names[n.name] = n.span
        for g in [s for s in steps if isinstance(s, A.GoalBlock)] + [g for gs in goals_sections for g in gs.goals]:
            if g.name.name in goal_names:
                self.err("E0412", f'two goals are named "{g.name.name}"', g.name.span,
                         related=(Related(goal_names[g.name.name], "first named here"),))
            else:
                goal_names[g.name.name] = g.name.span
        ctx = Context(workflow=name, steps=frozenset(all_names), in_workflow=True)
        aud = self.cond(audience.cond, attrs.evolve(ctx, in_workflow=False)) if audience else None
        trig = None
        if trigger:
            before = len(self.diags)
            trig = self.cond(trigger.cond, attrs.evolve(ctx, in_workflow=False))
            if len(self.diags) == before:  # an unknown event already said what is wrong
                self.check_trigger(trig)
        ir_steps = self.steps(steps, ctx, top_names, top=True, drip=w.is_drip, tz=tz)
        exit_goals = []
        for gs in goals_sections:
            for g in gs.goals:
                goal = self.goal(g, ctx, top_names, None, is_step=False)
                if goal:
                    exit_goals.append(goal)
        return ir.Workflow(name, w.is_drip, once_at, every, tz, aud, trig, reentry is not None,
                           tuple(ir_steps), tuple(exit_goals), tick_time, reentry_after,
                           skip_met is not None, exit_aud is not None, span=w.span)

    def timezone_name(self, node: A.Str) -> str:
        """A time zone as written, or UTC after reporting an unknown one."""
        if node.value in known_zones():
            return node.value
        self.err("E0405", f'unknown time zone "{node.value}"', node.span,
                 hint=self.did_you_mean(node.value, known_zones()) or 'use an IANA name like "America/New_York"')
        return "UTC"

    def check_trigger(self, c: ir.Cond) -> None:
        items = c.items if isinstance(c, ir.COr) else (c,)
        for x in items:
            if not isinstance(x, ir.CEvent):
                self.err("E0409", "enroll when takes an event, like form.submitted(form == \"demo\")", x.span,
                         hint="for a condition on contact data, use `audience`")
            elif x.window != "default" or (x.count_kind, x.count) != ("at_least", 1):
                self.err("E0409", "an enroll-when event takes no count or window", x.span,
                         hint="each matching event enrolls the contact")

    def datetime(self, text: str, tz: str, span: Span) -> int | None:
        try:
            return parse_local_datetime(text, tz)
        except ValueError as e:
            self.err("E0413", f"{text} is not a valid date-time: {e}", span)
            return None

    def steps(self, steps: list[A.Step] | tuple, ctx: Context, top_names, *, top: bool, drip: bool,
              tz: str, at: int | None = None) -> list[ir.Step]:
        # ``at``: the index of the top-level step that holds these nested steps.
        out: list[ir.Step] = []
        for i, st in enumerate(steps):
            if drip and not _drip_ok(st):
                self.err("E0414", "a drip holds only sends, waits and goal steps", st.span,
                         hint="use a workflow for branches, skips and other actions")
            r = self.step(st, ctx, top_names, i if top else None, drip=drip, tz=tz, at=i if top else at)
            if r is not None:
                out.append(r)
        return out

    def step(self, st: A.Step, ctx: Context, top_names, index: int | None, *, drip: bool, tz: str,
             at: int | None = None):
        name = st.name.name if getattr(st, "name", None) is not None and not isinstance(st, A.GoalBlock) else None
        if isinstance(st, A.ActionStep):
            call = self.call(st.call, ctx)
            return ir.SAction(call, name, span=st.span) if call else None
        if isinstance(st, A.WaitFor):
            return ir.SWait(st.duration, name, span=st.span)
        if isinstance(st, A.WaitUntilTime):
            wd = WEEKDAYS.index(st.weekday) if st.weekday else None
            return ir.SWaitTime(st.hour, st.minute, wd, name, span=st.span)
        if isinstance(st, A.WaitUntilDate):
            at = self.datetime(st.text, tz, st.span)
            return ir.SWaitDate(at or 0, name, span=st.span)
        if isinstance(st, A.WaitUntilCond):
            return ir.SWaitCond(self.cond(st.cond, ctx), st.limit, name, span=st.span)
        if isinstance(st, A.IfStep):
            branches = tuple((self.cond(c, ctx), tuple(self.steps(b, ctx, top_names, top=False, drip=drip, tz=tz,
                                                                  at=at)))
                             for c, b in st.branches)
            els = tuple(self.steps(st.else_steps, ctx, top_names, top=False, drip=drip, tz=tz, at=at)) \
                if st.else_steps is not None else ()
            return ir.SIf(branches, els, span=st.span)
        if isinstance(st, A.GoalBlock):
            if index is None:
                self.err("E0415", "a goal step must be at the top level of the workflow", st.span,
                         hint="move it out of the if block")
                return None
            goal = self.goal(st, ctx, top_names, index, is_step=True)
            return ir.SGoal(goal, span=st.span) if goal else None
        if isinstance(st, A.SkipStep):
            self.skip_target(st.target, top_names, at, "skip to", nested=ctx.steps)
            return ir.SSkip(st.target.name, span=st.span)
        if isinstance(st, A.EndStep):
            return ir.SEnd(span=st.span)
        raise AssertionError(type(st))

    def skip_target(self, target: A.Ident, top_names, index: int | None, what: str,
                    nested: Iterable[str] = ()) -> None:
        cached = getattr(self, "_skip_names", None)
        if cached is None or cached[0] is not top_names:  # built once per workflow, not once per skip
            cached = self._skip_names = (top_names, {n: i for n, _, i in top_names})
        names = cached[1]
        if target.name not in names:
            if target.name in self._kw:
                return
            if target.name in nested:
                hint = f"{target.name} is inside an if block; skip to jumps only to top-level steps"
            else:
                hint = self.did_you_mean(target.name, names) or "name the step with `as NAME`"
            self.err("E0416", f"{what} {target.name}: there is no top-level step with that name", target.span,
                     hint=hint)
            return
        if index is not None and names[target.name] <= index:
            self.err("E0417", f"{what} {target.name} must jump forward to a later step", target.span,
                     hint="skip to only moves ahead; this step comes before")

    def goal(self, g: A.GoalBlock, ctx: Context, top_names, index: int | None, *, is_step: bool) -> ir.Goal | None:
        whens = [c for c in g.clauses if isinstance(c, A.When)]
        if not whens:
            self.err("E0418", f'goal "{g.name.name}" needs a when clause', g.name.span,
                     hint="add: when CONDITION")
            return None
        for extra in whens[1:]:
            self.err("E0418", "a goal has one when clause", extra.span,
                     hint="combine the conditions with and / or")
        cond = self.cond(whens[0].cond, ctx)
        then: list[ir.Call] = []
        then_ifs = []
        achieved = [c for c in g.clauses if isinstance(c, A.OnAchieved)]
        unmet = [c for c in g.clauses if isinstance(c, A.OnUnmet)]
        for c in g.clauses:
            if isinstance(c, A.Then):
                then.extend(x for x in (self.call(a, ctx) for a in c.actions) if x)
            elif isinstance(c, A.ThenIf):
                then_ifs.append((self.cond(c.cond, ctx),
                                 tuple(x for x in (self.call(a, ctx) for a in c.actions) if x),
                                 tuple(x for x in (self.call(a, ctx) for a in c.else_actions) if x)
                                 if c.else_actions is not None else None))
        if not is_step:
            for c in achieved + unmet:
                self.err("E0419", f"{'on achieved' if isinstance(c, A.OnAchieved) else 'on unmet'} "
                                  "belongs to goal steps; an exit goal always takes the contact out", c.span,
                         hint="move the goal into the steps to make it a checkpoint")
            return ir.Goal(g.name.name, cond, tuple(then), tuple(then_ifs), "end", span=g.span)
        for extra in achieved[1:] + unmet[1:]:
            self.err("E0402", "this clause is given twice", extra.span)
        kw: dict[str, Any] = {}
        if achieved:
            a = achieved[0]
            kw["on_achieved"] = a.policy
            if a.policy == "skip":
                self.skip_target(a.target, top_names, index, "on achieved skip to", nested=ctx.steps)
                kw["achieved_target"] = a.target.name
        if unmet:
            u = unmet[0]
            kw.update(on_unmet=u.policy, unmet_limit=u.limit, unmet_then=u.then)
        return ir.Goal(g.name.name, cond, tuple(then), tuple(then_ifs), is_step=True, span=g.span, **kw)


# ---------------------------------------------------------------- helpers

def _is_setting(x) -> bool:
    return isinstance(x, A.SETTINGS)


def _step_name(st) -> A.Ident | None:
    if isinstance(st, A.GoalBlock):
        return st.name
    return getattr(st, "name", None) if isinstance(st, (A.ActionStep, A.WaitFor, A.WaitUntilTime, A.WaitUntilDate,
                                                         A.WaitUntilCond)) else None


def _all_steps(steps):
    stack = list(reversed(list(steps)))
    while stack:
        st = stack.pop()
        yield st
        if isinstance(st, A.IfStep):
            nested = [s for _, b in st.branches for s in b] + list(st.else_steps or ())
            stack.extend(reversed(nested))


def _drip_ok(st) -> bool:
    if isinstance(st, A.ActionStep):
        return st.call.name.name.startswith(DRIP_ACTION_PREFIX)
    return isinstance(st, (A.WaitFor, A.WaitUntilTime, A.WaitUntilDate, A.WaitUntilCond, A.GoalBlock))


def _depth(cond) -> int:
    """How deep a condition nests (and, or, not, event filters), without recursion."""
    deepest, stack = 0, [(cond, 0)]
    while stack:
        n, d = stack.pop()
        if isinstance(n, (A.Or, A.And, A.Not, A.RefAtom)):
            d += 1
        deepest = max(deepest, d)
        stack.extend((c, d) for c in A.children(n))
    return deepest


def _segment_refs(cond):
    for n in A.walk(cond):
        if isinstance(n, A.RefAtom) and len(n.ref.parts) == 1:
            yield n.ref


def _show(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a map"
    return str(v)


def _kind_words(kind: str) -> str:
    return {"string": "text", "number": "a number", "bool": "true or false", "map": "a map like {key: \"value\"}",
            "list": "a list", "step": "a step name"}.get(kind, kind)


def _example(t: ir.FieldType) -> str:
    return {"string": '"..."', "number": "0", "bool": "true", "map": "{}", "list": "[]",
            "enum": t.values[0] if t.values else "VALUE", "step": "STEP"}.get(t.kind, "VALUE")
