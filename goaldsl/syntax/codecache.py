"""Code this package generates and compiles (the parser's reduction shapes,
the AST's and the IR's constructors, a program's conditions and the
engine's recorders), compiled once per machine, not once per process.

``compiled(source, name)`` is ``compile(source, name, "exec")``, looked up
first in a file of the cache folder (``resources.cache_folder``) that maps
each text compiled before to its code in ``marshal``'s format (the one of
Python's own .pyc files). Compiling is about 0.1 ms a function, and `goal
check` on a small file compiles about 80 of them: a tenth of its time. The
file holds each code as bytes, decoded only when a process asks for that
text (a process needs a few of the texts every process on the machine
made). It is named for goal's version and this Python's (its code is that
version's); one that cannot be read is as if missing, an entry that cannot
be decoded is compiled again. A process that compiled texts the file lacked
writes it again, whole, once, when it ends (``save``: at exit, and from
``launch`` before its fast exit; by a rename, so processes racing leave one
of their versions, and the others' texts are added again by the next
process that needs them). Writing it prunes the files of other versions
(the ``KEEP_FILES`` most recently written are kept: another Python or
goal of the machine), and a file past ``MAX_TEXTS`` texts is written with
only this process's, so that it does not grow with every version of the
classes a checkout went through.
"""
from __future__ import annotations

import atexit
import marshal
import os
import sys
import zlib

from .. import __version__
from .resources import cache_folder, prune_cache

KEEP_FILES = 4  # code files kept in the cache folder (of other goal or Python versions)
MAX_TEXTS = 2000  # texts a file holds before it is written with a process's own alone

_codes: dict | None = None  # (source, name) -> marshal's bytes of its code, as read from the file
_used: dict = {}  # (source, name) -> code: the texts this process asked for
_unsaved = False  # texts compiled that the file lacks


def compiled(source: str, name: str):
    """``compile(source, name, "exec")``, from the cache when it is there."""
    key = (source, name)
    code = _used.get(key)
    if code is not None:
        return code
    data = _loaded().get(key)
    if data is not None:
        try:
            code = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            code = None
        if type(code) is not _CODE:
            code = None
    if code is None:
        code = compile(source, name, "exec")
        global _unsaved
        if not _unsaved:
            _unsaved = True
            atexit.register(save)
    _used[key] = code
    return code


_CODE = type(compiled.__code__)


def save() -> None:
    """Write the file again if this process compiled texts it lacked."""
    global _unsaved
    if _unsaved:
        _unsaved = False
        codes = dict(_loaded()) if len(_loaded()) + len(_used) <= MAX_TEXTS else {}
        codes.update((key, marshal.dumps(code)) for key, code in _used.items())
        _save(codes)


def _path():
    folder = cache_folder()
    if folder is None:
        return None
    version = f"{__version__}-{sys.implementation.cache_tag}-{zlib.crc32(sys.version.encode()):08x}"
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
                if type(data) is dict:
                    _codes = data  # (each entry is checked when used)
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
        return
    prune_cache(os.path.dirname(path), ".marshal", path, keep_files=KEEP_FILES)
