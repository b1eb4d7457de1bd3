"""Shared fixtures: write .goal files into a temporary folder and check them.

The tests run with the temporary folder as the working directory, so
diagnostics name files as written (``program.goal:6:13``).
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest

from goaldsl.semantics.checker import check
from goaldsl.semantics.loader import load


@pytest.fixture
def write(tmp_path, monkeypatch):
    """write(name, text_or_bytes) -> Path, inside a fresh working folder."""
    monkeypatch.chdir(tmp_path)

    def _write(name: str, content) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return p

    return _write


@pytest.fixture
def check_src(write):
    """check_src(text, files={...}) -> list of diagnostics for program.goal."""

    def _check(text, files: dict | None = None, name: str = "program.goal"):
        for fname, body in (files or {}).items():
            write(fname, body)
        write(name, text)
        return list(check(load([name])).diagnostics)

    return _check


@pytest.fixture(autouse=True)
def _cyclic_collector_back_on():
    """`goal run` in this process turns the cyclic collector off for its run
    (cli.cmd_run); turn it back on after each test, or every later test runs
    without it and the garbage of hundreds of tests is collected all at once
    inside whichever test turns it on again (a ten-second pause the fuzz
    tests' hang check took for a hang)."""
    yield
    gc.enable()
