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
    monkeypatch.setattr(codecache, "_used", {})
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


def test_a_damaged_entry_is_compiled_again(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("a = 1\n", "<a>")
    codecache.compiled("b = 2\n", "<b>")
    codecache.save()
    (path,) = (tmp_path / "goaldsl").glob("code-*.marshal")
    import marshal
    codes = marshal.loads(path.read_bytes())
    codes[("a = 1\n", "<a>")] = b"\xff damaged"
    codes[("b = 2\n", "<b>")] = marshal.dumps(1)  # not a code object
    path.write_bytes(marshal.dumps(codes))
    _fresh(monkeypatch, tmp_path)
    assert _run(codecache.compiled("a = 1\n", "<a>"))["a"] == 1
    assert _run(codecache.compiled("b = 2\n", "<b>"))["b"] == 2
    codecache.save()  # and written again, mended
    _fresh(monkeypatch, tmp_path)
    assert type(marshal.loads(codecache._loaded()[("a = 1\n", "<a>")])) is type(_fresh.__code__)


def test_the_file_is_named_for_goals_version_and_old_ones_go(monkeypatch, tmp_path):
    folder = tmp_path / "goaldsl"
    folder.mkdir()
    old = []
    for i in range(6):  # files of other versions, written before
        f = folder / f"code-0.0.{i}-cpython-311-00000000.marshal"
        f.write_bytes(b"{0")
        os.utime(f, (1000 + i, 1000 + i))
        old.append(f)
    (folder / "x.index").write_bytes(b"")  # another kind of file: not touched
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("c = 3\n", "<c>")
    codecache.save()
    import goaldsl
    names = sorted(p.name for p in folder.glob("code-*.marshal"))
    assert len(names) == codecache.KEEP_FILES
    assert any(n.startswith(f"code-{goaldsl.__version__}-") for n in names)
    assert [p.exists() for p in old] == [False, False, False, True, True, True]  # the most recent kept
    assert (folder / "x.index").exists()


def test_a_file_past_its_bound_keeps_this_process_texts(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(codecache, "MAX_TEXTS", 3)
    for i in range(3):
        codecache.compiled(f"v = {i}\n", "<v>")
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("v = 0\n", "<v>")  # read from the file
    codecache.compiled("w = 1\n", "<w>")  # new: the file would hold 4
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    assert set(codecache._loaded()) == {("v = 0\n", "<v>"), ("w = 1\n", "<w>")}
