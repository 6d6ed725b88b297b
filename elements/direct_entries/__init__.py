"""ionworks' direct-entry library by name: each entry is one module in this package.

An entry is a pydantic model (its arguments) registered in :data:`DIRECT_ENTRIES` under the name
ionworks-schema writes, ``{"name": "arrhenius_butler_volmer_exchange_current_density", "electrode":
"negative"}``. :meth:`LibraryEntry.values` gives the values it sets (functions in PyBaMM's serialised
form, see :mod:`elements.values`) and :attr:`LibraryEntry.introduces` the parameters those functions
refer to that no parameter set defines, so that later elements may set or fit them. Every module
here is imported on start-up; other packages add entries through the ``sweepfit.direct_entries``
entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Literal

from elements.core.registry import Registry
from elements.schema import Kind

Electrode = Literal["negative", "positive"]


class LibraryEntry(Kind):
    """The arguments of one library entry; :meth:`values` are what it sets."""

    def values(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def introduces(self) -> tuple[str, ...]:
        """Parameters the values refer to that a parameter set does not define (to be set or fitted)."""
        return ()


DIRECT_ENTRIES: Registry[type[LibraryEntry]] = Registry("direct-entry function", group="sweepfit.direct_entries")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DIRECT_ENTRIES", "Electrode", "LibraryEntry"]
