"""Cutting logs into small pieces, for the tests of streamed runs.

A streamed run (``backtest.stream``: ``goal run``, ``goal report``, ``goal
diff``) feeds the engine one piece per batch the reader hands on, and the
reader's batches are ``inputs.BATCH`` lines. ``backtest.PIECE`` (the
partition kernel's ``PIECE``) cuts only what ``run_partition`` is fed: set
alone, it leaves a small log in one piece.
"""
from __future__ import annotations

from goaldsl.runtime import backtest, inputs
from goaldsl.runtime.inputs import event_pieces


def cut_log(monkeypatch, lines: int) -> list[int]:
    """Cut every log read from here on into pieces of ``lines`` lines (and
    the kernel's pieces to as many events). The list returned gets the
    number of events of each piece a streamed run reads, as it reads it:
    a test can tell that its run went through several."""
    monkeypatch.setattr(backtest, "PIECE", lines)
    monkeypatch.setattr(inputs, "BATCH", lines)
    sizes: list[int] = []

    def counted(*args, **kwargs):
        for piece in event_pieces(*args, **kwargs):
            sizes.append(len(piece))
            yield piece
    monkeypatch.setattr(backtest, "event_pieces", counted)
    return sizes
