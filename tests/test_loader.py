"""The loader: imports relative to the importing file, staying inside the
root folder (checked before anything is read), cycles named in full,
duplicates shown in both places, unreadable files reported with a position."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import goaldsl.semantics.loader as loader_mod
from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load


def brief(diags):
    return [(d.code, str(d.span) if d.span else None, d.summary) for d in diags]


def one(diags):
    diags = list(diags)
    assert len(diags) == 1, "\n".join(d.render() for d in diags)
    return diags[0]


@pytest.fixture
def reads(monkeypatch):
    """Every path the loader reads, resolved."""
    seen: list[Path] = []
    real_read_source = loader_mod.read_source
    real_read_bytes = Path.read_bytes
    real_read_text = Path.read_text

    def read_source(path, shown):
        seen.append(Path(path).resolve())
        return real_read_source(path, shown)

    def read_bytes(self):
        seen.append(self.resolve())
        return real_read_bytes(self)

    def read_text(self, *a, **kw):
        seen.append(self.resolve())
        return real_read_text(self, *a, **kw)

    monkeypatch.setattr(loader_mod, "read_source", read_source)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "read_text", read_text)
    return seen


def _symlink(link: Path, target: Path, directory: bool = False) -> None:
    try:
        link.symlink_to(target, target_is_directory=directory)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")


# ---------------------------------------------------------------- imports that work

def test_import_is_relative_to_the_importing_file(write):
    write("root/program.goal", 'import "./sub/common.goal"\nworkflow "W" { audience nearby }\n')
    write("root/sub/common.goal", 'import "helpers.goal"\n')
    # helpers.goal next to common.goal is the one meant, not the one at the root.
    write("root/sub/helpers.goal", 'segment nearby = contact.x == 1\n')
    write("root/helpers.goal", 'segment decoy = contact.x == 1\n')
    loaded = load(["root/program.goal"])
    assert loaded.diagnostics == []
    res = check(loaded)
    assert res.diagnostics == ()
    assert "nearby" in res.program.segments and "decoy" not in res.program.segments


def test_import_may_go_up_inside_the_root(write):
    write("root/program.goal", 'import "sub/a.goal"\nworkflow "W" { audience shared }\n')
    write("root/sub/a.goal", 'import "../shared.goal"\n')
    write("root/shared.goal", 'segment shared = contact.x == 1\n')
    assert check(load(["root/program.goal"])).diagnostics == ()


def test_diamond_imports_load_once(write):
    write("program.goal", 'import "a.goal"\nimport "b.goal"\nworkflow "W" { audience c }\n')
    write("a.goal", 'import "c.goal"\n')
    write("b.goal", 'import "./c.goal"\n')
    write("c.goal", 'segment c = contact.x == 1\n')
    loaded = load(["program.goal"])
    assert [m.file for m in loaded.modules if not m.file.startswith("<stdlib>")] == [
        "program.goal", "a.goal", "c.goal", "b.goal"]
    assert check(loaded).diagnostics == ()


def test_stdlib_loads_first(write):
    write("program.goal", "")
    loaded = load(["program.goal"])
    files = [m.file for m in loaded.modules]
    assert files[-1] == "program.goal"
    assert all(f.startswith("<stdlib>/") for f in files[:-1]) and len(files) > 1


def test_unsaved_text_overrides_the_file(write):
    p = write("program.goal", "this does not parse")
    loaded = load(["program.goal"], texts={str(p.absolute()): 'segment s = contact.x == 1\n'})
    assert loaded.diagnostics == []


# ---------------------------------------------------------------- imports that are refused without reading

def test_import_leaving_the_root_is_refused_without_reading(write, tmp_path, reads):
    secret = write("outside/x.goal", 'segment secret = contact.x == 1\n')
    write("root/program.goal", 'workflow "W" { audience contact.x == 1 }\nimport "../outside/x.goal"\n')
    d = one(load(["root/program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == (
        "E0104", "root/program.goal:2:1", 'import "../outside/x.goal" leaves the program\'s folder')
    assert d.detail == "imports must stay inside root"
    assert d.hint == "move the file into the folder"
    assert secret.resolve() not in reads


def test_plain_parent_import_is_refused(write, reads):
    secret = write("x.goal", 'segment secret = contact.x == 1\n')
    write("root/program.goal", 'import "../x.goal"\n')
    d = one(load(["root/program.goal"]).diagnostics)
    assert (d.code, str(d.span)) == ("E0104", "root/program.goal:1:1")
    assert secret.resolve() not in reads


def test_sneaky_parent_import_is_refused(write, reads):
    secret = write("x.goal", "segment secret = contact.x == 1\n")
    write("root/sub/keep.goal", "")
    write("root/program.goal", 'import "sub/../../x.goal"\n')
    d = one(load(["root/program.goal"]).diagnostics)
    assert d.code == "E0104" and "leaves the program's folder" in d.summary
    assert secret.resolve() not in reads


def test_absolute_import_is_refused_without_reading(write, tmp_path, reads):
    secret = write("outside/abs.goal", 'segment secret = contact.x == 1\n')
    target = str(secret.resolve())
    write("root/program.goal", f'import "{target}"\n')
    d = one(load(["root/program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == ("E0104", "root/program.goal:1:1",
                                                f'import "{target}" uses an absolute path')
    assert d.hint == "import files by a path relative to this file"
    assert secret.resolve() not in reads


def test_absolute_import_inside_the_root_is_refused_too(write, reads):
    inside = write("root/common.goal", 'segment s = contact.x == 1\n')
    write("root/program.goal", f'import "{inside.resolve()}"\n')
    d = one(load(["root/program.goal"]).diagnostics)
    assert d.code == "E0104" and "absolute path" in d.summary
    assert inside.resolve() not in reads


def test_symlink_pointing_outside_is_refused_without_reading(write, tmp_path, reads):
    secret = write("outside/secret.goal", 'segment secret = contact.x == 1\n')
    write("root/program.goal", 'import "link.goal"\n')
    _symlink(tmp_path / "root" / "link.goal", secret)
    d = one(load(["root/program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == ("E0104", "root/program.goal:1:1",
                                                'import "link.goal" leaves the program\'s folder')
    assert secret.resolve() not in reads


def test_symlinked_folder_pointing_outside_is_refused(write, tmp_path, reads):
    secret = write("outside/secret.goal", 'segment secret = contact.x == 1\n')
    write("root/program.goal", 'import "lib/secret.goal"\n')
    _symlink(tmp_path / "root" / "lib", tmp_path / "outside", directory=True)
    d = one(load(["root/program.goal"]).diagnostics)
    assert d.code == "E0104" and "leaves the program's folder" in d.summary
    assert secret.resolve() not in reads


def test_symlink_inside_the_root_is_fine(write, tmp_path):
    write("root/real.goal", 'segment s = contact.x == 1\n')
    write("root/program.goal", 'import "link.goal"\nworkflow "W" { audience s }\n')
    _symlink(tmp_path / "root" / "link.goal", tmp_path / "root" / "real.goal")
    assert check(load(["root/program.goal"])).diagnostics == ()


def test_root_is_the_folder_of_the_file_on_the_command_line(write, reads):
    # sub/program.goal is given directly: its folder is the root, so ../ is out.
    secret = write("common.goal", 'segment s = contact.x == 1\n')
    write("sub/program.goal", 'import "../common.goal"\n')
    d = one(load(["sub/program.goal"]).diagnostics)
    assert d.code == "E0104"
    assert secret.resolve() not in reads


# ---------------------------------------------------------------- other import problems

def test_missing_import(write):
    write("program.goal", 'segment s = contact.x == 1\nimport "./missing.goal"\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == ("E0101", "program.goal:2:1", "no such file: missing.goal")


def test_import_of_a_folder(write):
    write("lib/a.goal", "")
    write("program.goal", 'import "lib"\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == ("E0101", "program.goal:1:1", "lib is a directory, not a .goal file")


def test_empty_import(write):
    write("program.goal", 'import ""\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == ("E0104", "program.goal:1:1", "an import needs a file name")


def test_missing_program_file(write):
    d = one(load(["nothere.goal"]).diagnostics)
    assert (d.code, d.span, d.summary) == ("E0101", None, "no such file: nothere.goal")


def test_import_cycle_names_the_whole_chain(write):
    write("program.goal", 'import "a.goal"\n')
    write("a.goal", 'import "b.goal"\n')
    write("b.goal", 'segment b = contact.x == 1\nimport "./program.goal"\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == (
        "E0103", "b.goal:2:1", "import cycle: program.goal -> a.goal -> b.goal -> program.goal")
    assert d.hint == "remove one of these imports"


def test_import_cycle_among_imported_files(write):
    write("root/program.goal", 'import "./a.goal"\n')
    write("root/a.goal", 'import "./b.goal"\n')
    write("root/b.goal", 'import "./c.goal"\n')
    write("root/c.goal", 'import "./a.goal"\n')
    d = one(load(["root/program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == (
        "E0103", "root/c.goal:1:1", "import cycle: root/a.goal -> root/b.goal -> root/c.goal -> root/a.goal")


def test_file_importing_itself(write):
    write("program.goal", 'import "program.goal"\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, d.summary) == ("E0103", "import cycle: program.goal -> program.goal")


# ---------------------------------------------------------------- duplicates across files

def test_duplicate_declarations_across_files_show_both_places(write):
    write("program.goal", 'import "common.goal"\nsegment hot = contact.x == 1\n'
                          'event quiz.done { score: number }\n')
    write("common.goal", '# shared\nsegment hot = contact.x == 2\nevent quiz.done { score: number }\n')
    diags = check(load(["program.goal"])).diagnostics
    assert brief(diags) == [
        ("E0201", "common.goal:2:9", "segment hot is declared twice"),
        ("E0201", "common.goal:3:7", "event quiz.done is declared twice"),
    ]
    assert [(str(r.span), r.message) for r in diags[0].related] == [("program.goal:2:9", "first declared here")]
    assert [(str(r.span), r.message) for r in diags[1].related] == [("program.goal:3:1", "first declared here")]
    text = diags[0].render(check(load(["program.goal"])).program.sources)
    assert "common.goal:2:9" in text and "note: program.goal:2:9: first declared here" in text


# ---------------------------------------------------------------- unreadable text

def test_invalid_utf8_has_a_position(write):
    write("program.goal", b'segment a = "\xc3\xa9" == "caf\xe9"\n')
    d = one(load(["program.goal"]).diagnostics)
    # The column counts characters: "é" before the bad byte is one column.
    assert (d.code, str(d.span), d.summary) == ("E0102", "program.goal:1:24", "the file is not valid UTF-8")
    assert d.detail == "byte 0xe9 at offset 24"
    assert d.hint == "save the file as UTF-8"


def test_invalid_utf8_in_an_imported_file(write):
    write("program.goal", 'import "bad.goal"\n')
    write("bad.goal", b'# ok\n\n  \xff\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, str(d.span)) == ("E0102", "bad.goal:3:3")


def test_nul_byte_has_a_position(write):
    write("program.goal", 'import "nul.goal"\n')
    write("nul.goal", b'segment b = contact.x == 1\n\n  x\x00y\n')
    d = one(load(["program.goal"]).diagnostics)
    assert (d.code, str(d.span), d.summary) == ("E0005", "nul.goal:3:4", "the file holds a NUL character")


def test_utf8_text_is_fine(write):
    write("program.goal", 'segment s = contact.city == "Zürich" # café ✓\nworkflow "Über" { audience s }\n')
    assert check(load(["program.goal"])).diagnostics == ()


def test_the_read_recorder_sees_reads(write, reads):
    # Guards the "without reading" tests above: a file that is read is seen.
    inside = write("root/common.goal", 'segment s = contact.x == 1\n')
    write("root/program.goal", 'import "common.goal"\n')
    assert load(["root/program.goal"]).diagnostics == []
    assert inside.resolve() in reads
