"""``EIS``: an impedance spectrum and the equivalent circuit (impedance.py's circuit strings) or PyBaMM
model (:mod:`elements.eis.physics`) fitted to it.

Data have three columns, ``Frequency [Hz]``, ``Z_real [Ohm]`` and ``Z_imag [Ohm]`` (``Z = Z_real +
j Z_imag``: a capacitive arc has ``Z_imag < 0``). A header-less file such as impedance.py's example
names them with ``columns``, in the file's order::

    data: {source: file:eis.csv, columns: [Frequency [Hz], Z_real [Ohm], Z_imag [Ohm]]}

The fitted parameters are the circuit's own names (``R0``, ``CPE1_0``, ``CPE1_1``, ...); every other
parameter of the circuit takes its value from the objective's ``parameters`` or from upstream
elements (an ``entry``), so a ``validation`` checks the values fitted upstream. With a model, the
fitted parameters are the parameter set's, as in a ``CurrentDriven`` objective.

The cost is the weighted sum of squared residuals of the real and imaginary parts,
``sum_k (w'_k (Z'_model - Z'_data))^2 + (w''_k (Z''_model - Z''_data))^2``, with ``w = 1`` (``unit``),
``w' = 1/|Z'_data|`` and ``w'' = 1/|Z''_data|`` (``proportional``), or ``w = 1/|Z_data|``
(``modulus``, impedance.py's ``weight_by_modulus``): twice what :func:`elements.eis.fit.fit` minimises,
so every optimizer minimises the same function and ``LevenbergMarquardt`` solves it directly (a
circuit's; a model gives costs only, for the population and derivative-free optimizers). The
fit element's ``cost:`` does not apply to EIS objectives; a validation's RMSE, MAE and Max are taken
over the unweighted residuals, in Ohm.

JAX is imported on first use (a spec is validated, an objective built), not when sweepfit starts;
its 64-bit mode is switched on then (see :mod:`elements.eis.circuits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field, field_validator, model_validator

from elements import engine
from elements.core.data import (
    DataError,
    DataInput,
    Measurement,
    load_measurements,
)
from elements.core.registry import unknown_name
from elements.costs import Cost
from elements.objectives import OBJECTIVES, Objective, ObjectiveKind
from elements.models import MODELS, unknown_parameters
from elements.objectives.current_driven import label
from elements.schema import ModelSpec, ParameterSetName
from elements.values import SOC_SCALES

if TYPE_CHECKING:
    from elements.eis.fit import FitResult
    from elements.eis.physics import EISSetup

FREQUENCY, Z_REAL, Z_IMAG = "Frequency [Hz]", "Z_real [Ohm]", "Z_imag [Ohm]"
SPECTRUM = (FREQUENCY, Z_REAL, Z_IMAG)


@dataclass(frozen=True, eq=False)
class CircuitProblem:
    """One spectrum's least-squares problem, as :func:`elements.eis.fit.fit` takes it (a ``LeastSquares``)."""

    circuit: str
    names: tuple[str, ...]
    held: tuple[tuple[str, float], ...]
    frequency: np.ndarray
    impedance: np.ndarray
    weighting: str

    @property
    def batch(self) -> tuple:
        return self.circuit, self.names, self.held, self.weighting, self.frequency.tobytes()

    def sample(self, n: int, *, lower: np.ndarray, upper: np.ndarray, seed: int) -> np.ndarray:
        from elements.eis.circuits import fitted_circuit
        from elements.eis.fit import random_parameters

        circuit = fitted_circuit(self.circuit, self.names, self.held)
        return random_parameters(circuit, n, bounds=(lower, upper), seed=seed, latin_hypercube=True)

    def fit_batch(
        self, problems: Sequence[CircuitProblem], starts: np.ndarray, *, lower: np.ndarray, upper: np.ndarray,
        max_iterations: int, ftol: float, xtol: float,
    ) -> FitResult:
        from elements.eis.circuits import fitted_circuit
        from elements.eis.fit import fit

        if any(p.batch != self.batch for p in problems):
            raise ValueError("a batch of EIS problems needs one circuit, one set of frequencies and one weighting")
        result = fit(
            fitted_circuit(self.circuit, self.names, self.held), self.frequency,
            np.stack([p.impedance for p in problems]), np.asarray(starts, dtype=float)[None],
            bounds=(lower, upper), weighting=self.weighting, max_iterations=max_iterations, ftol=ftol, xtol=xtol,
        )
        # eis_fit's cost is half the sum of squares (as scipy's least_squares); the objective's is the sum
        return replace(result, cost=2 * result.cost, start_cost=2 * result.start_cost)


class Measured(Objective):
    """A measured spectrum's cost and traces, whatever gives the model's impedance."""

    frequency: np.ndarray
    impedance: np.ndarray  # complex, measured
    weighting: str
    source: str

    def describe(self) -> dict[str, str]:
        """What gave the model's impedance, for the traces' attributes."""
        raise NotImplementedError

    def cost(self, outcome: engine.Outcome, cost: Cost | None = None) -> float:
        if outcome.value is None:
            return float("inf")
        if cost is not None:  # a validation's metrics: unweighted, in Ohm
            return cost(_stacked(outcome.value), _stacked(self.impedance))
        from elements.eis.fit import residual_weights

        w_real, w_imag = residual_weights(self.impedance, self.weighting)
        residual = outcome.value - self.impedance
        return float(np.sum((w_real * residual.real) ** 2) + np.sum((w_imag * residual.imag) ** 2))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        model = outcome.value if outcome.value is not None else np.full_like(self.impedance, np.nan)
        return xr.Dataset(
            {"Z_real": ("frequency", self.impedance.real), "Z_imag": ("frequency", self.impedance.imag),
             "Z_real_fit": ("frequency", model.real), "Z_imag_fit": ("frequency", model.imag)},
            coords={"frequency": self.frequency},
            attrs={"status": str(outcome.status), "message": outcome.message, **self.describe(),
                   "weighting": self.weighting, "source": self.source},
        )


@dataclass(frozen=True, eq=False)
class Spectrum(Measured):
    """Worker side: one measured spectrum against the circuit at rows of the fitted parameters."""

    name: str
    circuit: str
    names: tuple[str, ...]  # the fitted parameters: the columns of X
    held: tuple[tuple[str, float], ...]  # every other circuit parameter's value
    frequency: np.ndarray
    impedance: np.ndarray
    weighting: str = "unit"
    weight: float = 1.0
    source: str = ""

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        from elements.eis.circuits import fitted_circuit

        X = np.atleast_2d(np.asarray(X, dtype=float))
        z = np.asarray(fitted_circuit(self.circuit, self.names, self.held).impedance(X, self.frequency))
        finite = np.isfinite(z).all(axis=1)
        return [engine.Outcome(row) if ok else engine.failed("the circuit's impedance is not finite at these values")
                for row, ok in zip(z, finite, strict=True)]

    def describe(self) -> dict[str, str]:
        return {"circuit": self.circuit}

    def least_squares(self) -> CircuitProblem:
        return CircuitProblem(self.circuit, self.names, self.held, self.frequency, self.impedance, self.weighting)


@dataclass(frozen=True, eq=False)
class ModelSpectrum(Measured):
    """Worker side: one measured spectrum against a PyBaMM model's impedance (``EISSimulation``); the
    candidates of a chunk share one simulation built per worker process."""

    name: str
    setup: EISSetup
    frequency: np.ndarray
    impedance: np.ndarray
    weighting: str = "unit"
    weight: float = 1.0
    source: str = ""

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        from elements.eis.physics import impedance

        return impedance(self.setup, X, self.frequency)

    def describe(self) -> dict[str, str]:
        return {"model": self.setup.model, "parameter_set": self.setup.parameter_set}


def _stacked(z: np.ndarray) -> np.ndarray:
    return np.concatenate([z.real, z.imag])


@OBJECTIVES.register("EIS")
class EIS(ObjectiveKind):
    """An impedance spectrum (or a folder of them, one objective per file) and its equivalent circuit
    or PyBaMM model.

    With ``circuit`` the fitted parameters are the circuit's own. With ``model`` (``SPM``, ``SPMe``,
    ``DFN`` and their options) they are any of ``parameter_set``'s, factors on its functions
    included, and the model's impedance is PyBaMM's frequency-domain ``EISSimulation`` about the
    rest state at ``initial_soc`` (else the parameter set's initial concentrations, or an
    ``Initial SOC`` from ``parameters`` or upstream). The method needs a double layer: a
    ``surface form`` of ``"false"`` (the default) becomes ``"differential"``. ``var_pts`` sets the
    mesh (ionworks' ``simulation_kwargs: {var_pts: ...}``).

    ``frequency_range: [f0, f1]`` keeps the points with ``f0 <= f <= f1``; ``drop_positive_imag``
    keeps only those with ``Z_imag < 0``, as impedance.py's ``ignoreBelowX`` (inductive points of
    the cables that neither a circuit without an inductor nor a cell model follows). ``parameters``
    holds parameters at values for this objective.

    Examples
    --------
    >>> EIS(circuit="R0-p(R1,C1)", data="file:eis.csv").unknown_parameters(["R0", "R2"])
    ["unknown parameter 'R2' of circuit 'R0-p(R1,C1)'; valid parameters: 'C1', 'R0', 'R1'."]
    >>> EIS(model={"type": "SPMe"}, data="file:eis.csv").model.options
    {'surface form': 'differential'}
    """

    type: Literal["EIS"] = "EIS"
    circuit: str | None = Field(None, description="impedance.py's circuit string, such as R0-p(R1,C1)-p(R2-Wo1,C2)")
    model: ModelSpec | None = Field(None, description="a PyBaMM model whose impedance is fitted, in place of a circuit")
    parameter_set: ParameterSetName = "Chen2020"
    initial_soc: float | None = Field(None, ge=0, le=1, description="the state of charge the model rests at")
    var_pts: dict[str, int] = Field(default_factory=dict, description="the model's mesh points, as PyBaMM's var_pts")
    data: DataInput
    parameters: dict[str, float] = Field(default_factory=dict, description="parameters held at values")
    weighting: Literal["unit", "proportional", "modulus"] = "unit"
    frequency_range: tuple[float, float] | None = None
    drop_positive_imag: bool = False

    @property
    def provides(self) -> frozenset[str]:  # type: ignore[override]
        # a circuit's residuals are fitted in JAX; a model's impedance gives costs only
        return frozenset({"least_squares"}) if self.circuit is not None else frozenset()

    @model_validator(mode="before")
    @classmethod
    def _ionworks(cls, value: Any) -> Any:
        """ionworks-schema's EIS names a circuit string or a PyBaMM model in ``options.model`` and the
        mesh in ``options.simulation_kwargs``."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        model = value.get("model")
        if isinstance(model, str) and model not in MODELS:
            value.setdefault("circuit", value.pop("model"))
        kwargs = dict(value.pop("simulation_kwargs", None) or {})
        unsupported = sorted({"geometry", "submesh_types", "spatial_methods"} & set(kwargs))
        if unsupported:
            raise ValueError(f"simulation_kwargs {unsupported}: sweepfit sets the mesh by var_pts only; remove them")
        if "var_pts" in kwargs:  # the time-domain keys of a shared simulation_kwargs do not apply, as in ionworks
            value.setdefault("var_pts", kwargs["var_pts"])
        return value

    @field_validator("cost")
    @classmethod
    def _own_cost(cls, cost: Any) -> Any:
        if cost is not None:
            raise ValueError("an EIS objective's cost is its weighted sum of squared residuals (see `weighting`: "
                             "unit, proportional or modulus); remove `cost` from this objective")
        return cost

    @field_validator("circuit")
    @classmethod
    def _circuit(cls, string: str | None) -> str | None:
        from elements.eis.circuits import parse

        return None if string is None else parse(string).string

    @field_validator("model")
    @classmethod
    def _surface_form(cls, model: ModelSpec | None) -> ModelSpec | None:
        from elements.eis.physics import with_surface_form

        return None if model is None else model.model_copy(update={"options": with_surface_form(model.options)})

    @field_validator("frequency_range")
    @classmethod
    def _range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError(f"frequency_range must be [f0, f1] with 0 <= f0 < f1 [Hz], got {list(value)}")
        return value

    @model_validator(mode="after")
    def _one_model(self) -> EIS:
        if (self.circuit is None) == (self.model is None):
            raise ValueError("give an EIS objective either circuit: (an impedance.py string such as R0-p(R1,C1)) or "
                             f"model: (a PyBaMM model, one of {sorted(MODELS)}), not {'both' if self.circuit else 'neither'}")
        if self.circuit is not None and (self.initial_soc is not None or self.var_pts):
            raise ValueError("initial_soc and var_pts apply to a model's impedance; remove them from a circuit fit")
        problems = self.unknown_parameters(list(self.parameters))
        if problems:
            raise ValueError("parameters: " + "; ".join(problems))
        return self

    def unknown_parameters(self, names: list[str]) -> list[str]:
        if self.model is not None:
            return unknown_parameters(self.parameter_set, names)
        from elements.eis.circuits import parse

        known = parse(self.circuit).parameter_names
        return [unknown_name("parameter", n, known, of=f"circuit {self.circuit!r}") for n in names if n not in known]

    def measurements(self, name: str, base_dir: Path) -> list[Measurement]:
        return load_measurements(self.data, base_dir=base_dir, required=SPECTRUM)

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(name, base_dir)}

    def spectrum(self, m: Measurement) -> tuple[np.ndarray, np.ndarray]:
        """A measurement's frequencies and complex impedance, within ``frequency_range`` and ``drop_positive_imag``."""
        f = m.frame[FREQUENCY].to_numpy(dtype=float)
        z = m.frame[Z_REAL].to_numpy(dtype=float) + 1j * m.frame[Z_IMAG].to_numpy(dtype=float)
        bad = ~(np.isfinite(f) & (f > 0))
        if bad.any():
            raise DataError(f"{m.source}: column {FREQUENCY!r} must be finite and positive; row {int(np.argmax(bad))} "
                            f"holds {f[bad][0]!r}. Drop such rows from the file")
        keep = np.ones(len(f), dtype=bool)
        if self.frequency_range is not None:
            keep &= (f >= self.frequency_range[0]) & (f <= self.frequency_range[1])
        if self.drop_positive_imag:
            keep &= z.imag < 0
        if keep.sum() == 0:
            raise DataError(f"{m.source}: no points left after frequency_range={self.frequency_range}, "
                            f"drop_positive_imag={self.drop_positive_imag}")
        return f[keep], z[keep]

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, float], cost: Cost, base_dir: Path
    ) -> list[Spectrum] | list[ModelSpectrum]:
        # a model's names were checked with the spec, beside those an entry upstream introduces
        unknown = self.unknown_parameters(list(inputs)) if self.circuit is not None else []
        if unknown:
            raise ValueError(f"objective {name!r}: " + "; ".join(unknown))
        found = self.measurements(name, base_dir)
        spectra = [(label(name, found, m), m, *self.spectrum(m)) for m in found]
        if self.model is not None:
            setup = self.setup(inputs, existing)
            return [ModelSpectrum(name=n, setup=setup, frequency=f, impedance=z, weighting=self.weighting,
                                  weight=self.weight, source=m.source) for n, m, f, z in spectra]
        held = tuple(sorted(self.held(name, inputs, existing).items()))
        return [Spectrum(name=n, circuit=self.circuit, names=tuple(inputs), held=held, frequency=f, impedance=z,
                         weighting=self.weighting, weight=self.weight, source=m.source) for n, m, f, z in spectra]

    def setup(self, inputs: tuple[str, ...], existing: dict[str, float]) -> EISSetup:
        """The model's impedance simulation: values from upstream, then the objective's own, then its SOC."""
        from elements.eis.physics import EISSetup

        fixed = {**existing, **self.parameters}
        if self.initial_soc is not None:
            fixed = {k: v for k, v in fixed.items() if k not in SOC_SCALES}
            fixed["Initial SOC"] = self.initial_soc
        fixed = {k: v for k, v in fixed.items() if k not in inputs}
        return EISSetup(model=self.model.type, model_options=dict(self.model.options), parameter_set=self.parameter_set,
                        fixed=fixed, inputs=tuple(inputs), var_pts=dict(self.var_pts))

    def held(self, name: str, inputs: tuple[str, ...], existing: dict[str, float]) -> dict[str, float]:
        """Every circuit parameter that is not fitted, at its value (upstream, then the objective's own)."""
        from elements.eis.circuits import parse

        known = parse(self.circuit).parameter_names
        held = {k: float(v) for k, v in existing.items() if k in known}
        held.update(self.parameters)
        held = {k: v for k, v in held.items() if k not in inputs}
        missing = [n for n in known if n not in inputs and n not in held]
        if missing:
            raise ValueError(
                f"objective {name!r}: circuit {self.circuit!r} parameter(s) {', '.join(missing)} have no value; fit "
                "them (the element's parameters), hold them in the objective's parameters, or set them upstream "
                "(an entry element's values)"
            )
        return held


__all__ = ["EIS", "FREQUENCY", "SPECTRUM", "Z_IMAG", "Z_REAL", "CircuitProblem", "Measured", "ModelSpectrum", "Spectrum"]
