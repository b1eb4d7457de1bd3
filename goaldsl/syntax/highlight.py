"""A Pygments lexer for .goal files.

Registered as a Pygments plugin by pyproject.toml
(``[project.entry-points."pygments.lexers"] goal = "goaldsl.highlight:GoalLexer"``),
so ``pygmentize -l goal file.goal`` and ``get_lexer_by_name("goal")`` find it
once the package is installed. The REPL uses it for syntax highlighting.

Token choices:

* keywords (``workflow``, ``when``, ``within``, ...) -> ``Keyword``;
  ``true``/``false`` -> ``Keyword.Constant``; weekdays -> ``Keyword.Constant``
* event types (``email.opened``, dotted) -> ``Name.Class``
* contact attributes (``contact.lead_score``) -> ``Name.Variable``
* action names before ``(`` (``send_email(``) -> ``Name.Function``
* declared names after ``event`` / ``action`` -> ``Name.Class`` / ``Name.Function``
* strings -> ``String.Double``, with ``{contact.x}`` -> ``String.Interpol`` and
  ``\\"`` -> ``String.Escape``
* numbers -> ``Number.Integer`` / ``Number.Float``; a duration's count ->
  ``Number.Integer`` and its unit (``days``) -> ``Keyword.Type``
* date-times (``2026-11-16T14:00Z``) and times of day (``09:00``) -> ``Literal.Date``
* comments -> ``Comment.Single``

This module imports nothing from the rest of the package (Pygments loads
plugins eagerly); the keyword list is kept in step with the grammar by a test.
"""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (Comment, Keyword, Literal, Name, Number, Operator, Punctuation, String, Text,
                            Whitespace)

__all__ = ["GoalLexer", "KEYWORDS"]

UNITS = ("minutes", "minute", "hours", "hour", "days", "day", "weeks", "week", "months", "month")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CONSTANTS = ("true", "false")

# Every reserved word of grammar/goal.lark (tests/test_highlight.py checks this).
KEYWORDS = (
    "achieved", "action", "allow", "and", "as", "at", "audience", "contains", "continue", "drip", "effect", "else",
    "emits", "end", "ends", "enroll", "enrollment", "enum", "evaluate", "event", "ever", "every", "exactly",
    "goal", "goals", "if", "import", "in", "is", "least", "most", "not", "on", "once", "or", "perpetual",
    "reentry", "runs", "segment", "set", "since", "skip", "starts", "then", "time", "times", "timezone",
    "to", "unmet", "until", "up", "wait", "when", "with", "within", "workflow",
    # not reserved (parser.SOFT_KEYWORDS): keywords only in their construct
    "after", "exit", "longer", "matches", "met", "no",
    # tests (*_test.goal files)
    "by", "contact", "exited", "expect", "from", "ran", "step", "test",
) + UNITS + WEEKDAYS + CONSTANTS

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
# A keyword that is really a field or argument name: `goal == "X"`, `to: "..."`.
_NOT_A_NAME = r"(?!\s*(?:==|!=|<=|>=|:(?!:)))"


class GoalLexer(RegexLexer):
    """Lexer for the goal language (marketing-automation workflows and goals)."""

    name = "Goal"
    aliases = ["goal"]
    filenames = ["*.goal"]
    mimetypes = ["text/x-goal"]
    url = "https://example.invalid/goal"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"', String.Double, "string"),
            # declarations: `event email.opened {`, `action send_email(`
            (r"(event)(\s+)(" + _ID + r"(?:\." + _ID + r")*)(?=\s*\{)", bygroups(Keyword, Whitespace, Name.Class)),
            (r"(action)(\s+)(" + _ID + r")(?=\s*\()", bygroups(Keyword, Whitespace, Name.Function)),
            (r"(segment)(\s+)(" + _ID + r")", bygroups(Keyword, Whitespace, Name.Constant)),
            # date-times before numbers, durations before plain numbers
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?", Literal.Date),
            (r"\d{1,2}:\d{2}\b", Literal.Date),
            (r"(\d+)(\s+)(" + "|".join(UNITS) + r")\b", bygroups(Number.Integer, Whitespace, Keyword.Type)),
            (r"-?\d+\.\d+", Number.Float),
            (r"-?\d+", Number.Integer),
            (r"contact(?:\." + _ID + r")+", Name.Variable),
            (r"contact\b(?=\s*\.)", Name.Variable),
            (_ID + r"(?:\." + _ID + r")+", Name.Class),  # event types
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(WEEKDAYS, suffix=r"\b"), Keyword.Constant),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b" + _NOT_A_NAME), Keyword),
            (_ID + r"(?=\s*\()", Name.Function),  # action calls
            (_ID, Name),
            (r"\.\.\.", Punctuation),
            (r"==|!=|<=|>=|<|>|=|\?|\+", Operator),
            (r"[()\[\]{},:.]", Punctuation),
            (r".", Text),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (r"\\.", String.Escape),
            (r"\{contact(?:\." + _ID + r")+\}", String.Interpol),
            (r'[^"\\{\n]+', String.Double),
            (r"\{", String.Double),
            (r"\n", String.Double, "#pop"),  # an unterminated string ends at the line
        ],
    }
