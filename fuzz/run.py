#!/usr/bin/env python3
"""Run the coverage-guided fuzz targets of fuzz/targets.py, each for a
bounded time, seeded with the repository's own programs and inputs.

    python fuzz/run.py [--seconds 30] [--timeout 10] [--seed N] [TARGET ...]

Needs atheris (``pip install 'goaldsl[fuzz]'``). Prints, per target, the
inputs tried and the coverage reached; exits 1 on a finding, after printing
the input that caused it (also kept as ``fuzz/findings/TARGET-crash-*``).
.ci/run runs every target for 30 seconds.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = ["program", "inputs", "api", "state"]


def seeds(target: str) -> list[Path]:
    if target == "program":
        files = [*ROOT.glob("examples/**/*.goal"), *ROOT.glob("tests/conformance/**/*.goal"),
                 *(ROOT / "stdlib").glob("*.goal")]
    elif target == "inputs":
        files = [*ROOT.glob("examples/**/*.jsonl"), *ROOT.glob("tests/conformance/**/*.jsonl")]
    else:
        files = []
    return [f for f in files if f.stat().st_size < 64_000]


def run(target: str, seconds: int, timeout: int, seed: int) -> bool:
    work = Path(tempfile.mkdtemp(prefix=f"goal-fuzz-{target}-"))
    corpus, seed_dir = work / "corpus", work / "seeds"
    corpus.mkdir()
    seed_dir.mkdir()
    for i, f in enumerate(seeds(target)):
        shutil.copy(f, seed_dir / f"{i}-{f.name}")
    findings = HERE / "findings"
    findings.mkdir(exist_ok=True)
    cmd = [sys.executable, str(HERE / "targets.py"), target, f"-max_total_time={seconds}", f"-timeout={timeout}",
           "-rss_limit_mb=3072", "-max_len=8192", f"-artifact_prefix={findings}/{target}-", "-print_final_stats=1",
           *([f"-seed={seed}"] if seed else []),
           str(corpus), str(seed_dir)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    elapsed = time.monotonic() - t0
    log = p.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    shutil.rmtree(work, ignore_errors=True)
    figures = f"{runs[-1] if runs else '?'} inputs" + (f", coverage {cov[-1][0]} edges, {cov[-1][1]} features"
                                                        if cov else "")
    if p.returncode != 0:
        print(f"fuzz {target}: FINDING after {elapsed:.0f} s ({figures}); exit {p.returncode}")
        tail = log[log.find("=== Uncaught Python exception"):] if "Uncaught Python exception" in log else log[-4000:]
        print(tail[:6000])
        return False
    print(f"fuzz {target}: {figures} in {elapsed:.0f} s, no finding")
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=30, help="time per target (default 30)")
    ap.add_argument("--timeout", type=int, default=10, help="seconds one input may take (a hang beyond)")
    ap.add_argument("--seed", type=int, default=0, help="libFuzzer's seed (0: a new one each run); CI fixes it")
    ap.add_argument("targets", nargs="*", metavar="TARGET", help=f"some of {', '.join(TARGETS)} (default: all)")
    args = ap.parse_args()
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        ap.error(f"unknown target {unknown[0]!r}; the targets are {', '.join(TARGETS)}")
    ok = True
    for t in args.targets or TARGETS:
        ok = run(t, args.seconds, args.timeout, args.seed) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
