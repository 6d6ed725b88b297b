"""``Pulse``: current pulses and their relaxations (GITT, HPPC), each simulated from its own rest."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from elements.core.data import Measurement
from elements.objectives import OBJECTIVES
from elements.objectives.current_driven import FROM_DATA, CurrentDriven
from elements.pulses import chosen_pulses, split_pulses


@OBJECTIVES.register("Pulse")
class Pulse(CurrentDriven):
    """A pulse test, cut into its pulses, each one objective started from the rest before it.

    After the data's own windows (``steps``, ``time_range``, ...), a pulse is a run of samples whose
    ``|Current [A]|`` reaches ``rest_current``, with the relaxation after it up to the next pulse.
    Each starts at the last rest sample before its current flows, so its first voltage is
    open-circuit and ``initial_state: "from data"`` (the default here) puts every pulse at its own
    state of charge; a long GITT test becomes short solves, and an error in the state of charge
    between pulses does not accumulate. ``pulses`` picks some (0-based, in time order); each
    becomes the objective ``<name>/<file> pulse <i>``. The voltage of the pulse and of its
    relaxation is compared: the jump when current starts and stops carries the resistances, the
    slow part and the relaxation the solid diffusivities.

    Examples
    --------
    >>> Pulse(data="file:gitt.csv", pulses=[0, 5, 10], parameter_set="Chen2020").initial_state
    'from data'
    """

    type: Literal["Pulse"] = "Pulse"  # type: ignore[assignment]
    initial_state: float | str | None = FROM_DATA
    pulses: list[int] | None = None
    rest_current: float = Field(1e-3, gt=0, description="below this |current| [A] the cell rests")

    def measurements(self, name: str, base_dir: Path) -> list[Measurement]:
        found = []
        for m in super().measurements(name, base_dir):
            pieces = split_pulses(m, rest_current=self.rest_current)
            chosen = chosen_pulses(f"objective {name!r}", m, len(pieces), self.pulses, self.rest_current)
            found.extend(pieces[i] for i in chosen)
        return found


__all__ = ["Pulse"]
