"""Status values and the typed progress and summary records every view renders the same way.

The engine, the store, the CLI, the monitor and ``runs_table`` all use these; the store keeps
their JSON form (``model_dump(mode="json")``), so a record written by one version reads in another.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class Status(str, Enum):
    """Where a run or an element stands."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"  # an unfinished run whose scheduler or driver is gone: nothing will finish it
    STALLED = "stalled"  # a running run whose cluster has had no worker for a while; it fails after a limit
    DAMAGED = "damaged"  # it completed, but files its manifest lists are gone or changed: a rerun recomputes it

    @property
    def finished(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELED, Status.DAMAGED)

    def __str__(self) -> str:
        return self.value


class SolveStatus(str, Enum):
    """What became of one candidate's or one point's solve."""

    OK = "ok"
    TERMINATED = "terminated"  # an event (a voltage cut-off) ended it before the data did
    INFEASIBLE = "infeasible"  # the solver failed, or the solution holds NaN / inf
    TIMEOUT = "timeout"  # over sweepfit.solve.time-limit, or the solver's own step limit
    ERROR = "error"  # the model could not be built or read

    @property
    def failed(self) -> bool:
        return self not in (SolveStatus.OK, SolveStatus.TERMINATED)

    def __str__(self) -> str:
        return self.value


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def fmt(value: float | None) -> str:
    """A cost or metric in four significant figures; ``-`` for none."""
    return "-" if value is None else f"{value:.4g}"


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Progress(Record):
    """How far a running element is: ``done`` of ``total`` ``unit``s, and for fits the best so far.

    ``best_cost`` and ``best_x`` hold one entry per completed step (generation, iteration, start),
    so the monitor draws their history; None stands for a cost that was not finite.
    """

    unit: str
    done: int = 0
    total: int | None = None
    evaluations: int | None = None
    failed: int | None = None  # solves that failed (infeasible, timed out, errors) so far
    eta_s: float | None = None  # estimated seconds left
    parameters: list[str] = []
    best_cost: list[float | None] = []
    best_x: list[list[float]] = []

    _finite = field_validator("best_cost")(lambda cls, v: [_finite(c) for c in v])

    def line(self) -> str:
        """One line for the CLI and the monitor: ``generation 12/100  best 0.0013  (390 evals)``."""
        text = f"{self.unit} {self.done}" + (f"/{self.total}" if self.total is not None else "")
        if self.best_cost:
            text += f"  best {fmt(self.best_cost[-1])}"
        if self.evaluations is not None:
            text += f"  ({self.evaluations} evals)"
        if self.eta_s is not None and self.total is not None and self.done < self.total:
            text += f"  ~{duration(self.eta_s)} left"
        return text


class Summary(Record):
    """What an element produced, for listings: parameter values, cost, metrics, counts."""

    parameters: dict[str, float] = {}  # fitted values
    values: dict[str, float] = {}  # values an element sets (entry, calculation)
    cost: float | None = None
    evaluations: int | None = None
    iterations: int | None = None
    metrics: dict[str, dict[str, Any]] = {}
    counts: dict[str, Any] = {}
    # a fit: whether the optimizer's own convergence criterion was met, else why it stopped (a budget)
    converged: bool | None = None
    stopped: str | None = None
    notes: list[str] = []  # what a reader of the result must know (a refinement that did not improve, ...)

    _finite = field_validator("cost")(lambda cls, v: _finite(v))

    def lines(self) -> list[str]:
        """Lines for the CLI and the monitor, the same everywhere."""
        out = []
        if self.parameters:
            fitted = ", ".join(f"{k} = {v:.4g}" for k, v in self.parameters.items())
            out.append(fitted if self.cost is None and self.evaluations is None else
                       f"cost {fmt(self.cost)}  {fitted}")
        if self.evaluations is not None:
            out.append(f"{self.evaluations} evaluations" + (f", {self.iterations} iterations"
                                                           if self.iterations is not None else ""))
        if self.values:
            out.append(", ".join(f"{k} = {v:.6g}" for k, v in self.values.items()))
        for objective, found in self.metrics.items():
            values = ", ".join(f"{k} {fmt(v)}" for k, v in found.items() if isinstance(v, (int, float)) or v is None)
            status = found.get("status")
            out.append(f"{objective}: {values}" + (f"  ({status})" if status not in (None, "ok") else ""))
        if self.counts:
            out.append(", ".join(f"{k} {v}" for k, v in self.counts.items()))
        if self.converged is not None:
            out.append("converged" if self.converged else f"NOT converged: {self.stopped}")
        out.extend(self.notes)
        return out
