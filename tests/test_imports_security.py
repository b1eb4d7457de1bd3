"""Imports may not leave the program's folder, and a refused import is never
opened (issue 7).

The proof of "not read" is made by the operating system, not by a spy on
Python's functions: the forbidden target is a named pipe (FIFO) whose other
end is held by a thread. If anything opened the pipe for reading, the thread
would wake up and say so; a loader that read it without that thread would
block forever. Where the tests run as an ordinary user, an unreadable target
(mode 000) is a second proof: refusing it must not say "permission denied".
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


class Tripwire:
    """A FIFO that records whether anyone opened it for reading."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        self.opened = threading.Event()
        self.releasing = False
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self):
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens the pipe
        if not self.releasing:
            self.opened.set()
            os.write(fd, b'segment secret = contact.x == 1\n')
        os.close(fd)

    def release(self):
        """Unblock the waiting thread (the test's own open, not counted)."""
        self.releasing = True
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.thread.join(5)
        os.close(fd)


@pytest.fixture
def tripwires():
    made: list[Tripwire] = []

    def make(path: Path) -> Tripwire:
        t = Tripwire(path)
        made.append(t)
        return t

    yield make
    for t in made:
        if t.thread.is_alive():
            t.release()


def _symlink(link: Path, target: Path, directory: bool = False) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        link.symlink_to(target, target_is_directory=directory)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")


def _errors(paths):
    loaded = load(paths)
    return [d for d in check(loaded).diagnostics if d.is_error]


ESCAPES = [
    "../secret.goal",
    "./../secret.goal",
    "sub/../../secret.goal",
    "sub/./../../secret.goal",
    "../root/../secret.goal",
    "..//secret.goal",
    "../../../../../../../../..{secret}",  # climbs to / and back down to the absolute path
]


@pytest.mark.parametrize("target", ESCAPES)
def test_parent_escapes_are_refused_without_opening(tmp_path, tripwires, target):
    wire = tripwires(tmp_path / "secret.goal")
    (tmp_path / "root" / "sub").mkdir(parents=True)
    target = target.replace("{secret}", str(wire.path))
    (tmp_path / "root" / "program.goal").write_text(f'import "{target}"\nworkflow "W" {{ audience contact.x == 1 }}\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("E0104", 1, 1)], errs
    assert "leaves the program's folder" in errs[0].summary
    assert not wire.opened.is_set(), "the loader opened a file outside the program's folder"


ABSOLUTE = ["{secret}", "/etc/passwd", "/dev/zero", "/dev/stdin", "/proc/self/environ", "//etc/passwd", "/"]


@pytest.mark.parametrize("target", ABSOLUTE)
def test_absolute_paths_are_refused_without_opening(tmp_path, tripwires, target):
    wire = tripwires(tmp_path / "secret.goal")
    target = target.replace("{secret}", str(wire.path))
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "program.goal").write_text(f'import "{target}"\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("E0104", 1, 1)], errs
    assert "absolute path" in errs[0].summary
    assert not wire.opened.is_set()


def test_symlinked_file_pointing_outside_is_refused_without_opening(tmp_path, tripwires):
    wire = tripwires(tmp_path / "outside" / "secret.goal")
    _symlink(tmp_path / "root" / "link.goal", wire.path)
    (tmp_path / "root" / "program.goal").write_text('import "link.goal"\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.line) for e in errs] == [("E0104", 1)], errs
    assert not wire.opened.is_set()


def test_symlinked_folder_pointing_outside_is_refused_without_opening(tmp_path, tripwires):
    wire = tripwires(tmp_path / "outside" / "secret.goal")
    _symlink(tmp_path / "root" / "lib", tmp_path / "outside", directory=True)
    (tmp_path / "root" / "program.goal").write_text('import "lib/secret.goal"\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.line) for e in errs] == [("E0104", 1)], errs
    assert not wire.opened.is_set()


def test_chain_of_symlinks_leading_outside_is_refused(tmp_path, tripwires):
    # root/a.goal -> root/b.goal -> ../outside/secret.goal: each hop looks harmless.
    wire = tripwires(tmp_path / "outside" / "secret.goal")
    _symlink(tmp_path / "root" / "b.goal", Path("../outside/secret.goal"))
    _symlink(tmp_path / "root" / "a.goal", Path("b.goal"))
    (tmp_path / "root" / "program.goal").write_text('import "a.goal"\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.line) for e in errs] == [("E0104", 1)], errs
    assert not wire.opened.is_set()


def test_symlink_in_an_imported_file_is_judged_against_the_first_root(tmp_path, tripwires):
    # The root is the folder of the file on the command line, also for imports of imports.
    wire = tripwires(tmp_path / "outside" / "secret.goal")
    (tmp_path / "root" / "lib").mkdir(parents=True)
    _symlink(tmp_path / "root" / "lib" / "escape.goal", wire.path)
    (tmp_path / "root" / "lib" / "common.goal").write_text('import "escape.goal"\nsegment c = contact.x == 1\n')
    (tmp_path / "root" / "program.goal").write_text('import "lib/common.goal"\nworkflow "W" { audience c }\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.file.endswith("common.goal"), e.span.line) for e in errs] == [("E0104", True, 1)], errs
    assert not wire.opened.is_set()


def test_named_pipe_inside_the_root_is_refused_without_opening(tmp_path, tripwires):
    # Inside the folder, but reading a pipe could block forever.
    wire = tripwires(tmp_path / "root" / "pipe.goal")
    (tmp_path / "root" / "program.goal").write_text('import "pipe.goal"\n')
    errs = _errors([tmp_path / "root" / "program.goal"])
    assert [(e.code, e.span.line) for e in errs] == [("E0101", 1)], errs
    assert "not a regular file" in errs[0].summary
    assert not wire.opened.is_set()


def test_symlink_loops_and_dangling_links_give_diagnostics(tmp_path):
    root = tmp_path / "root"
    _symlink(root / "a.goal", Path("b.goal"))
    _symlink(root / "b.goal", Path("a.goal"))
    _symlink(root / "dangling.goal", Path("nowhere.goal"))
    (root / "program.goal").write_text('import "a.goal"\nimport "dangling.goal"\n')
    errs = _errors([root / "program.goal"])
    assert [(e.code, e.span.line) for e in errs] == [("E0101", 1), ("E0101", 2)], errs
    # A loop given on the command line: an error, not a crash.
    errs = _errors([root / "a.goal"])
    assert [e.code for e in errs] == ["E0101"] and "loop" in errs[0].summary


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files of mode 000")
def test_unreadable_file_outside_is_refused_not_tried(tmp_path):
    secret = tmp_path / "secret.goal"
    secret.write_text("segment secret = contact.x == 1\n")
    secret.chmod(0)
    try:
        (tmp_path / "root").mkdir()
        (tmp_path / "root" / "program.goal").write_text('import "../secret.goal"\n')
        errs = _errors([tmp_path / "root" / "program.goal"])
        assert [e.code for e in errs] == ["E0104"], errs  # not "cannot read ...: Permission denied"
    finally:
        secret.chmod(0o644)


def test_through_the_goal_command(tmp_path, tripwires):
    """The real command, with pipes as targets: it finishes (a read would
    block until the timeout), exits 1 and names each refused import."""
    outside = tripwires(tmp_path / "outside" / "secret.goal")
    inside = tripwires(tmp_path / "root" / "pipe.goal")
    _symlink(tmp_path / "root" / "link.goal", outside.path)
    _symlink(tmp_path / "root" / "lib", tmp_path / "outside", directory=True)
    (tmp_path / "root" / "program.goal").write_text(
        'import "../outside/secret.goal"\n'
        f'import "{outside.path}"\n'
        'import "link.goal"\n'
        'import "lib/secret.goal"\n'
        'import "pipe.goal"\n'
        'workflow "W" { audience contact.x == 1 }\n')
    for cmd in (["check", "program.goal"], ["run", "program.goal", "--from", "2026-01-01T00:00:00Z",
                                             "--until", "2026-01-02T00:00:00Z"]):
        proc = subprocess.run([sys.executable, "-m", "goaldsl", *cmd], cwd=tmp_path / "root", capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "Traceback" not in out
        for line, code in ((1, "E0104"), (2, "E0104"), (3, "E0104"), (4, "E0104"), (5, "E0101")):
            assert f"program.goal:{line}:1: error[{code}]" in proc.stdout, out
    assert not outside.opened.is_set() and not inside.opened.is_set()


def test_the_tripwire_trips_when_a_pipe_is_read(tmp_path, tripwires):
    # The proof above is only worth something if an open is seen: a plain
    # read of the pipe trips the wire. (The loader opens no pipe at all, not
    # even one named on the command line: issue 18, tests/test_hangs.py.)
    wire = tripwires(tmp_path / "root" / "given.goal")
    assert [e.code for e in _errors([wire.path])] == ["E0101"]
    assert not wire.opened.is_set()
    assert wire.path.read_text() == "segment secret = contact.x == 1\n"
    wire.thread.join(5)
    assert wire.opened.is_set()
