#!/usr/bin/env python3
"""Record what `goal` prints for a fixed set of commands, to compare two
commits byte for byte (a refactoring must change none of it).

Usage: snapshot.py GOAL_CMD OUT_DIR   (run from the repository's top folder)
Then: diff -r OUT_A OUT_B
"""
import json
import shlex
import subprocess
import sys
from pathlib import Path

goal = shlex.split(sys.argv[1])
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
import os
shared = Path(os.environ.get("SHARED", "../shared")) / "acceptance" / "cases"
n = 0


def record(name, cmd, cwd="."):
    global n
    p = subprocess.run(goal + cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    (out / f"{name}.txt").write_text(f"$ goal {' '.join(cmd)}\nexit {p.returncode}\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
    n += 1
    return p.stdout


for ex in sorted(Path("examples").iterdir()):
    if not (ex / "program.goal").exists():
        continue
    name = ex.name
    record(f"ex-{name}-jsonl", ["run", str(ex), "--format", "jsonl"])
    record(f"ex-{name}-table", ["run", str(ex), "--format", "table"])
    record(f"ex-{name}-check", ["check", str(ex)])
    record(f"ex-{name}-fmt", ["fmt", "--check", str(ex / "program.goal")])
    contacts = [json.loads(l)["id"] for l in (ex / "contacts.jsonl").read_text().splitlines() if l.strip()]
    goals = []
    for line in (ex / "program.goal").read_text().splitlines():
        s = line.strip()
        if s.startswith("goal \"") :
            goals.append(s.split('"')[1])
    for c in contacts:
        for g in goals:
            for fmt in ("text", "json"):
                record(f"ex-{name}-explain-{c}-{g.replace(' ', '_').replace('/', '_')}-{fmt}",
                       ["explain", str(ex), "--contact", c, "--goal", g, "--format", fmt])
    for cond in ("contact.lead_score >= 50", '"vip" in contact.tags', "email.opened within 7 days",
                 "email.opened(campaign starts with \"d\") at least 2 times ever", "not page.visited ever"):
        for c in contacts[:3]:
            record(f"ex-{name}-eval-{c}-{__import__('hashlib').md5(cond.encode()).hexdigest()[:8]}", ["eval", cond, "--contact", c, str(ex)])

if shared.is_dir():
    for case in sorted(shared.iterdir()):
        spec = json.loads((case / "case.json").read_text())
        if spec["kind"] == "run":
            record(f"case-{case.name}", ["run", ".", "--format", "jsonl"] + spec.get("args", []), cwd=case)
            record(f"case-{case.name}-table", ["run", ".", "--format", "table"] + spec.get("args", []), cwd=case)
        elif spec["kind"] == "eval":
            for i, r in enumerate(spec["runs"]):
                record(f"case-{case.name}-{i}", ["eval"] + r["args"] + ["."], cwd=case)
        else:
            record(f"case-{case.name}", spec["command"], cwd=case)
print(f"{n} commands recorded in {out}")
