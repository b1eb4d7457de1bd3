"""Every ``goal`` code block in the docs and the README passes ``goal check``.

The docs promise that their examples are valid programs; this keeps the
promise true as the language changes. Files named by ``import`` lines are
created empty beside the example so an import example checks too.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```goal\n(.*?)^```", re.S | re.M)
IMPORT = re.compile(r'^\s*import\s+"([^"]+)"', re.M)


def _blocks():
    for doc in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 2
            yield pytest.param(m.group(1), id=f"{doc.name}:{line}")


BLOCKS = list(_blocks())


def test_the_docs_have_goal_examples():
    assert len(BLOCKS) >= 20


@pytest.mark.parametrize("source", BLOCKS)
def test_doc_example_checks_clean(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for rel in IMPORT.findall(source):
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("# imported by a docs example\n", encoding="utf-8")
    (tmp_path / "example.goal").write_text(source, encoding="utf-8")
    result = check(load(["example.goal"]))
    errors = [d.render() for d in result.diagnostics if d.is_error]
    assert errors == []
