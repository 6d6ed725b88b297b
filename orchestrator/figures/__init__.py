"""Figures of a run's results, made from the store alone (matplotlib, Agg canvas, no display).

Each figure function takes an xarray Dataset or DataTree node and returns a matplotlib Figure;
:func:`element_figures` picks an element's figures from its ``element_type`` and :func:`plot`
writes them to files (``sweepfit plot``).
"""

from orchestrator.figures.eis import bode, nyquist
from orchestrator.figures.fit import cost_history, multistart, overlay, parameter_history
from orchestrator.figures.per_element import FIGURES, element_figures, plot, slug
from orchestrator.figures.sweep import curve_family, summary_map
from orchestrator.figures.uncertainty import (
    correlation, indices, intervals, posterior, profiles, second_order, sobol_figures,
)

__all__ = ["FIGURES", "bode", "correlation", "cost_history", "curve_family", "element_figures", "indices", "intervals",
           "multistart", "nyquist", "overlay", "parameter_history", "plot", "posterior", "profiles", "second_order", "slug",
           "sobol_figures", "summary_map"]
