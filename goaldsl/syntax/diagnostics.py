"""Diagnostics: the one type every stage reports problems with.

A diagnostic has a severity, a stable code (``E0101``), a one-line summary,
an optional detail and hint, the span it points at and related spans. It
renders as::

    program.goal:6:13: error[E0001]: unexpected name "wen"
        |
      6 |             wen email.opened
        |             ^^^
        = expected "when", "then", "on" or "}"
        = hint: did you mean "when"?
"""
from __future__ import annotations

import enum
import functools

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Sequence

from .nodes import Node, node
from .source import Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@node
class Related(Node):
    span: Span
    message: str


@node
class Diagnostic(Node):
    severity: Severity
    code: str
    summary: str
    span: Span | None = None
    detail: str | None = None
    hint: str | None = None
    related: tuple[Related, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self, sources: Mapping[str, str] | None = None) -> str:
        """The text form; ``sources`` maps file names to text for the excerpt."""
        where = f"{self.span}: " if self.span else ""
        lines = [f"{where}{self.severity.value}[{self.code}]: {self.summary}"]
        if self.span and sources and self.span.file in sources:
            lines.extend(_excerpt(sources[self.span.file], self.span))
        if self.detail:
            lines.append(f"    = {self.detail}")
        if self.hint:
            lines.append(f"    = hint: {self.hint}")
        for rel in self.related:
            lines.append(f"    = note: {rel.span}: {rel.message}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        out = {"severity": self.severity.value, "code": self.code, "summary": self.summary}
        if self.span:
            out.update(file=self.span.file, line=self.span.line, column=self.span.col,
                       end_line=self.span.end_line, end_column=self.span.end_col)
        if self.detail:
            out["detail"] = self.detail
        if self.hint:
            out["hint"] = self.hint
        if self.related:
            out["related"] = [{"file": r.span.file, "line": r.span.line, "column": r.span.col,
                               "message": r.message} for r in self.related]
        return out


@functools.lru_cache(maxsize=4)
def _split_lines(text: str) -> list[str]:
    # Cached: a file with thousands of errors is split once, not once per error.
    return text.split("\n")


def _excerpt(text: str, span: Span) -> list[str]:
    all_lines = _split_lines(text)
    if not 1 <= span.line <= len(all_lines):
        return []
    line = all_lines[span.line - 1]
    # Show at most 100 characters, around the span on long lines.
    lo = max(0, span.col - 60) if len(line) > 100 else 0
    shown = line[lo:lo + 100]
    col = span.col - lo
    end = span.end_col - lo if span.end_line == span.line else len(shown) + 1
    width = max(1, min(end, len(shown) + 1) - col)
    gutter = " " * len(str(span.line))
    prefix = "".join(ch if ch == "\t" else " " for ch in shown[: col - 1])
    dots = "..." if lo else ""
    return [f" {gutter} |", f" {span.line} | {dots}{shown}", f" {gutter} | {' ' * len(dots)}{prefix}{'^' * width}"]


def error(code: str, summary: str, span: Span | None = None, **kw) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, summary, span, **kw)


def warning(code: str, summary: str, span: Span | None = None, **kw) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, summary, span, **kw)


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate nearest to ``word``, if one is close enough to suggest."""
    pool = sorted(set(candidates))
    # Swapped letters ("wiat" for "wait") first: difflib rates them low.
    letters = sorted(word.lower())
    for c in pool:
        if len(word) >= 3 and sorted(c.lower()) == letters and c != word:
            return c
    import difflib  # only when a hint is wanted: its import costs every start-up
    found = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    if found:
        return found[0]
    # Catch case slips and prefixes ("Paid" for "paid", "page.visit").
    low = word.lower()
    for c in pool:
        if c.lower() == low or (len(low) >= 3 and c.lower().startswith(low)):
            return c
    return None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    best = closest(word, candidates)
    return f'did you mean "{best}"?' if best else None


class GoalError(Exception):
    """Raised by the embedding API when a program or input has errors.

    ``diagnostics`` holds every problem found; ``str()`` renders them all.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(render_all(self.diagnostics, self.sources))


def render_all(diags: Iterable[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    return "\n".join(d.render(sources) for d in diags)


def sort_key(d: Diagnostic):
    s = d.span
    return (s.file, s.line, s.col) if s else ("", 0, 0)
