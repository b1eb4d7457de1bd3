"""`goal check --format json|sarif`, `goal fmt -` and `goal fmt --diff`.

SARIF is checked against the parts of the SARIF 2.1.0 specification that
viewers rely on (the required properties and their types, levels, 1-based
regions, rule indexes that point at the rule with the same id)."""
from __future__ import annotations

import io
import json
import subprocess
import sys

from goaldsl.cli import main

BROKEN = 'segment a = invoice.status_changed(status == payed)\nsegment b = contact.x >= 1 and hot\n'


def run(capsys, *argv, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_valid_sarif(doc: dict) -> None:
    """The structural rules of SARIF 2.1.0 (sections 3.13-3.30) a viewer needs."""
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and doc["runs"]
    for run_ in doc["runs"]:
        driver = run_["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        rules = driver.get("rules", [])
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids))
        for r in rules:
            assert isinstance(r["shortDescription"]["text"], str) and r["shortDescription"]["text"]
        for res in run_["results"]:
            assert isinstance(res["message"]["text"], str) and res["message"]["text"]
            assert res["level"] in ("none", "note", "warning", "error")
            if "ruleIndex" in res:
                assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
            for loc in res.get("locations", []) + res.get("relatedLocations", []):
                phys = loc["physicalLocation"]
                assert isinstance(phys["artifactLocation"]["uri"], str)
                reg = phys["region"]
                assert reg["startLine"] >= 1 and reg["startColumn"] >= 1
                if "endLine" in reg:
                    assert (reg["endLine"], reg["endColumn"]) >= (reg["startLine"], reg["startColumn"])


def test_check_json_lists_every_diagnostic(write, capsys):
    write("broken.goal", BROKEN)
    code, out, err = run(capsys, "check", "--format", "json", "broken.goal")
    assert code == 1
    doc = json.loads(out)
    assert doc["files"] == 1 and doc["errors"] == 2 and doc["warnings"] == 0
    first = doc["diagnostics"][0]
    assert (first["code"], first["file"], first["line"], first["column"]) == ("E0305", "broken.goal", 1, 46)
    assert first["hint"] == 'did you mean "paid"?'
    assert doc["diagnostics"][1]["code"] == "E0301"
    assert err == ""  # the document alone; no summary line


def test_check_json_clean_program_exits_0(write, capsys):
    write("ok.goal", "segment a = contact.x >= 1\n")
    code, out, _ = run(capsys, "check", "--format", "json", "ok.goal")
    assert code == 0
    assert json.loads(out) == {"files": 1, "errors": 0, "warnings": 0, "diagnostics": []}


def test_check_sarif_is_valid_and_points_at_the_source(write, capsys):
    write("broken.goal", BROKEN)
    code, out, _ = run(capsys, "check", "--format", "sarif", "broken.goal")
    assert code == 1
    doc = json.loads(out)
    assert_valid_sarif(doc)
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["E0305", "E0301"]
    reg = results[0]["locations"][0]["physicalLocation"]["region"]
    assert reg == {"startLine": 1, "startColumn": 46, "endLine": 1, "endColumn": 51}
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.goal"
    assert 'hint: did you mean "paid"?' in results[0]["message"]["text"]
    assert doc["runs"][0]["columnKind"] == "unicodeCodePoints"


def test_check_sarif_related_locations_and_warnings(write, capsys):
    write("contacts.jsonl", '{"id": "c1", "lead_score": 10}\n')
    write("two.goal", 'segment a = contact.lead_score == "high"\nsegment a = contact.x == 1\n')
    code, out, _ = run(capsys, "check", "--format", "sarif", "two.goal")
    doc = json.loads(out)
    assert_valid_sarif(doc)
    by_rule = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert by_rule["W0501"]["level"] == "warning"
    dup = by_rule["E0201"]
    assert dup["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert dup["relatedLocations"][0]["message"]["text"] == "first declared here"


def test_check_sarif_uri_of_a_file_in_a_folder_with_spaces(write, capsys):
    write("my programs/x.goal", "segment a = hto\n")
    _, out, _ = run(capsys, "check", "--format", "sarif", "my programs/x.goal")
    uri = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20programs/x.goal"


def test_fmt_stdin_to_stdout(capsys, monkeypatch):
    code, out, err = run(capsys, "fmt", "-", stdin=b"segment a=contact.x>1   # keep\n", monkeypatch=monkeypatch)
    assert code == 0
    assert out == "segment a = contact.x > 1  # keep\n"
    assert err == ""


def test_fmt_stdin_syntax_error_goes_to_stderr(capsys, monkeypatch):
    code, out, err = run(capsys, "fmt", "-", stdin=b'workflow "x" { wen }\n', monkeypatch=monkeypatch)
    assert code == 1
    assert out == ""
    assert "<stdin>:1:20: error[E0001]" in err


def test_fmt_stdin_not_utf8(capsys, monkeypatch):
    code, out, err = run(capsys, "fmt", "-", stdin=b"segment a = \xff\n", monkeypatch=monkeypatch)
    assert code == 1 and out == ""
    assert "not valid UTF-8" in err


def test_fmt_stdin_with_other_files_is_a_usage_error(capsys, write):
    write("a.goal", "segment a = contact.x > 1\n")
    code, _, err = run(capsys, "fmt", "-", "a.goal")
    assert code == 2 and "standard input" in err


def test_fmt_diff_prints_a_unified_diff_and_changes_nothing(write, capsys):
    messy = write("messy.goal", "segment a=contact.x>1\nsegment b = contact.y < 2\n")
    clean = write("clean.goal", "segment c = contact.y < 2\n")
    code, out, _ = run(capsys, "fmt", "--diff", "messy.goal", "clean.goal")
    assert code == 1
    assert out.splitlines() == ["--- messy.goal (before)", "+++ messy.goal (formatted)", "@@ -1,2 +1,2 @@",
                                "-segment a=contact.x>1", "+segment a = contact.x > 1", " segment b = contact.y < 2"]
    assert messy.read_text() == "segment a=contact.x>1\nsegment b = contact.y < 2\n"
    assert clean.read_text() == "segment c = contact.y < 2\n"
    code, out, _ = run(capsys, "fmt", "--diff", "clean.goal")
    assert (code, out) == (0, "")


def test_fmt_diff_of_stdin_is_applicable_with_patch(tmp_path, capsys, monkeypatch):
    src = "segment a=contact.x>1"  # no newline at the end
    code, out, _ = run(capsys, "fmt", "--diff", "-", stdin=src.encode(), monkeypatch=monkeypatch)
    assert code == 1
    assert "\\ No newline at end of file" in out
    target = tmp_path / "p.goal"
    target.write_text(src)
    patch = subprocess.run(["patch", str(target)], input=out, capture_output=True, text=True)
    if patch.returncode == 0:  # `patch` may be missing on a minimal machine; the diff text was checked above
        assert target.read_text() == "segment a = contact.x > 1\n"


def test_fmt_check_and_diff_exclude_each_other(capsys, write):
    write("a.goal", "segment a = contact.x > 1\n")
    try:
        main(["fmt", "--check", "--diff", "a.goal"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("--check with --diff was accepted")


def test_every_code_has_a_meaning_and_the_docs_list_the_same_codes():
    import re
    from pathlib import Path
    from goaldsl.syntax.codes import CODES
    root = Path(__file__).resolve().parent.parent
    used = set()
    for f in (root / "goaldsl").rglob("*.py"):
        used |= set(re.findall(r'"([EW]\d{4})"', f.read_text()))
    documented = set(re.findall(r"^\| ([EW]\d{4}) \|", (root / "docs" / "diagnostics.md").read_text(), re.M))
    coded = {c for c in CODES if c[0] in "EW"}
    assert used <= coded, used - coded
    assert coded == documented, coded ^ documented


def test_sarif_rules_are_described_by_their_meaning(write, capsys):
    from goaldsl.syntax.codes import CODES
    write("broken.goal", BROKEN)
    _, out, _ = run(capsys, "check", "--format", "sarif", "broken.goal")
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    assert {r["id"]: r["shortDescription"]["text"] for r in rules} == {"E0301": CODES["E0301"], "E0305": CODES["E0305"]}
