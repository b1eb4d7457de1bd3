"""What the AST's and the IR's classes share: frozen attrs classes whose
methods are written once (``Node``) or made when first used, not at import.

Why: a program makes about nine nodes a line, and every class makes
``goal check`` start slower. attrs writes each method of each class as
source text and compiles it when the module is imported (about 0.3 ms a
class for the 100 classes of the AST and the IR). Here attrs makes the class
(its fields, slots, ``attrs.fields``, ``evolve``, frozen attributes), and:

* ``__eq__``, ``__hash__`` and ``__repr__`` are ``Node``'s, and behave as
  attrs' own would: equal when of the same class with equal fields
  (compared field by field, in order, those with ``eq=True``), a hash of
  those fields, and attrs' repr text (the IR's repr is part of the digests
  state files hold). tests/test_nodes.py holds them to attrs-made twins.
* The constructor is made the first time a class is called (``_made``):
  a function taking what attrs' ``__init__`` would (the same parameters,
  defaults and keyword-only ones), installed as the class's ``__new__``.
  A frozen attrs ``__init__`` sets each field through ``object.__setattr__``;
  this one fills a twin class with the same slots and then gives the object
  its real class, which Python allows between classes of the same layout:
  the object is the attrs class's, made at about half the cost.
  ``maker(cls)`` is the same function without the class argument (the
  parser's, a third of the cost of a class call).
"""
from __future__ import annotations

import functools
from typing import Callable

import attrs

from .codecache import compiled


class Node:
    """The base of the AST's and the IR's classes (made with ``node``)."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        # The first call of a class: its constructor is made, and replaces this.
        return _made(cls)(cls, *args, **kwargs)

    def __reduce__(self):
        # Pickle and copy call the class as it is called (``__new__`` takes the fields).
        cls = self.__class__
        return _rebuild, (cls, {f.alias: getattr(self, f.name) for f in attrs.fields(cls) if f.init})

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


def _rebuild(cls, kwargs: dict):
    return cls(**kwargs)


_EQ: dict[type, tuple[str, ...]] = {}  # a class -> its fields that take part in equality and hashing
_REPR: dict[type, tuple[str, ...]] = {}


def _eq_names(cls: type) -> tuple[str, ...]:
    names = _EQ.get(cls)
    if names is None:
        names = _EQ[cls] = tuple(f.name for f in attrs.fields(cls) if f.eq)
    return names


def node(cls):
    """``@node``: a frozen attrs class deriving from ``Node`` (which gives it
    its constructor, equality, hashing and repr). No weak references to
    nodes (the constructor needs the slots to be the fields alone)."""
    if not issubclass(cls, Node):
        raise TypeError(f"{cls.__name__} must derive from Node")
    made = attrs.frozen(cls, repr=False, eq=False, init=False, weakref_slot=False)
    if set(made.__slots__) != {f.name for f in attrs.fields(made)} or any(
            f.validator is not None or f.converter is not None or f.alias != f.name
            or (isinstance(f.default, attrs.Factory) and f.default.takes_self)
            for f in attrs.fields(made)) or hasattr(made, "__attrs_pre_init__"):
        raise TypeError(f"{cls.__name__}: nodes.node makes classes of plain fields only")
    if not all(f.init for f in attrs.fields(made)) and not hasattr(made, "__attrs_post_init__"):
        raise TypeError(f"{cls.__name__}: a field outside __init__ needs __attrs_post_init__ to set it")
    return made


_MADE: dict[type, Callable] = {}


def maker(cls: type) -> Callable:
    """A function taking what ``cls(...)`` takes and returning what it
    would, without the class call: for a class made with ``node``, its
    constructor; else the class itself."""
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        return cls
    return functools.partial(_made(cls), cls)


def _made(cls: type) -> Callable:
    new = _MADE.get(cls)
    if new is None:
        new = _MADE[cls] = _make_new(cls)
        cls.__new__ = staticmethod(new)  # the class's next calls go straight to it
    return new


def _make_new(cls: type) -> Callable:
    fields = attrs.fields(cls)
    twin = type(f"_Making{cls.__name__}", cls.__bases__, {"__slots__": cls.__slots__})
    scope: dict = {"_new": object.__new__, "_twin": twin, "_cls": cls, "_slow": _slow_new, "_NOTHING": attrs.NOTHING}
    params, kw_only, body = [], [], []
    for i, f in enumerate(fields):
        if not f.init:
            continue
        if f.default is attrs.NOTHING:
            param = f.name
        elif isinstance(f.default, attrs.Factory):  # a new default value each call, as attrs makes it
            scope[f"_factory_{i}"] = f.default.factory
            param = f"{f.name}=_NOTHING"
            body.append(f"    if {f.name} is _NOTHING:\n        {f.name} = _factory_{i}()")
        else:
            scope[f"_default_{i}"] = f.default
            param = f"{f.name}=_default_{i}"
        (kw_only if f.kw_only else params).append(param)
        body.append(f"    o.{f.name} = {f.name}")
    names = [f.name for f in fields if f.init]
    signature = ", ".join(["cls_"] + params + (["*"] + kw_only if kw_only else []))
    lines = [f"def new({signature}):",
             "    if cls_ is not _cls:",  # a subclass (its layout may differ): the slow way
             f"        return _slow(cls_, {{{', '.join(f'{n!r}: {n}' for n in names)}}})",
             "    o = _new(_twin)", *body, "    o.__class__ = _cls"]
    if hasattr(cls, "__attrs_post_init__"):
        lines.append("    o.__attrs_post_init__()")
    lines.append("    return o")
    exec(compiled("\n".join(lines), f"<constructor of {cls.__qualname__}>"), scope)  # noqa: S102 - our own generated code
    return scope["new"]


def _slow_new(cls: type, values: dict):
    o = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(o, name, value)
    if hasattr(cls, "__attrs_post_init__"):
        o.__attrs_post_init__()
    return o
