"""Runs as rows: the table a modeller groups and plots, read from the store's run attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
import xarray as xr

from elements.core.status import Summary
from orchestrator import store as stores

RUN_COLUMNS = ["run_id", "project", "name", "created", "finished", "status", "cost", "solves", "cached"]
ELEMENT_COLUMNS = ["run_id", "project", "name", "created", "status", "element", "element_type",
                   "element_status", "started", "finished", "cost", "solves", "cached_from", "cache_key"]


def runs_table(
    store: str | Path | None = None,
    *,
    per: Literal["run", "element"] = "run",
    project: str | None = None,
    status: str | None = None,
) -> pd.DataFrame:
    """One row per run (or per element) with fitted parameters, final cost and validation metrics.

    Columns: ``run_id, project, name, created, finished, status, cost, solves, cached``, then one
    column per fitted parameter and one per validation metric (``"<objective> <metric>"``, e.g.
    ``"1C RMSE"``). ``cost`` is the last fit's final cost; ``cached`` counts elements loaded from
    earlier runs. With ``per="element"`` each element is a row with its own ``element``,
    ``element_type``, ``element_status``, ``started``, ``cached_from`` and ``cache_key``.

    Parameters
    ----------
    store : path, optional
        The store root; ``sweepfit.store`` by default.
    per : {"run", "element"}
    project, status : str, optional
        Keep only runs of this project / in this status.

    Examples
    --------
    >>> df = runs_table(project="cell-A")  # doctest: +SKIP
    >>> df.groupby("status")["Negative particle diffusivity [m2.s-1]"].agg(["mean", "std"])  # doctest: +SKIP
    """
    if per not in ("run", "element"):
        raise ValueError(f"per must be 'run' or 'element', got {per!r}")
    runs = stores.list_runs(store, project=project, status=status)
    rows = [row for run in runs for row in (_element_rows(run) if per == "element" else [_run_row(run)])]
    base = RUN_COLUMNS if per == "run" else ELEMENT_COLUMNS
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in base]
    frame = frame.reindex(columns=base + extra)
    for column in ("created", "finished", "started"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def combine_runs(
    element: str,
    store: str | Path | None = None,
    *,
    by: Literal["coords", "run"] = "coords",
    project: str | None = None,
    status: str | None = "completed",
) -> xr.Dataset:
    """One element's results from every matching run, as one dataset.

    ``by="coords"`` joins runs that cover different coordinates (a sweep grid split over runs,
    extended later) with ``xr.combine_by_coords``; ``by="run"`` stacks runs of the same
    coordinates along a new ``run_id`` dimension with ``xr.concat``. Per-run bookkeeping on the
    ``chunk`` dimension is dropped, and attributes that differ between runs are left out.

    Examples
    --------
    >>> grid = combine_runs("rate sweep", project="cell-A")  # doctest: +SKIP
    >>> grid["final_voltage"].plot()  # doctest: +SKIP
    """
    if by not in ("coords", "run"):
        raise ValueError(f"by must be 'coords' or 'run', got {by!r}")
    runs = [r for r in stores.list_runs(store, project=project, status=status) if element in r.get("elements", {})]
    if not runs:
        raise ValueError(f"no {status or ''} run with an element {element!r} in {stores.root(store)}"
                         + (f" for project {project!r}" if project else ""))
    parts = []
    for run in runs:
        ds = xr.open_datatree(run["path"], engine="zarr")[element].to_dataset()
        ds = ds.drop_dims("chunk") if "chunk" in ds.dims else ds
        # numpy's StringDType has no missing value to pad with when runs cover different points.
        parts.append(ds.assign({k: v.astype(object) for k, v in ds.data_vars.items() if v.dtype.kind == "T"}))
    if by == "run":
        ids = pd.Index([r["run_id"] for r in runs], name="run_id")
        return xr.concat(parts, dim=ids, data_vars="all", coords="different", compat="equals",
                         join="outer", combine_attrs="drop_conflicts")
    return xr.combine_by_coords(parts, data_vars="all", coords="different", compat="no_conflicts",
                                join="outer", combine_attrs="drop_conflicts")


def _results(element: dict[str, Any]) -> dict[str, Any]:
    """Fitted parameters, final cost and validation metrics out of one element's summary."""
    summary = Summary.model_validate(element.get("summary") or {})
    found: dict[str, Any] = {}
    if summary.cost is not None or summary.evaluations is not None:
        found["cost"] = summary.cost
    found.update(summary.parameters)
    for objective, metrics in summary.metrics.items():
        found.update({f"{objective} {m}": v for m, v in metrics.items() if m not in ("status", "message")})
    return found


def _common(run: dict[str, Any]) -> dict[str, Any]:
    return {k: run.get(k) for k in ("run_id", "project", "name", "created", "status")}


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    row = {**_common(run), "finished": run.get("finished")}
    elements = run.get("elements", {}).values()
    for element in elements:  # in pipeline order: later elements' values win
        row.update(_results(element))
    row["solves"] = sum(e.get("solves") or 0 for e in elements)
    row["cached"] = sum(1 for e in elements if e.get("cached_from"))
    return row


def _element_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    types = {name: spec.get("element_type") for name, spec in run.get("spec", {}).get("elements", {}).items()}
    rows = []
    for name, element in run.get("elements", {}).items():
        cached = element.get("cached_from")
        rows.append({
            **_common(run), "element": name, "element_type": types.get(name),
            "element_status": element.get("status"), "started": element.get("started"),
            "finished": element.get("finished"), "solves": element.get("solves"),
            "cached_from": cached["run_id"] if cached else None, "cache_key": element.get("cache_key"),
            **_results(element),
        })
    return rows
