"""``XNES``: pints' exponential natural evolution strategy, one vectorised call per generation."""

from __future__ import annotations

from typing import Literal

from elements.optimizers import OPTIMIZERS
from elements.optimizers._pints import PintsOptimizer


@OPTIMIZERS.register("XNES")
class XNES(PintsOptimizer):
    """xNES (Glasmachers et al. 2010) from pints, as PyBOP's ``XNES``; options in :class:`PintsOptimizer`.

    Examples
    --------
    >>> XNES(seed=0, popsize=12).max_unchanged_iterations
    15
    """

    method = "XNES"
    type: Literal["XNES"] = "XNES"
