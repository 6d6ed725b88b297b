"""Objectives: measured data and how to simulate it. Each kind is one module in this package.

A kind is a pydantic model (its options) registered in :data:`OBJECTIVES` under the name users
write as ``type``; :meth:`ObjectiveKind.build` turns it into worker-side :class:`Objective`
instances, one per measured data set. Every module in this package is imported on start-up, so
dropping a module here adds a kind; other packages add kinds through the ``sweepfit.objectives``
entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from pydantic import Field

from elements.core.problem import GRADIENT, missing
from elements.core.registry import Registry
from elements.costs import COSTS, Cost
from elements.engine import Outcome
from elements.schema import Kind, kind_of


@dataclass
class Gradient:
    """One row's outcome, the objective's cost of it (before the objective's weight) and d cost / d x
    in the parameters' own units; with ``residuals``, the residual vector r and its Jacobian dr/dx,
    scaled so that ``sum(r**2)`` is the weighted mean squared residual. A failed solve has cost inf
    and NaN derivatives."""

    outcome: Outcome
    cost: float
    gradient: np.ndarray
    residuals: np.ndarray | None = None
    jacobian: np.ndarray | None = None


class Objective:
    """Worker side: one measured data set and its model, evaluated for rows of parameter values.

    Subclasses ship to workers (keep them small and picklable) and implement :meth:`solve`,
    :meth:`cost` and :meth:`traces`; those that can differentiate their cost set ``has_gradient``
    and implement :meth:`value_and_grad`.
    """

    name: str
    weight: float
    has_gradient: bool = False

    def solve(self, X: np.ndarray) -> list[Outcome]:
        """One outcome per row of ``X`` (natural units, one column per fitted parameter)."""
        raise NotImplementedError

    def cost(self, outcome: Outcome, cost: Cost | None = None) -> float:
        """The objective's cost of one outcome (or another cost's); inf when it failed."""
        raise NotImplementedError

    def traces(self, outcome: Outcome) -> xr.Dataset:
        """Model against data, for the store and the figures."""
        raise NotImplementedError

    def value_and_grad(self, X: np.ndarray, *, residuals: bool = False) -> list[Gradient]:
        """One :class:`Gradient` per row of ``X`` (natural units), from one solve with sensitivities."""
        raise TypeError(missing({self.name: frozenset()})[GRADIENT])

    def least_squares(self) -> Any:
        """This objective as a least-squares problem (residuals with a Jacobian) for ``LevenbergMarquardt``,
        or None (the default): see :class:`elements.optimizers.levenberg_marquardt.LeastSquares`."""
        return None


class ObjectiveKind(Kind):
    """Spec side: the options of one kind of objective, as written in a pipeline.

    ``provides`` names what its objectives give a fit problem besides costs (``"gradient"``,
    ``"residuals"``, ``"least_squares"``), so an optimizer that needs more is a spec error.
    ``default_optimizer`` is the optimizer a fit of only this kind uses when it names none (as
    ionworks does for its MSMR fits); None leaves the fit's own default.
    """

    provides: ClassVar[frozenset[str]] = frozenset()
    default_optimizer: ClassVar[str | None] = None

    weight: float = Field(1.0, gt=0)
    cost: kind_of(COSTS) | None = Field(None, description="this objective's own cost, in place of the fit's")

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, float], cost: Cost, base_dir: Path
    ) -> list[Objective]:
        """The worker-side objectives (a ``folder:`` source gives one per file)."""
        raise NotImplementedError

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        """``{source: sha256}`` of every data set it reads; reading checks them."""
        return {}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        """Messages for fitted parameter names this objective's model cannot take."""
        return []

    def unknown_knots(self, names: list[str], tables: dict[str, tuple[int, ...] | None]) -> list[str]:
        """Messages for fitted knots of tables (``"R0 [Ohm] knot 3"``) this objective's model cannot take,
        ``tables`` being those earlier elements pass on with their shapes (None: known when it runs)."""
        return self.unknown_parameters(names)

    def implausible(self, name: str, base_dir: Path) -> list[str]:
        """Warnings, before anything is solved, about data the model cannot follow (the run goes on)."""
        return []


OBJECTIVES: Registry[type[ObjectiveKind]] = Registry("objective")


# ionworks-schema objectives whose data it leaves undefined, with what to write instead
UNDEFINED = {
    "CalendarAgeing": "ionworks-schema 0.33 defines its options (model, modes, simulation_kwargs) but not its data: "
                      "no columns, and no storage time, state of charge or temperature to simulate. For storage at "
                      "rest, write a CycleAgeing whose cycles are rests ({'cycles': [[{'type': 'rest', 'duration': "
                      "'720 hours'}], ...]}) with data 'Cycle number' and 'LLI [%]'",
}


def legacy(value: dict[str, Any]) -> dict[str, Any]:
    """Accept ``{"objective": NAME, ...}`` and ``{"type": NAME, "options": {...}}`` alike."""
    value = dict(value)
    if "objective" in value:
        value.setdefault("type", value.pop("objective"))
    if value.get("type") in UNDEFINED:
        raise ValueError(f"objective {value['type']!r} is not supported: {UNDEFINED[value['type']]}")
    options = value.pop("options", None)
    if isinstance(options, dict):
        value = {**options, **value}
    elif options is not None:
        raise ValueError("options must be a dict of objective options such as 'model'")
    return value


def ionworks_fit(fit: dict[str, Any]) -> dict[str, Any]:
    """A fit as ionworks writes it, read: a number in ``parameters`` is a value every objective holds
    fixed (ionworks' ``{"Ambient temperature [K]": 298.15}`` beside the fitted ones), and a fit
    naming no optimizer takes its objectives' ``default_optimizer`` where they agree on one."""
    fit = dict(fit)
    objectives = fit.get("objectives")
    if not isinstance(objectives, dict):
        return fit
    parameters = fit.get("parameters")
    fixed = {k: v for k, v in parameters.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} \
        if isinstance(parameters, dict) else {}
    if fixed:
        fit["parameters"] = {k: v for k, v in parameters.items() if k not in fixed}
        fit["objectives"] = objectives = {
            name: {**o, "parameters": {**fixed, **_own(o.get("options"), "parameters"), **_own(o, "parameters")}}
            if isinstance(o, dict) else o for name, o in objectives.items()}
    kinds = {o.get("type", o.get("objective")) if isinstance(o, dict) else None for o in objectives.values()}
    defaults = {OBJECTIVES[k].default_optimizer if k in OBJECTIVES else None for k in kinds}
    if fit.get("optimizer") is None and len(defaults) == 1 and None not in defaults:
        fit["optimizer"] = {"type": defaults.pop()}
    return fit


def _own(mapping: Any, key: str) -> dict[str, Any]:
    found = mapping.get(key) if isinstance(mapping, dict) else None
    return found if isinstance(found, dict) else {}


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OBJECTIVES", "UNDEFINED", "Gradient", "Objective", "ObjectiveKind", "ionworks_fit", "legacy"]
