"""The language server's incremental check: parsed block by block
(syntax/blocks.py), checked with a memo of each segment's and workflow's
work (semantics/incremental.py). After any sequence of edits, what it
publishes must be what a whole check of the same text gives."""
from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goaldsl.semantics import incremental
from goaldsl.semantics.checker import Checker, check
from goaldsl.semantics.incremental import KNOWN_STATE, Memo
from goaldsl.semantics.loader import load
from goaldsl.syntax import ast as A
from goaldsl.syntax.blocks import Blocks, bounds, place
from goaldsl.syntax.formatter import format_module
from goaldsl.syntax.parser import parse
from goaldsl.syntax.source import Span
from strategies import modules

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402

from goaldsl.tools.lsp import create_server  # noqa: E402

# Blocks a document is made of: declarations the workflows use, segments
# referring to each other (and in a cycle), names to suggest, and mistakes.
PIECES = [
    'event shop.bought { sku: string, n: number?, status: enum(new, paid) }\n',
    'action ping(to: string, level: enum(low, high) = "low") emits email.sent\n',
    'segment hot = contact.score >= 50 and shop.bought(status == paid) at least 2 times within 7 days\n',
    'segment warm = hot or page.visited(url starts with "/p") ever\n',
    'segment loop_a = loop_b\nsegment loop_b = loop_a\n',
    'workflow "W" {\n  audience warm\n  ping(to: contact.email, level: high) as p\n  wait 1 day\n'
    '  if hot { skip to q } else { end }\n  send_email("x") as q\n  goals { goal "G" { when shop.bought } }\n}\n',
    'workflow "V" {\n  enroll when shop.bought(sku == "a")\n  wait until 09:00 as morning\n'
    '  goal "Paid" { when shop.bought(status == paid) on unmet wait up to 2 days then end }\n}\n',
    'workflow "W" {\n  audience hott\n  pingg(to: "x")\n  skip to nowhere\n}\n',
    'segment cold = not warm and contact.tags contains "x" and shop.boughtt\n',
    '# a comment between blocks\n\n',
    'test "T" {\n  contact c1 { email: "a@x.com" }\n  expect c1 in "W"\n}\n',
    'drip "D" {\n  audience hot\n  send_email("a")\n  wait 2 days\n  send_email("b")\n}\n',
    # a bare step name of another workflow (its hint names that workflow)
    'workflow "X" {\n  audience email.opened(step == p) ever\n  send_email("z") as z\n}\n',
]

EDITS = ["", " ", "\n", "#", '"', "(", ")", "{", "}", "x", "1", "hot", "warm", "W", "segment ",
         "workflow ", "event ", "\nsegment s9 = hot\n", "contact.", "shop.bought", ".", "=="]


def server(tmp_path, monkeypatch):
    ls = create_server()
    monkeypatch.chdir(tmp_path)
    init = ls.protocol.lsp_initialize(T.InitializeParams(capabilities=T.ClientCapabilities(),
                                                         root_uri=tmp_path.as_uri()))
    try:
        while True:
            next(init)
    except StopIteration:
        pass
    return ls


class Doc:
    """One open document of an in-process server, edited and compared."""

    def __init__(self, ls, path: Path, text: str):
        self.ls, self.uri, self.version = ls, path.as_uri(), 1
        ls.workspace.put_text_document(T.TextDocumentItem(uri=self.uri, language_id="goal", version=1, text=text))
        ls.open_uris[self.uri] = None

    def set(self, text: str) -> None:
        self.version += 1
        self.ls.workspace.put_text_document(T.TextDocumentItem(uri=self.uri, language_id="goal",
                                                               version=self.version, text=text))

    def compare(self) -> bool:
        """What the server publishes (incremental) is what a whole check
        gives. True when the document parsed."""
        ls = self.ls
        inc = ls.analyze(self.uri, incremental=True)
        whole = ls.analyze(self.uri)
        assert not whole.incremental
        assert ls.published(inc) == ls.published(whole)
        assert inc.result.diagnostics == whole.result.diagnostics
        assert inc.program == whole.program
        assert (inc.module is None) == (whole.module is None)
        memo = ls.memos[self.uri]
        assert memo.off is None, memo.off
        return inc.module is not None


def edit(rng: random.Random, text: str) -> str:
    kind = rng.random()
    if kind < 0.5 or not text:  # a few characters
        i = rng.randrange(len(text) + 1)
        j = min(len(text), i + rng.randrange(4))
        return text[:i] + rng.choice(EDITS) + text[j:]
    starts = bounds(text)
    k = rng.randrange(len(starts))
    a, b = starts[k], (starts[k + 1] if k + 1 < len(starts) else len(text))
    if kind < 0.7:  # a block removed or doubled
        return text[:a] + (text[a:b] * 2 if rng.random() < 0.5 else "") + text[b:]
    if kind < 0.85:  # a block of the pool put in
        return text[:a] + rng.choice(PIECES) + text[a:]
    return text[:a] + text[b:] + text[a:b] if b < len(text) else text  # a block moved to the end


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8), st.integers(0, 2**32 - 1))
def test_edits_give_what_a_whole_check_gives(tmp_path, monkeypatch, pieces, seed):
    ls = server(tmp_path, monkeypatch)
    text = "".join(pieces)
    doc = Doc(ls, tmp_path / "program.goal", text)
    assert doc.compare()  # every piece parses, and so do they together
    rng = random.Random(seed)
    for _ in range(12):
        text = edit(rng, text)
        doc.set(text)
        doc.compare()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(modules.map(format_module), st.integers(0, 2**32 - 1))
def test_generated_programs_edited(tmp_path, monkeypatch, text, seed):
    ls = server(tmp_path, monkeypatch)
    doc = Doc(ls, tmp_path / "gen.goal", "".join(PIECES[:4]) + text)
    assert doc.compare()
    rng = random.Random(seed)
    for _ in range(8):
        text = edit(rng, text)
        doc.set("".join(PIECES[:4]) + text)
        doc.compare()


def test_an_edit_rechecks_only_what_changed(tmp_path, monkeypatch):
    ls = server(tmp_path, monkeypatch)
    blocks = "".join(f'segment s{i} = contact.score >= {i}\nworkflow "W{i}" {{\n  audience s{i}\n'
                     f'  send_email("x{i}") as hello\n  wait 1 day\n}}\n' for i in range(30))
    doc = Doc(ls, tmp_path / "p.goal", blocks)
    doc.compare()
    memo = ls.memos[doc.uri]
    before = memo.misses
    doc.set(blocks.replace('send_email("x7")', 'send_email("y7")'))
    ls.analyze(doc.uri, incremental=True)
    assert memo.misses - before == 1  # workflow W7 alone was checked again
    before = memo.misses
    doc.set("\n\n" + blocks.replace('send_email("x7")', 'send_email("y7")'))  # every block moves
    ls.analyze(doc.uri, incremental=True)
    assert memo.misses == before
    doc.compare()
    before = memo.misses
    doc.set(blocks.replace("segment s3 =", "segment t3 ="))  # a segment renamed: every item again
    ls.analyze(doc.uri, incremental=True)
    assert memo.misses - before >= 60


def test_a_step_renamed_elsewhere_changes_the_hint(tmp_path, monkeypatch):
    ls = server(tmp_path, monkeypatch)
    text = PIECES[0] + PIECES[1] + PIECES[3] + PIECES[2] + PIECES[5] + PIECES[-1]
    doc = Doc(ls, tmp_path / "p.goal", text)
    assert doc.compare()
    doc.set(text.replace(") as p\n", ") as pp\n"))
    assert doc.compare()


def test_the_memo_knows_the_checkers_state(tmp_path):
    """A new attribute of the checker (state kept between items) must be
    added to KNOWN_STATE once the memo accounts for it; until then the memo
    turns itself off (tested below), so checks stay right."""
    p = tmp_path / "p.goal"
    p.write_text("".join(PIECES), encoding="utf-8")
    c = Checker(load([p]))
    c.run()
    assert set(vars(c)) <= KNOWN_STATE


def test_unknown_checker_state_turns_the_memo_off(tmp_path, monkeypatch):
    p = tmp_path / "p.goal"
    p.write_text("".join(PIECES), encoding="utf-8")
    original = incremental.MemoChecker.workflow

    def workflow(self, w):
        self.something_new = True
        return original(self, w)

    monkeypatch.setattr(incremental.MemoChecker, "workflow", workflow)
    memo = Memo()
    res = check(load([p]), memo=memo)
    assert memo.off is not None
    assert res.diagnostics == check(load([p])).diagnostics


def test_blocks_give_the_whole_parse(tmp_path):
    text = "".join(PIECES)
    res = Blocks().parse(text, "p.goal")
    whole = parse(text, "p.goal")
    assert res is not None and len(res.places) > 5

    def placed(x):
        if isinstance(x, Span):
            return place(x, res.places)
        if attrs.has(type(x)):
            return (type(x).__name__,) + tuple((f.name, placed(getattr(x, f.name))) for f in attrs.fields(type(x)))
        if isinstance(x, tuple):
            return tuple(placed(y) for y in x)
        return x

    assert placed(res.module.items) == placed(whole.module.items)
    assert res.module.comments == whole.module.comments
    assert isinstance(res.module, A.Module)
