"""Checked program to a compiled plan.

Conditions become Python functions, generated once; the engine calls them with
``(contact, now, since, fields)`` and never walks a tree per event. Steps
become a flat list of instructions with jump targets, so a contact's place
in a workflow is a single program counter.

Runtime value rules (docs/language.md, "How values compare"):
* an unset attribute makes every comparison false, except ``!=`` and
  ``not in``, which are true;
* ``<``, ``<=``, ``>``, ``>=`` compare two numbers or two texts, else false;
* ``starts with``, ``ends with`` and ``contains`` ignore case; ``==`` does not.
"""
from __future__ import annotations

import operator
from bisect import bisect_right
from typing import Any, Callable, Optional

import attrs

from ..semantics import ir
from ..semantics.calendar import UTC_NAMES, format_utc, subtract as _subtract_at
from ..syntax.codecache import compiled

NEVER = -(1 << 62)

Cond = Callable[[Any, int, Optional[int], Optional[dict]], bool]


def get_path(attrs_: dict, path: tuple[str, ...]):
    v: Any = attrs_
    for p in path:
        if isinstance(v, dict):
            v = v.get(p)
        else:
            return None
    return v


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _lower(v):
    return v.lower() if isinstance(v, str) else v


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compare_values(op: str, a, b) -> bool:
    if op == "==":
        return a is not None and b is not None and a == b and (type(a) is bool) == (type(b) is bool)
    if op == "!=":
        return a is None or b is None or a != b or (type(a) is bool) != (type(b) is bool)
    if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        return _ORDER[op](a, b)
    return False


def member(a, b) -> bool:
    if a is None or b is None:
        return False
    if isinstance(b, (list, tuple)):
        # an item equal as ``==`` has it: booleans equal only booleans (true is not 1)
        if a not in b:
            return False
        boolean = a.__class__ is bool
        return any((x.__class__ is bool) is boolean and x == a for x in b)
    if isinstance(b, str) and isinstance(a, str):
        return a in b
    if isinstance(b, dict):
        # A map's keys are texts; a list or a map is never one (and cannot be looked up).
        return isinstance(a, str) and a in b
    return False


def _kind(value) -> str:
    """A list constant's kind, for ``in``: text, boolean, number, or other."""
    if value.__class__ is bool:
        return "boolean"
    return "number" if _is_num(value) else "text" if isinstance(value, str) else "other"


def text_op(op: str, a, b) -> bool:
    if op == "contains" and isinstance(a, (list, tuple)):
        lb = _lower(b)
        return any(_lower(x) == lb for x in a)
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    a, b = a.lower(), b.lower()
    if op == "starts with":
        return a.startswith(b)
    if op == "ends with":
        return a.endswith(b)
    return b in a


def is_set(v) -> bool:
    return v is not None and v != "" and v != [] and v != {}


def trigger_value(c, workflow: Optional[str], name: str):
    """``trigger.NAME`` for contact ``c`` in ``workflow``: a field of the
    event that started its current enrollment (``time``: that event's
    instant as UTC text); None when nothing enrolled it by an event."""
    t = c.triggers.get(workflow) if c.triggers else None
    if t is None:
        return None
    return format_utc(t[0]) if name == "time" else t[2].get(name)


class Compiler:
    """Compiles conditions for one evaluation context (a workflow's time zone).

    ``lean`` (an ``Atoms`` registry shared by a plan's workflows): event
    counts read the lean history of ``Atoms`` instead of every event of
    their type (``Engine(keep_history=False)``)."""

    def __init__(self, program: ir.Program, tz: str = "UTC", workflow: Optional[str] = None, *,
                 lean: Optional["Atoms"] = None):
        self.program = program
        self.tz = tz
        self.workflow = workflow  # whose trigger event `trigger.FIELD` reads
        self.reads_trigger = False  # some compiled condition reads `trigger.FIELD`
        self.lean = lean
        self._gen: Optional[_Generator] = None
        self._obs: Optional[_Generator] = None

    # ---------------------------------------------------------------- conditions

    def cond(self, c: ir.Cond) -> Cond:
        """A condition as one generated Python function (see ``_Generator``)."""
        return self.production().function(c)

    def first_goal(self, steps: list[tuple[int, int, str, ir.Cond]], exits: list[ir.Cond]) -> Callable:
        """The goal check of a woken contact as one generated function
        ``(contact, now, since, top, at_goal, achieved)``: the index of the
        first goal that listens and holds, -1 when none does. ``steps`` are
        the goal steps (top-level step, instruction, name, condition), which
        listen while ahead of the contact (their step after ``top``) or
        waited at (their instruction ``at_goal``) and not ``achieved``;
        then ``exits``, the exit goals (indexes after the steps'). Each
        condition is written in as the expression ``cond`` makes it (one
        call less per goal, no loop over the goals)."""
        return self.production().first_goal(steps, exits)

    def observing(self, c: ir.Cond) -> "Observing":
        """The observing build of the same generated code: it computes the
        same value, but evaluates every part (no short cut through ``and``,
        ``or`` or a count) and reports each part's value, the operand values
        each leaf read and every event each count looked at, with why it did
        not count. Explain, eval and the REPL show what it reports, so what
        they show is what the engine's code computes. Not for the hot path."""
        if self._obs is None:
            self._obs = _Generator(self, observe=True)
        return Observing(self._obs.function(c), self._obs.nodes)

    def production(self) -> "_Generator":
        """The generator of the engine's code (``cond``)."""
        if self._gen is None:
            self._gen = _Generator(self)
        return self._gen


def _time_of(ev: tuple) -> int:
    return ev[0]


class _Generator:
    """Compiles conditions to Python source, run through ``exec`` once.

    A condition becomes ``def _cN(ct, now, since, f): return EXPR`` where
    EXPR inlines attribute and field reads and the common comparisons with a
    constant; each event count becomes a helper with its loop written out,
    and each segment a function of its own. The value rules are those of
    ``compare_values``, ``member``, ``text_op`` and ``is_set`` (which the
    rarer shapes call directly); tests compare with a plain closure oracle
    (tests/closure_oracle.py).

    ``observe=True`` makes the observing build of the same code (see
    ``Compiler.observing``): every function takes an observer ``_o`` last,
    ``and``/``or`` evaluate all their parts, an event count looks at every
    event, and each part reports its value (a leaf with the operand values
    it read, a count with each event and whether it counted) as it returns.
    The leaf tests and the window arithmetic are the same lines of code.
    """

    def __init__(self, comp: "Compiler", observe: bool = False):
        self.comp = comp
        self.observe = observe
        self.ns: dict[str, Any] = {"_compare_values": compare_values, "_member": member, "_text_op": text_op,
                                   "_is_set": is_set, "_get_path": get_path, "_subtract": _subtract_at,
                                   "_trigger": trigger_value, "_bisect_right": bisect_right, "_time_of": _time_of,
                                   "NEVER": NEVER}
        self.n = 0
        self.lean = comp.lean if not observe else None
        self.segments: dict[str, str] = {}
        self.nodes: list[ir.Cond] = []  # observing build: the condition part each node number stands for

    def _name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, v) -> str:
        name = self._name("_k")
        self.ns[name] = v
        return name

    def _define(self, name: str, src: str) -> None:
        exec(compiled(src, f"<goal condition {name}>", program=True), self.ns)  # compiled once per machine (syntax/codecache.py)

    def _node(self, c: ir.Cond) -> int:
        self.nodes.append(c)
        return len(self.nodes) - 1

    def function(self, c: ir.Cond) -> Callable:
        if not self.observe and isinstance(c, ir.CEvent):  # one count: its loop is the condition (a call less)
            return self.ns[self.event(c, whole=True)]
        name = self._name("_c")
        if not self.observe:
            self._define(name, f"def {name}(ct, now, since, f):\n    return {self.cond(c, 'f')}\n")
            return self.ns[name]
        paths = ir.attribute_paths(c, self.comp.program.segments)
        reads = "".join(f"{self.operand(ir.OAttr(p), 'f')}, " for p in paths)
        self._define(name, f"def {name}(ct, now, since, f, _o):\n"
                           f"    _o.attributes({self.const(paths)}, ({reads}))\n"
                           f"    return {self.cond(c, 'f')}\n")
        return self.ns[name]

    def first_goal(self, steps: list[tuple[int, int, str, ir.Cond]], exits: list[ir.Cond]) -> Callable:
        fn = self._name("_g")
        lines = [f"def {fn}(ct, now, since, top, at_goal, achieved):", "    f = None"]
        for i, (top, pc, name, c) in enumerate(steps):
            lines += [f"    if ({top} > top or at_goal == {pc}) and {self.const(name)} not in achieved "
                      f"and {self.cond(c, 'f')}:", f"        return {i}"]
        for i, c in enumerate(exits, len(steps)):
            lines += [f"    if {self.cond(c, 'f')}:", f"        return {i}"]
        lines.append("    return -1")
        self._define(fn, "\n".join(lines) + "\n")
        return self.ns[fn]

    # -- operands: expressions over ct (the contact) and the fields variable
    def operand(self, op: ir.Operand, f: str) -> str:
        if isinstance(op, ir.OConst):
            return self.const(op.value)
        if isinstance(op, ir.OField):
            key = self.const(op.name)
            return f"{f}.get({key})" if f == "ef" else f"({f}.get({key}) if {f} is not None else None)"
        if isinstance(op, ir.OAttr):
            if len(op.path) == 1:
                return f"ct.attrs.get({self.const(op.path[0])})"
            return f"_get_path(ct.attrs, {self.const(op.path)})"
        if isinstance(op, ir.OTrigger):
            self.comp.reads_trigger = True
            return f"_trigger(ct, {self.const(self.comp.workflow)}, {self.const(op.name)})"
        if isinstance(op, ir.OList):
            if all(isinstance(x, ir.OConst) for x in op.items):
                return self.const(tuple(x.value for x in op.items))
            return "[" + ", ".join(self.operand(x, f) for x in op.items) + "]"
        raise AssertionError(type(op))

    # -- conditions: expressions whose value is a bool
    def cond(self, c: ir.Cond, f: str) -> str:
        if self.observe:
            return self.observed(c, f)
        if isinstance(c, ir.COr):
            return "(" + " or ".join(self.cond(x, f) for x in self._cheap_first(c.items)) + ")" if c.items else "False"
        if isinstance(c, ir.CAnd):
            return "(" + " and ".join(self.cond(x, f) for x in self._cheap_first(c.items)) + ")" if c.items else "True"
        if isinstance(c, ir.CNot):
            return f"(not {self.cond(c.operand, f)})"
        if isinstance(c, ir.CSegment):
            return f"{self.segment(c.name)}(ct, now, since, {f})"
        if isinstance(c, ir.CEvent):
            return self.event(c)
        return self.leaf(c, lambda op: self.operand(op, f))

    def _cheap_first(self, items: tuple) -> list:
        """The parts of an ``and`` or an ``or`` with those that count no
        events (tests on values: a few operations) before those that do (a
        loop over a history), each group in source order. The parts have no
        effects, so the order changes no value, only how often a count is
        run: ``engaged and contact.lead_score >= 50`` skips the count for a
        contact below 50. (The observing build evaluates every part, in
        source order.)"""
        segments = self.comp.program.segments
        return sorted(items, key=lambda x: any(isinstance(n, ir.CEvent) for n, _ in ir.walk(x, segments)))

    def observed(self, c: ir.Cond, f: str) -> str:
        """The observing build of ``c``: an expression with the same value
        that reports it (and what it read) to ``_o`` as it is computed."""
        if isinstance(c, (ir.COr, ir.CAnd)):
            parts = "".join(f"{self.cond(x, f)}, " for x in c.items)
            return f"_o.node({self._node(c)}, {'any' if isinstance(c, ir.COr) else 'all'}(({parts})))"
        if isinstance(c, ir.CNot):
            return f"_o.node({self._node(c)}, (not {self.cond(c.operand, f)}))"
        if isinstance(c, ir.CSegment):
            return f"_o.node({self._node(c)}, {self.segment(c.name)}(ct, now, since, {f}, _o))"
        if isinstance(c, ir.CEvent):
            return self.event(c)
        # A leaf reads its operands once, into variables the test then uses.
        ops = ir.operands(c)
        names = [self._name("_r") for _ in ops]
        reads = "".join(f"({n} := {self.operand(op, f)}), " for n, op in zip(names, ops))
        test = self.leaf(c, lambda op: next(n for o, n in zip(ops, names) if o is op))
        return f"_o.leaf({self._node(c)}, ({reads}), {test})"

    def leaf(self, c: ir.Cond, read: Callable[[ir.Operand], str]) -> str:
        """A test on operands: ``read(op)`` is the expression of an operand."""
        if isinstance(c, ir.CConst):
            return self.const(c.value)
        if isinstance(c, ir.CCompare):
            return self.compare(c, read)
        if isinstance(c, ir.CIn):
            left = read(c.left)
            r = c.right
            consts = isinstance(r, ir.OList) and all(isinstance(x, ir.OConst) for x in r.items)
            kinds = {_kind(x.value) for x in r.items} if consts else set()
            if len(kinds) == 1 and kinds <= {"text", "number", "boolean"}:
                # constants of one kind: Python's ``in``, and for numbers or booleans the
                # value's kind too (booleans equal only booleans, as ``member`` has it)
                v = self._name("_v")
                kind = {"text": "", "number": f" and {v}.__class__ is not bool", "boolean": f" and {v}.__class__ is bool"}[kinds.pop()]
                expr = f"(({v} := {left}) is not None and {v} in {read(r)}{kind})"
            elif isinstance(c.left, ir.OConst) and isinstance(c.left.value, str):
                # ``member`` of a text, inline: in a list, a text or a map's keys
                v = self._name("_v")
                expr = f"(isinstance({v} := {read(r)}, (list, tuple, str, dict)) and {left} in {v})"
            else:
                expr = f"_member({left}, {read(r)})"
            return f"(not {expr})" if c.negated else expr
        if isinstance(c, ir.CText):
            left = read(c.left)
            r = c.right
            if c.op in ("starts with", "ends with") and isinstance(r, ir.OConst) and isinstance(r.value, str):
                v = self._name("_v")
                method = "startswith" if c.op == "starts with" else "endswith"
                return f"(isinstance({v} := {left}, str) and {v}.lower().{method}({self.const(r.value.lower())}))"
            return f"_text_op({self.const(c.op)}, {left}, {read(r)})"
        if isinstance(c, ir.CIsSet):
            expr = f"_is_set({read(c.operand)})"
            return f"(not {expr})" if c.negated else expr
        if isinstance(c, ir.CTruthy):
            return f"bool({read(c.operand)})"
        raise AssertionError(type(c))

    def compare(self, c: ir.CCompare, read: Callable[[ir.Operand], str]) -> str:
        op, left, r = c.op, read(c.left), c.right
        if isinstance(r, ir.OConst) and r.value is not None:
            k, val = self.const(r.value), r.value
            v = self._name("_v")
            if op in ("==", "!="):
                same = "is" if type(val) is bool else "is not"
                eq = f"(({v} := {left}) is not None and {v} == {k} and type({v}) {same} bool)"
                return eq if op == "==" else f"(not {eq})"
            if _is_num(val):
                return f"(isinstance({v} := {left}, (int, float)) and type({v}) is not bool and {v} {op} {k})"
            if isinstance(val, str):
                return f"(isinstance({v} := {left}, str) and {v} {op} {k})"
        return f"_compare_values({self.const(op)}, {left}, {read(r)})"

    def segment(self, name: str) -> str:
        fn = self.segments.get(name)
        if fn is None:
            fn = self.segments[name] = self._name("_s")
            # Defined before its body compiles: a (checked, acyclic) segment
            # is compiled once however often it is used.
            body = self.comp.program.segments[name]
            if not self.observe and isinstance(body, ir.CEvent):  # one count: its loop is the segment
                self.ns[fn] = self.ns[self.event(body, whole=True)]
                return fn
            observer = ", _o" if self.observe else ""
            self._define(fn, f"def {fn}(ct, now, since, f{observer}):\n"
                             f"    return {self.cond(body, 'f')}\n")
        return fn

    def event(self, c: ir.CEvent, whole: bool = False) -> str:
        """An event count's comparison, as an expression calling the count's
        loop; ``whole``: instead, define the count and its comparison as one
        condition function ``(ct, now, since, f)`` and give its name."""
        dur = c.duration
        fn = self._name("_e")
        n = c.count
        stop = n if c.count_kind == "at_least" else n + 1
        events = self.const(c.event)
        if c.window == "within":
            months, days, secs = dur.months, dur.days, dur.seconds
            if months == 0 and days == 0:
                start = f"now - {secs}"
            elif months == 0 and self.comp.tz in UTC_NAMES:
                start = f"now - {days * 86400 + secs}"
            else:
                start = f"_subtract(now, {months}, {days}, {secs}, {self.const(self.comp.tz)})"
        else:
            start = None
        cmp = {"at_least": ">=", "at_most": "<=", "exactly": "=="}[c.count_kind]
        if self.observe:
            return self._observed_event(c, fn, events, start, cmp)
        static = False
        if self.lean is not None:
            atom = self.lean.add(c, stop, self)
            events = self.const(atom.key)
            static = atom.static
        ret = f" {cmp} {n}" if whole else ""  # the whole condition returns the comparison
        lines = [f"def {fn}(ct, now, since{', f' if whole else ''}):",
                 f"    lst = ct.events.get({events})",
                 "    if not lst:",
                 f"        return {(0 >= n, 0 <= n, 0 == n)[('>=', '<=', '==').index(cmp)] if whole else 0}"]
        if start is not None:
            if start.startswith("_subtract("):  # calendar arithmetic: once per instant, not per contact
                memo = self.const([(None, None)])  # (now, start) of the latest call, replaced whole
                lines += [f"    m = {memo}[0]", "    if m[0] == now:", "        start = m[1]", "    else:",
                          f"        start = {start}", f"        {memo}[0] = (now, start)"]
            else:
                lines.append(f"    start = {start}")
            edge = "        if t < start:\n            break"
        elif c.window == "ever":
            edge = None
        else:  # since enrollment, or the default (since enrollment inside a workflow)
            edge = "        if since is not None and t < since:\n            break"
        lines += ["    found = 0", "    i = len(lst)", "    while i:", "        i -= 1",
                  "        t = lst[i]" if static else "        t, ef = lst[i]", "        if t > now:", "            continue"]
        if edge:
            lines.append(edge)
        test = [self.cond(c.filter, "ef")] if c.filter is not None and not static else []
        if c.after is not None:
            test.append(f"{self.anchor(c)}(ct, now, since, lst, i, t)")
        if test:
            lines += [f"        if {' and '.join(test)}:", "            found += 1",
                      f"            if found >= {stop}:", "                break"]
        else:
            lines += ["        found += 1", f"        if found >= {stop}:", "            break"]
        lines.append(f"    return found{ret}")
        self._define(fn, "\n".join(lines) + "\n")
        return fn if whole else f"({fn}(ct, now, since) {cmp} {n})"

    def anchor(self, c: ir.CEvent) -> str:
        """A function telling whether the EVENT at ``lst[i]`` (time ``t``) of
        ``EVENT within D after OTHER`` has an OTHER at most D before it, in
        the atom's scope (tests/closure_oracle.py has the plain version). The
        observing build calls the engine's own function: the anchor's filter
        is not a part of the condition that explain shows."""
        if self.observe:
            prod = self.comp.production()
            return self.const(prod.ns[prod.anchor(c)])
        a, dur = c.after, c.duration
        # The lean history keeps every event of both types (Atoms.whole): the
        # same list when they are of one type, so an event never anchors itself.
        anchors = self.lean.whole(a.event).key if self.lean is not None else a.event
        fn = self._name("_a")
        months, days, secs = dur.months, dur.days, dur.seconds
        if months == 0 and days == 0:
            lo = f"t - {secs}"
        elif months == 0 and self.comp.tz in UTC_NAMES:
            lo = f"t - {days * 86400 + secs}"
        else:
            lo = f"_subtract(t, {months}, {days}, {secs}, {self.const(self.comp.tz)})"
        lines = [f"def {fn}(ct, now, since, lst, i, t):",
                 f"    alst = ct.events.get({self.const(anchors)})",
                 "    if not alst:",
                 "        return False",
                 f"    lo = {lo}"]
        if c.window != "ever":  # since enrollment, or the default
            lines += ["    if since is not None and lo < since:", "        lo = since"]
        lines += ["    j = _bisect_right(alst, t, key=_time_of)", "    while j:", "        j -= 1",
                  "        ta, ef = alst[j]", "        if ta < lo:", "            break",
                  "        if alst is lst and j == i:", "            continue"]
        if a.filter is not None:
            lines += [f"        if {self.cond(a.filter, 'ef')}:", "            return True"]
        else:
            lines.append("        return True")
        lines.append("    return False")
        self._define(fn, "\n".join(lines) + "\n")
        return fn

    def matcher(self, flt: ir.Cond) -> Callable[[dict], bool]:
        """A static filter (one that reads only the event's fields) as a
        function of the fields alone: the lean history applies it once, as
        the event is recorded."""
        fn = self._name("_m")
        self._define(fn, f"def {fn}(ef):\n    return {self.cond(flt, 'ef')}\n")
        return self.ns[fn]

    def _observed_event(self, c: ir.CEvent, fn: str, events: str, start: Optional[str], cmp: str) -> str:
        """The count of the production loop without its early exits: each
        event is reported, with the filter's parts evaluated on it; the
        events the production loop would have stopped before (it walks back
        from the latest and stops at the first one before the window) do not
        count. The caller's events after the instant (``_o.later``) are shown
        the filter too."""
        node = self._node(c)
        if start is None:
            start = "None" if c.window == "ever" else "since"
        match = self.cond(c.filter, "ef") if c.filter is not None else "True"
        # `within D after OTHER`: whether an OTHER anchors the event (None: not asked)
        anchored = f"({self.anchor(c)}(ct, now, since, lst, i, t) if match else False)" if c.after else "None"
        lines = [f"def {fn}(ct, now, since, _o):",
                 f"    lst = ct.events.get({events}) or ()",
                 f"    start = {start}",
                 "    found = 0", "    stopped = False", "    i = len(lst)", "    while i:", "        i -= 1",
                 "        t, ef = lst[i]",
                 "        after = t > now",
                 "        if not after and start is not None and t < start:",
                 "            stopped = True",
                 f"        match = {match}",
                 f"        anchored = {anchored}",
                 "        counts = not after and not stopped and match and anchored is not False",
                 "        found += counts",
                 f"        _o.candidate({node}, i, t, ef, after, stopped and not after, counts, anchored)",
                 f"    for t, ef in _o.later({events}):",
                 f"        _o.candidate({node}, None, t, ef, True, False, {match} and False)",
                 f"    return _o.event({node}, start, found, found {cmp} {c.count})"]
        self._define(fn, "\n".join(lines) + "\n")
        return f"{fn}(ct, now, since, _o)"


# ---------------------------------------------------------------- the lean history

@attrs.define(eq=False)
class Atom:
    """What the lean history keeps per contact for the event counts of one
    type and filter (``Atoms``)."""
    key: str  # the contact's history under this key (``Contact.events``)
    event: str
    filter: Optional[ir.Cond]
    # A static filter (it reads only the event's fields; ``match``, None for
    # no filter) is applied as the event is recorded: then only the times of
    # matching events are kept, the latest ``keep`` of them (what the counts
    # reading it can tell apart).
    static: bool = False
    match: Optional[Callable[[dict], bool]] = None
    keep: int = 0
    # Otherwise (a filter reading the contact, or counting other events) the
    # time and the fields the filter reads of every event of the type (None:
    # all its fields), back to the longest window that reads it (None: the
    # whole history).
    fields: Optional[tuple[str, ...]] = ()
    back: Optional[int] = None
    windowed: bool = True  # every count reading it has a ``within`` window


class Atoms:
    """The lean history of a plan (``Engine(keep_history=False)``): per
    contact, for each event type and filter that some count reads, only
    what those counts can still tell apart, instead of every event of the
    type with its fields.

    * A count whose filter reads only the event's fields (or that has no
      filter) needs the times of the matching events, and of those only the
      latest n (``at least n``) or n + 1 (``at most n``, ``exactly n``):
      counting stops there, and every event the engine has recorded is at
      or before the instant it evaluates (events are recorded at their
      instant, or late, at an instant already past).
    * Any other filter is evaluated when the count is: the time and the
      fields it reads of each event, inside the longest window that reads
      them (the whole history for ``ever`` and ``since enrollment``).

    * ``EVENT within D after OTHER`` counts (and their anchors) read every
      event of both types with all its fields, over the whole history
      (``whole``): one list per type, so that when both are of one type an
      event is seen not to anchor itself, as in the full history.

    Counts with the same type and filter share one history (the key is the
    type and the filter's structure). Keys are stable across processes, for
    snapshots."""

    def __init__(self, program: ir.Program):
        self.program = program
        self.by_key: dict[str, Atom] = {}
        self.by_type: dict[str, list[Atom]] = {}

    def add(self, c: ir.CEvent, stop: int, gen: "_Generator") -> Atom:
        if c.after is not None:
            return self.whole(c.event)
        import hashlib
        flt = c.filter
        key = c.event if flt is None else \
            f"{c.event}|{hashlib.sha256(repr(flt).encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
        atom = self.by_key.get(key)
        if atom is None:
            atom = self.by_key[key] = Atom(key, c.event, flt)
            if flt is None or _static(flt, self.program):
                atom.static = True
                atom.match = gen.matcher(flt) if flt is not None else None
            else:
                names: dict[str, None] = {}
                for node, _ in ir.walk(flt, self.program.segments, filters=False):
                    for op in ir.operands(node):
                        for x in ir.operand_parts(op):
                            if isinstance(x, ir.OField):
                                names[x.name] = None
                atom.fields = tuple(names)
            self.by_type.setdefault(c.event, []).append(atom)
        atom.keep = max(atom.keep, stop)
        if c.window != "within":
            atom.windowed, atom.back = False, None
        elif atom.windowed:
            # Months count as 31 days; daylight saving moves a calendar window
            # by at most an hour or two: three hours of slack.
            back = c.duration.approx_seconds() + 3 * 3600
            atom.back = back if atom.back is None else max(atom.back, back)
        return atom

    def whole(self, event: str) -> Atom:
        """Every event of a type with all its fields, over the whole history."""
        key = f"{event}|*"
        atom = self.by_key.get(key)
        if atom is None:
            atom = self.by_key[key] = Atom(key, event, None, fields=None, back=None, windowed=False)
            self.by_type.setdefault(event, []).append(atom)
        return atom


def _static(flt: ir.Cond, program: ir.Program) -> bool:
    """A filter that reads only the event's own fields and constants (not
    the contact, the trigger event, nor other counts)."""
    for node, _ in ir.walk(flt, program.segments):
        if isinstance(node, (ir.CEvent, ir.CSegment)):
            return False
        for op in ir.operands(node):
            if any(isinstance(x, (ir.OAttr, ir.OTrigger)) for x in ir.operand_parts(op)):
                return False
    return True


# ---------------------------------------------------------------- observing

@attrs.define(eq=False)
class Candidate:
    """One event of an atom's type, as the observing build counted it."""
    index: Optional[int]  # in the contact's list; None for a later event the caller added
    time: int
    fields: dict
    after: bool  # after the instant evaluated
    outside: bool  # before the window's start (the enrollment, for since-enrollment windows)
    counts: bool
    filter: Optional["Observed"]  # the filter, evaluated on this event's fields
    # `within D after OTHER`: whether an OTHER anchors it (None: no anchor asked, or the filter failed)
    anchored: Optional[bool] = None


@attrs.define(eq=False)
class Observed:
    """A part of a condition with the value the observing build computed."""
    cond: ir.Cond
    value: bool
    parts: list["Observed"] = attrs.Factory(list)  # or/and items, not's operand, a segment's definition
    operands: tuple = ()  # leaves: the operand values read, in source order
    # event atoms: the window's first instant (None: unbounded), the events counted, every event seen
    start: Optional[int] = None
    found: int = 0
    candidates: list[Candidate] = attrs.Factory(list)


@attrs.define(eq=False)
class Observation:
    """One evaluation of a condition by its observing build."""
    value: bool
    tree: Observed
    attributes: dict  # attribute path -> value, for each attribute the condition names
    now: int
    since: Optional[int]


class _Recorder:
    """The observer ``_o`` the observing build reports to. Parts report
    after their own parts (post-order), so a stack rebuilds the tree."""

    def __init__(self, nodes: list[ir.Cond], later: dict[str, list]):
        self.nodes = nodes
        self.stack: list[Observed] = []
        self.pending: dict[int, list[Candidate]] = {}
        self.read: dict = {}
        self._later = later

    def attributes(self, paths: tuple, values: tuple) -> None:
        self.read = dict(zip(paths, values))

    def node(self, i: int, value: bool) -> bool:
        c = self.nodes[i]
        n = len(c.items) if isinstance(c, (ir.COr, ir.CAnd)) else 1
        parts = self.stack[len(self.stack) - n:]
        del self.stack[len(self.stack) - n:]
        self.stack.append(Observed(c, value, parts))
        return value

    def leaf(self, i: int, operands: tuple, value: bool) -> bool:
        self.stack.append(Observed(self.nodes[i], value, operands=operands))
        return value

    def later(self, etype: str) -> list:
        return self._later.get(etype, ())

    def candidate(self, i: int, index, t: int, fields: dict, after: bool, outside: bool, counts: bool,
                  anchored: Optional[bool] = None) -> None:
        flt = self.stack.pop() if self.nodes[i].filter is not None else None
        self.pending.setdefault(i, []).append(Candidate(index, t, fields, after, outside, counts, flt, anchored))

    def event(self, i: int, start: Optional[int], found: int, value: bool) -> bool:
        self.stack.append(Observed(self.nodes[i], value, start=start, found=found,
                                   candidates=self.pending.pop(i, [])))
        return value


class Observing:
    """The observing build of one condition (``Compiler.observing``)."""

    def __init__(self, fn: Callable, nodes: list[ir.Cond]):
        self.fn = fn
        self.nodes = nodes

    def __call__(self, ct, now: int, since: Optional[int], f: Optional[dict] = None,
                 later: Optional[dict[str, list]] = None) -> Observation:
        """Evaluate on contact ``ct`` at ``now``; ``later`` (event type ->
        [(time, fields)]) are events after ``now`` to show each filter on."""
        rec = _Recorder(self.nodes, later or {})
        value = self.fn(ct, now, since, f, rec)
        tree = rec.stack.pop()
        return Observation(value, tree, rec.read, now, since)


# ---------------------------------------------------------------- analysis

def referenced_types(c: ir.Cond | None, program: ir.Program) -> tuple[set[str], bool]:
    """Event types a condition counts (filters and segments included), and
    whether it reads contact attributes."""
    types: set[str] = set()
    reads_attrs = False
    for n, _ in ir.walk(c, program.segments):
        if isinstance(n, ir.CEvent):
            types.add(n.event)
        elif not reads_attrs:
            reads_attrs = any(isinstance(p, ir.OAttr) for op in ir.operands(n) for p in ir.operand_parts(op))
    return types, reads_attrs


def expiry_windows(c: ir.Cond | None, program: ir.Program, *, both_ways: bool) -> dict[str, set]:
    """The ``within`` windows (per event type) where an event leaving the
    window can change the condition in a way that matters.

    An event leaving a window lowers a count. For a goal or a wait, only a
    change from false to true matters (true is acted on at once), which a
    lower count causes only under ``not`` or with ``at most`` / ``exactly``.
    An audience needs both ways (a spent contact is freed when seen not
    matching), so ``both_ways`` keeps every window. Counts inside event
    filters are not followed.
    """
    out: dict[str, set] = {}
    for n, positive in ir.walk(c, program.segments, filters=False):
        if isinstance(n, ir.CEvent) and n.window == "within":
            if both_ways or not positive or n.count_kind != "at_least":
                out.setdefault(n.event, set()).add(n.duration)
    return out
