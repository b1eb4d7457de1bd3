"""The checker: AST modules to a checked program (``ir.Program``).

It resolves every name (events, fields, actions, arguments, segments, steps,
enum values, time zones), checks types and the structural rules of
docs/spec.md sections 2-4, and collects every diagnostic in one pass rather
than stopping at the first. Diagnostic codes are stable; docs/diagnostics.md
lists them.

The checker is one class, ``Checker``, put together from one part per
concern, each in its own module:

* ``declarations``: event and action declarations, field types, segment definitions;
* ``conditions``: names in conditions, operands, comparisons and values;
* ``actions``: action calls and their arguments;
* ``workflows``: workflow settings, triggers and time zones;
* ``steps``: steps and goals.

This module holds the driver (``check``, ``Checker.run``) and what the parts
share: the declared names, the diagnostics, and the "did you mean" budget.
``common`` holds ``Context`` and the words for values in messages.
"""
from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")

from ...syntax import ast as A
from .. import ir
from ...syntax.diagnostics import Diagnostic, did_you_mean, error, sort_key, warning
from ...syntax.nodes import Node, node
from ..loader import Loaded, duplicate, is_test_file, load
from ...syntax.parser import reserved_words
from ...syntax.source import Span
from .actions import Actions
from .common import IR, Context
from .conditions import Conditions
from .declarations import Declarations
from .steps import Steps
from .workflows import Workflows

if TYPE_CHECKING:
    from typing import Iterable, Optional

    from ..incremental import Memo

__all__ = ["Checker", "CheckResult", "Context", "check", "check_paths"]


@node
class CheckResult(Node):
    program: Optional[ir.Program]
    diagnostics: tuple[Diagnostic, ...]
    tests: tuple = ()  # testblocks.TestCase, one per test block (when the files hold tests)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def check(loaded: Loaded, contact_schema: dict[tuple[str, ...], str] | None = None, *,
          memo: "Memo | None" = None) -> CheckResult:
    """Check a loaded program. ``contact_schema`` (attribute path -> kind,
    see ``schema.py``) turns on warnings for contact attributes compared with
    values of another kind. ``memo`` (``semantics/incremental.py``) keeps the
    work done for each top-level item between checks of a program being edited.

    A program parsed block by block (``loaded.places``) gets its diagnostics
    where they are in their files; its ``program``'s spans stay in the blocks."""
    c = Checker(loaded, contact_schema) if memo is None else memo.checker(loaded, contact_schema)
    program = c.run()
    tests, test_diags = [], []
    if any(isinstance(it, A.TestBlock) for m in loaded.modules for it in m.items) or any(
            is_test_file(m.file) for m in loaded.modules):
        # Test blocks are checked in their own module, with this checker's
        # rules (imported here: most checks have no tests).
        from ..testblocks import check_tests
        tests, test_diags = check_tests(loaded, c, program)
    diags = loaded.diagnostics + c.diags + test_diags
    if loaded.places:
        from ...syntax.blocks import place_diagnostic  # (the language server's: goal check does not import it)
        diags = [place_diagnostic(d, loaded.places) for d in diags]
    diags = tuple(sorted(_dedupe(diags), key=sort_key))
    return CheckResult(program, diags, tuple(tests))


def check_paths(paths: Iterable[str | Path], *, texts: dict[str, str] | None = None,
                contact_schema: dict[tuple[str, ...], str] | None = None) -> CheckResult:
    """Load and check files; never raises for problems in them.
    ``contact_schema`` (from ``schema.infer_contact_schema``) adds warnings
    for contact attributes compared with values of another kind."""
    return check(load(paths, texts=texts), contact_schema)


def _dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.summary, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


HINT_BUDGET = 100_000  # candidates compared for "did you mean" suggestions in one check


class Checker(Declarations, Conditions, Actions, Workflows, Steps):
    """One check of one loaded program: the declared names, the diagnostics
    found so far, and the methods of every part (see the module's docstring)."""

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

    def segment(self, seg: A.SegmentDef) -> ir.Cond:
        """A segment's condition, checked."""
        return self.cond(seg.cond, Context())

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
            self.segments[name] = self.segment(seg)
        # Named steps of every workflow: a bare step name in another
        # workflow's filter gets a hint to quote it.
        for it in items:
            if isinstance(it, A.Workflow):
                for st in A.all_steps(x for x in it.items if not isinstance(x, A.GoalsSection)):
                    n = A.step_name(st)
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
        return IR.Program(self.events, self.actions, self.segments, tuple(workflows), dict(self.loaded.sources))
