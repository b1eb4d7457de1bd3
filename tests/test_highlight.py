"""The Pygments lexer: registered as a plugin for `.goal`, in step with the
grammar's keywords, and giving the tokens the docs and the REPL rely on."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Literal, Name, Number, Punctuation, String

from goaldsl.syntax.highlight import KEYWORDS, GoalLexer
from goaldsl.syntax.parser import keywords

ROOT = Path(__file__).resolve().parent.parent


def tokens(src: str) -> list[tuple]:
    return [(t, v) for t, v in GoalLexer().get_tokens(src) if v.strip()]


def test_registered_as_a_pygments_plugin():
    assert isinstance(get_lexer_by_name("goal"), GoalLexer)
    assert isinstance(get_lexer_for_filename("x.goal"), GoalLexer)


def test_pygmentize_finds_it(tmp_path):
    f = tmp_path / "x.goal"
    f.write_text('segment hot = page.visited within 7 days\n')
    out = subprocess.run([sys.executable, "-m", "pygments", "-f", "html", str(f)], capture_output=True, text=True, check=True).stdout
    assert '<span class="k">segment</span>' in out
    assert '<span class="nc">page.visited</span>' in out
    assert subprocess.run([sys.executable, "-m", "pygments", "-N", "x.goal"], capture_output=True, text=True).stdout.strip() == "goal"


def test_keywords_match_the_grammar():
    assert set(KEYWORDS) == set(keywords())


@pytest.mark.parametrize("src,expected", [
    ("email.opened", [(Name.Class, "email.opened")]),
    ("contact.company.size", [(Name.Variable, "contact.company.size")]),
    ("within 1 day 12 hours", [(Keyword, "within"), (Number.Integer, "1"), (Keyword.Type, "day"),
                               (Number.Integer, "12"), (Keyword.Type, "hours")]),
    ("send_email(", [(Name.Function, "send_email"), (Punctuation, "(")]),
    ("12.5 -3", [(Number.Float, "12.5"), (Number.Integer, "-3")]),
    ("true", [(Keyword.Constant, "true")]),
    ("monday 09:00", [(Keyword.Constant, "monday"), (Literal.Date, "09:00")]),
    ("2026-11-16T14:00+02:00", [(Literal.Date, "2026-11-16T14:00+02:00")]),
    ("# note", [(Comment.Single, "# note")]),
])
def test_token_kinds(src, expected):
    assert tokens(src) == expected


def test_keyword_used_as_field_or_argument_name_is_a_name():
    toks = tokens('goal.achieved(goal == "Demo") notify(to: "x", message: "y")')
    assert (Name.Class, "goal.achieved") in toks
    assert (Name, "goal") in toks and (Keyword, "goal") not in toks
    assert (Name, "to") in toks and (Keyword, "to") not in toks


def test_strings_with_interpolation_and_escapes():
    toks = tokens(r'"Hi {contact.first_name} \"x\""')
    assert (String.Interpol, "{contact.first_name}") in toks
    assert (String.Escape, r"\"") in toks


def test_declarations():
    toks = tokens("event my.thing { n: number? }\naction ping(x: string) emits my.thing\nsegment hot = true")
    assert toks[:2] == [(Keyword, "event"), (Name.Class, "my.thing")]
    assert (Name.Function, "ping") in toks and (Keyword, "emits") in toks
    assert (Name.Constant, "hot") in toks


def _goal_files():
    return sorted(ROOT.glob("examples/*/*.goal")) + sorted(ROOT.glob("stdlib/*.goal")) + \
        sorted((ROOT / "tests" / "data").rglob("*.goal"))


@pytest.mark.parametrize("path", _goal_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_real_files_lex_without_errors_and_losslessly(path):
    text = path.read_text()
    toks = list(GoalLexer().get_tokens(text))
    assert not [v for t, v in toks if t in Error]
    assert "".join(v for _, v in toks) == (text if text.endswith("\n") else text + "\n")


def test_repl_lexer_marks_meta_commands():
    from goaldsl.tools.repl import repl_lexer
    toks = [(t, v) for t, v in repl_lexer()().get_tokens(":contact c1") if v.strip()]
    assert toks[0] == (Keyword.Pseudo, ":contact")
    toks = [(t, v) for t, v in repl_lexer()().get_tokens("page.visited") if v.strip()]
    assert toks == [(Name.Class, "page.visited")]
