"""Old names kept for one release, each warning with a DeprecationWarning that names the new one.

Everything here goes in the next release: delete what is no longer wanted, and
the names that fail to import show what to remove with it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from typing import ParamSpec, SupportsIndex, TypeVar, overload

from eventkit.exceptions import ConfigurationError

__all__ = ["TypeNames", "alias", "renamed", "renamed_keywords"]

P = ParamSpec("P")
T = TypeVar("T")


def renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is the deprecated name of ``new`` (kept for one release)."""
    warnings.warn(f"{old} is now {new}: the old name goes in the next release",
                  DeprecationWarning, stacklevel=stacklevel)


def alias(call: Callable[P, T], old: str) -> Callable[P, T]:
    """``call`` under its old name ``old``: the same parameters, and a warning.

    >>> def join_asof(left: int) -> int:
    ...     return left
    >>> join_as_of = alias(join_asof, "join_as_of")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     join_as_of(1), str(caught[0].message)
    (1, 'join_as_of is now join_asof: the old name goes in the next release')
    """
    prefix = call.__qualname__.removesuffix(call.__name__)  # "Events." for a method

    @functools.wraps(call)
    def old_call(*args: P.args, **kwargs: P.kwargs) -> T:
        renamed(prefix + old, call.__qualname__)
        return call(*args, **kwargs)

    old_call.__name__, old_call.__qualname__ = old, prefix + old
    old_call.__doc__ = f"Deprecated: :func:`{call.__name__}`, the same call under its new name."
    return old_call


def renamed_keywords(**new_names: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Take each old keyword (``until=``) for its new one (``end=``), with a warning.

    >>> @renamed_keywords(until="end")
    ... def replay(*, end: int | None = None) -> int | None:
    ...     return end
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     replay(until=5), str(caught[0].message)
    (5, 'replay(until=) is now replay(end=): the old name goes in the next release')
    """
    def wrap(call: Callable[P, T]) -> Callable[P, T]:
        name = call.__qualname__.removesuffix(".__init__")  # a class is called by its name

        @functools.wraps(call)
        def with_old_keywords(*args: P.args, **kwargs: P.kwargs) -> T:
            for old, new in new_names.items():
                if old in kwargs:
                    if new in kwargs:
                        raise ConfigurationError(
                            f"give {name}() {new}= alone: {old}= is its old name")
                    renamed(f"{name}({old}=)", f"{name}({new}=)")
                    kwargs[new] = kwargs.pop(old)
            return call(*args, **kwargs)

        return with_old_keywords
    return wrap


class TypeNames(list[str]):
    """Event type names, sorted: what ``types`` is on ``Events``, ``Store`` and
    ``SchemaRegistry``.

    For one release it also answers the old forms, with a warning each:
    ``registry.types()`` (a method then) and ``store.types["x"]``,
    ``.items()``, ``.values()``, ``.get()``... (events per type then: now
    ``store.type_counts()``).

    >>> names = TypeNames({"b": 2, "a": 1}, owner="Store")
    >>> names, names == ["a", "b"]
    (['a', 'b'], True)
    """

    def __init__(self, names: Mapping[str, int] | Iterable[str], *, owner: str) -> None:
        super().__init__(sorted(names))
        self._counts = dict(names) if isinstance(names, Mapping) else None
        self._owner = owner

    def __call__(self) -> list[str]:
        renamed(f"{self._owner}.types()", f"{self._owner}.types (a property, as on Events)",
                stacklevel=3)
        return list(self)

    def _old_counts(self, form: str) -> dict[str, int]:
        if self._counts is None:
            raise TypeError(f"{self._owner}.types is a list of type names")
        renamed(f"{self._owner}.types{form}",
                f"{self._owner}.type_counts(){form} (types lists the names)", stacklevel=4)
        return self._counts

    @overload
    def __getitem__(self, key: SupportsIndex) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> list[str]: ...
    @overload
    def __getitem__(self, key: str) -> int: ...
    def __getitem__(self, key: SupportsIndex | slice | str) -> str | list[str] | int:
        if isinstance(key, str):
            return self._old_counts("[name]")[key]
        return super().__getitem__(key)

    def get(self, key: str, default: int | None = None) -> int | None:
        return self._old_counts(".get()").get(key, default)

    def keys(self) -> KeysView[str]:
        return self._old_counts(".keys()").keys()

    def values(self) -> ValuesView[int]:
        return self._old_counts(".values()").values()

    def items(self) -> ItemsView[str, int]:
        return self._old_counts(".items()").items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping) and self._counts is not None:
            return self._old_counts(" == {...}") == other
        return list.__eq__(self, other)
