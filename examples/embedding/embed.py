"""Embedding goal in a Python tool: load a program, register action
handlers, feed contacts and events, run the clock, read the activity.

    python examples/embedding/embed.py

It runs the "booked-a-demo" example with a handler for send_email and notify
that, instead of touching a network, prints what a real tool would send. The
handler gets an ActionRequest whose `id` is stable across re-runs: use it as
the idempotency key when you deliver.
"""
from __future__ import annotations

import json
from pathlib import Path

import goaldsl

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parent / "booked-a-demo"


def main() -> None:
    try:
        program = goaldsl.load_program(SCENARIO / "program.goal")
    except goaldsl.GoalError as e:  # every diagnostic, rendered with source lines
        raise SystemExit(str(e))

    sent: list[goaldsl.ActionRequest] = []

    def deliver(req: goaldsl.ActionRequest) -> None:
        # A real tool would call its email or chat service here, passing req.id
        # as the idempotency key so a retried delivery is not doubled.
        sent.append(req)

    contacts = [json.loads(l) for l in (SCENARIO / "contacts.jsonl").read_text().splitlines() if l.strip()]
    events = [json.loads(l) for l in (SCENARIO / "events.jsonl").read_text().splitlines() if l.strip()]
    events.sort(key=lambda e: goaldsl.parse_time(e["time"]))
    start = goaldsl.parse_time(events[0]["time"])
    until = goaldsl.parse_time(events[-1]["time"])

    engine = goaldsl.Engine(program.plan, start=start, handlers={"send_email": deliver, "notify": deliver})
    for c in contacts:
        engine.add_contact(c)
    for e in events:
        fields = {k: v for k, v in e.items() if k not in ("id", "time", "contact", "type")}
        engine.add_event(goaldsl.parse_time(e["time"]), e["contact"], e["type"], fields)

    # The clock can be advanced in steps, as a long-running host would.
    engine.run_until(start + 86400)
    print(f"after one day: {len(engine.activity)} activity entries")
    engine.run_until(until)

    achieved = [a for a in engine.activity if a["type"] == "goal_achieved"]
    print(f"after the log: {len(engine.activity)} entries, {len(achieved)} goals achieved")
    for req in sent:
        print(f"  delivered {req.action} to {req.contact} {json.dumps(req.args)} (key {req.id})")


if __name__ == "__main__":
    main()
