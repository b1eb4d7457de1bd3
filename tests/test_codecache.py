"""syntax/codecache.py: generated code compiled once per machine, kept in the
cache folder; a damaged or missing file is only slower, never wrong."""
from __future__ import annotations

import os
import subprocess
import sys

from goaldsl.syntax import codecache


def _fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(codecache, "_codes", None)  # as a new process would start
    monkeypatch.setattr(codecache, "_unsaved", False)


def _run(code) -> dict:
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the test's own text
    return scope


def test_a_text_compiled_once_is_read_back_by_the_next_process(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    source = "def f(x):\n    return x * 2 + 1\n"
    first = codecache.compiled(source, "<test>")
    assert _run(first)["f"](20) == 41
    codecache.save()  # as at the end of a process
    files = list((tmp_path / "goaldsl").glob("code-*.marshal"))
    assert len(files) == 1
    _fresh(monkeypatch, tmp_path)
    calls = []
    monkeypatch.setattr(codecache, "compile", lambda *a: calls.append(a), raising=False)
    again = codecache.compiled(source, "<test>")
    assert calls == [] and again == first and _run(again)["f"](1) == 3
    assert again.co_filename == "<test>"


def test_a_damaged_file_is_as_if_missing(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("x = 1\n", "<a>")
    codecache.save()
    (path,) = (tmp_path / "goaldsl").glob("code-*.marshal")
    for damage in (b"", b"\x00garbage", path.read_bytes()[:20], b"\xfb\x00\x00\x00\x00"):
        path.write_bytes(damage)
        _fresh(monkeypatch, tmp_path)
        assert _run(codecache.compiled("y = 2\n", "<b>"))["y"] == 2
        assert _run(codecache.compiled("x = 1\n", "<a>"))["x"] == 1
        codecache.save()
    _fresh(monkeypatch, tmp_path)
    assert ("y = 2\n", "<b>") in codecache._loaded()  # written again, whole


def test_without_a_cache_folder_it_compiles(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(codecache, "cache_folder", lambda: None)
    assert _run(codecache.compiled("z = 3\n", "<c>"))["z"] == 3
    assert not (tmp_path / "goaldsl").exists()


def test_a_check_in_a_new_cache_folder_and_again_says_the_same(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "booked-a-demo", "program.goal")
    runs = [subprocess.run([sys.executable, "-m", "goaldsl", "check", example], capture_output=True, text=True,
                           env=env, timeout=120) for _ in range(2)]
    assert runs[0].returncode == runs[1].returncode == 0
    assert runs[0].stdout == runs[1].stdout != "" and runs[0].stderr == runs[1].stderr
    assert list((tmp_path / "goaldsl").glob("code-*.marshal"))
