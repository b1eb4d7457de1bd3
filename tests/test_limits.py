"""Limits: deep nesting, huge files and long strings give clean diagnostics
(never a RecursionError or a traceback), and `goal check` exits 1 on errors
and 0 on a clean file."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load
from goaldsl.syntax.parser import MAX_FILE_BYTES, MAX_NESTING, parse, parse_condition

DEPTH = 5000


def one(diags):
    diags = list(diags)
    assert len(diags) == 1, "\n".join(d.render() for d in diags)
    return diags[0]


def check_file(write, text, name="program.goal"):
    write(name, text)
    return list(check(load([name])).diagnostics)


# ---------------------------------------------------------------- deep nesting

def test_deep_parentheses(write):
    text = "segment s = " + "(" * DEPTH + "contact.x == 1" + ")" * DEPTH + "\n"
    d = one(check_file(write, text))
    assert d.code == "E0003"
    assert d.summary == f"nesting is {DEPTH} levels deep; the limit is {MAX_NESTING}"
    assert d.hint == "flatten the condition, or move parts of it into named segments"
    # It points at the deepest bracket.
    assert (d.span.line, d.span.col) == (1, len("segment s = ") + DEPTH)


def test_deep_not_not(write):
    text = "segment s =\n    " + "not " * DEPTH + "contact.x == 1\n"
    d = one(check_file(write, text))
    assert d.code == "E0003"
    assert d.summary == f"nesting is {DEPTH} levels deep; the limit is {MAX_NESTING}"
    # It points at the run of `not`s.
    assert (d.span.line, d.span.col) == (2, 5)


def test_deep_not_with_parentheses(write):
    text = "segment s = " + "not (" * DEPTH + "contact.x == 1" + ")" * DEPTH + "\n"
    d = one(check_file(write, text))
    assert d.code == "E0003"


@pytest.mark.parametrize("build", [
    lambda n: 'workflow "W" {\n audience contact.x == 1\n' + "if contact.y == 1 { " * n + "end" + " }" * n + "\n}\n",
    lambda n: "segment s = contact.x in " + "[" * n + "1" + "]" * n + "\n",
    lambda n: 'workflow "W" {\n audience contact.x == 1\n webhook("u", payload: ' + "{a: " * n + "1" + "}" * n + ")\n}\n",
], ids=["if-blocks", "lists", "maps"])
def test_deep_blocks_and_literals(write, build):
    d = one(check_file(write, build(DEPTH)))
    assert d.code == "E0003"


def test_nesting_just_under_the_limit_checks_clean(write):
    n = MAX_NESTING - 1
    text = "segment s = " + "(" * n + "contact.x == 1" + ")" * n + '\nworkflow "W" { audience s }\n'
    assert check_file(write, text) == []


def test_nesting_just_over_the_limit(write):
    n = MAX_NESTING + 1
    d = one(check_file(write, "segment s = " + "(" * n + "contact.x == 1" + ")" * n + "\n"))
    assert d.summary == f"nesting is {n} levels deep; the limit is {MAX_NESTING}"


def test_brackets_in_strings_and_comments_do_not_count(write):
    text = ('segment s = contact.x == "' + "(" * 1000 + '"  # ' + "[" * 1000 + "\n"
            'workflow "W" { audience s }\n')
    assert check_file(write, text) == []


def test_deep_condition_at_eval():
    cond, diags = parse_condition("(" * DEPTH + "contact.x == 1" + ")" * DEPTH, "<condition>")
    assert cond is None
    assert one(diags).code == "E0003"
    cond, diags = parse_condition("not " * DEPTH + "contact.x == 1", "<condition>")
    assert cond is None
    d = one(diags)
    assert (d.code, d.span.line, d.span.col) == ("E0003", 1, 1)


# ---------------------------------------------------------------- size

def test_file_over_the_size_cap(write):
    text = "#" + "x" * MAX_FILE_BYTES + "\n"
    d = one(check_file(write, text))
    assert (d.code, d.span.line, d.span.col) == ("E0004", 1, 1)
    size = len(text.encode())
    assert d.summary == f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes"
    assert d.hint == "split it into several files joined with import"


def test_size_cap_counts_bytes_not_characters():
    text = "# " + "é" * (MAX_FILE_BYTES // 2) + "\n"  # fewer characters than the cap, more bytes
    assert len(text) < MAX_FILE_BYTES < len(text.encode())
    assert one(parse(text, "p.goal").diagnostics).code == "E0004"


def test_file_at_the_size_cap_parses():
    text = "#" + "x" * (MAX_FILE_BYTES - 2) + "\n"
    assert len(text.encode()) == MAX_FILE_BYTES
    res = parse(text, "p.goal")
    assert res.diagnostics == () and res.module is not None


def test_one_megabyte_of_segments_checks_clean(write):
    lines, size, i = [], 0, 0
    while size < 1_000_000:
        line = f'segment s{i} = contact.score >= {i} and page.visited(url starts with "/p{i}") within 14 days\n'
        lines.append(line)
        size += len(line)
        i += 1
    text = "".join(lines) + 'workflow "W" {\n    audience s0 or s1\n    send_email("x")\n}\n'
    write("program.goal", text)
    res = check(load(["program.goal"]))
    assert res.diagnostics == ()
    assert len(res.program.segments) == i


def test_one_megabyte_string(write):
    big = "a" * 1_000_000
    text = f'segment s = contact.note == "{big}"\nworkflow "W" {{\n    audience s\n    send_email("{big}")\n}}\n'
    write("program.goal", text)
    res = check(load(["program.goal"]))
    assert res.diagnostics == ()
    assert res.program.segments["s"].right.value == big


def test_one_megabyte_unterminated_string():
    text = 'segment s = contact.note == "' + "a" * 1_000_000 + "\n"
    d = one(parse(text, "p.goal").diagnostics)
    assert (d.code, d.span.line, d.span.col) == ("E0002", 1, 29)
    # The excerpt stays short on a long line.
    assert all(len(line) < 200 for line in d.render({"p.goal": text}).splitlines())


def test_error_far_along_a_long_line(write):
    text = "segment s = " + "contact.x == 1 and " * 20000 + "email.opend\n"
    write("program.goal", text)
    res = check(load(["program.goal"]))
    d = one(res.diagnostics)
    assert (d.code, d.span.line, d.span.col) == ("E0303", 1, len(text) - len("email.opend\n") + 1)
    rendered = d.render(res.program.sources).splitlines()
    assert all(len(line) < 200 for line in rendered)
    assert "email.opend" in rendered[2] and rendered[3].rstrip().endswith("^" * len("email.opend"))


# ---------------------------------------------------------------- the command line

def goal(*args, cwd):
    return subprocess.run([sys.executable, "-m", "goaldsl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def assert_no_traceback(proc):
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "RecursionError" not in proc.stdout + proc.stderr


def test_cli_check_clean_file_exits_0(write, tmp_path):
    write("program.goal", 'workflow "W" {\n    audience contact.x == 1\n    send_email("hi")\n}\n')
    proc = goal("check", "program.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "ok: 1 file checked"


def test_cli_check_syntax_error_exits_1(write, tmp_path):
    write("program.goal", 'workflow "Broken" {\n    audience contact.x == 1\n    send_email("hello")\n'
                          '    goals {\n        goal "Typo" {\n            wen email.opened\n        }\n    }\n}\n')
    proc = goal("check", "program.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 1
    assert 'program.goal:6:13: error[E0001]: unexpected name "wen"' in proc.stdout
    assert "            ^^^" in proc.stdout
    assert 'did you mean "when"?' in proc.stdout
    assert "__ANON" not in proc.stdout and "RBRACE" not in proc.stdout
    assert proc.stderr.strip() == "1 error"


def test_cli_check_errors_exit_1(write, tmp_path):
    write("program.goal", 'workflow "W" {\n    audience email.opend\n    send_emial("x")\n}\n')
    proc = goal("check", "program.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 1
    assert "program.goal:2:14: error[E0303]" in proc.stdout
    assert "program.goal:3:5: error[E0501]" in proc.stdout
    assert proc.stderr.strip() == "2 errors"


@pytest.mark.parametrize("content, code", [
    ("segment s = " + "(" * DEPTH + "contact.x == 1" + ")" * DEPTH + "\n", "E0003"),
    ("segment s = " + "not " * DEPTH + "contact.x == 1\n", "E0003"),
    ("#" + "x" * MAX_FILE_BYTES + "\n", "E0004"),
    (b"segment s = contact.x == \"caf\xe9\"\n", "E0102"),
    (b"segment s = 1\x00\n", "E0005"),
    ('segment s = contact.x == "' + "a" * 1_000_000 + "\n", "E0002"),
], ids=["parens", "nots", "size", "utf8", "nul", "long-unterminated-string"])
def test_cli_check_limits_exit_1_without_traceback(write, tmp_path, content, code):
    write("program.goal", content)
    proc = goal("check", "program.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 1
    assert f"program.goal:" in proc.stdout and f"error[{code}]" in proc.stdout


def test_cli_check_missing_file(tmp_path):
    proc = goal("check", "nothere.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 1
    assert "no such file: nothere.goal" in proc.stdout


def test_cli_check_import_outside_root(write, tmp_path):
    write("outside.goal", "segment s = contact.x == 1\n")
    write("prog/program.goal", 'import "../outside.goal"\n')
    proc = goal("check", "prog/program.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 1
    assert "prog/program.goal:1:1: error[E0104]" in proc.stdout


def test_cli_check_big_clean_file(write, tmp_path):
    text = "".join(f"segment s{i} = contact.score >= {i} and email.opened within 7 days\n" for i in range(5000))
    write("program.goal", text + 'workflow "W" { audience s1 }\n')
    proc = goal("check", "program.goal", cwd=tmp_path)
    assert_no_traceback(proc)
    assert proc.returncode == 0


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='#"\\\n()[]{}a ', max_size=60))
def test_the_quick_nesting_depth_is_the_scans(text):
    from goaldsl.syntax.parser import deepest_nesting, nesting
    assert deepest_nesting(text) == nesting(text).deepest


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='#"\n()[]{}a \u00e9\ud800', max_size=60))
def test_the_quick_nesting_depth_without_a_backslash_is_the_scans(text):
    # (without a backslash the quick way reads the brackets, quotes, hashes and
    # line breaks alone, from the text's UTF-8 bytes)
    from goaldsl.syntax.parser import deepest_nesting, nesting
    assert deepest_nesting(text) == nesting(text).deepest


def test_the_quick_nesting_depth_on_the_examples():
    from pathlib import Path
    from goaldsl.syntax.parser import deepest_nesting, nesting
    for p in Path(__file__).parent.parent.glob("examples/**/*.goal"):
        text = p.read_text(encoding="utf-8")
        assert deepest_nesting(text) == nesting(text).deepest


def _longest_not_run(text):  # the reference: every run of the word `not`, by one regular expression
    import re
    nots, not_at = 0, 0
    for m in re.finditer(r"(?:\bnot\b\s*)+", text):
        if m.group(0).count("not") > nots:
            nots, not_at = m.group(0).count("not"), m.start()
    return nots, not_at


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["not", "not", " ", "\n", "can", "note", "é", "_", "x", "(", "1", "\t"]), max_size=40))
def test_the_longest_run_of_not_is_the_regular_expressions(parts):
    from goaldsl.syntax.parser import nesting
    text = "".join(parts)
    found = nesting(text)
    assert (found.nots, found.not_at) == _longest_not_run(text)
