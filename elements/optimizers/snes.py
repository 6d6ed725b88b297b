"""``SNES``: pints' separable natural evolution strategy, one vectorised call per generation."""

from __future__ import annotations

from typing import Literal

from elements.optimizers import OPTIMIZERS
from elements.optimizers._pints import PintsOptimizer


@OPTIMIZERS.register("SNES")
class SNES(PintsOptimizer):
    """sNES (Schaul et al. 2011) from pints, as PyBOP's ``SNES``; options in :class:`PintsOptimizer`.

    Examples
    --------
    >>> SNES(seed=0, sigma0=0.1).sigma0
    0.1
    """

    method = "SNES"
    type: Literal["SNES"] = "SNES"
