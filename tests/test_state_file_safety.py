"""A state file is data, and damage to it is detected (issue 18, findings 1
and 5): a crafted checkpoint can at most be refused, never run code nor end
in an internal error; junk bytes, an old format and a read-only file each get
a message that says what is wrong and what to do."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from goaldsl.api import load_program

from test_crash_resume import make_workload


def goal(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goaldsl", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def clean_refusal(r: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 1 with one message naming the problem: no traceback, no internal error."""
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A folder with a program and a state file that has run its first events."""
    base = tmp_path_factory.mktemp("state")
    make_workload(base / "w", contacts=40, events=300, more=40)
    r = goal("run", base / "w", "--state", base / "s.db", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    return base


def copy_state(finished: Path, dest: Path) -> Path:
    shutil.copytree(finished / "w", dest / "w")
    shutil.copy(finished / "s.db", dest / "s.db")
    return dest / "s.db"


def set_checkpoint(state: Path, blob: bytes) -> None:
    """Replace the checkpoint as an attacker would: with a matching checksum
    where the format keeps one (anyone can compute it)."""
    db = sqlite3.connect(str(state))
    cols = [r[1] for r in db.execute("PRAGMA table_info(checkpoint)")]
    if "digest" in cols:
        db.execute("UPDATE checkpoint SET engine = ?, digest = ?", (blob, hashlib.sha256(blob).hexdigest()))
    else:
        db.execute("UPDATE checkpoint SET engine = ?", (blob,))
    db.commit()
    db.close()


def checkpoint(state: Path) -> bytes:
    db = sqlite3.connect(str(state))
    try:
        return db.execute("SELECT engine FROM checkpoint").fetchone()[0]
    finally:
        db.close()


class RunsACommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_holding_a_pickle_runs_nothing_and_is_refused(finished, tmp_path):
    state = copy_state(finished, tmp_path)
    marker = tmp_path / "pwned"
    set_checkpoint(state, pickle.dumps(RunsACommand(marker)))
    log_before = goal("log", state, "--format", "jsonl").stdout
    r = goal("run", tmp_path / "w", "--state", state, "--events", tmp_path / "w" / "more.jsonl")
    assert not marker.exists(), "the state file ran a command"
    clean_refusal(r, "the state file is corrupted", "checkpoint", "new state file")
    # Nothing was written; what the file holds is still readable.
    log = goal("log", state, "--format", "jsonl")
    assert log.returncode == 0 and log.stdout == log_before and log.stdout


def _enrollment(d: dict) -> dict:
    return next(w for w in d["workflows"] if w["enrolled"])["enrolled"][0]


def _index(d: dict) -> int:
    return next(i for i, w in enumerate(d["workflows"]) if w["enrolled"])


@pytest.mark.parametrize("change, where", [
    (lambda d: d.update(now="yesterday"), "$.now"),
    (lambda d: d.update(contacts={"c0001": {}}), "$.contacts"),
    (lambda d: _enrollment(d).update(pc=-3), "$.workflows[{w}].enrolled[0].pc"),
    (lambda d: _enrollment(d).update(pc=10 ** 6), "not a place in its steps"),
    (lambda d: _enrollment(d).update(due=10 ** 30), "$.workflows[{w}].enrolled[0].due"),
    (lambda d: _enrollment(d).update(contact="nobody"), "not a contact of the snapshot"),
    (lambda d: d["contacts"][0]["events"].update({"page.visited": [["noon", {}]]}), "$.contacts[0].events"),
    (lambda d: d["contacts"][0].update(attributes=[1, 2]), "$.contacts[0].attributes"),
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d.update(format="other"), "not an engine snapshot"),
    (lambda d: d["workflows"][0].update(agenda=[[5, [[1, "c0000"]]], [5, []]]), "agenda"),
    (lambda d: d.update(surprise=True), "surprise"),
])
def test_a_checkpoint_with_unexpected_values_is_refused_with_where(finished, tmp_path, change, where):
    state = copy_state(finished, tmp_path)
    data = json.loads(checkpoint(state))
    w = _index(data)  # a workflow with contacts enrolled
    change(data)
    set_checkpoint(state, json.dumps(data).encode())
    r = goal("run", tmp_path / "w", "--state", state)
    clean_refusal(r, "the state file is corrupted", where.format(w=w))


def test_a_damaged_checkpoint_is_caught_by_its_checksum(finished, tmp_path):
    state = copy_state(finished, tmp_path)
    blob = bytearray(checkpoint(state))
    i = blob.index(b'"since":') + len(b'"since":')
    blob[i] = ord("1") if blob[i] != ord("1") else ord("2")  # still valid JSON, another value
    db = sqlite3.connect(str(state))
    db.execute("UPDATE checkpoint SET engine = ?", (bytes(blob),))
    db.commit()
    db.close()
    clean_refusal(goal("run", tmp_path / "w", "--state", state),
                  "the state file is corrupted", "does not match its checksum")


# ---------------------------------------------------------------- any change to a checkpoint

def _paths(v, at=()):
    yield at
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, at + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, at + (i,))


REPLACEMENTS = [None, True, 0, -1, 1, 2 ** 63, 10 ** 20, 1.5, "", "c0001", "Nurture", "wait", [], {}, [[0, "x"]],
                {"x": 1}, -2208988801, 253402300800]


def test_any_change_to_a_checkpoint_is_run_or_refused_never_an_internal_error(finished, tmp_path):
    """Values swapped anywhere in a checkpoint (its checksum made to match):
    a resume with new events either runs or is refused with StateError."""
    from goaldsl.durable.commands import run_command
    from goaldsl.durable.statefile import StateError
    program = load_program(finished / "w")
    original = json.loads(checkpoint(finished / "s.db"))
    paths = list(_paths(original))[1:]
    rnd = random.Random(int(os.environ.get("GOAL_FUZZ_SEED", "18")))
    failures, refused = [], 0
    for i in range(80):
        data = json.loads(json.dumps(original))
        changes = []
        for _ in range(rnd.randint(1, 3)):
            path = rnd.choice(paths)
            try:
                parent = data
                for k in path[:-1]:
                    parent = parent[k]
                key = path[-1]
                if isinstance(parent, list) and rnd.random() < 0.3:
                    changes.append((path, "dropped"))
                    parent.pop(key)
                else:
                    parent[key] = rnd.choice(REPLACEMENTS)
                    changes.append((path, parent[key]))
            except (KeyError, IndexError, TypeError):  # an earlier change removed the way there
                continue
        state = copy_state(finished, tmp_path / f"x{i}")
        set_checkpoint(state, json.dumps(data).encode())
        try:
            run_command(str(state), program, None, tmp_path / f"x{i}" / "w" / "more.jsonl", start=None,
                        until=None, fmt="jsonl", skip_bad=False, out=_Sink(), err=_Sink())
        except StateError:
            refused += 1
        except Exception as e:  # noqa: BLE001 - what the test looks for
            failures.append(f"{changes}: {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures[:10])
    print(f"\n{refused} of 80 changed checkpoints refused")
    assert refused >= 40  # most changes are noticed (the others change nothing that matters)


class _Sink:
    def write(self, text: str) -> int:
        return len(text)


def test_a_state_file_of_the_previous_format_says_what_to_do(finished, tmp_path):
    state = copy_state(finished, tmp_path)
    db = sqlite3.connect(str(state))
    db.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    db.commit()
    db.close()
    for args in (("run", tmp_path / "w", "--state", state), ("log", state)):
        clean_refusal(goal(*args), "written by another version of goal (state format 1, this goal reads 2)",
                      "finish that run with the goal that wrote it, or start again with a new state file")


# ---------------------------------------------------------------- read-only, damaged

def test_a_read_only_state_file_says_so_and_goal_log_reads_it(finished, tmp_path):
    state = copy_state(finished, tmp_path)
    expected = goal("log", state, "--format", "jsonl").stdout
    state.chmod(0o444)
    try:
        for args in (("run", tmp_path / "w", "--state", state), ("pause", state, "Nurture")):
            r = goal(*args)
            clean_refusal(r, f"{state} is read-only", "chmod u+w")
            assert "not a goal state file" not in r.stderr
        log = goal("log", state, "--format", "jsonl")
        assert log.returncode == 0 and log.stdout == expected and expected, log.stderr
        table = goal("log", state, "--format", "table")
        assert table.returncode == 0 and "Workflow \"Nurture\"" in table.stdout, table.stderr
    finally:
        state.chmod(0o644)


def test_a_state_file_with_a_damaged_page_is_called_corrupted(finished, tmp_path):
    """SQLite's own check on open finds a damaged b-tree page."""
    state = copy_state(finished, tmp_path)
    db = sqlite3.connect(str(state))
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'activity'").fetchone()[0]
    db.close()
    with open(state, "r+b") as f:  # the activity table's root page: its header and cell pointers
        f.seek((root - 1) * page_size)
        f.write(bytes(range(256)))
    for args in (("run", tmp_path / "w", "--state", state), ("log", state), ("pause", state, "Nurture")):
        clean_refusal(goal(*args), "the state file is corrupted", "restore it from a backup")


def test_junk_bytes_anywhere_are_refused_or_change_nothing(finished, tmp_path):
    """256 junk bytes at spread-out places of a state file (issue 18.5):
    `goal run --state` and `goal log` either do what they did on the intact
    file or say the file is corrupted; never an internal error, never a
    different log."""
    original = finished / "s.db"
    expected = goal("log", original, "--format", "jsonl").stdout
    size = original.stat().st_size
    rnd = random.Random(int(os.environ.get("GOAL_FUZZ_SEED", "185")))
    outcomes = {"same": 0, "corrupted": 0}
    for i, off in enumerate(sorted(rnd.sample(range(0, size - 256), 16))):
        state = copy_state(finished, tmp_path / f"j{i}")
        with open(state, "r+b") as f:
            f.seek(off)
            f.write(rnd.randbytes(256))
        log = goal("log", state, "--format", "jsonl")
        if log.returncode == 0:
            assert log.stdout == expected, f"junk at {off}: a different log"
            outcomes["same"] += 1
        else:
            clean_refusal(log, "the state file is corrupted")
            outcomes["corrupted"] += 1
        r = goal("run", tmp_path / f"j{i}" / "w", "--state", state, "--events", tmp_path / f"j{i}" / "w" / "more.jsonl")
        if r.returncode != 0:
            clean_refusal(r)
    assert outcomes["corrupted"] >= 2, outcomes


def test_any_value_changed_in_any_table_is_run_or_refused_never_an_internal_error(finished, tmp_path):
    """A crafted state file is not only its checkpoint: a value of another
    type or range in any cell of any table ends in a run, a log, or a
    StateError (a stored source name cannot lead a file out of its folder)."""
    from goaldsl.durable.commands import run_command, set_paused, stored_activity, stored_entries
    from goaldsl.durable.statefile import StateError
    program = load_program(finished / "w")
    db = sqlite3.connect(str(finished / "s.db"))
    cells = [(table, col) for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
             for col in [r[1] for r in db.execute(f"PRAGMA table_info({table})")]]
    db.close()
    values = [None, -1, 0, 2 ** 62, "x", "/etc/../../tmp/out.goal", "../../x.goal", 1.5, b"\x80\xff",
              '{"type": 1}', "[]", "2026-01-01"]
    rnd = random.Random(int(os.environ.get("GOAL_FUZZ_SEED", "181")))
    failures = []
    for i in range(int(os.environ.get("GOAL_FUZZ_ROUNDS", "60"))):
        table, col = rnd.choice(cells)
        value = rnd.choice(values)
        work = tmp_path / f"t{i}"
        state = copy_state(finished, work)
        db = sqlite3.connect(str(state))
        try:
            db.execute(f"UPDATE {table} SET {col} = ? WHERE rowid IN (SELECT rowid FROM {table} "
                       f"ORDER BY random() LIMIT 3)", (value,))
            db.commit()
        except sqlite3.IntegrityError:  # a constraint the file keeps: another change
            continue
        finally:
            db.close()
        for what, call in [
            ("run", lambda: run_command(str(state), program, None, work / "w" / "more.jsonl", start=None,
                                        until=None, fmt="table", skip_bad=False, out=_Sink(), err=_Sink())),
            ("log", lambda: list(stored_activity(state))),
            ("log table", lambda: stored_entries(state)),
            ("pause", lambda: set_paused(state, "Nurture", True)),
        ]:
            try:
                call()
            except StateError:
                pass
            except Exception as e:  # noqa: BLE001 - what the test looks for
                failures.append(f"{table}.{col} = {value!r}, {what}: {type(e).__name__}: {e}")
    assert not list(tmp_path.glob("**/out.goal")) and not (tmp_path.parent / "x.goal").exists()
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("table, where", [("meta", "key = 'format'"), ("meta", "key = 'now'")])
def test_a_text_that_is_not_utf8_is_called_corrupted(finished, tmp_path, table, where):
    """Found by the state fuzz target: a damaged byte in a text of the file
    made Python's sqlite3 raise UnicodeDecodeError (an internal error)."""
    state = copy_state(finished, tmp_path)
    db = sqlite3.connect(str(state))
    db.execute(f"UPDATE {table} SET value = CAST(X'FFDF21' AS TEXT) WHERE {where}")
    db.commit()
    db.close()
    for args in (("run", tmp_path / "w", "--state", state), ("log", state)):
        clean_refusal(goal(*args), "the state file is corrupted", "not UTF-8")
