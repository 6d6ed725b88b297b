"""``PSO``: pints' particle swarm, one vectorised call per generation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from elements.optimizers import OPTIMIZERS
from elements.optimizers._pints import PintsOptimizer


@OPTIMIZERS.register("PSO")
class PSO(PintsOptimizer):
    """Particle swarm optimisation from pints, as PyBOP's ``PSO``; options in :class:`PintsOptimizer`,
    plus ``local_global_balance`` (pints' ``r``: 1 searches around each particle's own best only,
    0 around the swarm's best only).

    Examples
    --------
    >>> PSO(seed=0, local_global_balance=0.3).local_global_balance
    0.3
    """

    method = "PSO"
    type: Literal["PSO"] = "PSO"
    local_global_balance: float = Field(0.5, ge=0, le=1)

    def configure(self, optimiser: Any) -> None:
        optimiser.set_local_global_balance(self.local_global_balance)
