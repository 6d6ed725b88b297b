"""`data_fit`: fit parameters to measured data; each population fans out in chunks over the cluster.

The element in four modules of :mod:`elements.fit`: the spec (:mod:`~elements.fit.spec`), the
worker-side evaluation (:mod:`~elements.fit.evaluation`), the driver that runs an optimizer on the
fit problem, with its journal and multistarts (:mod:`~elements.fit.driver`), and the dataset
(:mod:`~elements.fit.dataset`). This module runs the element and says how the fit ended: the best
point it evaluated, whether it converged, what its reader must know (:func:`notes`), or that it failed.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import numpy as np
import xarray as xr

from elements.core import config
from elements.core.problem import RESIDUALS
from elements.core.status import Progress, Summary
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.fit.dataset import fit_dataset
from elements.fit.driver import Fitted, chunk_count, failures, multistart, offer, open_journal, optimize
from elements.fit.evaluation import build
from elements.fit.spec import DataFitSpec, inputs
from elements.preview import Preview
from elements.priors import PriorTerm
from elements.values import with_knots


def run(spec: DataFitSpec, ctx: Context) -> Result:
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    objectives = build(spec, names, ctx)
    priors = {i: p for i, n in enumerate(names) if (p := spec.prior_of(n)) is not None}
    terms = [*objectives, PriorTerm(priors, names)] if priors else objectives  # what the cost sums
    transport = config.get("fit.transport")
    if transport not in ("tasks", "actors"):
        raise ValueError(f"sweepfit.fit.transport is {transport!r}; valid: 'actors' (the default) or 'tasks'")
    shared = ctx.fan.with_state is not None and transport == "actors" and spec.multistarts == 1
    n_chunks = chunk_count(spec.chunks, ctx.fan.workers, evaluators=shared)
    x0 = spec.starts(names, ctx.parameters)

    preview = Preview(ctx.run.preview)

    def report(f: Fitted) -> None:
        ctx.run.report(Progress(unit="generation", done=len(f.best_cost), evaluations=len(f.cost), failed=failures(f),
                            total=spec.optimizer.budget(), parameters=list(names), best_cost=f.best_cost, best_x=f.best_x))
        offer(preview, objectives, f, len(f.best_cost))

    started = time.perf_counter()
    journal = open_journal(spec, ctx)
    try:
        if spec.multistarts == 1:
            optimizer = spec.optimizer
            if "seed" in type(optimizer).model_fields:  # an unseeded fit records the seed it drew, for resume
                optimizer = optimizer.model_copy(update={"seed": journal.seeded(optimizer.seed)})
            # the objectives shipped once, to one evaluator per worker
            evaluators = ctx.fan.with_state(terms) if shared else None
            fits, points = [optimize(optimizer, terms, params, None if x0 is None else x0[0], mapper=ctx.fan.map,
                                     n_chunks=n_chunks, check_canceled=ctx.run.check_canceled, report=report,
                                     journal=journal, evaluators=evaluators)], None
        else:
            fits, points = multistart(spec, ctx, terms, params, x0, preview, journal)
            n_chunks = 1
    finally:
        journal.close()
    preview.flush()
    wall = time.perf_counter() - started
    ds = fit_dataset(names, params, fits, points, optimizer=spec.optimizer.type, wall=wall, n_chunks=n_chunks)
    if journal.seed is not None:  # the optimizer's, or with multistarts the initial guess sampler's
        ds.attrs["seed"] = journal.seed
    failed(ds)
    best = ds["best_x"].values
    fitted = dict(zip(names, map(float, best)))
    found_cost = float(ds["best_cost"])

    datasets = {"": ds}
    for o in objectives:
        outcome = o.solve(best[None, :])[0]
        traces = o.traces(outcome)
        traces.attrs["cost"] = o.cost(outcome)
        datasets[f"traces/{o.name}"] = traces
    posterior = {n: {"mean": float(ds["posterior_mean"][i]), "sd": float(ds["posterior_sd"][i]),
                     "2.5%": float(ds["posterior_lower"][i]), "97.5%": float(ds["posterior_upper"][i]),
                     "R-hat": float(ds["rhat"][i]), "ESS": float(ds["ess"][i])}
                 for i, n in enumerate(names)} if "chain" in ds else {}
    return Result(
        parameters=with_knots({**ctx.parameters, **fitted}),  # fitted knots in the tables passed on
        datasets=datasets,
        summary=Summary(parameters=fitted, cost=found_cost, evaluations=int(ds.attrs["nfev"]), metrics=posterior,
                        iterations=sum(int(f.result.nit) for f in fits), converged=bool(ds.attrs["converged"]),
                        stopped=None if ds.attrs["converged"] else str(ds.attrs["message"]), notes=notes(spec, ds)),
    )


class FitFailed(RuntimeError):
    """Every candidate of a fit failed to solve: there is no fitted value to report."""


def failed(ds: xr.Dataset) -> None:
    """A FitFailed naming the most common reason, when no evaluation of the fit solved."""
    if np.isfinite(ds["cost"].values).any():
        return
    # PyBaMM names each candidate's inputs in its message: the reason is what comes before them
    reasons = Counter(re.sub(r" with inputs \{.*", "", str(m).split(": ", 1)[-1]) or str(s)
                      for m, s in zip(ds["message"].values, ds["status"].values))
    reason, count = reasons.most_common(1)[0]
    raise FitFailed(f"all {ds.sizes['evaluation']} evaluations failed; {count} of them: {reason}. Check the data's "
                    "current and the parameters' bounds against the model")


def notes(spec: DataFitSpec, ds: xr.Dataset) -> list[str]:
    """What a reader of a fit's result must know: a refinement that ended worse than a point it
    evaluated, most evaluations failing, least squares on a cost it does not minimise."""
    found: list[str] = []
    best, end = float(ds["best_cost"]), float(ds["optimizer_cost"])
    if not end - best <= 1e-9 * max(1.0, abs(best)):  # NaN too: an optimizer that ended nowhere
        at = int(np.argmin(np.where(np.isfinite(ds["cost"].values), ds["cost"].values, np.inf)))
        where = "its start" if at == 0 else f"evaluation {at}"
        found.append(f"{spec.optimizer.type} ended at cost {end:.6g}, worse than {where} (cost {best:.6g}): the best "
                     "point it evaluated is reported")
    n, bad = ds.sizes["evaluation"], int((~np.isfinite(ds["cost"].values)).sum())
    if bad > n / 2:
        found.append(f"{bad} of {n} evaluations failed to solve (their reasons are in the dataset's message)")
    if RESIDUALS in spec.optimizer.needs() and not least_squares_is_the_cost(spec):
        found.append(f"{spec.optimizer.type} minimises the objectives' stacked squared residuals, which is not "
                     f"the fit's {spec.cost.type} over {len(spec.objectives)} objective(s) with these variables: its "
                     "result is the best point by the fit's cost among those it evaluated; use cost MSE to make "
                     "them one")
    return found


def least_squares_is_the_cost(spec: DataFitSpec) -> bool:
    """Whether the stacked residuals' sum of squares (each variable's mean square, weighted) has the fit's
    cost's minimum: always for MSE; for RMSE and SSE with one objective of one variable."""
    costs = {(kind.cost or spec.cost).type for kind in spec.objectives.values()}
    if costs == {"MSE"}:
        return True
    one = len(spec.objectives) == 1 and all(len(getattr(k, "variables", None) or [None]) == 1
                                            for k in spec.objectives.values())
    return one and costs <= {"RMSE", "SSE"}


ELEMENTS.register("data_fit", ElementType(DataFitSpec, run, inputs))
