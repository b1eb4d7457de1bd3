#!/usr/bin/env python3
"""Run bench/answer.sql with DuckDB and write its rows as JSON Lines.

    duckdb_answer.py EVENTS CONTACTS START UNTIL OUT [--threads N]

Run by bench/versus_duckdb.py with the Python of the benchmark's own
environment (DuckDB is installed there only, not in goal's). START and UNTIL
are epoch seconds.
"""
import argparse
import json
from pathlib import Path

import duckdb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("contacts")
    ap.add_argument("start", type=int)
    ap.add_argument("until", type=int)
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB's threads (0: its default, every core)")
    a = ap.parse_args()
    sql = (Path(__file__).with_name("answer.sql").read_text()
           .replace("{events}", a.events).replace("{contacts}", a.contacts)
           .replace("{start}", str(a.start)).replace("{until}", str(a.until)))
    con = duckdb.connect()
    if a.threads:
        con.execute(f"SET threads = {a.threads}")
    sql = "\n".join(line.split("--")[0] for line in sql.splitlines())  # comments off (they hold semicolons)
    statements = [s for s in sql.split(";") if s.strip()]
    for s in statements[:-1]:
        con.execute(s)
    rows = con.execute(statements[-1]).fetchall()
    with open(a.out, "w") as f:
        for t, contact, workflow, typ, reason, goal in rows:
            f.write(json.dumps([t, contact, workflow, typ, reason, goal]) + "\n")


if __name__ == "__main__":
    main()
