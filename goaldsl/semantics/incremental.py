"""Checking a program again after an edit: the checker's work for each segment
and each workflow is kept, and done again only for those that changed or
whose surroundings did.

The language server parses a document block by block (``syntax/blocks.py``):
a block the edit did not touch keeps its nodes, even when it moved. So the
checker's result for a segment or a workflow node (its IR and the
diagnostics it reported, in the block's own positions) stays right as long
as what the checker read besides the node is the same: the declared events
and actions (their declaration nodes), the names of the segments, the named
steps of every workflow (for hints), the contacts schema, and the budget of
"did you mean" suggestions (see ``Checker.did_you_mean``). Everything else
(the standard library's declarations, segment cycles, duplicate names) is
checked again each time; it is cheap.

``MemoChecker`` knows the checker's state by name (``KNOWN_STATE``): a
checker holding anything else (a new part of the checker keeping something
between items) turns the memo off for good, so a check is never wrong, only
slower; tests/test_incremental.py says so, and compares checks with the memo
to checks without after random edits.
"""
from __future__ import annotations

from typing import Any, Optional

from ..syntax import ast as A
from . import ir
from .checker import Checker
from .loader import Loaded

#: The attributes of a Checker whose meaning the memo accounts for.
KNOWN_STATE = frozenset({
    "loaded", "contact_schema", "diags", "events", "actions", "segment_defs", "segments", "_kw",
    "_hint_budget", "step_owners", "cyclic", "_skip_names",
    # MemoChecker's own
    "memo", "envs", "same", "exhausted",
})


class _Entry:
    __slots__ = ("node", "env", "budget", "spent", "exhausted", "value", "diags")

    def __init__(self, node, env, budget, spent, exhausted, value, diags):
        self.node, self.env, self.budget, self.spent = node, env, budget, spent
        self.exhausted, self.value, self.diags = exhausted, value, diags


class Memo:
    """What the checks of one program (one document) keep between them."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], list[_Entry]] = {}
        self.pure: dict[tuple[str, int], tuple] = {}  # (what, id(node)) -> (node, value): depends on the node only
        self.off: Optional[str] = None  # why the memo is off, once it is
        self.hits = self.misses = 0
        self.live: set[int] = set()  # the nodes checked since the last ``prune``

    def prune(self) -> None:
        """Forget the entries of nodes not checked since the last prune (an
        edited block's old nodes): the memo holds the program as it is, not
        every version of it."""
        self.entries = {k: v for k, v in self.entries.items() if k[1] in self.live}
        self.pure = {k: v for k, v in self.pure.items() if k[1] in self.live}
        self.live = set()

    def checker(self, loaded: Loaded, contact_schema) -> Checker:
        return MemoChecker(loaded, contact_schema, self)


class MemoChecker(Checker):
    def __init__(self, loaded: Loaded, contact_schema, memo: Memo):
        super().__init__(loaded, contact_schema)
        self.memo = memo
        self.envs: dict[str, Any] = {}
        self.same: dict[int, bool] = {}  # id(an entry's environment) -> whether it is this check's
        self.exhausted = False

    def did_you_mean(self, word: str, candidates) -> str | None:
        hint = super().did_you_mean(word, candidates)
        if self._hint_budget <= 0:
            self.exhausted = True  # a later check with more budget left could suggest more
        return hint

    def _env(self, kind: str):
        """What a check of one ``kind`` of item reads besides the item (the
        state is complete by the time the first such item is checked)."""
        env = self.envs.get(kind)
        if env is None:
            unknown = set(vars(self)) - KNOWN_STATE
            if unknown and self.memo.off is None:
                self.memo.off = f"the checker keeps {', '.join(sorted(unknown))}, which the memo does not know"
            decls = tuple(it for m in self.loaded.modules for it in m.items
                          if isinstance(it, (A.EventDecl, A.ActionDecl)))
            env = self.envs[kind] = (decls, tuple(self.segment_defs), tuple(self.step_owners.items()),
                                     self.contact_schema, frozenset(self.loaded.stdlib_names))
        return env

    def _memo(self, kind: str, node, run):
        env = self._env(kind)
        memo = self.memo
        if memo.off is not None:
            return run()
        key = (kind, id(node))
        budget = self._hint_budget
        for e in memo.entries.get(key, ()):
            same = self.same.get(id(e.env))
            if same is None:
                same = self.same[id(e.env)] = _same_env(e.env, env)
            if e.node is node and same and (
                    budget == e.budget or (not e.exhausted and budget >= e.spent)):
                memo.hits += 1
                self._hint_budget = budget - e.spent
                self.diags.extend(e.diags)
                return e.value
        memo.misses += 1
        before, exhausted = len(self.diags), self.exhausted
        self.exhausted = False
        value = run()
        entry = _Entry(node, env, budget, budget - self._hint_budget, self.exhausted, value,
                       tuple(self.diags[before:]))
        self.exhausted = exhausted or self.exhausted
        if set(vars(self)) - KNOWN_STATE:
            memo.off = "the checker keeps state the memo does not know"
        else:
            kept = [e for e in memo.entries.get(key, ()) if e.node is node][-1:]  # two environments at most
            memo.entries[key] = kept + [entry]
        return value

    def _pure(self, what: str, node, compute):
        if self.memo.off is not None:
            return compute()
        key = (what, id(node))
        hit = self.memo.pure.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        value = compute()
        self.memo.pure[key] = (node, value)
        return value

    def segment_shape(self, d: A.SegmentDef) -> tuple[list, int]:
        return self._pure("shape", d, lambda: super(MemoChecker, self).segment_shape(d))

    def segment(self, seg: A.SegmentDef) -> ir.Cond:
        return self._memo("segment", seg, lambda: super(MemoChecker, self).segment(seg))

    def workflow(self, w: A.Workflow) -> ir.Workflow | None:
        return self._memo("workflow", w, lambda: super(MemoChecker, self).workflow(w))

    def run(self) -> ir.Program:
        self.memo.live.update(id(it) for m in self.loaded.modules for it in m.items)
        return super().run()


def _same_env(a: tuple, b: tuple) -> bool:
    if a is b:
        return True
    decls_a, decls_b = a[0], b[0]
    return (len(decls_a) == len(decls_b) and all(x is y for x, y in zip(decls_a, decls_b))
            and a[1:] == b[1:])
