"""What the AST's and the IR's classes share: frozen attrs classes whose
methods are written once (``Node``) or made when first used, not at import.

Why: a program makes about nine nodes a line, and every class makes
``goal check`` start slower. ``attrs.frozen`` writes methods of each class
as source text and compiles them when the module is imported (an
``__attrs_init__`` even with ``init=False``), and builds each slotted class
twice: about 0.2 ms a class for the ~115 classes of the AST and the IR, a
sixth of a small check. Here ``node`` makes the class itself, as attrs
would make it (the same slots, ``__match_args__``, frozen attributes that
raise attrs' ``FrozenInstanceError``), and:

* The fields are read off the class (its annotations, and each default or
  ``attrs.field``) by ``node``, which refuses what it does not reproduce
  (validators, converters, aliases, hashing options). ``attrs.fields``,
  ``attrs.has``, ``attrs.evolve`` and the rest of attrs work on the class:
  its ``__attrs_attrs__`` (and ``__attrs_props__``) are attrs' own, made by
  ``attrs.frozen`` from the same declarations the first time attrs asks for
  them (``_AttrsMade``; a check asks for a few classes' at most).
  tests/test_nodes.py holds every node class's fields to attrs' and its
  objects to those of an attrs-made twin.
* ``__eq__``, ``__hash__`` and ``__repr__`` are ``Node``'s, and behave as
  attrs' own would: equal when of the same class with equal fields
  (compared field by field, in order, those with ``eq=True``), a hash of
  those fields, and attrs' repr text (the IR's repr is part of the digests
  state files hold).
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

import sys

TYPE_CHECKING = False  # (typing's, without importing typing: docs/performance.md, "Start-up")
if TYPE_CHECKING:
    from typing import Callable

from .codecache import compiled


class Node:
    """The base of the AST's and the IR's classes (made with ``node``)."""

    __slots__ = ()

    # No ``__new__`` of its own (each class made with ``node`` has
    # ``_first_new``): the twin a constructor fills is made by calling it,
    # object's own ``__new__`` without the checks of a call of ``object.__new__``.

    def __reduce__(self):
        # Pickle and copy call the class as it is called (``__new__`` takes the fields).
        cls = self.__class__
        return _rebuild, (cls, {f.name: getattr(self, f.name) for f in cls._node_fields if f.init})

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
            names = _REPR[cls] = tuple(f.name for f in cls._node_fields if f.repr)
        fields = ", ".join(f"{name}={getattr(self, name, NOTHING)!r}" for name in names)
        return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({fields})"


def _first_new(cls, *args, **kwargs):
    # A class's ``__new__`` until its first call: its constructor is made, and replaces this.
    return _made(cls)(cls, *args, **kwargs)


def _rebuild(cls, kwargs: dict):
    return cls(**kwargs)


_EQ: dict[type, tuple[str, ...]] = {}  # a class -> its fields that take part in equality and hashing
_REPR: dict[type, tuple[str, ...]] = {}


def _eq_names(cls: type) -> tuple[str, ...]:
    names = _EQ.get(cls)
    if names is None:
        names = _EQ[cls] = tuple(f.name for f in cls._node_fields if f.eq)
    return names


class _Nothing:
    """No default: ``NOTHING``, shown as attrs' own NOTHING is."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOTHING"

    def __bool__(self) -> bool:
        return False


NOTHING = _Nothing()


class Factory:
    """A default made anew for each object (``field(factory=...)``)."""

    __slots__ = ("factory",)

    def __init__(self, factory: Callable):
        self.factory = factory


class Declared:
    """What ``field(...)`` declares: a field's default and whether it takes
    part in the constructor, equality and repr (the options of
    ``attrs.field`` a node class has)."""

    __slots__ = ("default", "init", "kw_only", "eq", "repr")

    def __init__(self, default, init: bool, kw_only: bool, eq: bool, repr: bool):  # noqa: A002 - attrs' names
        self.default, self.init, self.kw_only, self.eq, self.repr = default, init, kw_only, eq, repr

    def as_attrs(self):
        """The same declaration as ``attrs.field`` makes it."""
        import attrs
        default = attrs.Factory(self.default.factory) if type(self.default) is Factory else \
            attrs.NOTHING if self.default is NOTHING else self.default
        return attrs.field(default=default, init=self.init, kw_only=self.kw_only, eq=self.eq, repr=self.repr)


def field(*, default=NOTHING, factory: Callable | None = None, init: bool = True, kw_only: bool = False,
          eq: bool = True, repr: bool = True) -> Declared:  # noqa: A002 - attrs.field's names
    """A node class's field, declared as with ``attrs.field`` (these options
    only), without importing attrs (``goal check`` does not)."""
    if factory is not None:
        if default is not NOTHING:
            raise ValueError("a default or a factory, not both")
        default = Factory(factory)
    return Declared(default, init, kw_only, eq, repr)


class Field:
    """A node class's field, as ``node`` read it: what the constructor,
    equality, hashing and repr need (attrs' ``Attribute`` holds the same;
    ``default`` is this module's ``NOTHING`` or ``Factory`` where attrs has its own)."""

    __slots__ = ("name", "default", "init", "kw_only", "eq", "repr", "declared")

    def __init__(self, name: str, declared):
        # declared: the class's value (a default, a field(), an attrs.field) or NOTHING
        self.name, self.declared = name, declared
        if type(declared) is Declared:
            self.default, self.init, self.kw_only = declared.default, declared.init, declared.kw_only
            self.eq, self.repr = declared.eq, declared.repr
            return
        attrs = sys.modules.get("attrs")  # (an attrs declaration can only be made with attrs imported)
        if attrs is not None and type(declared) is type(attrs.field()):
            ca = declared
            if (ca._validator is not None or ca.converter is not None or ca.alias not in (None, name)
                    or ca.hash is not None or ca.eq_key is not None or ca.on_setattr is not None
                    or ca.type is not None or type(ca.repr) is not bool
                    or (isinstance(ca._default, attrs.Factory) and ca._default.takes_self)):
                raise TypeError(f"{name}: nodes.node makes classes of plain fields only")
            default = ca._default
            default = NOTHING if default is attrs.NOTHING else \
                Factory(default.factory) if isinstance(default, attrs.Factory) else default
            self.default, self.init, self.kw_only = default, ca.init, bool(ca.kw_only)
            self.eq, self.repr = bool(ca.eq), ca.repr
        elif attrs is not None and isinstance(declared, attrs.Factory):
            if declared.takes_self:
                raise TypeError(f"{name}: nodes.node makes classes of plain fields only")
            self.default, self.init, self.kw_only, self.eq, self.repr = Factory(declared.factory), True, False, True, True
        else:
            self.default, self.init, self.kw_only, self.eq, self.repr = declared, True, False, True, True

    def as_attrs(self):
        """The field's declaration as attrs takes it (attrs.NOTHING: none)."""
        if type(self.declared) is Declared:
            return self.declared.as_attrs()
        if self.declared is NOTHING:
            import attrs
            return attrs.NOTHING
        return self.declared


_CLASS_VARS = ("ClassVar", "typing.ClassVar", "t.ClassVar", "typing_extensions.ClassVar")


def node(cls=None, *, frozen: bool = True):
    """``@node``: a frozen attrs class deriving from ``Node`` (which gives it
    its constructor, equality, hashing and repr). No weak references to
    nodes (the constructor needs the slots to be the fields alone).
    ``@node(frozen=False)``: a class as ``attrs.define`` makes it (its fields
    can be set; equal by value, its objects have no hash)."""
    if cls is None:
        return lambda c: node(c, frozen=frozen)
    if cls.__bases__ != (Node,):
        raise TypeError(f"{cls.__name__} must derive from Node (and only from it)")
    d = cls.__dict__
    if "__attrs_pre_init__" in d or "__slots__" in d:
        raise TypeError(f"{cls.__name__}: nodes.node makes classes of plain fields only")
    fields = tuple(Field(name, d.get(name, NOTHING)) for name, ann in d.get("__annotations__", {}).items()
                   if not (isinstance(ann, str) and ann.startswith(_CLASS_VARS)))
    had_default = False
    for f in fields:  # attrs' rule
        if f.init and not f.kw_only:
            if had_default and f.default is NOTHING:
                raise ValueError(f"{cls.__name__}.{f.name}: no mandatory field after one with a default")
            had_default = had_default or f.default is not NOTHING
    if not all(f.init for f in fields) and "__attrs_post_init__" not in d:
        raise TypeError(f"{cls.__name__}: a field outside __init__ needs __attrs_post_init__ to set it")
    names = tuple(f.name for f in fields)
    # The class attrs.frozen makes (its _ClassBuilder's slotted class):
    # the class's own namespace without the fields' declarations, slotted.
    ns = {k: v for k, v in d.items() if k not in names and k not in ("__dict__", "__weakref__")}
    ns.update(__slots__=names, __qualname__=cls.__qualname__, _node_fields=fields, __new__=_first_new,
              __match_args__=tuple(f.name for f in fields if f.init and not f.kw_only),
              _node_frozen=frozen, __attrs_attrs__=_AttrsMade(), __attrs_props__=_AttrsMade())
    if frozen:
        ns.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    else:
        ns["__hash__"] = None  # (as attrs makes it: equal by value and changeable, so no hash)
    made = type(cls)(cls.__name__, cls.__bases__, ns)
    for value in ns.values():  # a method's `__class__` cell (super()) is the made class, as attrs does
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        if code is not None and "__class__" in code.co_freevars:
            for cell in getattr(value, "__func__", value).__closure__ or ():
                if cell.cell_contents is cls:
                    cell.cell_contents = made
    return made


def _frozen_setattr(self, name, value):
    from attrs.exceptions import FrozenInstanceError
    raise FrozenInstanceError()


def _frozen_delattr(self, name):
    from attrs.exceptions import FrozenInstanceError
    raise FrozenInstanceError()


class _AttrsMade:
    """A node class's ``__attrs_attrs__`` or ``__attrs_props__``: attrs' own,
    made the first time they are asked for (by ``attrs.fields``,
    ``attrs.evolve`` ...) by ``attrs.frozen`` from the class's declarations,
    then kept on the class in this one's place."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name

    def __get__(self, obj, objtype=None):
        import attrs
        owner = self.owner
        fields = owner._node_fields
        declared = {f.name: f.as_attrs() for f in fields if f.declared is not NOTHING}
        make = attrs.frozen if owner._node_frozen else attrs.define
        twin = make(type(owner.__name__, (), {
            "__module__": owner.__module__, "__qualname__": owner.__qualname__,
            "__annotations__": {f.name: owner.__annotations__[f.name] for f in fields}, **declared}),
            repr=False, eq=False, init=False, weakref_slot=False)
        for name in ("__attrs_attrs__", "__attrs_props__"):
            if name in twin.__dict__:
                setattr(owner, name, twin.__dict__[name])  # (type's setattr: the class's, not its objects')
            elif isinstance(owner.__dict__.get(name), _AttrsMade):
                delattr(owner, name)  # an attrs without it
        return getattr(owner if obj is None else obj, self.name)


def field_names(cls: type) -> tuple[str, ...]:
    """The names of the fields of an attrs class (a node class's without asking attrs)."""
    fields = getattr(cls, "_node_fields", None)
    if fields is None:
        import attrs
        return tuple(f.name for f in attrs.fields(cls))
    return tuple(f.name for f in fields)


def is_attrs_class(t: type) -> bool:
    """``attrs.has(t)``, for a node class without asking attrs (nor
    importing it: no other attrs class exists before it is imported)."""
    if getattr(t, "_node_fields", None) is not None:
        return True
    attrs = sys.modules.get("attrs")
    return attrs is not None and attrs.has(t)


def evolve(obj, **changes):
    """``attrs.evolve(obj, **changes)`` for an object of a node class: a new
    one with the same fields but ``changes`` (without asking attrs)."""
    cls = obj.__class__
    kwargs = {f.name: getattr(obj, f.name) for f in cls._node_fields if f.init and f.name not in changes}
    return cls(**kwargs, **changes)


_MADE: dict[type, Callable] = {}


def maker(cls: type) -> Callable:
    """A function taking what ``cls(...)`` takes and returning what it
    would, without the class call: for a class made with ``node``, its
    constructor; else the class itself."""
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        return cls
    if cls not in _MAKE:
        _made(cls)
    return _MAKE[cls]


_MAKE: dict[type, Callable] = {}  # a class -> its constructor without the class argument (``maker``)


class Makers:
    """A module's classes by name, each as ``maker`` makes it:
    ``Makers(ast).Ident(...)`` makes what ``ast.Ident(...)`` would, at two
    thirds of the cost (the parser's AST nodes, the checker's IR nodes)."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name: str):
        made = maker(getattr(self._module, name))
        setattr(self, name, made)  # asked once a class
        return made


def _made(cls: type) -> Callable:
    new = _MADE.get(cls)
    if new is None:
        new, _MAKE[cls] = _make_new(cls)
        _MADE[cls] = new
        cls.__new__ = staticmethod(new)  # the class's next calls go straight to it
    return new


def _make_new(cls: type) -> Callable:
    fields = cls._node_fields
    twin = type(f"_Making{cls.__name__}", cls.__bases__, {"__slots__": cls.__slots__})
    scope: dict = {"_twin": twin, "_cls": cls, "_slow": _slow_new, "_NOTHING": NOTHING}
    params, kw_only, body = [], [], []
    for i, f in enumerate(fields):
        if not f.init:
            continue
        if f.default is NOTHING:
            param = f.name
        elif type(f.default) is Factory:  # a new default value each call, as attrs makes it
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
    # ``new`` for the class call (``cls.__new__``), ``make`` the same body
    # without the class argument (``maker``: no call of a partial, no check).
    made = ["    o = _twin()", *body]
    if "__node_init__" in cls.__dict__:
        # The fields outside __init__ set on the twin, before the object gets
        # its class (plain assignments; the frozen class would need
        # object.__setattr__ for each): what __attrs_post_init__ does.
        scope["_node_init"] = cls.__dict__["__node_init__"].__func__
        made += ["    _node_init(o)", "    o.__class__ = _cls"]
    else:
        made.append("    o.__class__ = _cls")
        if hasattr(cls, "__attrs_post_init__"):
            made.append("    o.__attrs_post_init__()")
    made.append("    return o")
    lines = [f"def new({signature}):",
             "    if cls_ is not _cls:",  # a subclass (its layout may differ): the slow way
             f"        return _slow(cls_, {{{', '.join(f'{n!r}: {n}' for n in names)}}})",
             *made, f"def make({signature.partition(', ')[2]}):", *made]
    exec(compiled("\n".join(lines), f"<constructor of {cls.__qualname__}>"), scope)  # noqa: S102 - our own generated code
    return scope["new"], scope["make"]


def _slow_new(cls: type, values: dict):
    o = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(o, name, value)
    if hasattr(cls, "__attrs_post_init__"):
        o.__attrs_post_init__()
    return o
