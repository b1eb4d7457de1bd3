"""kill -9 at random points, resume, and get exactly the uninterrupted run.

A `goal run --state` subprocess is killed with SIGKILL over and over, each
time resumed with the same command, until it finishes; then the next phase:

1. the folder's events file *grows* (lines appended between the runs, and
   while a run is reading it);
2. `goal pause` of a workflow, then a second events file (some events late,
   some repeated ids);
3. `goal unpause`, then a third events file.

After each phase the stored activity stream (`goal log`), the outbox and
every contact's place (`positions`) must be the uninterrupted run's (made by
the same commands without kills) and `PRAGMA integrity_check` must say ok.

The kills are placed by progress, not by the clock: most wait until a random
number of entries has been committed (a kill inside the run), the others
land after a random share of a run's start-up time. The test goes on until
it has made at least 30 kills, 10 of them after the run had committed part
of its work and 3 while the events file was growing, so a slow machine makes
it take longer, never fail. It prints the figures.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

KILLS, MID_RUN, WHILE_GROWING = 30, 10, 3
MAX_ATTEMPTS = 400  # a safety net against a run that never gets on (a bug), not a time budget

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
PAUSED = "Nurture"


def make_workload(folder: Path, *, contacts: int = 250, events: int = 3000, more: int = 500, seed: int = 11) -> list[str]:
    """program.goal, contacts.jsonl, events.jsonl, more.jsonl, more2.jsonl;
    returns the lines of events.jsonl (to write it again as it grows). Its
    times are distinct seconds, so that however it is split between runs, no
    event in it is late."""
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
    day = 86400

    def lines(n: int, lo: int, hi: int, first_id: int) -> list[str]:
        out = []
        for i, s in enumerate(sorted(rnd.sample(range(lo, hi), n))):
            t = (START + timedelta(seconds=s)).astimezone(rnd.choice(OFFSETS))
            ev = {"id": f"e{first_id + i}", "time": t.isoformat(), "contact": rnd.choice(ids)}
            ev.update(rnd.choices(kinds, weights)[0][1]())
            out.append(json.dumps(ev) + "\n")
        return out

    first = lines(events, 0, DAYS * day, 0)
    (folder / "events.jsonl").write_text("".join(first))
    # The second file: mostly after the first's end, some late, some ids repeated.
    (folder / "more.jsonl").write_text("".join(lines(more, (DAYS - 1) * day, (DAYS + 4) * day, events)
                                               + first[:25]))
    (folder / "more2.jsonl").write_text("".join(lines(more, (DAYS + 4) * day, (DAYS + 8) * day, events + more)))
    return first


def goal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goaldsl", *args], capture_output=True, text=True, timeout=300)


def run_cmd(folder: Path, state: Path, phase: int) -> list[str]:
    cmd = [sys.executable, "-m", "goaldsl", "run", str(folder), "--state", str(state), "--format", "jsonl"]
    if phase > 1:
        cmd += ["--events", str(folder / ("more.jsonl" if phase == 2 else "more2.jsonl"))]
    return cmd


def between_phases(state: Path, phase: int) -> None:
    """After phase 1 a workflow is paused; after phase 2 it is unpaused."""
    if phase in (1, 2):
        r = goal("pause" if phase == 1 else "unpause", str(state), PAUSED)
        assert r.returncode == 0, r.stderr


def stored(state: Path) -> dict:
    """What must be the uninterrupted run's: the log, the outbox, the places."""
    log = goal("log", str(state), "--format", "jsonl")
    assert log.returncode == 0, log.stderr
    db = sqlite3.connect(str(state))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        outbox = db.execute("SELECT id, activity, action, args, contact, workflow, time, step, goal FROM outbox "
                            "ORDER BY activity").fetchall()
        actions = db.execute("SELECT seq FROM activity WHERE type = 'action' ORDER BY seq").fetchall()
        assert [r[1] for r in outbox] == [r[0] for r in actions]  # each action in the outbox exactly once
        return {"log": log.stdout, "outbox": outbox,
                "positions": db.execute("SELECT * FROM positions ORDER BY workflow, contact").fetchall()}
    finally:
        db.close()


def committed(state: Path) -> tuple[int, str]:
    """(entries, last instant) committed so far."""
    if not state.exists():
        return 0, ""
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0, ""
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'activity'").fetchone():
            return 0, ""
        now = db.execute("SELECT value FROM meta WHERE key = 'now'").fetchone()
        return db.execute("SELECT COUNT(*) FROM activity").fetchone()[0], now[0] if now else ""
    except sqlite3.Error:  # the file is being created
        return 0, ""
    finally:
        db.close()


class Figures:
    kills = mid_run = while_growing = runs = series = 0


FIGURES = Figures()


class _Summary:
    def pytest_terminal_summary(self, terminalreporter):
        f = FIGURES
        if f.runs:
            terminalreporter.section("kill -9 and resume (issues 11, 18)")
            terminalreporter.write_line(
                f"{f.kills} SIGKILLs ({f.mid_run} after the run had committed part of its work, {f.while_growing} "
                f"while its events file grew) over {f.runs} runs in {f.series} series; every log, outbox and "
                f"positions table identical to the uninterrupted run")


@pytest.fixture(scope="module", autouse=True)
def _summary_plugin(request):
    plugin = _Summary()
    request.config.pluginmanager.register(plugin, "goal-crash-summary")
    yield


def test_kill_9_at_random_points_and_resume(tmp_path):
    folder = tmp_path / "work"
    first = make_workload(folder)
    events = folder / "events.jsonl"

    # The reference: the same commands, uninterrupted; phase 1 is also a plain run's output.
    ref = tmp_path / "ref.db"
    expected = {}
    for phase in (1, 2, 3):
        r = subprocess.run(run_cmd(folder, ref, phase), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        expected[phase] = stored(ref)
        between_phases(ref, phase)
    plain = goal("run", str(folder), "--format", "jsonl")
    # (a state keeps where contacts are in its positions table: no `waiting` entries)
    assert plain.returncode == 0 and expected[1]["log"] == "".join(
        line for line in plain.stdout.splitlines(keepends=True) if '"type":"waiting"' not in line), plain.stderr
    totals = {phase: expected[phase]["log"].count("\n") for phase in (1, 2, 3)}
    assert 1000 < totals[1] < totals[2] < totals[3]
    assert all(expected[p]["positions"] for p in (1, 2, 3))

    # How long a run takes to start (imports, opening the state): some kills land inside it.
    t0 = time.monotonic()
    r = subprocess.run(run_cmd(folder, ref, 3), capture_output=True, text=True, timeout=300)
    startup = time.monotonic() - t0
    assert r.returncode == 0 and "nothing to do" in r.stderr, r.stderr

    rnd = random.Random(int(os.environ.get("GOAL_KILL_SEED", "20261129")))
    f = FIGURES
    attempts = 0
    while f.kills < KILLS or f.mid_run < MID_RUN or f.while_growing < WHILE_GROWING:
        f.series += 1
        state = tmp_path / f"s{f.series}.db"
        env = dict(os.environ, GOAL_CHECKPOINT_SECONDS=rnd.choice(["0.01", "0.1", "2"]))
        written = rnd.randint(1, len(first) // 3)
        events.write_text("".join(first[:written]))
        for phase in (1, 2, 3):
            while True:
                attempts += 1
                assert attempts <= MAX_ATTEMPTS, f"no end after {attempts} runs: {vars(f)}"
                if phase == 1 and written < len(first) and rnd.random() < 0.5:  # the file grows between runs
                    written = _append(events, first, written, rnd.randint(1, 1000))
                complete = phase > 1 or written == len(first)
                before = committed(state)
                p = subprocess.Popen(run_cmd(folder, state, phase), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
                f.runs += 1
                writer = None
                if not complete:  # ... and while the run reads it
                    n = min(len(first) - written, rnd.randint(1, 1000))
                    writer = threading.Thread(target=_append, args=(events, first, written, n, 0.001))
                    writer.start()
                    written += n
                if rnd.random() < 0.2:
                    time.sleep(rnd.uniform(0.0, startup))  # during start-up, ingest or replay
                else:  # once a random number of entries more is committed
                    reach = totals[phase] if complete else totals[1] * written // len(first)  # about
                    target = rnd.randint(before[0] + 1, max(before[0] + 1, reach))
                    while p.poll() is None and committed(state)[0] < target:
                        time.sleep(0.002)
                if writer is not None:
                    writer.join()
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    p.stderr.close()
                    f.kills += 1
                    f.while_growing += writer is not None
                    f.mid_run += committed(state) != before
                    continue
                err = p.stderr.read().decode()
                p.stderr.close()
                assert p.returncode == 0, err
                if complete:
                    break
            got = stored(state)
            for what in ("log", "outbox", "positions"):
                assert got[what] == expected[phase][what], f"series {f.series}, phase {phase}: the {what} differs"
            between_phases(state, phase)
        if f.series == 1:  # a finished run does nothing more
            again = subprocess.run(run_cmd(folder, state, 3), capture_output=True, text=True, timeout=300)
            assert again.returncode == 0 and again.stdout == "" and "nothing to do" in again.stderr
    print(f"\ncrash/resume: {f.kills} SIGKILLs ({f.mid_run} mid-run, {f.while_growing} while the events file grew) "
          f"over {f.runs} runs in {f.series} series")


def _append(path: Path, lines: list[str], written: int, n: int, pause: float = 0.0) -> int:
    """Append lines[written:written + n] to the file, one write per line."""
    with open(path, "a") as f:
        for line in lines[written:written + n]:
            f.write(line)
            f.flush()
            if pause:
                time.sleep(pause)
    return min(len(lines), written + n)
