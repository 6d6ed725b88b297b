"""``EIS``: an impedance spectrum and the equivalent circuit fitted to it (impedance.py's circuit strings).

Data have three columns, ``Frequency [Hz]``, ``Z_real [Ohm]`` and ``Z_imag [Ohm]`` (``Z = Z_real +
j Z_imag``: a capacitive arc has ``Z_imag < 0``). A header-less file such as impedance.py's example
names them with ``columns``, in the file's order::

    data: {source: file:eis.csv, columns: [Frequency [Hz], Z_real [Ohm], Z_imag [Ohm]]}

The fitted parameters are the circuit's own names (``R0``, ``CPE1_0``, ``CPE1_1``, ...); every other
parameter of the circuit takes its value from the objective's ``parameters`` or from upstream
elements (an ``entry``), so a ``validation`` checks the values fitted upstream.

The cost is the weighted sum of squared residuals of the real and imaginary parts,
``sum_k (w'_k (Z'_model - Z'_data))^2 + (w''_k (Z''_model - Z''_data))^2``, with ``w = 1`` (``unit``),
``w' = 1/|Z'_data|`` and ``w'' = 1/|Z''_data|`` (``proportional``), or ``w = 1/|Z_data|``
(``modulus``, impedance.py's ``weight_by_modulus``): twice what :func:`elements.eis.fit.fit` minimises,
so every optimizer minimises the same function and ``LevenbergMarquardt`` solves it directly. The
fit element's ``cost:`` does not apply to EIS objectives; a validation's RMSE, MAE and Max are taken
over the unweighted residuals, in Ohm.

JAX is imported on first use (a spec is validated, an objective built), not when sweepfit starts;
its 64-bit mode is switched on then (see :mod:`elements.eis.circuits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

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
from elements.objectives.current_driven import label

if TYPE_CHECKING:
    from elements.eis.fit import FitResult

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


@dataclass(frozen=True, eq=False)
class Spectrum(Objective):
    """Worker side: one measured spectrum against the circuit at rows of the fitted parameters."""

    name: str
    circuit: str
    names: tuple[str, ...]  # the fitted parameters: the columns of X
    held: tuple[tuple[str, float], ...]  # every other circuit parameter's value
    frequency: np.ndarray
    impedance: np.ndarray  # complex, measured
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
            attrs={"status": str(outcome.status), "message": outcome.message, "circuit": self.circuit,
                   "weighting": self.weighting, "source": self.source},
        )

    def least_squares(self) -> CircuitProblem:
        return CircuitProblem(self.circuit, self.names, self.held, self.frequency, self.impedance, self.weighting)


def _stacked(z: np.ndarray) -> np.ndarray:
    return np.concatenate([z.real, z.imag])


@OBJECTIVES.register("EIS")
class EIS(ObjectiveKind):
    """An impedance spectrum (or a folder of them, one objective per file) and its equivalent circuit.

    ``frequency_range: [f0, f1]`` keeps the points with ``f0 <= f <= f1``; ``drop_positive_imag``
    keeps only those with ``Z_imag < 0``, as impedance.py's ``ignoreBelowX`` (inductive points of
    the cables that a circuit without an inductor cannot follow). ``parameters`` holds circuit
    parameters at values for this objective.

    Examples
    --------
    >>> EIS(circuit="R0-p(R1,C1)", data="file:eis.csv").unknown_parameters(["R0", "R2"])
    ["unknown parameter 'R2' of circuit 'R0-p(R1,C1)'; valid parameters: 'C1', 'R0', 'R1'."]
    """

    provides: ClassVar[frozenset[str]] = frozenset({"least_squares"})  # a circuit's residuals, fitted in JAX
    type: Literal["EIS"] = "EIS"
    circuit: str = Field(description="impedance.py's circuit string, such as R0-p(R1,C1)-p(R2-Wo1,C2)")
    data: DataInput
    parameters: dict[str, float] = Field(default_factory=dict, description="circuit parameters held at values")
    weighting: Literal["unit", "proportional", "modulus"] = "unit"
    frequency_range: tuple[float, float] | None = None
    drop_positive_imag: bool = False

    @model_validator(mode="before")
    @classmethod
    def _ionworks(cls, value: Any) -> Any:
        """ionworks-schema's EIS names its model in ``options.model``: here that is a circuit string."""
        if not isinstance(value, dict) or "model" not in value:
            return value
        value = dict(value)
        model = value.pop("model")
        if not isinstance(model, str):
            raise ValueError(f"model {model.get('type') if isinstance(model, dict) else model!r}: sweepfit's EIS fits "
                             f"an equivalent circuit, not a PyBaMM model's impedance; give options={{'model': "
                             f"'R0-p(R1,C1)'}} (an impedance.py circuit string) or circuit: ...")
        value.setdefault("circuit", model)
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
    def _circuit(cls, string: str) -> str:
        from elements.eis.circuits import parse

        return parse(string).string

    @field_validator("frequency_range")
    @classmethod
    def _range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError(f"frequency_range must be [f0, f1] with 0 <= f0 < f1 [Hz], got {list(value)}")
        return value

    @model_validator(mode="after")
    def _known_held(self) -> EIS:
        problems = self.unknown_parameters(list(self.parameters))
        if problems:
            raise ValueError("parameters: " + "; ".join(problems))
        return self

    def unknown_parameters(self, names: list[str]) -> list[str]:
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
    ) -> list[Spectrum]:
        from elements.eis.circuits import parse

        known = parse(self.circuit).parameter_names
        unknown = self.unknown_parameters(list(inputs))
        if unknown:
            raise ValueError(f"objective {name!r}: " + "; ".join(unknown))
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
        found = self.measurements(name, base_dir)
        objectives = []
        for m in found:
            f, z = self.spectrum(m)
            objectives.append(Spectrum(
                name=label(name, found, m), circuit=self.circuit, names=tuple(inputs),
                held=tuple(sorted(held.items())), frequency=f, impedance=z, weighting=self.weighting,
                weight=self.weight, source=m.source,
            ))
        return objectives


__all__ = ["EIS", "FREQUENCY", "SPECTRUM", "Z_IMAG", "Z_REAL", "CircuitProblem", "Spectrum"]
