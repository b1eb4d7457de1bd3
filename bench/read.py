#!/usr/bin/env python3
"""Read and validate an events file the way `goal run` does, and nothing
else (no engine): the reading cost of a format, for bench/run.py.

    read.py PROGRAM EVENTS
"""
import gc
import sys
import time


def main(program: str, events: str) -> None:
    gc.disable()  # as goal run does
    t0 = time.perf_counter()
    from goaldsl.api import load_program
    from goaldsl.runtime.inputs import Inputs, iter_events
    prog = load_program(program)
    t1 = time.perf_counter()
    inputs = Inputs()
    n = sum(1 for _ in iter_events(events, prog.ir.events, None, inputs))
    dt = time.perf_counter() - t1
    assert not inputs.bad, inputs.bad[:3]
    print(f"read {n} events in {dt:.3f} s ({n / dt:,.0f} events/s); program loaded in {t1 - t0:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
