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


# What the cache folder may hold of one kind (the indexes of event logs and
# contacts files): the most recently used are kept, the others removed when
# another is written, so the folder does not grow with every log ever asked
# about (docs/decisions.md, "The index of an event log").
CACHE_KEEP_FILES = 64
CACHE_KEEP_BYTES = 256 << 20


def prune_cache(folder: str, suffix: str, keep: str, keep_files: int | None = None, prefix: str = "") -> None:
    """Remove the files starting with ``prefix`` and ending in ``suffix`` of
    the cache folder past the ``keep_files`` most recently used, or past
    CACHE_KEEP_BYTES in all; never ``keep`` (the one just written). Files
    left half-written by a process that ended while writing (``*.tmp``)
    go after an hour."""
    import os
    import time
    if keep_files is None:
        keep_files = CACHE_KEEP_FILES
    try:
        entries = [e for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
    except OSError:
        return
    kept, size = 0, 0
    now = time.time()
    files = []
    for e in entries:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if e.name.endswith(suffix) and e.name.startswith(prefix):
            files.append((st.st_mtime, st.st_size, e.path))
        elif e.name.endswith(".tmp") and now - st.st_mtime > 3600:  # the folder is goal's alone
            _remove(e.path)
    for mtime, nbytes, path in sorted(files, reverse=True):
        if path == keep or (kept < keep_files and size + nbytes <= CACHE_KEEP_BYTES):
            kept, size = kept + 1, size + nbytes
        else:
            _remove(path)


def _remove(path: str) -> None:
    import os
    try:
        os.unlink(path)
    except OSError:
        pass

