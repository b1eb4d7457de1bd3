"""Generated workloads for the tests that compare ways of running a
program (``--workers``, Spark) with one process: the shared benchmark
generator's log, with what stays global added."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_GEN = next((p for p in (ROOT.parent / "shared" / "bench" / "gen.py", Path("/work/shared/bench/gen.py"))
                   if p.exists()), ROOT.parent / "shared" / "bench" / "gen.py")


def generated(tmp: Path, seed: int, *, events: int = 4000, contacts: int = 200, unsorted: bool = False) -> Path:
    """A generated workload with what stays global: ids repeated across
    contacts (the later line is the duplicate, whoever it is for), contacts
    only seen in events, contacts with no events."""
    out = tmp / f"gen{seed}"
    subprocess.run([sys.executable, str(SHARED_GEN), str(out), "--events", str(events), "--contacts", str(contacts),
                    "--seed", str(seed)], check=True, capture_output=True)
    rng = random.Random(seed)
    rows = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    for _ in range(40):
        i = rng.randrange(1, len(rows))
        dup = dict(rows[i])
        dup["id"] = rows[rng.randrange(i)].get("id", "x")  # an earlier line's id, likely another contact's
        dup["contact"] = rng.choice([r["contact"] for r in rows])
        rows.insert(i + 1, dup)
    for k in range(5):
        r = rows[rng.randrange(len(rows))]
        rows.insert(rows.index(r) + 1, {**r, "contact": f"only-in-events-{k}", "id": f"fresh-{k}"})
    if unsorted:
        for _ in range(20):
            i, j = rng.randrange(len(rows)), rng.randrange(len(rows))
            rows[i], rows[j] = rows[j], rows[i]
    (out / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open(out / "contacts.jsonl", "a") as f:
        f.write(json.dumps({"id": "no-events", "tags": ["lead"], "lead_score": 80}) + "\n")
    return out
