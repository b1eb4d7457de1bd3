"""Where the grammar and the standard library live, and where goal may
keep what it computed once (its cache folder).

In a built wheel they are copied into the package (``goaldsl/grammar`` and
``goaldsl/stdlib``); in a source checkout or an editable install they are
read from the repository's top-level ``grammar/`` and ``stdlib/``.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # the goaldsl package folder


def _find(name: str) -> Path:
    for base in (_PKG / name, _PKG.parent / name):
        if base.is_dir():
            return base
    raise FileNotFoundError(f"the goal installation is missing its {name}/ folder (looked in {_PKG})")


def grammar_path() -> Path:
    return _find("grammar") / "goal.lark"


def stdlib_dir() -> Path:
    return _find("stdlib")


def stdlib_files() -> list[Path]:
    return sorted(stdlib_dir().glob("*.goal"))


def cache_folder():
    """The folder where goal keeps what it may recompute (the parser's
    tables, the index of an event log), made if need be; None when it
    cannot be written (then nothing is kept)."""
    import os
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "goaldsl")
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    return folder
