"""syntax/codecache.py: generated code compiled once per machine, kept in the
cache folder; a damaged or missing file is only slower, never wrong."""
from __future__ import annotations

import os
import subprocess
import sys

from goaldsl.syntax import codecache


def _fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for shelf in (codecache.PACKAGE, codecache.PROGRAMS):  # as a new process would start
        monkeypatch.setattr(shelf, "codes", None)
        monkeypatch.setattr(shelf, "used", {})
        monkeypatch.setattr(shelf, "unsaved", False)


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
    assert ("y = 2\n", "<b>") in codecache.PACKAGE.loaded()  # written again, whole


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
    assert type(marshal.loads(codecache.PACKAGE.loaded()[("a = 1\n", "<a>")])) is type(_fresh.__code__)


def test_the_file_is_named_for_goals_version_and_old_ones_go(monkeypatch, tmp_path):
    folder = tmp_path / "goaldsl"
    folder.mkdir()
    old = []
    for i in range(codecache.KEEP_FILES + 2):  # files of other versions, written before
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
    assert [p.exists() for p in old] == [False] * 3 + [True] * (codecache.KEEP_FILES - 1)  # the most recent kept
    assert (folder / "x.index").exists()


def test_a_programs_code_has_a_file_of_its_own(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("p = 1\n", "<goal condition p>", program=True)
    codecache.compiled("q = 2\n", "<constructor of Q>")
    codecache.save()
    folder = tmp_path / "goaldsl"
    (programs,) = folder.glob("code-*-programs.marshal")
    (package,) = folder.glob("code-*-package.marshal")
    assert set(folder.glob("code-*")) == {programs, package}
    _fresh(monkeypatch, tmp_path)
    assert set(codecache.PROGRAMS.loaded()) == {("p = 1\n", "<goal condition p>")}
    assert set(codecache.PACKAGE.loaded()) == {("q = 2\n", "<constructor of Q>")}
    assert package.name == programs.name.replace("-programs", "-package")


def test_a_file_past_its_bound_drops_the_least_recently_written(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(codecache, "MAX_TEXTS", 4)
    for i in range(4):
        codecache.compiled(f"v = {i}\n", "<v>", program=True)
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("v = 0\n", "<v>", program=True)  # read from the file: written last
    codecache.compiled("w = 1\n", "<w>", program=True)  # new: the file would hold 5
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    assert list(codecache.PROGRAMS.loaded()) == [("v = 2\n", "<v>"), ("v = 3\n", "<v>"),
                                                 ("v = 0\n", "<v>"), ("w = 1\n", "<w>")]
    codecache.compiled("x = 1\n", "<x>", program=True)  # a third process: v = 2 goes, nothing else
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    assert list(codecache.PROGRAMS.loaded()) == [("v = 3\n", "<v>"), ("v = 0\n", "<v>"),
                                                 ("w = 1\n", "<w>"), ("x = 1\n", "<x>")]
    assert codecache.PACKAGE.loaded() == {}  # the package's file is another


def test_a_process_with_more_texts_than_the_bound_keeps_its_own(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(codecache, "MAX_TEXTS", 2)
    codecache.compiled("a = 0\n", "<a>")
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    for i in range(3):
        codecache.compiled(f"b = {i}\n", "<b>")
    codecache.save()
    _fresh(monkeypatch, tmp_path)
    assert list(codecache.PACKAGE.loaded()) == [(f"b = {i}\n", "<b>") for i in range(3)]


def test_a_half_written_file_left_behind_goes_after_an_hour(monkeypatch, tmp_path):
    folder = tmp_path / "goaldsl"
    folder.mkdir()
    stale, fresh = folder / ".code-x.marshal.123.tmp", folder / ".code-y.marshal.456.tmp"
    older = folder / "code-z.marshal.789.tmp"  # as goal named them before (no dot)
    for f in (stale, fresh, older):
        f.write_bytes(b"")
    os.utime(stale, (1000, 1000))
    os.utime(older, (1000, 1000))
    _fresh(monkeypatch, tmp_path)
    codecache.compiled("d = 4\n", "<d>")
    codecache.save()
    assert not stale.exists() and not older.exists() and fresh.exists()
    assert not list(folder.glob("code-*.tmp"))  # its own went by the rename
