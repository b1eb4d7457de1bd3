"""Runs are deterministic: the same inputs under different PYTHONHASHSEED
values give byte-identical output (issue 7).

String hashing changes with the seed, so any place that lets the iteration
order of a set or a hash-keyed structure reach the output would show up
here. Each command runs under seeds 0, 1, 12345 and ``random``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCEPTANCE = Path("/work/shared/acceptance/cases")
SEEDS = ("0", "1", "12345", "random")

# A spread of the examples: calendar waits and goal steps, exit goals with
# conditional actions, a drip, tags and lists, a trigger link.
EXAMPLES = ["booked-a-demo", "invoice-paid", "drip-series", "tags", "trigger-link"]
ACCEPTANCE_CASES = ["02-goal-order-and-conditional-actions", "05-requalification"]


# Every command of the test runs in one process per seed (through the same
# entry point as the `goal` command), so four processes cover them all.
_DRIVER = r"""
import contextlib, gc, io, json, os, sys
from goaldsl.cli import main
results = {}
for key, cwd, args in json.loads(sys.stdin.read()):
    os.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    gc.enable()
    results[key] = [rc, out.getvalue(), err.getvalue()]
results["__hash__"] = hash("goal")  # proves the seed took effect
print(json.dumps(results))
"""


def _all_seeds(commands: list[tuple[str, Path, list[str]]]) -> dict[str, dict[str, list]]:
    """{seed: {key: [exit code, stdout, stderr]}} for each command under each seed."""
    payload = json.dumps([(k, str(cwd), args) for k, cwd, args in commands])

    def one(seed):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env.pop("GOAL_DEBUG", None)
        proc = subprocess.run([sys.executable, "-c", _DRIVER], input=payload, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(SEEDS, pool.map(one, SEEDS)))
    # Different seeds really did hash strings differently.
    assert len({r.pop("__hash__") for r in results.values()}) == len(SEEDS)
    return results


def _runs():
    out = []
    for name in EXAMPLES:
        out.append((f"example {name}", ROOT / "examples" / name, []))
    for name in ACCEPTANCE_CASES:
        case = ACCEPTANCE / name
        if case.is_dir():
            out.append((f"acceptance {name}", case, json.loads((case / "case.json").read_text())["args"]))
    return out


def test_run_output_is_the_same_under_every_hash_seed(record_property):
    commands = [(f"{label} --format {fmt}", folder, ["run", ".", "--format", fmt, *extra])
                for label, folder, extra in _runs() for fmt in ("jsonl", "table")]
    assert len(commands) >= 12
    results = _all_seeds(commands)
    base = results[SEEDS[0]]
    for key, _, _ in commands:
        rc, out, err = base[key]
        assert rc == 0, (key, err)
        assert out.count("\n") >= 3, f"{key}: too little output to compare"
        for seed in SEEDS[1:]:
            assert results[seed][key] == base[key], f"{key}: PYTHONHASHSEED={seed} differs from PYTHONHASHSEED=0"
    size = sum(len(base[k][1]) for k, _, _ in commands)
    record_property("runs compared", len(commands))
    record_property("hash seeds", len(SEEDS))
    print(f"\ndeterminism: {len(commands)} runs x {len(SEEDS)} hash seeds, {size:,} bytes of output each, identical")


def test_one_run_through_the_goal_command(tmp_path):
    # The real command, not only its entry point, under two seeds.
    folder = ROOT / "examples" / "booked-a-demo"
    outs = []
    for seed in ("1", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-m", "goaldsl", "run", ".", "--format", "jsonl"], cwd=folder,
                              env=env, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and outs[0].count(b"\n") >= 3


_BROKEN = '''segment a = email.opend or contact.x == "1" and b
segment b = a
workflow "W" {
    audience contact.lead_score >= 50 and c and d and e
    send_emial("x") as s1
    wait 3 dayz
    skip to nowhere
    goal "G" { when invoice.status_changed(status == payed, amont > 1) }
    goal "G" { when tag.added(tag == "vip") }
}
workflow "W" { audience contact.y == 1 }
'''


def test_diagnostics_and_bad_input_reports_are_the_same_under_every_hash_seed(tmp_path):
    # Many errors at once, several with suggestions drawn from sets of names;
    # bad input lines with suggestions.
    (tmp_path / "broken.goal").write_text(_BROKEN)
    (tmp_path / "typos.goal").write_text(_BROKEN.replace("    wait 3 dayz\n", ""))
    (tmp_path / "program.goal").write_text((ROOT / "examples" / "tags" / "program.goal").read_text())
    lines = [
        '{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "page.visted", "url": "/"}',
        '{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "tag.added"}',
        '{"time": "2026-11-16", "contact": "c1", "type": "tag.added", "tag": "x"}',
        '[1, 2]',
        '{"time": "2026-11-16T14:00:00Z", "contact": "c1", "type": "appointment.status_changed", '
        '"appointment": "a", "status": "confirmd"}',
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    commands = [("broken", tmp_path, ["check", "broken.goal"]), ("typos", tmp_path, ["check", "typos.goal"]),
                ("bad input", tmp_path, ["run", "program.goal", "--events", "events.jsonl", "--format", "jsonl"])]
    results = _all_seeds(commands)
    base = results[SEEDS[0]]
    # A syntax error: its "expected ..." list comes from a set of token names.
    assert base["broken"][0] == 1 and "expected" in base["broken"][1], base["broken"]
    assert base["typos"][0] == 1 and base["typos"][1].count("error[") >= 8, base["typos"]
    assert "did you mean" in base["typos"][1]
    assert base["bad input"][0] == 1 and base["bad input"][2].count("events.jsonl:") == len(lines), base["bad input"]
    for seed in SEEDS[1:]:
        for key, _, _ in commands:
            assert results[seed][key] == base[key], f"{key}: PYTHONHASHSEED={seed} differs from PYTHONHASHSEED=0"
