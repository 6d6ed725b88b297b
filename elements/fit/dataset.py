"""A fit's dataset: every evaluation of every start, the best answer, and how each start ended."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import OptimizeResult

from elements.fit.driver import Fitted
from elements.fit.evaluation import natural
from elements.schema import ParameterSpec


def _padded(rows: list[list], width: int) -> np.ndarray:
    """Rows of unequal length as one float array, NaN after each row's end."""
    out = np.full((len(rows), width, *np.shape(rows[0])[1:]), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def fit_dataset(
    names: tuple[str, ...], params: list[ParameterSpec], fits: list[Fitted], points: np.ndarray | None,
    *, optimizer: str, wall: float, n_chunks: int,
) -> xr.Dataset:
    """Every evaluation of every start, the best answer, and (with several starts) each start's
    start point, end point, cost and termination on a ``start`` dimension."""
    d = len(names)
    costs = np.array([f.result.fun for f in fits], dtype=float)
    # the best point each start evaluated, by the fit's own cost: never worse than where its optimizer ended
    found = np.array([f.best_cost[-1] if f.best_cost else np.inf for f in fits], dtype=float)
    best_start = int(np.argmin(np.where(np.isnan(found), np.inf, found)))
    chosen = fits[best_start]
    best = np.array(chosen.best_x[-1], dtype=float) if chosen.best_x else np.full(d, np.nan)
    evaluations = {k: [v for f in fits for v in getattr(f, k)]
                   for k in ("x", "cost", "generation", "status", "message", "gradient")}
    history: dict[str, tuple] = {
        "best_cost_per_generation": ("generation_index", np.array(chosen.best_cost)),
        "best_x_per_generation": (("generation_index", "parameter"), np.array(chosen.best_x).reshape(-1, d)),
    }
    if len(fits) > 1:
        width = max(len(f.best_cost) for f in fits)
        history = {
            "best_cost_per_generation": (("start", "generation_index"), _padded([f.best_cost for f in fits], width)),
            "best_x_per_generation": (("start", "generation_index", "parameter"),
                                      _padded([f.best_x for f in fits], width)),
            "start_index": ("evaluation", np.repeat(np.arange(len(fits)), [len(f.cost) for f in fits])),
            # end points before start points: readers take the first (start, parameter) variable
            "end_x": (("start", "parameter"), natural(params, [f.result.x for f in fits])),
            "end_cost": ("start", costs),
            "start_x": (("start", "parameter"), natural(params, points)),
            "start_success": ("start", np.array([bool(f.result.success) for f in fits])),
            "start_message": ("start", np.array([str(f.result.message) for f in fits], dtype=object)),
            "start_nit": ("start", np.array([int(f.result.nit) for f in fits])),
            "start_nfev": ("start", np.array([len(f.cost) for f in fits])),
            "start_wall_s": ("start", np.array([f.wall_s for f in fits])),
        }
    posterior = _posterior(params, chosen.result) if "chains" in chosen.result else {}
    return xr.Dataset(
        {
            **posterior,
            "x": (("evaluation", "parameter"), np.array(evaluations["x"]).reshape(-1, d)),
            "cost": ("evaluation", np.array(evaluations["cost"])),
            "generation": ("evaluation", np.array(evaluations["generation"], dtype=int)),
            "status": ("evaluation", np.array(evaluations["status"], dtype=object)),
            "message": ("evaluation", np.array(evaluations["message"], dtype=object)),
            "gradient": (("evaluation", "parameter"), np.array(evaluations["gradient"], dtype=float).reshape(-1, d),
                         {"note": "per unit of the search value (a decade where transform: log10); "
                                  "NaN where the optimizer took no gradient at this evaluation"}),
            "best_x": ("parameter", best),
            "best_cost": float(found[best_start]),
            "optimizer_cost": ((), float(chosen.result.fun),
                               {"long_name": "the cost where the optimizer ended (best_cost: the best it evaluated)"}),
            **history,
            "lower_bound": ("parameter", [p.bounds[0] for p in params]),
            "upper_bound": ("parameter", [p.bounds[1] for p in params]),
        },
        coords={"parameter": list(names), **({"start": np.arange(len(fits))} if len(fits) > 1 else {})},
        attrs={
            "optimizer": optimizer,
            "message": str(chosen.result.message),
            "success": bool(chosen.result.success),
            "converged": bool(chosen.result.success),
            "nfev": len(evaluations["cost"]),
            "nit": int(chosen.result.nit),
            "multistarts": len(fits),
            **({"best_start": best_start} if len(fits) > 1 else {}),
            "chunks_per_generation": int(n_chunks),
            "wall_s": wall,
        },
    )


def _posterior(params: list[ParameterSpec], result: OptimizeResult) -> dict[str, tuple]:
    """A sampler's chains in the parameters' own units, and the posterior's summaries after burn-in."""
    chains = result.chains
    steps, walkers, d = chains.samples.shape
    samples = natural(params, chains.samples.reshape(-1, d)).reshape(steps, walkers, d)
    kept = samples[chains.burnin:].reshape(-1, d)
    return {
        "chain": (("step", "walker", "parameter"), samples),
        "chain_log_posterior": (("step", "walker"), chains.log_posterior),
        "posterior_mean": ("parameter", kept.mean(axis=0)),
        "posterior_sd": ("parameter", kept.std(axis=0, ddof=1)),
        "posterior_lower": ("parameter", np.quantile(kept, 0.025, axis=0), {"long_name": "2.5 % quantile"}),
        "posterior_upper": ("parameter", np.quantile(kept, 0.975, axis=0), {"long_name": "97.5 % quantile"}),
        "rhat": ("parameter", result.rhat, {"long_name": "rank-normalised split R-hat (ArviZ)"}),
        "ess": ("parameter", result.ess, {"long_name": "bulk effective sample size (ArviZ)"}),
        "burnin": ((), chains.burnin),
        "acceptance": ((), chains.acceptance),
    }
