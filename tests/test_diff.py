"""`goal diff OLD NEW`: the figures old -> new, the contacts whose outcome
changed with the first entry where their streams part, exit codes, and a
streamed comparison that does not depend on where the log is cut."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from goaldsl.cli import main
from goaldsl.tools import diff as diff_mod

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "booked-a-demo"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def versions(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(EXAMPLE, old)
    (old / "program_test.goal").unlink()
    new = tmp_path / "new"
    shutil.copytree(old, new)
    prog = new / "program.goal"
    prog.write_text(prog.read_text().replace("contact.lead_score >= 50", "contact.lead_score >= 60"))
    return old, new


def test_the_same_program_is_equal(capsys):
    code, out, _ = run(capsys, "diff", str(EXAMPLE), str(EXAMPLE))
    assert code == 0
    assert "Contacts whose outcome changed: 0" in out and out.endswith("the two versions do the same\n")


def test_a_stricter_audience(versions, capsys):
    old, new = versions
    code, out, _ = run(capsys, "diff", str(old), str(new))
    assert code == 1
    assert "  enrolled              4 -> 3  (-1)" in out
    assert "    achieved            2 -> 1  (-1)" in out
    assert '  "Demo Nurture": achieved "Booked a Demo" -> not enrolled: 1' in out
    assert "    c2, first difference:\n      old: 2026-11-16T14:00:00Z  enrolled\n      new: (no such entry)" in out
    code, out, _ = run(capsys, "diff", str(old), str(new), "--format", "json")
    doc = json.loads(out)
    assert doc["differ"] is True
    w = doc["workflows"][0]
    assert w["enrolled"] == {"old": 4, "new": 3}
    assert w["goals"][0]["achieved"] == {"old": 2, "new": 1}
    [change] = doc["outcome_changes"]
    assert (change["old"], change["new"], change["contacts"]) == ('achieved "Booked a Demo"', "not enrolled", 1)
    assert change["examples"][0]["old"]["type"] == "enrolled" and change["examples"][0]["new"] is None


def test_examples_limit(versions, capsys):
    old, new = versions
    _, out, _ = run(capsys, "diff", str(old), str(new), "--examples", "0")
    assert "first difference" not in out and "-> not enrolled: 1" in out


def test_same_result_however_the_log_is_cut(versions, monkeypatch):
    from goaldsl.api import load_program
    old, new = versions
    a, b = load_program(old), load_program(new)
    results = []
    for piece in (1, 2, 3, 1000):
        monkeypatch.setattr(diff_mod, "PIECE", piece)
        res = diff_mod.run_diff(a, b, old / "contacts.jsonl", old / "events.jsonl", start=None, until=None,
                                window=lambda i: (i.first_time, i.last_time))
        results.append(diff_mod.to_json(res, "o", "n"))
    assert all(r == results[0] for r in results)


def test_an_unsorted_log(versions, tmp_path, capsys):
    old, new = versions
    lines = (old / "events.jsonl").read_text().splitlines()
    (tmp_path / "shuffled.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    _, sorted_out, _ = run(capsys, "diff", str(old), str(new))
    _, shuffled_out, _ = run(capsys, "diff", str(old), str(new), "--events", str(tmp_path / "shuffled.jsonl"))
    assert shuffled_out == sorted_out


def test_contacts_and_their_updates_are_not_shared_between_the_runs(tmp_path, capsys):
    d = tmp_path / "p"
    d.mkdir()
    (d / "program.goal").write_text('workflow "W" {\n    audience contact.plan.tier == "pro"\n'
                                    '    add_tag("pro")\n    update_contact(plan: {tier: "pro", seats: 2})\n}\n')
    (d / "contacts.jsonl").write_text('{"id": "c1", "tags": ["a"], "plan": {"tier": "free"}}\n')
    (d / "events.jsonl").write_text('{"time": "2026-11-16T09:00:00Z", "contact": "c1", "type": "contact.updated", '
                                    '"fields": {"plan": {"tier": "pro"}}}\n'
                                    '{"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "tag.added", "tag": "b"}\n')
    code, out, _ = run(capsys, "diff", str(d), str(d))
    assert code == 0, out


def test_git_revision(tmp_path, capsys, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo / "prog")
    (repo / "prog" / "program_test.goal").unlink()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "v1"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    prog = repo / "prog" / "program.goal"
    prog.write_text(prog.read_text().replace("contact.lead_score >= 50", "contact.lead_score >= 60"))
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "diff", "git:HEAD:prog", "prog")
    assert code == 1 and "-> not enrolled: 1" in out
    code, _, err = run(capsys, "diff", "git:nosuchrev:prog", "prog")
    assert code == 2 and "cannot read prog at nosuchrev" in err


def test_missing_paths_are_usage_errors(capsys):
    code, _, err = run(capsys, "diff", "nowhere", str(EXAMPLE))
    assert code == 2 and "no such file or folder: nowhere" in err


def test_until_is_the_end_of_both_runs(versions, monkeypatch, capsys):
    old, new = versions
    monkeypatch.setattr(diff_mod, "PIECE", 2)
    _, cut, _ = run(capsys, "diff", str(old), str(new), "--until", "2026-11-17T00:00:00Z", "--format", "json")
    monkeypatch.setattr(diff_mod, "PIECE", 1000)
    _, whole, _ = run(capsys, "diff", str(old), str(new), "--until", "2026-11-17T00:00:00Z", "--format", "json")
    assert cut == whole
    assert json.loads(whole)["workflows"][0]["goals"][0]["achieved"] == {"old": 0, "new": 0}
