"""Code this package generates and compiles (the parser's reduction shapes,
the AST's and the IR's constructors), compiled once per machine, not once
per process.

``compiled(source, name)`` is ``compile(source, name, "exec")``, looked up
first in a file of the cache folder (``resources.cache_folder``) that maps
each text compiled before to its code, in ``marshal``'s format (the one of
Python's own .pyc files, as fast to read). Compiling is about 0.1 ms a
function, and `goal check` on a small file compiles about 80 of them: a
tenth of its time. The file is named for this Python's version (its code
is that version's); one that cannot be read is as if missing. A process
that compiled texts the file lacked writes it again, whole, once, when it
ends (``save``: at exit, and from ``launch`` before its fast exit; by a
rename, so processes racing leave one of their versions, and the others'
texts are added again by the next process that needs them).
"""
from __future__ import annotations

import atexit
import marshal
import os
import sys
import zlib

from .resources import cache_folder

_codes: dict | None = None  # (source, name) -> code, as read from the file and added to since
_unsaved = False  # texts compiled that the file lacks


def compiled(source: str, name: str):
    """``compile(source, name, "exec")``, from the cache when it is there."""
    codes = _loaded()
    key = (source, name)
    code = codes.get(key)
    if code is None:
        code = codes[key] = compile(source, name, "exec")
        global _unsaved
        if not _unsaved:
            _unsaved = True
            atexit.register(save)
    return code


def save() -> None:
    """Write the file again if this process compiled texts it lacked."""
    global _unsaved
    if _unsaved and _codes is not None:
        _unsaved = False
        _save(_codes)


def _path():
    folder = cache_folder()
    if folder is None:
        return None
    version = f"{sys.implementation.cache_tag}-{zlib.crc32(sys.version.encode()):08x}"
    return os.path.join(folder, f"code-{version}.marshal")


def _loaded() -> dict:
    global _codes
    if _codes is None:
        _codes = {}
        path = _path()
        if path is not None:
            try:
                with open(path, "rb") as f:
                    data = marshal.load(f)
                if isinstance(data, dict) and all(
                        isinstance(k, tuple) and len(k) == 2 and all(isinstance(x, str) for x in k)
                        and type(v) is type(_loaded.__code__) for k, v in data.items()):
                    _codes = data
            except (OSError, ValueError, EOFError, TypeError):
                pass
    return _codes


def _save(codes: dict) -> None:
    path = _path()
    if path is None:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            marshal.dump(codes, f)
        os.replace(tmp, path)  # whole or not at all
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
