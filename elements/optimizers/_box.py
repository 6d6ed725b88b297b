"""The unit box that CMA-ES, the pints methods and scipy's local methods search.

Each parameter's search bounds map to [0, 1], so ``sigma0`` or a finite-difference ``step`` is a
fraction of that parameter's range whatever its units or transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult

from elements.core.problem import Vectorised


@dataclass(frozen=True)
class UnitBox:
    lower: np.ndarray
    width: np.ndarray

    @classmethod
    def of(cls, bounds: list[tuple[float, float]]) -> UnitBox:
        lower, upper = np.asarray(bounds, dtype=float).T
        return cls(lower, upper - lower)

    @property
    def dim(self) -> int:
        return len(self.lower)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=float) - self.lower) / self.width

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        return self.lower + np.asarray(u, dtype=float) * self.width

    def start(self, x0: np.ndarray | None) -> np.ndarray:
        """``x0`` in unit coordinates, or the centre; kept below 1 because pints' boundaries
        exclude the upper bound."""
        u0 = np.full(self.dim, 0.5) if x0 is None else self.to_unit(x0)
        return np.clip(u0, 0.0, np.nextafter(1.0, 0.0))

    def wrap(self, objective: Vectorised) -> Vectorised:
        """The objective in unit coordinates; clipping removes round-off outside the box."""
        return lambda U: objective(self.from_unit(np.clip(np.atleast_2d(U), 0.0, 1.0)))

    def result(self, u: np.ndarray, fun: float, *, nit: int, nfev: int, success: bool, message: str) -> OptimizeResult:
        """The answer in search-space coordinates."""
        return OptimizeResult(x=self.from_unit(u), fun=float(fun), nit=int(nit), nfev=int(nfev),
                              success=bool(success), message=message)
