"""kill -9 at random moments, resume, and get exactly the uninterrupted run.

A `goal run --state` subprocess is killed with SIGKILL after a random delay,
over and over, each time resumed with the same command, until it finishes.
Then a second batch of events (some late, some duplicates) is run the same
way. The stored activity stream (`goal log`) must be identical to an
uninterrupted run's, `PRAGMA integrity_check` must say ok, and the outbox
must hold each action exactly once.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

PROGRAM = '''segment engaged = email.opened at least 2 times within 7 days

workflow "Nurture" {
    evaluate every 10 minutes
    audience "lead" in contact.tags

    send_email("welcome") as welcome
    wait 2 days
    if contact.company.size >= 100 { send_email("team") } else { send_email("solo") }
    wait 1 day
    goal "Demo" {
        when appointment.status_changed(status in [new, confirmed])
        then { update_contact(stage: "SQL") }
        on unmet wait up to 4 days then end
    }
    send_email("after-demo")

    goals {
        goal "Pricing" {
            when page.visited(url starts with "/pricing") at least 2 times within 3 days
            then { add_tag("hot") }
            then if contact.company.size >= 500 { notify(to: "ae@example.com", message: "hot {contact.email}") }
        }
        goal "Engaged" { when engaged and contact.lead_score >= 50 }
        goal "Unsubscribed" { when email.unsubscribed }
    }
}

workflow "Invoices" {
    evaluate on event
    enroll when purchase.completed
    allow reentry

    send_invoice("standard", amount: 100) as inv
    wait 2 days
    send_email("invoice-reminder")
    goal "Paid" {
        when invoice.status_changed(status in [paid, partially_paid])
        then { send_email("receipt") }
        on unmet wait up to 3 days then end
    }
    add_tag("customer")
}

workflow "Hot leads" {
    evaluate on event
    enroll when tag.added(tag == "hot")

    notify(to: "sales@example.com", message: "{contact.email} is hot")
    wait until contact.stage == "SQL" up to 2 days
    adjust_score(by: 10)
}
'''

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 12
OFFSETS = [timezone.utc, timezone(timedelta(hours=-5)), timezone(timedelta(hours=1))]


def _iso(t: datetime) -> str:
    return t.isoformat()


def make_workload(folder: Path, *, contacts: int = 250, events: int = 3000, more: int = 600, seed: int = 11):
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "program.goal").write_text(PROGRAM, encoding="utf-8")
    ids = [f"c{i:04d}" for i in range(contacts)]
    with open(folder / "contacts.jsonl", "w") as f:
        for cid in ids:
            f.write(json.dumps({"id": cid, "email": f"{cid}@example.com", "lead_score": rnd.randrange(100),
                                "company": {"size": rnd.choice([5, 80, 150, 600])},
                                "tags": ["lead"] if rnd.random() < 0.6 else []}) + "\n")
    kinds = [
        (30, lambda: {"type": "page.visited", "url": rnd.choice(["/pricing", "/pricing/team", "/blog", "/"])}),
        (25, lambda: {"type": "email.opened", "email": rnd.choice(["welcome", "team", "news"])}),
        (8, lambda: {"type": "purchase.completed", "amount": rnd.choice([19, 49, 99])}),
        (8, lambda: {"type": "invoice.status_changed", "invoice": f"i{rnd.randrange(10**6)}",
                     "status": rnd.choice(["sent", "paid", "partially_paid", "overdue"])}),
        (6, lambda: {"type": "appointment.status_changed", "appointment": f"a{rnd.randrange(10**6)}",
                     "status": rnd.choice(["new", "confirmed", "cancelled"])}),
        (8, lambda: {"type": "contact.updated", "fields": {"lead_score": rnd.randrange(100)}}),
        (3, lambda: {"type": "tag.added", "tag": rnd.choice(["lead", "vip"])}),
        (2, lambda: {"type": "email.unsubscribed", "email": "news"}),
    ]
    weights = [k[0] for k in kinds]

    def write(path: Path, n: int, lo: float, hi: float, first_id: int) -> None:
        times = sorted(lo + rnd.random() * (hi - lo) for _ in range(n))
        with open(path, "w") as f:
            for i, s in enumerate(times):
                t = (START + timedelta(seconds=int(s))).astimezone(rnd.choice(OFFSETS))
                ev = {"id": f"e{first_id + i}", "time": _iso(t), "contact": rnd.choice(ids)}
                ev.update(rnd.choices(kinds, weights)[0][1]())
                f.write(json.dumps(ev) + "\n")

    day = 86400.0
    write(folder / "events.jsonl", events, 0, DAYS * day, 0)
    # The second batch: mostly after the first run's end, some late, some repeated ids.
    write(folder / "more.jsonl", more, (DAYS - 1) * day, (DAYS + 4) * day, events)
    with open(folder / "more.jsonl", "a") as f, open(folder / "events.jsonl") as old:
        for line in old.readlines()[:25]:
            f.write(line)  # duplicates by id


def goal(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goaldsl", *args], capture_output=True, text=True, timeout=120, **kw)


def run_cmd(folder: Path, state: Path, phase: int) -> list[str]:
    cmd = [sys.executable, "-m", "goaldsl", "run", str(folder), "--state", str(state), "--format", "jsonl"]
    if phase == 2:
        cmd += ["--events", str(folder / "more.jsonl")]
    return cmd


def stored_log(state: Path) -> str:
    r = goal("log", str(state), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    return r.stdout


def db_checks(state: Path) -> tuple[int, int]:
    db = sqlite3.connect(str(state))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        actions = db.execute("SELECT COUNT(*) FROM activity WHERE type = 'action'").fetchone()[0]
        outbox = db.execute("SELECT COUNT(*), COUNT(DISTINCT id), COUNT(DISTINCT activity) FROM outbox").fetchone()
        assert outbox == (actions, actions, actions)
        return db.execute("SELECT COUNT(*) FROM activity").fetchone()[0], actions
    finally:
        db.close()


def stored_lines(state: Path) -> str:
    db = sqlite3.connect(str(state))
    try:
        return "".join(r[0] + "\n" for r in db.execute("SELECT entry FROM activity ORDER BY seq"))
    finally:
        db.close()


def places(state: Path) -> list:
    db = sqlite3.connect(str(state))
    try:
        return db.execute("SELECT * FROM positions ORDER BY workflow, contact").fetchall()
    finally:
        db.close()


def outbox_ids(state: Path) -> list:
    db = sqlite3.connect(str(state))
    try:
        return db.execute("SELECT id, activity FROM outbox ORDER BY activity").fetchall()
    finally:
        db.close()


def committed(state: Path) -> tuple[int, str]:
    """(entries, last instant) committed so far."""
    if not state.exists():
        return 0, ""
    db = sqlite3.connect(str(state))
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'activity'").fetchone():
            return 0, ""
        now = db.execute("SELECT value FROM meta WHERE key = 'now'").fetchone()
        return db.execute("SELECT COUNT(*) FROM activity").fetchone()[0], now[0] if now else ""
    finally:
        db.close()


def test_kill_9_at_random_points_and_resume(tmp_path):
    t_begin = time.monotonic()
    folder = tmp_path / "work"
    make_workload(folder)

    # The reference: uninterrupted, and the same as a run without a state.
    ref = tmp_path / "ref.db"
    durations = {}
    expected = {}
    for phase in (1, 2):
        t0 = time.monotonic()
        r = subprocess.run(run_cmd(folder, ref, phase), capture_output=True, text=True, timeout=120)
        durations[phase] = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        expected[phase] = stored_log(ref)
    plain = goal("run", str(folder), "--format", "jsonl")
    assert plain.returncode == 0, plain.stderr
    # (a state keeps where contacts are in its positions table: no `waiting` entries)
    assert expected[1] == "".join(line for line in plain.stdout.splitlines(keepends=True)
                                  if '"type":"waiting"' not in line)
    n1, n2 = expected[1].count("\n"), expected[2].count("\n")
    assert n1 > 1000 and n2 > n1

    # How long a run takes to start (imports, opening the state): kills are
    # spread over the time after it, with some during the start itself.
    t0 = time.monotonic()
    r = subprocess.run(run_cmd(folder, ref, 2), capture_output=True, text=True, timeout=120)
    startup = time.monotonic() - t0
    assert r.returncode == 0 and "nothing to do" in r.stderr, r.stderr

    rnd = random.Random(int(os.environ.get("GOAL_KILL_SEED", "20261129")))
    kills = mid_run = series = 0
    budget = 42.0
    while kills < 22 and time.monotonic() - t_begin < budget:
        series += 1
        state = tmp_path / f"s{series}.db"
        env = dict(os.environ, GOAL_CHECKPOINT_SECONDS=rnd.choice(["0.01", "0.1", "2"]))
        for phase in (1, 2):
            work = max(0.05, durations[phase] - startup)
            while True:
                before, before_now = committed(state)
                p = subprocess.Popen(run_cmd(folder, state, phase), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
                total = n1 if phase == 1 else n2
                if rnd.random() < 0.25 or before >= total:
                    # A random delay, from the start of the process on.
                    time.sleep(rnd.uniform(0.0, 1.2 * (startup + work)))
                else:
                    # Wait until a random share of the remaining entries is
                    # committed, then a random moment more: kills inside the run.
                    target = rnd.randint(before + 1, total)
                    deadline = time.monotonic() + 30
                    while p.poll() is None and committed(state)[0] < target and time.monotonic() < deadline:
                        time.sleep(0.003)
                    time.sleep(rnd.uniform(0.0, 0.03))
                if p.poll() is None and time.monotonic() - t_begin < budget + 10:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    p.stderr.close()
                    kills += 1
                    after, after_now = committed(state)
                    if (after, after_now) != (before, before_now):  # killed after it had committed some work
                        mid_run += 1
                    continue
                err = p.stderr.read().decode()
                p.stderr.close()
                p.wait()
                assert p.returncode == 0, err
                break
            if phase == 1:
                assert stored_lines(state) == expected[1], f"series {series}, phase 1"
            db_checks(state)
        # Every contact's place and the outbox are the uninterrupted run's too.
        assert places(state) == places(ref) and places(ref)
        assert outbox_ids(state) == outbox_ids(ref)
        if series == 1:  # through `goal log` (after that, the same rows read directly)
            assert stored_log(state) == expected[2], f"series {series}"
        else:
            assert stored_lines(state) == expected[2], f"series {series}"
        if series == 1:  # a finished run does nothing more
            again = subprocess.run(run_cmd(folder, state, 2), capture_output=True, text=True, timeout=120)
            assert again.returncode == 0 and again.stdout == "" and "nothing to do" in again.stderr
            assert stored_log(state) == expected[2]
    elapsed = time.monotonic() - t_begin
    print(f"\ncrash/resume: {kills} SIGKILLs ({mid_run} after the run had committed part of its work) over {series} runs of "
          f"{n1}+{n2 - n1} entries; every stored stream identical to the uninterrupted run; {elapsed:.1f} s")
    assert kills >= 20
    assert mid_run >= 5, "the kills did not land inside the runs often enough to prove anything"
