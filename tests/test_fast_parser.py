"""The parser's fast path (syntax/lalr.py) builds what Lark builds.

``parse`` first runs the grammar's tables with a lexer of our own and hands
the text to Lark when that lexer or the tables give up. So for every text:
either the fast path gives up and Lark's answer stands, or the fast path's
module is Lark's, node for node, span for span, with the same comments and
the same diagnostics. These tests compare the two on every .goal file of the
repository, on generated programs, and on those programs with random edits
(most of which break them)."""
from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goaldsl.syntax import lalr
from goaldsl.syntax import parser as P
from goaldsl.syntax.formatter import format_module
from strategies import modules, test_modules

ROOT = Path(__file__).resolve().parent.parent


def dump(x):
    """A node with everything in it, spans and the types of values included
    (AST equality leaves spans out)."""
    if attrs.has(type(x)):
        return (type(x).__name__,) + tuple((f.name, dump(getattr(x, f.name))) for f in attrs.fields(type(x)))
    if isinstance(x, (tuple, list)):
        return (type(x).__name__,) + tuple(dump(y) for y in x)
    return (type(x).__name__, x)


def fast_only(text: str, file: str):
    """The fast path's own answer: (items, comments, errors), or None when it gives up."""
    builder = P._builder()
    with P._LOCK:
        builder.reset(file)
        try:
            items = P._fast().parse(text, builder.comments)
        except lalr.Bail:
            return None
        return items, [(c.start_pos, str(c)) for c in builder.comments], list(builder.errors)


def same_as_lark(text: str, file: str = "t.goal") -> bool:
    """Checks the fast path against Lark; True when the fast path parsed the text."""
    ref = P.parse(text, file, fast=False)
    got = P.parse(text, file)
    assert dump(got.module) == dump(ref.module)
    assert got.diagnostics == ref.diagnostics
    if P._precheck(text, file):
        return False
    mine = fast_only(text, file)
    if mine is None:
        return False
    assert ref.module is not None, "the fast path parsed a text Lark refuses"
    items, comments, errors = mine
    assert dump(tuple(items)) == dump(ref.module.items)
    assert comments == list(ref.module.comments)
    assert tuple(errors) == ref.diagnostics
    return True


def test_the_fast_path_runs():
    assert P._fast() is not None, "the fast path could not be built for this grammar"


def goal_files():
    return sorted(p for p in ROOT.rglob("*.goal") if not {".venv", "work"} & set(p.relative_to(ROOT).parts))


def test_every_goal_file_of_the_repository():
    parsed = 0
    for path in goal_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        parsed += same_as_lark(text, str(path.relative_to(ROOT)))
    assert parsed > 50  # the fast path took most of them (the others hold syntax errors on purpose)


#: Valid texts the fast path must take itself (keywords used as names where
#: the grammar allows it: the lexer must read them as Lark's does).
TAKEN = [
    'segment s = goal.achieved(goal == "X") and contact.at == 1 and x.in == 2\n',
    'workflow "w" {\n  audience contact.x == 1\n  notify(to: "a") as after\n  wait 1 day as exit\n}\n',
    'action a(x: enum(p, q)?, ...rest) emits b.c(d: 1)\n',
    'event e.f { x: string } effect add_to(contact.tags, x)\n',
]


@pytest.mark.parametrize("text", TAKEN)
def test_the_fast_path_takes_valid_texts(text):
    assert same_as_lark(text), "the fast path gave a valid text up"


@pytest.mark.parametrize("text", [
    "", "# only a comment", "\n\n  \n",
    'segment s = contact.x == 1 # trailing\n',
    'test "t" {\n  from 2026-11-16T14:00\n  event c1 page.visited at +2 days\n  expect c1 x.y at 2026-11-16T14:00\n}\n',
    'test "t" {\n  expect c1 page.visited at least 2 times\n}\n',
    'workflow "w" {\n  evaluate every 1 day at 09:00\n  audience contact.at == 1\n  wait until 9:30\n}\n',
    'action a(x: enum(p, q)?, ...rest) emits b.c(d: 1)\n',
    'event e.f { x: string } effect add_to(contact.tags, x)\n',
    'segment s = x.y(a == -1.5, b in [1, 2,], c != "q\\"")\n',
    # tokens the parser state does not take: the fast path must give up, Lark reports
    'segment s = 2026-11-16T14:00 == 1\n', 'segment s = x == = 1\n', 'workflow "w" { wait 9:30 }\n',
    'segment s = a ... b\n', 'segment s = a - 1\n', 'segment s = "open\n', 'segment s = é\n',
    'segment at = 1\n', 'segment s = at\n', 'workflow "w" { wait 1 day as at }\n',
    # a token no state takes right after a condition, a value or a step (the
    # states that only pass a child up are skipped by the tables' gotos)
    'segment s = (a) b\n', 'segment s = a == 1 1\n', 'workflow "w" { audience a ) }\n', 'segment s = not a b\n',
    'segment s = x.y in [1, 2] ]\n', 'segment s = a and b or\n', 'workflow "w" { if a { end } end end }\n',
    'segment s = e(x == 1 y)\n', 'segment s = a within 2 days days\n', 'segment s = a == "x" in\n',
])
def test_edge_cases(text):
    same_as_lark(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='a"\\\nnt(#é ', max_size=12), st.sampled_from(["", "\n", ")", '"', " == 1\n"]))
def test_strings_with_escapes(body, tail):
    # The lexer reads a string by runs of plain characters between escapes
    # (not one character at a time, as the grammar's pattern is written):
    # the same strings, ended where Lark ends them.
    same_as_lark(f'segment s = x == "{body}{tail}')
    same_as_lark(f'workflow "w{body}" {{ audience x.y({body}) }}{tail}')


def render(module) -> str:
    return format_module(module)


EDIT_PIECES = ["", " ", "\n", "#", '"', "(", ")", "{", "}", "[", "]", ",", ":", ".", "...", "=", "==", "<",
               "+", "-", "?", "0", "9:30", "2026-11-16T14:00", "at", "at +1 day", "not", "in", "and", "wait",
               "until", "goal", "when", "then", "end", "x", "contact.", "é", "\t", "1 day"]


SAMPLE = """segment s = page.visited(url starts with "/p", n >= -2.5) at least 2 times within 7 days
workflow "W" {
  evaluate every 1 day at 09:00
  audience s or "t" in contact.tags
  send_email("x", to: contact.email) as hello
  wait until 2026-11-16T14:00
  if contact.size >= 100 { end } else { skip to hello }
  goal "G" { when x.y on unmet wait up to 2 days then end }
}
test "T" { from 2026-11-16T14:00 event c1 a.b(k: 1) at +1 day expect c1 not in "W" at +2 days }
"""


TOKEN_PIECES = ["", "=", "==", "<", "...", ".", "+", "-1", "9:30", "2026-11-16T14:00", "at", "wait", "x", '"s"', "{"]


def test_every_token_replaced():
    """Each token of a sample program replaced by each piece in turn: the
    fast path gives up or agrees with Lark, never reads a token otherwise."""
    import re
    bounds = [m.span() for m in re.finditer(r'"[^"]*"|\d{4}-\d\d-\d\dT\d\d:\d\d|\d+:\d\d|-?\d+(?:\.\d+)?|\w+|\.\.\.|[=!<>]=|\S',
                                             SAMPLE)]
    assert same_as_lark(SAMPLE, "sample_test.goal")
    for i, j in bounds:
        for piece in TOKEN_PIECES:
            same_as_lark(SAMPLE[:i] + piece + SAMPLE[j:], "sample_test.goal")


@st.composite
def edited(draw, texts):
    text = draw(texts)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 6)))
        text = text[:i] + draw(st.sampled_from(EDIT_PIECES)) + text[j:]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited(modules.map(render)))
def test_generated_programs_with_edits(text):
    same_as_lark(text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited(test_modules.map(render)))
def test_generated_test_files_with_edits(text):
    same_as_lark(text, "gen_test.goal")


def test_no_goto_leads_to_a_state_that_only_passes_a_child_up():
    fast = P._fast()
    passing = set()
    for s, row in enumerate(fast.states):
        actions = set(row.values())
        if len(actions) == 1 and min(actions) < 0:
            size, _, cb = fast.rules[-1 - min(actions)]
            if size == 1 and cb is None:
                passing.add(s)
    assert passing, "the grammar has states that only pass a child up (?primary: atom)"
    nonterminals = {origin for _, origin, _ in fast.rules}
    assert not [(s, sym) for s, row in enumerate(fast.states) for sym, target in row.items()
                if sym in nonterminals and target in passing]


def test_tables_are_rebuilt_when_their_file_is_damaged(tmp_path):
    path = tmp_path / "tables.json"
    made = []

    def make():
        made.append(1)
        return lalr.build_tables(*P._machine())

    first = lalr.load_tables(str(path), make)
    assert made == [1] and path.exists()
    assert lalr.load_tables(str(path), make) == first and made == [1]  # read back, not rebuilt
    path.write_text("{not json", encoding="utf-8")
    assert lalr.load_tables(str(path), make) == first and made == [1, 1]
    assert lalr.load_tables(False, make) == first  # nowhere to keep them: made each time


def test_tables_made_from_another_grammar_are_made_again(tmp_path):
    path = tmp_path / "tables.json"
    made = []

    def make(grammar):
        made.append(grammar)
        return {**lalr.build_tables(*P._machine()), "grammar": grammar}

    lalr.load_tables(str(path), lambda: make("g1"), {"grammar": "g1"})
    lalr.load_tables(str(path), lambda: make("g1"), {"grammar": "g1"})
    assert made == ["g1"]
    data = lalr.load_tables(str(path), lambda: make("g2"), {"grammar": "g2"})  # same file name, other grammar
    assert made == ["g1", "g2"] and data["grammar"] == "g2"


def test_parser_files_of_older_grammars_go_when_new_tables_are_made(tmp_path):
    import os
    import subprocess
    import sys
    folder = tmp_path / "goaldsl"
    folder.mkdir()
    old = {}
    for suffix, count in ((".tables", P.KEEP_TABLES + 2), (".cache", P.KEEP_LARK_CACHES + 2)):
        old[suffix] = []
        for i in range(count):  # tables of other grammars or Lark installs, made before
            f = folder / f"lark-{i:08x}{suffix}"
            f.write_text("{}", encoding="utf-8")
            os.utime(f, (1000 + i, 1000 + i))
            old[suffix].append(f)
    other = folder / "log-00000000.index"  # another kind of file: not touched
    other.write_bytes(b"")
    os.utime(other, (1000, 1000))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    run = subprocess.run([sys.executable, "-m", "goaldsl", "check", str(ROOT / "examples" / "booked-a-demo" / "program.goal")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    tables = sorted(folder.glob("lark-*.tables"))
    caches = sorted(folder.glob("lark-*.cache"))
    assert len(tables) == P.KEEP_TABLES and len(caches) == P.KEEP_LARK_CACHES
    assert [f.exists() for f in old[".tables"]] == [False] * 3 + [True] * (P.KEEP_TABLES - 1)
    assert [f.exists() for f in old[".cache"]] == [False] * 3 + [True] * (P.KEEP_LARK_CACHES - 1)
    assert other.exists()
    again = subprocess.run(run.args, capture_output=True, text=True, env=env, timeout=300)
    assert again.stdout == run.stdout  # read back: nothing made, nothing removed
    assert sorted(folder.glob("lark-*")) == sorted(tables + caches)


def test_the_tables_file_is_marshal_with_each_symbol_one_string(tmp_path):
    # Format 4: marshal's format, the texts interned, so that read back each
    # symbol is one string wherever it occurs (a row's key, a rule's name,
    # a token's kind: the parser's lookups find their keys by identity).
    import marshal
    path = tmp_path / "tables"
    made = lalr.load_tables(str(path), lambda: lalr.build_tables(*P._machine()))
    raw = marshal.loads(path.read_bytes())
    assert raw["format"] == lalr.FORMAT == 4 and raw == made
    data = lalr.load_tables(str(path), lambda: pytest.fail("read back, not made again"))
    fast = lalr.FastParser(data, P._builder())
    names = {s: s for row in data["states"] for s in row}
    assert all(names[s] is s for row in data["states"] for s in row)
    assert all(names.get(origin, origin) is origin for _, origin, _ in fast.rules)
    assert all(k is names[k] for k in (*fast.keywords.values(), *fast.punct.values()) if k in names)
    # A JSON file of the format before (3) is made again.
    path.write_text('{"format": 3}', encoding="utf-8")
    again = []
    lalr.load_tables(str(path), lambda: again.append(1) or made)
    assert again == [1] and marshal.loads(path.read_bytes())["format"] == 4
