"""A small, exact reasoner over conditions (the checked IR), for `goal lint`.

It answers one question: *can this condition ever hold?* From that follow
the others: A implies B when ``A and not B`` can never hold; a branch is
dead when its condition (with the earlier branches false) can never hold.

The answer is ``False`` only when it is proven; where the reasoner cannot
decide it answers ``None`` and the lints stay silent. A proof never assumes
more than the run-time rules guarantee:

* The condition is put in negation normal form (segments inlined) and
  expanded to a disjunction of conjunctions, up to ``MAX_CONJUNCTS``;
  beyond that: undecided. It can never hold when every conjunction is
  contradictory.
* Literals are grouped by what they read: one contact attribute, one event
  field (inside a filter), or one event count. Different attributes are
  independent, so a conjunction is contradictory when the literals on one
  attribute are. (Two paths that overlap, ``contact.company`` and
  ``contact.company.size``, are treated as unrelated: that can only hide a
  contradiction, never invent one.)
* The literals on one value are decided by trying candidate values of each
  kind the value can have (unset, true/false, numbers, texts, lists, maps)
  and evaluating every literal with the engine's own value rules
  (``runtime.compiler``: ``compare_values``, ``member``, ``text_op``,
  ``is_set``). Where the candidates are provably enough (numbers, booleans,
  maps; texts and lists compared only by equality, order and membership
  in a list, or pinned by ``==``/``in [...]``) "no candidate works" is a
  proof; elsewhere it is undecided unless a plain conflict is found (the
  same item wanted and refused in a list, and the like).
* An event field's values are those its declaration allows: an enum field
  holds one of its values (``status == paid and status == void`` cannot
  hold), a number field a number, and so on; an optional field may also be
  missing. When an action of the program could emit the event with a field
  of another type, that field may hold anything.
* Each event atom is a count of matching events in a window. Two counts of
  the same event type are ordered when one's window lies inside the
  other's and its filter implies the other's (proven by this reasoner):
  ``purchase(amount > 100) ever`` counts no more than ``purchase ever``. A
  filter that can never hold counts zero. The counts, their bounds (``at
  least``, ``at most``, ``exactly`` and their negations) and these orders
  are solved exactly; no other relation between counts is assumed.
* Anything else (two attributes compared with each other, a field compared
  with an attribute, constants that are maps) is an opaque proposition: only
  the same proposition both wanted and refused is a contradiction.

Windows are read in a context: inside a workflow's goals, ``if``s and
waits, a window left out or ``since enrollment`` counts from the
enrollment; in an audience (no enrollment yet) it counts all history.

tests/test_reasoner.py checks every answer against brute-force evaluation
of the compiled conditions on random contacts and events.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Optional

import attrs

from ..runtime.compiler import compare_values, is_set, member, text_op
from ..semantics import ir

MAX_CONJUNCTS = 512
_FRESH = "\x00goal-lint"  # a text no program writes: the "some other value" candidate


@attrs.frozen
class Context:
    """Where a condition is evaluated: ``enrolled`` is True inside a
    workflow's goals, branches and waits (the default window counts since
    the enrollment), False for an audience or a lone condition."""
    enrolled: bool = True


class _Undecided(Exception):
    pass


# ====================================================================== normal form

@attrs.frozen
class Lit:
    """A literal: an atom (an IR condition node without and/or/not) and
    whether it is wanted true."""
    atom: Any
    positive: bool


class Reasoner:
    def __init__(self, program: ir.Program):
        self.program = program
        self._loose_fields = _loosely_emitted_fields(program)

    # ---------------------------------------------------------------- public answers

    def satisfiable(self, cond: Optional[ir.Cond], ctx: Context = Context()) -> Optional[bool]:
        """False when ``cond`` can never hold (proven), True when some
        conjunction is shown to be possible, None when undecided."""
        if cond is None:
            return True
        return self._sat_conds([(cond, True)], ctx)

    def never(self, cond: Optional[ir.Cond], ctx: Context = Context()) -> bool:
        """Proven: ``cond`` can never hold."""
        return self.satisfiable(cond, ctx) is False

    def always(self, cond: Optional[ir.Cond], ctx: Context = Context()) -> bool:
        """Proven: ``cond`` always holds."""
        return cond is not None and self._sat_conds([(cond, False)], ctx) is False

    def implies(self, a: ir.Cond, b: ir.Cond, ctx_a: Context = Context(), ctx_b: Optional[Context] = None) -> bool:
        """Proven: whenever ``a`` holds (read in ``ctx_a``) at an instant,
        ``b`` holds (read in ``ctx_b``) at that instant."""
        return self._sat_mixed([(a, True, ctx_a), (b, False, ctx_b or ctx_a)]) is False

    def all_false(self, conds: Iterable[ir.Cond], ctx: Context = Context(), also_true: Optional[ir.Cond] = None) -> bool:
        """Proven: ``also_true`` and none of ``conds`` can never hold at once
        (a dead ``else``, or a dead ``else if`` with ``also_true``)."""
        parts = [(c, False, ctx) for c in conds]
        if also_true is not None:
            parts.append((also_true, True, ctx))
        return self._sat_mixed(parts) is False

    # ---------------------------------------------------------------- driver

    def _sat_conds(self, parts: list[tuple[ir.Cond, bool]], ctx: Context) -> Optional[bool]:
        return self._sat_mixed([(c, pos, ctx) for c, pos in parts])

    def _sat_mixed(self, parts: list[tuple[ir.Cond, bool, Optional[Context]]], ev: Optional[ir.EventType] = None,
                   in_filter: bool = False) -> Optional[bool]:
        try:
            dnf = [[]]
            for cond, positive, ctx in parts:
                dnf = _and_dnf(dnf, self._dnf(cond, positive, ctx))
            result: Optional[bool] = False
            for conj in dnf:
                if in_filter and any(isinstance(l.atom, _EventAtom) for l in conj):
                    return None
                r = self._conjunction(conj, ev)
                if r is True:
                    return True
                if r is None:
                    result = None
            return result
        except _Undecided:
            return None

    def _dnf(self, c: ir.Cond, positive: bool, ctx: Context, depth: int = 0) -> list[list[Lit]]:
        """Negation normal form expanded to a list of conjunctions."""
        if depth > 400:
            raise _Undecided()
        if isinstance(c, ir.CSegment):
            # Inlined here, not by ir.walk: the normal form needs each use of a
            # segment in its place in the tree, under the negations above it,
            # and walk gives a flat list that visits a definition once per polarity.
            seg = self.program.segments.get(c.name)
            if seg is None:
                raise _Undecided()
            return self._dnf(seg, positive, ctx, depth + 1)
        if isinstance(c, ir.CNot):
            return self._dnf(c.operand, not positive, ctx, depth + 1)
        if isinstance(c, ir.CConst):
            return [[]] if c.value == positive else []
        if isinstance(c, (ir.CAnd, ir.COr)):
            conj = isinstance(c, ir.CAnd) == positive
            parts = [self._dnf(x, positive, ctx, depth + 1) for x in c.items]
            if conj:
                out = [[]]
                for p in parts:
                    out = _and_dnf(out, p)
                return out
            out = [x for p in parts for x in p]
            if len(out) > MAX_CONJUNCTS:
                raise _Undecided()
            return out
        if isinstance(c, ir.CEvent):
            return [[Lit(_EventAtom.of(c, ctx), positive)]]
        return [[Lit(c, positive)]]

    # ---------------------------------------------------------------- one conjunction

    def _conjunction(self, lits: list[Lit], fields: Optional[ir.EventType] = None) -> Optional[bool]:
        subjects: dict[Any, list[tuple[Any, bool]]] = {}
        opaque: dict[Any, set[bool]] = {}
        counts: list[tuple[_EventAtom, bool]] = []
        result: Optional[bool] = True
        for lit in lits:
            if isinstance(lit.atom, _EventAtom):
                counts.append((lit.atom, lit.positive))
                continue
            shaped = _shape(lit.atom)
            if shaped is None:
                try:
                    opaque.setdefault(_identity(lit.atom), set()).add(lit.positive)
                except TypeError:  # holds a map constant: leave it out (a weaker conjunction)
                    result = None
                continue
            subject, test, negated = shaped
            subjects.setdefault(subject, []).append((test, lit.positive != negated))
        for seen in opaque.values():
            if len(seen) == 2:
                return False
        for subject, tests in subjects.items():
            r = _decide_value(tests, self._domain(subject, fields))
            if r is False:
                return False
            if r is None:
                result = None
        if counts:
            r = self._counts(counts)
            if r is False:
                return False
            if r is None:
                result = None
        return result

    def _domain(self, subject, event: Optional[ir.EventType]) -> Optional[ir.FieldType]:
        if subject[0] != "field" or event is None:
            return None
        if (event.name, subject[1]) in self._loose_fields:
            return None
        return event.fields.get(subject[1])

    # ---------------------------------------------------------------- event counts

    def _filter_never(self, atom: "_EventAtom") -> bool:
        if atom.filter is None:
            return False
        ev = self.program.events.get(atom.event)
        return self._sat_filter([(atom.filter, True)], ev) is False

    def _filter_implies(self, a: "_EventAtom", b: "_EventAtom") -> bool:
        if b.filter is None:
            return True
        if a.filter is None:
            return self._sat_filter([(b.filter, False)], self.program.events.get(b.event)) is False
        if a.filter == b.filter:
            return True
        ev = self.program.events.get(a.event)
        return self._sat_filter([(a.filter, True), (b.filter, False)], ev) is False

    def _sat_filter(self, parts, ev: Optional[ir.EventType]) -> Optional[bool]:
        # Filters are read where the event is: contact attributes as of now,
        # the event's own fields; a filter holds no event atoms of its own.
        return self._sat_mixed([(cond, positive, Context(enrolled=False)) for cond, positive in parts], ev,
                               in_filter=True)

    def _counts(self, lits: list[tuple["_EventAtom", bool]]) -> Optional[bool]:
        """Integer bounds on each count, plus count(a) <= count(b) where
        a's window lies in b's and a's filter implies b's."""
        atoms: list[_EventAtom] = []
        index: dict[tuple, int] = {}
        try:
            for a, _ in lits:
                if _identity(a) not in index:
                    index[_identity(a)] = len(atoms)
                    atoms.append(a)
        except TypeError:  # a filter holding a map constant
            return None
        n = len(atoms)
        lo = [0] * n
        hi: list[float] = [math.inf] * n
        excluded: list[set[int]] = [set() for _ in range(n)]
        for a, positive in lits:
            i = index[_identity(a)]
            k = a.n
            if a.kind == "at_least":
                if positive:
                    lo[i] = max(lo[i], k)
                else:
                    hi[i] = min(hi[i], k - 1)
            elif a.kind == "at_most":
                if positive:
                    hi[i] = min(hi[i], k)
                else:
                    lo[i] = max(lo[i], k + 1)
            else:
                if positive:
                    lo[i], hi[i] = max(lo[i], k), min(hi[i], k)
                else:
                    excluded[i].add(k)
        for i, a in enumerate(atoms):
            if self._filter_never(a):
                hi[i] = min(hi[i], 0)
        below = [(i, j) for i, j in itertools.permutations(range(n), 2)
                 if atoms[i].event == atoms[j].event and _window_within(atoms[i].window, atoms[j].window)
                 and self._filter_implies(atoms[i], atoms[j])]
        # The least solution: raise lower bounds along the order and past
        # excluded values until nothing changes (it is the smallest count
        # each atom can have; a system has a solution iff this one fits).
        for _ in range(4 * n + 64):
            changed = False
            for i in range(n):
                while lo[i] in excluded[i]:
                    lo[i] += 1
                    changed = True
            for i, j in below:
                if lo[j] < lo[i]:
                    lo[j] = lo[i]
                    changed = True
                if hi[i] > hi[j]:
                    hi[i] = hi[j]
                    changed = True
            if not changed:
                break
        else:
            return None
        return all(lo[i] <= hi[i] for i in range(n))


# ====================================================================== DNF helpers

def _identity(x) -> tuple:
    """A key under which two atoms or tests are the same only if the engine
    cannot tell them apart: Python's ``1 == True`` (and ``hash``) would make
    ``a == 1`` and ``a == true`` one test, which the engine's rules
    (``compare_values``) tell apart. The repr tells them apart too (and 1
    from 1.0, which only costs a proof, never a wrong one)."""
    return x, repr(x)


def _and_dnf(a: list[list[Lit]], b: list[list[Lit]]) -> list[list[Lit]]:
    if len(a) * len(b) > MAX_CONJUNCTS:
        raise _Undecided()
    return [x + y for x in a for y in b]


# ====================================================================== event atoms

@attrs.frozen
class _EventAtom:
    """An event atom read in a context: its window made absolute."""
    event: str
    filter: Optional[ir.Cond]
    kind: str
    n: int
    window: tuple  # ("ever",) | ("since",) | ("within", months, days, seconds) | ("after", scope, m, d, s, anchor)

    @classmethod
    def of(cls, c: ir.CEvent, ctx: Context) -> "_EventAtom":
        if c.after is not None:
            # `within D after OTHER` counts some of the events of its scope:
            # a window of its own, below only the same atom and `ever`.
            d = c.duration
            scope = "ever" if c.window == "ever" or not ctx.enrolled else "since"
            window = ("after", scope, d.months, d.days, d.seconds, c.after)
        elif c.window == "within":
            d = c.duration
            window = ("within", d.months, d.days, d.seconds)
        elif c.window == "ever" or not ctx.enrolled:
            window = ("ever",)
        else:
            window = ("since",)
        return cls(c.event, c.filter, c.count_kind, c.count, window)


def _window_within(a: tuple, b: tuple) -> bool:
    """Every instant window ``a`` covers, ``b`` covers too (both ending now)."""
    if b == ("ever",) or a == b:
        return True
    if a[0] == "within" and b[0] == "within":
        # Subtracting more months, then more days, then more seconds never
        # lands later (calendar.subtract is monotone in each part).
        return a[1] <= b[1] and a[2] <= b[2] and a[3] <= b[3]
    return False


# ====================================================================== one value

def _shape(atom) -> Optional[tuple[tuple, tuple, bool]]:
    """``(subject, test, negated)`` for an atom on one attribute or field
    against constants (``not in`` and ``is not set`` are a test negated);
    None for anything else (an opaque proposition)."""
    def subj(op):
        if isinstance(op, ir.OAttr):
            return ("attr", op.path)
        if isinstance(op, ir.OField):
            return ("field", op.name)
        if isinstance(op, ir.OTrigger):  # one value for the whole enrollment
            return ("trigger", op.name)
        return None

    def const(op):
        if isinstance(op, ir.OConst) and _plain(op.value):
            return True, op.value
        return False, None

    def const_list(op):
        if isinstance(op, ir.OList) and all(isinstance(x, ir.OConst) and _plain(x.value) for x in op.items):
            return tuple(x.value for x in op.items)
        return None

    if isinstance(atom, ir.CCompare):
        s, (ok, k) = subj(atom.left), const(atom.right)
        op = atom.op
        if s is None or not ok:
            s, (ok, k) = subj(atom.right), const(atom.left)
            op = _FLIP[op]
        if s is None or not ok or k is None:
            return None
        return s, ("cmp", op, k), False
    if isinstance(atom, ir.CIn):
        s = subj(atom.left)
        if s is not None:
            items = const_list(atom.right)
            if items is not None:
                return s, ("in_list", items), atom.negated
            ok, k = const(atom.right)
            if ok and isinstance(k, str):
                return s, ("in_text", k), atom.negated
            return None
        s = subj(atom.right)
        ok, k = const(atom.left)
        if s is not None and ok and k is not None:
            return s, ("has", k), atom.negated
        return None
    if isinstance(atom, ir.CText):
        s, (ok, k) = subj(atom.left), const(atom.right)
        if s is not None and ok and isinstance(k, str):
            return s, ("text", atom.op, k), False
        return None
    if isinstance(atom, ir.CIsSet):
        s = subj(atom.operand)
        return (s, ("set",), atom.negated) if s is not None else None
    if isinstance(atom, ir.CTruthy):
        s = subj(atom.operand)
        return (s, ("truthy",), False) if s is not None else None
    return None


_FLIP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _plain(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _holds(test: tuple, v) -> bool:
    """A test on a value, by the engine's rules (runtime.compiler)."""
    kind = test[0]
    if kind == "cmp":
        return compare_values(test[1], v, test[2])
    if kind == "in_list":
        return member(v, test[1])  # the engine's rule: an item equal as == has it (true is not 1)
    if kind == "in_text":
        return member(v, test[1])
    if kind == "has":
        return member(test[1], v)
    if kind == "text":
        return text_op(test[1], v, test[2])
    if kind == "set":
        return is_set(v)
    if kind == "truthy":
        return bool(v)
    raise AssertionError(kind)


def _ok(tests, v) -> bool:
    try:
        return all(_holds(t, v) == pos for t, pos in tests)
    except TypeError:  # an unhashable value in a membership test: not a value we can reason about
        return False


def _decide_value(tests: list[tuple[tuple, bool]], domain: Optional[ir.FieldType]) -> Optional[bool]:
    """Can one value satisfy every (test, wanted) pair? True / False (proven) / None."""
    wanted: dict[tuple, bool] = {}
    for t, pos in tests:
        if wanted.setdefault(_identity(t), pos) != pos:
            return False  # the same test wanted true and false
    kinds = _kinds(domain)
    pinned = _pinned(tests)
    if pinned is not None:
        # The value is one of a few constants (by ==, which the rules follow
        # up to 1 == 1.0; True and 1 are told apart, so both are tried).
        return any(_ok(tests, v) for v in pinned if _allowed(v, domain))
    verdicts = []
    for kind in kinds:
        r = _DECIDERS[kind](tests, domain)
        if r is True:
            return True
        verdicts.append(r)
    return False if all(r is False for r in verdicts) else None


def _kinds(domain: Optional[ir.FieldType]) -> tuple[str, ...]:
    if domain is None or domain.kind == "any":
        return ("none", "bool", "number", "text", "list", "map")
    base = {"string": ("text",), "step": ("text",), "enum": ("enum",), "number": ("number",), "bool": ("bool",),
            "map": ("map",), "list": ("list",)}.get(domain.kind, ("none", "bool", "number", "text", "list", "map"))
    return (("none",) if domain.optional else ()) + base


def _allowed(v, domain: Optional[ir.FieldType]) -> bool:
    if domain is None:
        return True
    return domain.optional if v is None else domain.accepts(v)


def _pinned(tests) -> Optional[list]:
    """When a wanted ``== k`` or ``in [..]`` (or "is part of a text") fixes
    the value to finitely many candidates, those candidates."""
    for t, pos in tests:
        if not pos:
            continue
        if t[0] == "cmp" and t[1] == "==":
            return _equal_forms(t[2])
        if t[0] == "in_list":
            return [x for k in t[1] for x in _equal_forms(k)]
        if t[0] == "in_text":
            s = t[1]
            if len(s) <= 40:  # every piece of the text
                return sorted({s[i:j] for i in range(len(s) + 1) for j in range(i, len(s) + 1)})
    return None


def _equal_forms(k) -> list:
    """Candidates for a value ``in`` may take as equal to ``k``: k itself
    and, for 0 and 1, the boolean of the same value (Python's ``in`` takes
    ``True`` for 1, the engine's does not; a candidate too many is only
    tried and found not to hold)."""
    out = [k]
    if isinstance(k, bool):
        out.append(int(k))
    elif isinstance(k, (int, float)) and k in (0, 1):
        out.append(bool(k))
    return out


def _consts(tests) -> list:
    out = []
    for t, _ in tests:
        if t[0] == "cmp":
            out.append(t[2])
        elif t[0] == "in_list":
            out.extend(t[1])
        elif t[0] in ("in_text", "has"):
            out.append(t[1])
        elif t[0] == "text":
            out.append(t[2])
    return out


def _decide_none(tests, domain) -> bool:
    return _ok(tests, None)


def _decide_bool(tests, domain) -> bool:
    return _ok(tests, True) or _ok(tests, False)


def _decide_enum(tests, domain) -> bool:
    return any(_ok(tests, v) for v in domain.values)


def _decide_number(tests, domain) -> bool:
    # Every test compares the number with constants, so its truth is the
    # same on each open interval between them: one point from each interval
    # and each constant decides exactly. 0 and 1 join the constants (truth,
    # and `in` lists that hold true/false).
    points = {0, 1}
    for k in _consts(tests):
        if isinstance(k, (int, float)) and not isinstance(k, bool) and math.isfinite(k):
            points.add(k)
    pts = sorted(points)
    cands = list(pts) + [pts[0] - 1, pts[-1] + 1] + [(a + b) / 2 for a, b in zip(pts, pts[1:])]
    return any(_ok(tests, v) for v in cands)


_TEXT_ONLY_EXACT = ("cmp", "in_list", "set", "truthy")


def _decide_text(tests, domain) -> Optional[bool]:
    if any(t[0] in ("set", "truthy") and not pos for t, pos in tests):
        return _ok(tests, "")  # the only text that is not set, and not true
    strs = sorted({k for k in _consts(tests) if isinstance(k, str)} | {""})
    # Equality, order and list membership depend only on where the text
    # falls among the constants: each constant, and one text inside each gap
    # (a + "\0" is the next text after a; a gap may be empty), decide them.
    exact = [a for a in strs] + [a + "\x00" for a in strs]
    simple = [(t, p) for t, p in tests if t[0] in _TEXT_ONLY_EXACT]
    if len(simple) == len(tests):
        return any(_ok(tests, v) for v in exact)
    if not any(_ok(simple, v) for v in exact):
        return False  # already the simple tests contradict each other
    for v in exact + _text_witnesses(tests):
        if _ok(tests, v):
            return True
    return None


def _text_witnesses(tests) -> list[str]:
    starts = [t[2] for t, p in tests if p and t[0] == "text" and t[1] == "starts with"]
    ends = [t[2] for t, p in tests if p and t[0] == "text" and t[1] == "ends with"]
    mids = [t[2] for t, p in tests if p and t[0] == "text" and t[1] == "contains"]
    mids += [t[1] for t, p in tests if p and t[0] == "has" and isinstance(t[1], str)]
    head = max(starts, key=len, default="")
    tail = max(ends, key=len, default="")
    out = []
    for sep in ("", "\x00", _FRESH):
        base = head + sep + "".join(mids) + sep + tail
        out += [base, base.lower(), base.upper()]
    return out


def _decide_list(tests, domain) -> Optional[bool]:
    want_items, refuse_items = [], []
    want_like, refuse_like = [], []  # `contains`: an item equal ignoring case
    need_empty = need_full = False
    for t, pos in tests:
        if t[0] == "has":
            (want_items if pos else refuse_items).append(t[1])
        elif t[0] == "text" and t[1] == "contains":
            (want_like if pos else refuse_like).append(t[2])
        elif t[0] in ("set", "truthy"):  # on a list both mean "not empty"
            if pos:
                need_full = True
            else:
                need_empty = True
    low = str.lower
    # plain conflicts: proven
    if need_empty and (want_items or want_like or need_full):
        return False
    for k in want_items:
        if any(_same(k, r) for r in refuse_items):
            return False
        if isinstance(k, str) and any(low(k) == low(r) for r in refuse_like):
            return False
    for c in want_like:
        if any(low(c) == low(r) for r in refuse_like):
            return False
    # a witness
    candidates = [[]] if not (want_items or want_like or need_full) else []
    for pick in itertools.product(*[_case_forms(c) for c in want_like]) if want_like else [()]:
        items = list(want_items) + list(pick)
        candidates += [items, items + [_FRESH]]
    for items in candidates:
        if _ok(tests, items):
            return True
    # Tests that are constant on lists (==, order, `in [...]`) may be what fails.
    constant = [(t, p) for t, p in tests if t[0] not in ("has", "set", "truthy") and not (
        t[0] == "text" and t[1] == "contains")]
    if constant and not _ok(constant, [_FRESH]):
        return False
    return None


def _case_forms(c: str) -> list[str]:
    return list(dict.fromkeys([c, c.lower(), c.upper(), c.swapcase(), c.title()]))[:5]


def _same(a, b) -> bool:
    try:
        return a == b
    except Exception:  # pragma: no cover
        return False


def _decide_map(tests, domain) -> Optional[bool]:
    want, refuse = [], []
    need_empty = need_full = False
    for t, pos in tests:
        if t[0] == "has":
            (want if pos else refuse).append(t[1])
        elif t[0] in ("set", "truthy"):  # on a map both mean "not empty"
            if pos:
                need_full = True
            else:
                need_empty = True
    if need_empty and (need_full or want):
        return False
    try:
        keys = {k: 0 for k in want}
    except TypeError:
        return None
    for cand in ([keys, dict(keys, **{_FRESH: 0})] if not need_empty else [{}]):
        if _ok(tests, cand):
            return True
    if any(_same(k, r) for k in want for r in refuse):
        return False
    constant = [(t, p) for t, p in tests if t[0] not in ("has", "set", "truthy")]
    if not _ok(constant, {_FRESH: 0}) and not _ok(constant, {}):
        return False
    return None


_DECIDERS = {"none": _decide_none, "bool": _decide_bool, "number": _decide_number, "text": _decide_text,
             "list": _decide_list, "map": _decide_map, "enum": _decide_enum}


# ====================================================================== declarations

def _loosely_emitted_fields(program: ir.Program) -> set[tuple[str, str]]:
    """(event, field) pairs an action may fill with a value its declared
    type does not promise: a parameter of another type, or a rest map."""
    loose = set()
    for act in program.actions.values():
        for spec in act.emits:
            ev = program.events.get(spec.event)
            if ev is None:
                continue
            for fname, (kind, val) in spec.mapping:
                ft = ev.fields.get(fname)
                if ft is None:
                    continue
                if kind == "param":
                    p = act.param(val)
                    if p is None or not _fits(p.type, ft):
                        loose.add((ev.name, fname))
                elif kind == "const" and val is not None and not ft.accepts(val):
                    loose.add((ev.name, fname))
    return loose


def _fits(src: ir.FieldType, dst: ir.FieldType) -> bool:
    if dst.kind == "any":
        return True
    if src.kind == "enum" and dst.kind == "enum":
        return set(src.values) <= set(dst.values)
    if src.kind in ("string", "step") and dst.kind in ("string", "step"):
        return True
    return src.kind == dst.kind and src.kind != "enum"


