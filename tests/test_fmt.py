"""goal fmt: golden files, idempotence, comments kept, and a round-trip
property over generated ASTs (print, parse back, compare, spans aside)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from goaldsl.syntax.formatter import format_module, format_source
from goaldsl.syntax.parser import parse
from strategies import modules  # generated ASTs, shared with test_fuzz.py

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "fmt"


@pytest.mark.parametrize("inp", sorted(GOLDEN.glob("*.input.goal")), ids=lambda p: p.name)
def test_golden(inp: Path):
    expected = inp.with_name(inp.name.replace(".input.goal", ".expected.goal")).read_text()
    out, diags = format_source(inp.read_text(), str(inp))
    assert not diags
    assert out == expected


def _all_goal_files():
    files = sorted(GOLDEN.glob("*.goal")) + sorted((ROOT / "examples").glob("*/program.goal"))
    files += sorted((ROOT / "examples").glob("*/*_test.goal"))
    files += sorted((ROOT / "stdlib").glob("*.goal"))
    return files


@pytest.mark.parametrize("path", _all_goal_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_idempotent_meaning_preserving_and_keeps_comments(path: Path):
    text = path.read_text()
    once, _ = format_source(text, "x.goal")
    assert once is not None
    twice, _ = format_source(once, "x.goal")
    assert twice == once
    before, after = parse(text, "x.goal").module, parse(once, "x.goal").module
    assert before == after  # spans do not take part in equality
    assert [c for _, c in before.comments] == [c for _, c in after.comments]


def test_examples_are_canonical():
    for path in sorted((ROOT / "examples").glob("*/*.goal")):
        out, _ = format_source(path.read_text(), str(path))
        assert out == path.read_text(), f"{path} is not in canonical style: run goal fmt on it"


def test_check_flag_and_rewrite(tmp_path):
    messy = tmp_path / "messy.goal"
    messy.write_text('segment a=contact.x>1   # keep me\n')
    clean = tmp_path / "clean.goal"
    clean.write_text("segment b = contact.y < 2\n")
    cmd = [sys.executable, "-m", "goaldsl", "fmt"]
    p = subprocess.run(cmd + ["--check", str(messy), str(clean)], capture_output=True, text=True)
    assert p.returncode == 1
    assert "would reformat" in p.stdout and "messy.goal" in p.stdout and "clean.goal" not in p.stdout
    assert messy.read_text() == 'segment a=contact.x>1   # keep me\n'  # --check changes nothing
    p = subprocess.run(cmd + [str(messy)], capture_output=True, text=True)
    assert p.returncode == 0
    assert messy.read_text() == "segment a = contact.x > 1  # keep me\n"
    p = subprocess.run(cmd + ["--check", str(messy)], capture_output=True, text=True)
    assert p.returncode == 0


def test_syntax_error_is_reported_not_formatted(tmp_path):
    bad = tmp_path / "bad.goal"
    bad.write_text('workflow "x" { wen }\n')
    p = subprocess.run([sys.executable, "-m", "goaldsl", "fmt", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1
    assert "bad.goal:1:20: error[E0001]" in p.stdout
    assert bad.read_text() == 'workflow "x" { wen }\n'


# ---------------------------------------------------------------- round-trip property

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules)
def test_print_then_parse_gives_the_same_ast(module):
    text = format_module(module)
    res = parse(text, "gen.goal")
    assert res.module is not None, (text, res.diagnostics)
    assert res.module == module, text
    again, _ = format_source(text, "gen.goal")
    assert again == text
