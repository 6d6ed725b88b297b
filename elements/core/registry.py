"""String-keyed registries filled by the modules that define the things they hold.

Each registry is also open to other packages through an entry-point group
(``sweepfit.<plural kind>``): a distribution that declares, in its ``pyproject.toml``,

.. code-block:: toml

    [project.entry-points."sweepfit.optimizers"]
    MyOptimizer = "my_package.optimizer:MyOptimizer"

adds ``MyOptimizer`` the first time the registry is looked up. A name registered twice, by
sweepfit or a plugin, is an error naming both.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Names users write in pipeline dicts mapped to what they mean.

    Parameters
    ----------
    kind : str
        What the names are, for messages ("optimizer").
    group : str, optional
        The entry-point group plugins register through; ``"sweepfit.<kind>s"`` by default.

    Examples
    --------
    >>> COSTS = Registry("cost", group=None)
    >>> @COSTS.register("RMSE")
    ... def rmse(model, data): ...
    >>> COSTS["RMSE"] is rmse
    True
    """

    def __init__(self, kind: str, *, group: str | None | bool = True) -> None:
        self.kind = kind
        self.group = f"sweepfit.{kind.replace(' ', '_')}s" if group is True else group or None
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._plugins_loaded = self.group is None
        self._lock = threading.Lock()

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: Any = None) -> Any:
        """Add ``item`` under ``name`` (or decorate it); a name already taken raises ValueError."""
        caller = sys._getframe(1).f_globals.get("__name__", "?")  # the module registering it, for messages

        def add(item: T) -> T:
            self._add(name, item, caller)
            return item

        return add if item is None else add(item)

    def _add(self, name: str, item: T, origin: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names are non-empty strings, got {name!r}")
        if name in self._items:
            raise ValueError(
                f"{self.kind} {name!r} is registered twice: by {self._origin[name]} and by {origin}; "
                "rename one of them"
            )
        self._items[name] = item
        self._origin[name] = origin

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        with self._lock:
            if self._plugins_loaded:
                return
            for entry in importlib.metadata.entry_points(group=self.group):
                dist = entry.dist.name if entry.dist else "?"
                try:
                    item = entry.load()
                except Exception as exc:
                    raise ImportError(
                        f"{self.kind} {entry.name!r} from package {dist} ({entry.value}, entry-point group "
                        f"{self.group}) failed to load: {type(exc).__name__}: {exc}"
                    ) from exc
                if self._items.get(entry.name) is item:
                    continue  # a module that registered itself and is also declared as an entry point
                self._add(entry.name, item, f"{entry.value} (package {dist})")
            self._plugins_loaded = True

    def __getitem__(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise KeyError(unknown_name(self.kind, name, self._items)) from None

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._load_plugins()
        return iter(self._items)

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._items)


def unknown_name(kind: str, name: object, valid: object, *, of: str | None = None) -> str:
    """An error message for an unknown name: what was given, what is valid, the closest match.

    Examples
    --------
    >>> unknown_name("option", "popsiz", ["popsize", "seed"], of="ScipyDifferentialEvolution")
    "unknown option 'popsiz' of ScipyDifferentialEvolution; valid options: 'popsize', 'seed'. Did you mean 'popsize'?"
    """
    names = sorted(valid)
    hint = did_you_mean(name, names)
    shown = ", ".join(repr(n) for n in names[:25]) + (", ..." if len(names) > 25 else "")
    return f"unknown {kind} {name!r}{f' of {of}' if of else ''}; valid {kind}s: {shown}.{hint}"


def did_you_mean(name: object, valid: Iterable[str], *, n: int = 3, first: Iterable[str] = ()) -> str:
    """`` Did you mean 'x' or 'y'?`` for the names in ``valid`` closest to ``name`` ("" when none is
    close); ``first`` are matches to offer before the closest by spelling (the same letters in
    another case, say).

    Examples
    --------
    >>> did_you_mean("popsiz", ["popsize", "seed"])
    " Did you mean 'popsize'?"
    """
    close = list(first) or difflib.get_close_matches(str(name), list(valid), n=n)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
