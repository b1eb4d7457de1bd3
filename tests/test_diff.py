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

from pieces import cut_log

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
    assert w["enrolled"] == {"old": 4, "new": 3, "change": -1}
    booked = w["goals"][0]
    assert booked["achieved"] == {"old": 2, "new": 1, "change": -1}
    # By hand: the goal is checked every 5 minutes. Old: c1 enrolled 11-16 14:00, booked 11-17 15:12, achieved
    # 15:15 (25h15m = 90900 s); c2 enrolled 14:00, booked 11-18 19:31Z, achieved 19:35 (2d 5h35m = 192900 s):
    # median 141900. New: c2 (score 55) is not enrolled, so c1's 90900 alone.
    assert booked["median_time_to_goal"] == {"old": 141900, "new": 90900, "change": -51000}
    assert booked["conversion"]["old"] == 2 / 4 and booked["conversion"]["new"] == 1 / 3
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
        pieces = cut_log(monkeypatch, piece)
        res = diff_mod.run_diff(a, b, old / "contacts.jsonl", old / "events.jsonl", start=None, until=None,
                                window=lambda i: (i.first_time, i.last_time))
        results.append(diff_mod.to_json(res, "o", "n"))
        assert (len(pieces) > 1) == (piece < 1000)
    assert all(r == results[0] for r in results)


def test_an_unsorted_log(versions, tmp_path, capsys):
    old, new = versions
    lines = (old / "events.jsonl").read_text().splitlines()
    (tmp_path / "shuffled.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    _, sorted_out, _ = run(capsys, "diff", str(old), str(new))
    _, shuffled_out, _ = run(capsys, "diff", str(old), str(new), "--events", str(tmp_path / "shuffled.jsonl"))
    assert shuffled_out == sorted_out


def test_contacts_and_their_updates_are_not_shared_between_the_runs(tmp_path, capsys, monkeypatch):
    """The same program on both sides must do the same. It reads what it changed: a tag it adds, and a
    nested value an update set. Were the two engines to share a contact's lists or values, the version
    run second would see the first one's changes ("seen" already there, seats already 3) and differ."""
    d = tmp_path / "p"
    d.mkdir()
    (d / "program.goal").write_text(
        'workflow "W" {\n    audience contact.plan.tier == "pro"\n'
        '    if "seen" in contact.tags or contact.plan.seats == 3 { send_email("again") } else { send_email("first") }\n'
        '    add_tag("seen")\n    update_contact(plan: {tier: "pro", seats: 3})\n}\n')
    (d / "contacts.jsonl").write_text('{"id": "c1", "tags": ["a"], "plan": {"tier": "free"}}\n'
                                      '{"id": "c2", "tags": ["b"], "plan": {"tier": "free"}}\n')
    (d / "events.jsonl").write_text(
        '{"time": "2026-11-16T09:00:00Z", "contact": "c1", "type": "contact.updated", '
        '"fields": {"plan": {"tier": "pro", "seats": 2}}}\n'
        '{"time": "2026-11-16T10:00:00Z", "contact": "c1", "type": "tag.added", "tag": "x"}\n'
        '{"time": "2026-11-16T11:00:00Z", "contact": "c2", "type": "contact.updated", '
        '"fields": {"plan": {"tier": "pro", "seats": 2}}}\n'
        '{"time": "2026-11-16T12:00:00Z", "contact": "c2", "type": "tag.added", "tag": "y"}\n')
    for piece in (1, 1000):
        pieces = cut_log(monkeypatch, piece)
        code, out, _ = run(capsys, "diff", str(d), str(d))
        assert code == 0, out
        assert (len(pieces) > 1) == (piece == 1)
    _, out, _ = run(capsys, "run", str(d), "--format", "jsonl")
    assert out.count('"template":"first"') == 2 and "again" not in out


def _repo(tmp_path: Path, committed: str, monkeypatch) -> Path:
    """A git repository (the current folder) with the example in prog/, its
    program committed as ``committed`` changes it; returns the program file."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo / "prog")
    (repo / "prog" / "program_test.goal").unlink()
    prog = repo / "prog" / "program.goal"
    good = prog.read_text()
    prog.write_text(good.replace("wait 3 days", committed))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "PATH": "/usr/bin:/bin"}
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "v1"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env=env)
    prog.write_text(good)
    monkeypatch.chdir(repo)
    return prog


def test_git_revision(tmp_path, capsys, monkeypatch):
    prog = _repo(tmp_path, "wait 3 days", monkeypatch)
    prog.write_text(prog.read_text().replace("contact.lead_score >= 50", "contact.lead_score >= 60"))
    code, out, _ = run(capsys, "diff", "git:HEAD:prog", "prog")
    assert code == 1 and "-> not enrolled: 1" in out
    code, _, err = run(capsys, "diff", "git:nosuchrev:prog", "prog")
    assert code == 2 and "cannot read prog at nosuchrev" in err
    # A path is read from the current folder, as git show REV:./PATH reads it.
    monkeypatch.chdir(prog.parent)
    code, out, _ = run(capsys, "diff", "git:HEAD:.", ".")
    assert code == 1 and "-> not enrolled: 1" in out
    code, _, err = run(capsys, "diff", "git:HEAD:../..", ".")
    assert code == 2 and "../.. is outside the git repository" in err
    code, _, err = run(capsys, "diff", "git:--output=x:.", ".")
    assert code == 2 and "name a revision" in err


def test_missing_paths_are_usage_errors(capsys):
    code, _, err = run(capsys, "diff", "nowhere", str(EXAMPLE))
    assert code == 2 and "no such file or folder: nowhere" in err


def test_until_is_the_end_of_both_runs(versions, monkeypatch, capsys):
    old, new = versions
    pieces = cut_log(monkeypatch, 2)
    _, cut, _ = run(capsys, "diff", str(old), str(new), "--until", "2026-11-17T00:00:00Z", "--format", "json")
    assert len(pieces) > 1
    cut_log(monkeypatch, 1000)
    _, whole, _ = run(capsys, "diff", str(old), str(new), "--until", "2026-11-17T00:00:00Z", "--format", "json")
    assert cut == whole
    assert json.loads(whole)["workflows"][0]["goals"][0]["achieved"] == {"old": 0, "new": 0, "change": 0}


def _variant(old: Path, dest: Path, before: str, after: str) -> Path:
    shutil.copytree(old, dest)
    prog = dest / "program.goal"
    text = prog.read_text()
    assert before in text
    prog.write_text(text.replace(before, after, 1))
    return dest


def test_other_activity_with_the_same_outcome(versions, tmp_path, capsys):
    """Another template at the last step: only c3 gets that far (enrolled 11-16 16:40, 3 + 4 days of waits:
    11-23 16:40, before the last event on 11-24), and it completes the workflow in both versions."""
    old, _ = versions
    new = _variant(old, tmp_path / "v2", 'send_email("customer-case-study")', 'send_email("case-study-v2")')
    code, out, _ = run(capsys, "diff", str(old), str(new))
    assert code == 1
    assert "Contacts whose outcome changed: 0\n" in out
    assert ("Contacts whose activity changed but not their outcome: 1\n"
            '  "Demo Nurture": exited (completed): 1\n'
            "    c3, first difference:\n"
            '      old: 2026-11-23T16:40:00Z  send_email(template: "customer-case-study")\n'
            '      new: 2026-11-23T16:40:00Z  send_email(template: "case-study-v2")\n') in out
    _, out, _ = run(capsys, "diff", str(old), str(new), "--format", "json")
    doc = json.loads(out)
    assert doc["outcome_changes"] == []
    [group] = doc["activity_changes"]
    assert (group["old"], group["new"], group["contacts"]) == ("exited (completed)", "exited (completed)", 1)
    assert group["examples"][0]["new"]["args"] == {"template": "case-study-v2"}
    assert all(f["change"] == 0 for g in doc["workflows"][0]["goals"] for f in (g["achieved"], g["conversion"]))


def test_a_step_no_one_takes_does_not_make_contacts_differ(versions, tmp_path, capsys):
    """A branch above every step that no contact takes shifts every step's number by one (the stream's `at`
    and the actions' ids change), but no contact does anything else: the versions do the same."""
    old, _ = versions
    new = _variant(old, tmp_path / "v2", '    send_email("demo-invite")\n',
                   '    if contact.country == "ZZ" { add_tag("never") }\n    send_email("demo-invite")\n')
    code, out, _ = run(capsys, "diff", str(old), str(new))
    assert (code, out.splitlines()[-1]) == (0, "the two versions do the same")
    # The branch taken by c1 (country US): one more action entry, the first difference.
    taken = _variant(old, tmp_path / "v3", '    send_email("demo-invite")\n',
                     '    if contact.country == "US" { add_tag("us") }\n    send_email("demo-invite")\n')
    code, out, _ = run(capsys, "diff", str(old), str(taken))
    assert code == 1
    assert ('  "Demo Nurture": achieved "Booked a Demo": 1\n'
            "    c1, first difference:\n"
            '      old: 2026-11-16T14:00:00Z  send_email(template: "demo-invite")\n'
            '      new: 2026-11-16T14:00:00Z  add_tag(tag: "us")\n') in out


def test_contacts_kept_out_because_a_goal_already_held(tmp_path, capsys):
    """examples/trial-care with and without `skip enrollment if goal met`: t3 (plan "pro") enrolls at the
    first 09:00 tick (13:00Z) in both; without the setting it achieves "Upgraded" at once (time to goal 0),
    with it the stream says not_enrolled instead."""
    new = tmp_path / "new"
    shutil.copytree(ROOT / "examples" / "trial-care", new)
    (new / "program_test.goal").unlink()
    old = _variant(new, tmp_path / "old", "    skip enrollment if goal met\n", "")
    code, out, _ = run(capsys, "diff", str(old), str(new), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    trial = doc["workflows"][0]
    assert trial["enrolled"] == {"old": 4, "new": 3, "change": -1}
    upgraded = trial["goals"][1]
    assert upgraded["goal"] == "Upgraded" and upgraded["achieved"] == {"old": 1, "new": 0, "change": -1}
    assert upgraded["median_time_to_goal"] == {"old": 0, "new": None, "change": None}
    [change] = doc["outcome_changes"]
    assert (change["workflow"], change["old"], change["new"], change["contacts"]) == \
        ("Trial Care", 'achieved "Upgraded"', 'not enrolled ("Upgraded" already met)', 1)
    [example] = change["examples"]
    assert example["contact"] == "t3"
    assert (example["old"]["type"], example["new"]["type"]) == ("enrolled", "not_enrolled")
    assert example["old"]["time"] == example["new"]["time"] == "2026-10-30T13:00:00Z"


def test_step_map_aligns_steps_as_a_text_diff_aligns_lines():
    same = ["a", "b", "c"]
    assert diff_mod.step_map(same, same) is None
    # One step inserted first: every old step is one further on; the new one has no counterpart.
    assert diff_mod.step_map(same, ["x", "a", "b", "c"]) == {0: 0, 1: 2, 2: 3, 3: 4}
    # One step removed: it maps to nothing.
    assert diff_mod.step_map(same, ["a", "c"]) == {0: 0, 1: 1, 3: 2}
    # A step edited in place is the same step.
    assert diff_mod.step_map(same, ["a", "B", "c", "d"]) == {0: 0, 1: 1, 2: 2, 3: 3}
    # Positions read through the map: OLD's at 3 is NEW's at 4.
    moved = diff_mod.step_map(same, ["x", "a", "b", "c"])
    entry = {"time": 1, "contact": "c", "workflow": "W", "type": "waiting", "at": 3}
    assert diff_mod.same_entry(entry, {**entry, "at": 4}, moved)
    assert not diff_mod.same_entry(entry, {**entry, "at": 3}, moved)
    jumped = {**entry, "type": "exited", "reason": "end", "skipped": [[1, 2]]}
    assert diff_mod.same_entry(jumped, {**jumped, "at": 4, "skipped": [[2, 3]]}, moved)
    assert not diff_mod.same_entry(jumped, {**jumped, "at": 4, "skipped": [[1, 2]]}, moved)
    # An action's id is no behaviour; its arguments are.
    act = {"time": 1, "contact": "c", "workflow": "W", "type": "action", "action": "a", "args": {"x": 1}, "id": "1"}
    assert diff_mod.same_entry(act, {**act, "id": "2"})
    assert not diff_mod.same_entry(act, {**act, "args": {"x": 2}})


def test_a_program_with_errors_exits_2_with_its_diagnostics(versions, tmp_path, capsys):
    old, _ = versions
    bad = _variant(old, tmp_path / "bad", "wait 3 days", "wait 3 dayz")
    code, out, err = run(capsys, "diff", str(old), str(bad))
    assert code == 2
    assert f"{bad / 'program.goal'}:13:12: error[E0001]" in out and "1 error" in err


def test_bad_input_exits_2_and_runs_nothing(versions, tmp_path, capsys):
    old, new = versions
    events = tmp_path / "events.jsonl"
    events.write_text((old / "events.jsonl").read_text()
                      + '{"time": "2026-11-24T10:00:00Z", "contact": "c1", "type": "page.visited"}\n')
    code, out, err = run(capsys, "diff", str(old), str(new), "--events", str(events))
    assert (code, out) == (2, "")
    assert f'{events}:10: page.visited needs the field "url"' in err and "nothing was run" in err
    # --skip-bad runs without the line, and says so.
    code, out, err = run(capsys, "diff", str(old), str(new), "--events", str(events), "--skip-bad")
    assert code == 1 and "skipped 1 bad line" in err
    code, _, err = run(capsys, "diff", str(old), str(new), "--events", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no such events file" in err
    code, _, err = run(capsys, "diff", str(old), str(new), "--until", "2026-11-01T00:00:00Z")
    assert code == 2 and "--until (2026-11-01T00:00:00Z) is before --from" in err
    code, _, err = run(capsys, "diff", str(old), str(new), "--examples", "-1")
    assert code == 2 and "--examples takes a number" in err


def test_errors_in_a_git_version_name_its_files_as_git_paths(tmp_path, capsys, monkeypatch):
    _repo(tmp_path, "wait 3 dayz", monkeypatch)
    code, out, _ = run(capsys, "diff", "git:HEAD:prog", "prog")
    assert code == 2 and "git:HEAD:prog/program.goal:13:12: error[E0001]" in out


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").iterdir()
                                           if p.is_dir() and any(p.glob("*.goal"))))
def test_every_example_is_the_same_as_itself(example, capsys):
    code, out, _ = run(capsys, "diff", str(ROOT / "examples" / example), str(ROOT / "examples" / example))
    assert code == 0, out
    assert out.endswith("Contacts whose outcome changed: 0\nthe two versions do the same\n")
