"""The closure oracle: a condition as nested closures that call the value
rules (``compare_values``, ``member``, ``text_op``, ``is_set``) one by one.

The engine runs only the generated code of ``goaldsl.runtime.compiler``; this
plain build of the same meaning is what tests compare it with
(tests/test_compiled_conditions.py, test_observing.py, test_within_after.py).
It lives here, not in the package: nothing but the tests runs it.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Callable, Optional

from goaldsl.runtime.compiler import NEVER, Cond, compare_values, get_path, is_set, member, text_op, trigger_value
from goaldsl.semantics import ir
from goaldsl.semantics.calendar import subtract


def _time_of(ev: tuple) -> int:
    return ev[0]


class ClosureOracle:
    """Conditions of ``program`` as closures, in time zone ``tz`` (and for
    ``workflow``, whose trigger event ``trigger.FIELD`` reads)."""

    def __init__(self, program: ir.Program, tz: str = "UTC", workflow: Optional[str] = None):
        self.program = program
        self.tz = tz
        self.workflow = workflow
        self._segments: dict[str, Cond] = {}

    def operand(self, op: ir.Operand) -> Callable:
        if isinstance(op, ir.OConst):
            v = op.value
            return lambda c, f: v
        if isinstance(op, ir.OField):
            name = op.name
            return lambda c, f: f.get(name) if f is not None else None
        if isinstance(op, ir.OAttr):
            path = op.path
            if len(path) == 1:
                key = path[0]
                return lambda c, f: c.attrs.get(key)
            return lambda c, f: get_path(c.attrs, path)
        if isinstance(op, ir.OTrigger):
            wf, name = self.workflow, op.name
            return lambda c, f: trigger_value(c, wf, name)
        if isinstance(op, ir.OList):
            if all(isinstance(x, ir.OConst) for x in op.items):
                values = tuple(x.value for x in op.items)
                return lambda c, f: values
            getters = [self.operand(x) for x in op.items]
            return lambda c, f: [g(c, f) for g in getters]
        raise AssertionError(type(op))

    def closure(self, c: ir.Cond) -> Cond:
        if isinstance(c, ir.COr):
            parts = [self.closure(x) for x in c.items]
            return lambda ct, now, since, f: any(p(ct, now, since, f) for p in parts)
        if isinstance(c, ir.CAnd):
            parts = [self.closure(x) for x in c.items]
            return lambda ct, now, since, f: all(p(ct, now, since, f) for p in parts)
        if isinstance(c, ir.CNot):
            inner = self.closure(c.operand)
            return lambda ct, now, since, f: not inner(ct, now, since, f)
        if isinstance(c, ir.CConst):
            v = c.value
            return lambda ct, now, since, f: v
        if isinstance(c, ir.CCompare):
            left, right, op = self.operand(c.left), self.operand(c.right), c.op
            return lambda ct, now, since, f: compare_values(op, left(ct, f), right(ct, f))
        if isinstance(c, ir.CIn):
            left, right = self.operand(c.left), self.operand(c.right)
            if c.negated:
                return lambda ct, now, since, f: not member(left(ct, f), right(ct, f))
            return lambda ct, now, since, f: member(left(ct, f), right(ct, f))
        if isinstance(c, ir.CText):
            left, right, op = self.operand(c.left), self.operand(c.right), c.op
            return lambda ct, now, since, f: text_op(op, left(ct, f), right(ct, f))
        if isinstance(c, ir.CIsSet):
            get = self.operand(c.operand)
            if c.negated:
                return lambda ct, now, since, f: not is_set(get(ct, f))
            return lambda ct, now, since, f: is_set(get(ct, f))
        if isinstance(c, ir.CTruthy):
            get = self.operand(c.operand)
            return lambda ct, now, since, f: bool(get(ct, f))
        if isinstance(c, ir.CSegment):
            return self.segment(c.name)
        if isinstance(c, ir.CEvent):
            return self.event(c)
        raise AssertionError(type(c))

    def segment(self, name: str) -> Cond:
        if name in self._segments:
            return self._segments[name]
        # Late binding keeps a (checked, acyclic) segment compiled once.
        box: list[Cond] = []
        self._segments[name] = lambda ct, now, since, f: box[0](ct, now, since, f)
        box.append(self.closure(self.program.segments[name]))
        self._segments[name] = box[0]
        return box[0]

    def event(self, c: ir.CEvent) -> Cond:
        etype = c.event
        flt = self.closure(c.filter) if c.filter is not None else None
        kind, n = c.count_kind, c.count
        stop = n if kind == "at_least" else n + 1
        window = c.window
        tz = self.tz
        dur = c.duration
        if window == "within":
            months, days, secs = dur.months, dur.days, dur.seconds
            def lower(now, since):
                return subtract(now, months, days, secs, tz)
        elif window == "ever":
            def lower(now, since):
                return NEVER
        else:  # since_enrollment, or the default (since enrollment inside a workflow)
            def lower(now, since):
                return NEVER if since is None else since

        anchored = self.anchor(c) if c.after is not None else None

        def count(ct, now, since, f):
            lst = ct.events.get(etype)
            if not lst:
                return 0
            start = lower(now, since)
            found = 0
            for i in range(len(lst) - 1, -1, -1):
                ev = lst[i]
                t = ev[0]
                if t > now:
                    continue
                if t < start:
                    break
                if (flt is None or flt(ct, now, since, ev[1])) and (
                        anchored is None or anchored(ct, now, since, lst, i, t, start)):
                    found += 1
                    if found >= stop:
                        break
            return found

        if kind == "at_least":
            return lambda ct, now, since, f: count(ct, now, since, f) >= n
        if kind == "at_most":
            return lambda ct, now, since, f: count(ct, now, since, f) <= n
        return lambda ct, now, since, f: count(ct, now, since, f) == n

    def anchor(self, c: ir.CEvent) -> Callable:
        """``EVENT within D after OTHER``: whether an OTHER (of the filter)
        happened at most D before the EVENT at ``lst[i]`` (time ``t``), at
        or after ``start``; the EVENT itself does not anchor itself."""
        a = c.after
        atype, tz = a.event, self.tz
        aflt = self.closure(a.filter) if a.filter is not None else None
        months, days, secs = c.duration.months, c.duration.days, c.duration.seconds

        def anchored(ct, now, since, lst, i, t, start):
            alst = ct.events.get(atype)
            if not alst:
                return False
            lo = max(start, subtract(t, months, days, secs, tz))
            j = bisect_right(alst, t, key=_time_of)
            while j:
                j -= 1
                ta, fa = alst[j]
                if ta < lo:
                    break
                if alst is lst and j == i:
                    continue
                if aflt is None or aflt(ct, now, since, fa):
                    return True
            return False
        return anchored
