"""Outputs of goal run (docs/cli.md): the activity stream as CSV and
Parquet (--format, --out), the same entries as JSON Lines; progress and the
summary on a terminal's standard error only, never in the output.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from goaldsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "booked-a-demo"


def jsonl_entries(capsys) -> list[dict]:
    assert main(["run", str(EXAMPLE), "--format", "jsonl"]) == 0
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def as_columns(e: dict) -> dict:
    """A JSON Lines entry in the columns of CSV and Parquet."""
    known = ("time", "contact", "workflow", "type", "action", "args", "step", "goal", "reason", "id")
    out = {k: e.get(k) for k in known}
    out["args"] = json.dumps(e["args"], ensure_ascii=False) if "args" in e else None
    more = {k: v for k, v in e.items() if k not in known}
    out["more"] = json.dumps(more, ensure_ascii=False) if more else None
    return out


def test_csv_and_parquet_hold_the_same_entries_as_jsonl(tmp_path, capsys):
    want = [as_columns(e) for e in jsonl_entries(capsys)]
    assert want
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "a.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text(encoding="utf-8"))))
    assert [{k: (v or None) for k, v in r.items()} for r in rows] == want
    assert main(["run", str(EXAMPLE), "--format", "csv"]) == 0  # to standard output
    assert capsys.readouterr().out == (tmp_path / "a.csv").read_text(encoding="utf-8")
    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "a.parquet")]) == 0
    table = pq.read_table(tmp_path / "a.parquet", use_threads=False)
    got = table.to_pylist()
    for r in got:
        r["time"] = r["time"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert got == want
    assert str(table.schema.field("time").type).startswith("timestamp")


def test_out_with_a_table_name_keeps_the_summary(tmp_path, capsys):
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "run.txt")]) == 0
    text = (tmp_path / "run.txt").read_text(encoding="utf-8")
    assert 'Workflow "Demo Nurture":' in text and "goal achieved" in text
    assert capsys.readouterr().out == ""


def test_parquet_to_a_terminal_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["run", str(EXAMPLE), "--format", "parquet"]) == 2
    assert "Parquet is binary" in capsys.readouterr().err


def _with_terminal_stderr(args: list[str]) -> tuple[bytes, bytes]:
    """Run goal with standard error on a pseudo-terminal: (stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    env = dict(os.environ, GOAL_PROGRESS_AFTER="0", COLUMNS="100")
    p = subprocess.Popen([sys.executable, "-m", "goaldsl", *args], stdout=subprocess.PIPE, stderr=slave,
                         stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    out = p.stdout.read()
    assert p.wait() == 0, shown
    os.close(master)
    return out, shown


def test_progress_and_summary_on_a_terminal_only(tmp_path):
    out, shown = _with_terminal_stderr(["run", str(EXAMPLE), "--format", "jsonl"])
    assert b"events/s" in shown and b"reading" in shown  # the progress line
    assert b'Workflow "Demo Nurture"' in shown  # the summary the table would end with
    assert b"events/s" not in out and b"Workflow" not in out
    plain = subprocess.run([sys.executable, "-m", "goaldsl", "run", str(EXAMPLE), "--format", "jsonl"],
                           capture_output=True, env=dict(os.environ, GOAL_PROGRESS_AFTER="0"))
    assert plain.returncode == 0 and plain.stderr == b""  # not a terminal: nothing on stderr
    assert plain.stdout == out


@pytest.mark.parametrize("kind", ["text only", "text with a buffer", "binary"])
def test_held_output_is_copied_whole_to_any_stream(tmp_path, kind):
    # A run's output is held in a binary file, then copied out (one process and the workers alike).
    # Lines of several-byte characters, more of them than one buffer of the copy holds: a text stream
    # gets whole characters, and every stream the same bytes in the same order.
    import tempfile
    from goaldsl.runtime.output import copy_held
    lines = [json.dumps({"n": i, "name": "Zoë ✓ 名前" * (i % 7)}, ensure_ascii=False) for i in range(20000)]
    want = "".join(line + "\n" for line in lines)
    held = tempfile.TemporaryFile()
    held.write(want.encode())  # (left at its end: the copy starts from the start)
    if kind == "text only":
        out = io.StringIO()
        copy_held(held, out)
        got = out.getvalue()
    else:
        path = tmp_path / "out.jsonl"
        with open(path, "wb") as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8") if kind == "text with a buffer" else raw
            if kind == "text with a buffer":
                out.write("before\n")  # written as text first: it stays first
                want = "before\n" + want
            copy_held(held, out)
            out.flush()
        got = path.read_text(encoding="utf-8")
    assert got == want
    assert len(want.encode()) > 1 << 17
