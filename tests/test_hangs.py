"""Nothing the user names blocks forever (issue 18, item 3).

A named pipe called ``*.goal`` with no writer, or a device such as
/dev/zero, used to make ``goal check``/``run``/``fmt`` wait forever; the
language server blocked on a hover for an unopened document that is a pipe;
``--events <(cat ev.jsonl)`` said "no such events file". Every command here
runs as a subprocess with a timeout: a hang fails the test instead of
stopping the suite.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")

TIMEOUT = 60  # far above the second these take; only a hang reaches it

PROGRAM = '''workflow "W" {
    evaluate on event
    enroll when form.submitted
    send_email("hi")
}
'''
EVENTS = [
    {"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "form.submitted", "form": "f"},
    {"time": "2026-11-16T09:00:00Z", "contact": "c2", "type": "form.submitted", "form": "f"},  # out of order
]


def goal(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "goaldsl", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=TIMEOUT, input=stdin if stdin is not None else "")
    except subprocess.TimeoutExpired:
        pytest.fail(f"goal {' '.join(args)} blocked for {TIMEOUT} s")


def feed_pipe(path: Path, data: bytes) -> threading.Thread:
    """A writer on the other end of a named pipe (it waits for a reader)."""
    def write():
        with open(path, "wb") as f:
            f.write(data)
    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("command", [["check"], ["fmt"], ["fmt", "--check"], ["run"]])
def test_a_named_pipe_called_goal_is_refused_without_blocking(tmp_path, command):
    os.mkfifo(tmp_path / "p.goal")  # nobody writes to it: reading would block forever
    p = goal(*command, "p.goal", cwd=tmp_path)
    assert p.returncode == 1, p
    assert "error[E0101]: cannot read p.goal: it is a named pipe, not a regular file" in p.stdout + p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("command", [["check"], ["fmt", "--check"], ["run"]])
def test_a_device_is_refused_without_reading_it(tmp_path, command):
    # /dev/zero never ends: reading it whole would fill memory.
    p = goal(*command, "/dev/zero", cwd=tmp_path)
    assert p.returncode == 1, p
    assert "cannot read /dev/zero: it is a device, not a regular file" in p.stdout + p.stderr


def test_a_named_pipe_in_a_program_folder_is_refused(tmp_path):
    (tmp_path / "prog").mkdir()
    (tmp_path / "prog" / "a.goal").write_text(PROGRAM)
    os.mkfifo(tmp_path / "prog" / "b.goal")
    p = goal("check", "prog", cwd=tmp_path)
    assert p.returncode == 1 and "it is a named pipe, not a regular file" in p.stdout, p


def _program(tmp_path: Path) -> Path:
    (tmp_path / "program.goal").write_text(PROGRAM)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    return tmp_path / "program.goal"


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_events_from_a_pipe_are_read_as_a_stream(tmp_path, fmt):
    _program(tmp_path)
    want = goal("run", "program.goal", "--events", "events.jsonl", "--format", fmt, cwd=tmp_path)
    assert want.returncode == 0 and "c2" in want.stdout, want
    os.mkfifo(tmp_path / "ev.pipe")
    writer = feed_pipe(tmp_path / "ev.pipe", (tmp_path / "events.jsonl").read_bytes())
    got = goal("run", "program.goal", "--events", "ev.pipe", "--format", fmt, cwd=tmp_path)
    writer.join(5)
    # the same run, although the log is out of order and a pipe can be read only once
    assert (got.returncode, got.stdout, got.stderr) == (0, want.stdout, want.stderr)


def test_shell_process_substitution_for_events_and_contacts(tmp_path):
    if not Path("/bin/bash").exists():
        pytest.skip("needs bash")
    _program(tmp_path)
    (tmp_path / "contacts.jsonl").write_text('{"id": "c1", "tags": ["vip"]}\n')
    want = goal("run", "program.goal", "--format", "jsonl", cwd=tmp_path)
    py = sys.executable
    p = subprocess.run(["/bin/bash", "-c", f'"{py}" -m goaldsl run program.goal --format jsonl '
                        f'--events <(cat events.jsonl) --contacts <(cat contacts.jsonl)'],
                       cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert (p.returncode, p.stdout, p.stderr) == (0, want.stdout, "")


def test_events_that_are_a_device_or_a_folder_are_refused_with_the_reason(tmp_path):
    _program(tmp_path)
    p = goal("run", "program.goal", "--events", "/dev/zero", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (2, "goal run: /dev/zero is a device, not an events file "
                                           "(give a file or a pipe)\n")
    p = goal("run", "program.goal", "--contacts", ".", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (2, "goal run: . is a folder, not a contacts file\n")
    p = goal("run", "program.goal", "--events", "nothing.jsonl", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (2, "goal run: no such events file: nothing.jsonl\n")


def test_the_repl_refuses_a_pipe_and_says_why(tmp_path):
    _program(tmp_path)
    os.mkfifo(tmp_path / "ev.pipe")
    p = goal("repl", "program.goal", "--events", "ev.pipe", cwd=tmp_path)
    assert p.returncode == 2 and "ev.pipe is a pipe: the REPL reads its data again at :load" in p.stderr, p
    p = goal("repl", "program.goal", cwd=tmp_path, stdin=":load ev.pipe\n:load /dev/zero\n")
    assert "error: ev.pipe is a pipe: the REPL reads its data again at :load, so give a file" in p.stdout, p
    assert "error: /dev/zero is a device, not a data file: give a file" in p.stdout, p
