"""String-keyed registries filled by the modules that define the things they hold."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Names users write in pipeline dicts mapped to what they mean.

    Examples
    --------
    >>> COSTS = Registry("cost")
    >>> @COSTS.register("RMSE")
    ... def rmse(model, data): ...
    >>> COSTS["RMSE"] is rmse
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            self._items[name] = item
            return item

        return add

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(unknown_name(self.kind, name, self._items)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def unknown_name(kind: str, name: object, valid: object) -> str:
    """An error message for an unknown name: what was given, what is valid, the closest match."""
    names = sorted(valid)
    close = difflib.get_close_matches(str(name), names, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(n) for n in names[:25]) + (", ..." if len(names) > 25 else "")
    return f"unknown {kind} {name!r}; valid {kind}s: {shown}.{hint}"
