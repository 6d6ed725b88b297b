"""``bruggeman``: the tortuosity exponents of the electrodes and of the electrolyte in every region."""

from __future__ import annotations

from typing import Any, Literal

from elements.direct_entries import DIRECT_ENTRIES, LibraryEntry


@DIRECT_ENTRIES.register("bruggeman")
class Bruggeman(LibraryEntry):
    """Bruggeman coefficients: ``electrode`` for the solid phases, ``electrolyte`` for the electrolyte.

    Examples
    --------
    >>> Bruggeman(electrode=1.5, electrolyte=2.0).values()["Separator Bruggeman coefficient (electrolyte)"]
    2.0
    """

    type: Literal["bruggeman"] = "bruggeman"
    electrode: float = 0.0  # ionworks' defaults: no correction of the solid phase, the classic 1.5
    electrolyte: float = 1.5

    def values(self) -> dict[str, Any]:
        found = {f"{side} electrode Bruggeman coefficient ({phase})": getattr(self, phase)
                 for side in ("Negative", "Positive") for phase in ("electrode", "electrolyte")}
        return {**found, "Separator Bruggeman coefficient (electrolyte)": self.electrolyte}
