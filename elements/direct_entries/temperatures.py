"""``temperatures``: one temperature for the ambient, the initial state and the reference."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from elements.direct_entries import DIRECT_ENTRIES, LibraryEntry


@DIRECT_ENTRIES.register("temperatures")
class Temperatures(LibraryEntry):
    """A cell held at ``T`` [K] throughout.

    Examples
    --------
    >>> Temperatures(T=298.15).values()["Initial temperature [K]"]
    298.15
    """

    type: Literal["temperatures"] = "temperatures"
    T: float = Field(298.15, gt=0, description="temperature [K]")  # noqa: N815 - ionworks' argument name

    def values(self) -> dict[str, Any]:
        return dict.fromkeys(("Ambient temperature [K]", "Initial temperature [K]", "Reference temperature [K]"), self.T)
