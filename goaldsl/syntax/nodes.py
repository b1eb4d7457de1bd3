"""What the AST's and the IR's classes share: frozen attrs classes whose
``__eq__``, ``__hash__`` and ``__repr__`` are written once (``Node``), and
constructors for the parser and the checker that cost a third of a class
call (``maker``).

Why: a program makes about nine nodes a line, and every class makes
``goal check`` start slower. attrs writes each method of each class as
source text and compiles it when the module is imported (about 0.3 ms a
class for the 100 classes of the AST and the IR); here only ``__init__``
is, and equality, hashing and repr behave as attrs' own would: equal when
of the same class with equal fields (compared field by field, in order,
those with ``eq=True``), a hash of those fields, and attrs' repr text (the
IR's repr is part of the digests state files hold). A frozen attrs
``__init__`` sets each field through ``object.__setattr__``; ``maker``'s
function fills a twin class with the same slots and then gives the object
its real class, which Python allows between classes of the same layout, so
that what it returns is an instance of the attrs class as ``cls(...)``
would make it.
"""
from __future__ import annotations

from typing import Callable

import attrs


class Node:
    """The base of the AST's and the IR's classes (made with ``node``)."""

    __slots__ = ()

    def __eq__(self, other):
        # attrs' __eq__: `self.a == other.a and self.b == other.b ...`
        if other.__class__ is not self.__class__:
            return NotImplemented
        result = True
        for name in _eq_names(self.__class__):
            result = getattr(self, name) == getattr(other, name)
            if not result:
                return result
        return result

    def __hash__(self) -> int:
        cls = self.__class__
        return hash((cls.__qualname__, *[getattr(self, name) for name in _eq_names(cls)]))

    def __repr__(self) -> str:
        # attrs' repr text (fields with repr=True; the class's name as attrs writes it).
        cls = self.__class__
        names = _REPR.get(cls)
        if names is None:
            names = _REPR[cls] = tuple(f.name for f in attrs.fields(cls) if f.repr)
        fields = ", ".join(f"{name}={getattr(self, name, attrs.NOTHING)!r}" for name in names)
        return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({fields})"


_EQ: dict[type, tuple[str, ...]] = {}  # a class -> its fields that take part in equality and hashing
_REPR: dict[type, tuple[str, ...]] = {}


def _eq_names(cls: type) -> tuple[str, ...]:
    names = _EQ.get(cls)
    if names is None:
        names = _EQ[cls] = tuple(f.name for f in attrs.fields(cls) if f.eq)
    return names


def node(cls=None, **options):
    """``@node``: a frozen attrs class deriving from ``Node`` (which gives it
    equality, hashing and repr). Options are attrs'. No weak references to
    nodes (``maker`` needs the slots to be the fields alone)."""
    def wrap(c):
        return attrs.frozen(c, repr=False, eq=False, weakref_slot=False, **options)
    return wrap if cls is None else wrap(cls)


_MAKERS: dict[type, Callable] = {}


def maker(cls: type) -> Callable:
    """A function taking what ``cls(...)`` takes (the same parameters,
    defaults and keyword-only ones) and returning what it would, made
    faster; ``cls`` itself for a class it cannot do that for (a field with a
    validator, a converter or a default made by a factory, a class with weak
    references). Made once per class, when first asked for."""
    made = _MAKERS.get(cls)
    if made is None:
        made = _MAKERS[cls] = _make_maker(cls)
    return made


def _make_maker(cls: type) -> Callable:
    fields = attrs.fields(cls)
    slots = getattr(cls, "__slots__", None)
    if (slots is None or "__weakref__" in slots or "__dict__" in slots
            or set(slots) != {f.name for f in fields}
            or any(f.validator is not None or f.converter is not None or isinstance(f.default, attrs.Factory)
                   or f.alias != f.name or f.on_setattr not in (None, attrs.setters.NO_OP)
                   for f in fields)
            or (not all(f.init for f in fields) and not hasattr(cls, "__attrs_post_init__"))
            or hasattr(cls, "__attrs_pre_init__")):
        return cls
    twin = type(f"_Making{cls.__name__}", cls.__bases__, {"__slots__": slots})
    scope: dict = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    params, kw_only, body = [], [], []
    for i, f in enumerate(fields):
        if not f.init:
            continue
        if f.default is attrs.NOTHING:
            param = f.name
        else:
            scope[f"_default_{i}"] = f.default
            param = f"{f.name}=_default_{i}"
        (kw_only if f.kw_only else params).append(param)
        body.append(f"    o.{f.name} = {f.name}")
    signature = ", ".join(params + (["*"] + kw_only if kw_only else []))
    lines = [f"def make({signature}):", "    o = _new(_twin)", *body, "    o.__class__ = _cls"]
    if hasattr(cls, "__attrs_post_init__"):
        lines.append("    o.__attrs_post_init__()")
    lines.append("    return o")
    exec(compile("\n".join(lines), f"<fast constructor of {cls.__qualname__}>", "exec"), scope)  # noqa: S102 - our own generated code
    return scope["make"]
