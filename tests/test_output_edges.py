"""REPL clock and output encoding edges (issue 18, item 8).

``:advance 99999999999 days`` moved the REPL's clock past the years the
command line and the input files allow (1900 to 8999), and ``:explain`` then
failed with an internal error. With ``PYTHONIOENCODING=ascii`` any
non-ASCII name in a diagnostic, a table or the REPL ended in an internal
error (or, inside the error handler itself, a traceback).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from goaldsl.tools.repl import ReplSession

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "booked-a-demo"


def _session() -> ReplSession:
    s = ReplSession(str(EXAMPLE))
    s.handle(":contact c1")
    return s


@pytest.mark.parametrize("line", [":advance 99999999999 days", ":advance 3000000 days", ":at 9999-01-01T00:00Z",
                                  ":at 1899-12-31T23:59:59Z"])
def test_the_clock_stays_between_1900_and_8999(line):
    s = _session()
    before = s.at
    said = s.handle(line)  # handle() never raises: it answers
    assert said.startswith("error: ") and \
        "is out of range: the clock stays between the years 1900 and 8999, as event times do" in said, said
    assert s.at == before
    # and :explain answers at the clock's time, as before
    answer = s.handle(":explain Booked a Demo")
    assert 'goal "Booked a Demo"' in answer and "internal error" not in answer


def test_explain_answers_near_the_ends_of_the_range():
    s = _session()
    s.handle(":advance 2000000 days")  # year 7502: inside the range
    assert "7502-09-18" in s.handle(":at")
    for name in ("Booked a Demo", "Unsubscribed"):
        answer = s.handle(f":explain {name}")
        assert "Condition at 7502-09-18T09:15:00Z" in answer and "internal error" not in answer
    s.handle(":at 1900-01-01T00:00Z")
    answer = s.handle(":explain Booked a Demo")
    assert "Condition at 1900-01-01T00:00:00Z" in answer and "internal error" not in answer


def _ascii(args, cwd, stdin=""):
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    return subprocess.run([sys.executable, "-m", "goaldsl", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_non_ascii_output_on_an_ascii_terminal_is_escaped_not_an_error(tmp_path):
    (tmp_path / "p.goal").write_text('workflow "Café ☕" {\n    enroll when form.submitted\n'
                                     '    send_email("bienvenue-é")\n}\n', encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(json.dumps(
        {"time": "2026-11-16T10:00:00Z", "contact": "José", "type": "form.submitted", "form": "f"}) + "\n")
    table = _ascii(["run", "p.goal", "--format", "table"], tmp_path)
    assert table.returncode == 0 and table.stderr == ""
    assert 'Jos\\xe9' in table.stdout and 'Workflow "Caf\\xe9 \\u2615": 1 enrolled' in table.stdout
    # JSON Lines is UTF-8 whatever the terminal
    jsonl = _ascii(["run", "p.goal", "--format", "jsonl"], tmp_path)
    assert jsonl.returncode == 0 and '"contact":"José"' in jsonl.stdout
    # a diagnostic, written by the error handler itself
    (tmp_path / "bad.goal").write_text('workflow "Café" { wait 3 dayz }\n', encoding="utf-8")
    bad = _ascii(["check", "bad.goal"], tmp_path)
    assert bad.returncode == 1 and 'workflow "Caf\\xe9" { wait 3 dayz }' in bad.stdout
    assert "internal error" not in bad.stdout + bad.stderr and "Traceback" not in bad.stderr
    # the REPL, typed at in UTF-8 while the terminal says ASCII
    repl = _ascii(["repl", "p.goal"], tmp_path, stdin=':contact José\n"é" in contact.tags\n:explain é\n')
    assert repl.returncode == 0 and "internal error" not in repl.stdout + repl.stderr, repl


def test_a_state_file_with_undecodable_text_is_refused_not_an_internal_error(tmp_path):
    # Found by fuzz/targets.py (state): bytes that are not UTF-8 in a text
    # column made `goal log` end in sqlite3's OperationalError (exit 70).
    import sqlite3
    (tmp_path / "p.goal").write_text('workflow "W" {\n    enroll when form.submitted\n    send_email("hi")\n}\n')
    (tmp_path / "events.jsonl").write_text(json.dumps(
        {"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"}) + "\n")
    run = subprocess.run([sys.executable, "-m", "goaldsl", "run", "p.goal", "--state", "s.db", "--format", "jsonl"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE activity SET entry = CAST(X'7b22ff22' AS TEXT)")
    db.commit()
    db.close()
    for argv in (["log", "s.db", "--format", "jsonl"], ["log", "s.db", "--format", "table"]):
        p = subprocess.run([sys.executable, "-m", "goaldsl", *argv], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 1 and "internal error" not in p.stderr and "Traceback" not in p.stderr, p
        assert "the state file is corrupted" in p.stderr and "backup" in p.stderr
