"""sweepfit inside the scheduler's Dask dashboard: pages in its "More…" menu, metrics on its ``/metrics``.

Two bokeh pages join distributed's own (``distributed.dashboard.scheduler.applications``); their
paths start with ``individual-``, so the dashboard lists them under "More…" and in
``/individual-plots.json``, which dask-labextension offers as JupyterLab panes:

- ``/individual-sweepfit-runs``: the runs of the scheduler's stores with their status;
- ``/individual-sweepfit-progress``: the monitor's figures (:mod:`orchestrator.monitor`), a fit's
  best cost and parameters per generation and its best candidate over the data, a sweep's chunks
  done of total and its map (``?run=<id>`` for one run).

Both read the store only, as ``sweepfit monitor`` does. Prometheus metrics (runs by status, fit
evaluations, sweep chunks, failed solves) are added to the scheduler process's registry, which Dask's
``/metrics`` serves. Nothing listens anywhere new: the dashboard's own server, address and TLS serve
it all. Distributed builds the menu when the dashboard starts, so :func:`install` must run before the
scheduler is made: sweepfit does it for the schedulers it starts (LocalCluster, the detached driver's,
dask-jobqueue's); a scheduler started elsewhere gets it from ``--preload orchestrator.preload``.
Which stores a scheduler shows it learns from each run started on it (:func:`add_store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bokeh.document import Document
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, DataTable, Div, HTMLTemplateFormatter, TableColumn

from elements.core.status import Progress, Status
from orchestrator import monitor
from orchestrator import store as stores

RUNS_PAGE, PROGRESS_PAGE = "/individual-sweepfit-runs", "/individual-sweepfit-progress"
EXTENSION = "sweepfit"  # the scheduler extension that holds the stores
STORED = [s for s in Status if s not in (Status.LOST, Status.STALLED)]  # the others are derived when read
RUN_COLUMNS = ["run_id", "project", "name", "status", "elements", "created"]


class Stores:
    """A scheduler's extension: the store roots whose runs its sweepfit pages and metrics show."""

    def __init__(self) -> None:
        self.roots: list[Path] = []

    def add(self, root: Path) -> None:
        if root not in self.roots:
            self.roots.append(root)


def _stores(scheduler: Any) -> Stores:
    return scheduler.extensions.setdefault(EXTENSION, Stores())


def runs_table(roots: list[Path]) -> dict[str, list]:
    """The runs page's columns: one row per run of the stores, oldest first."""
    rows = [run for root in roots for run in stores.list_runs(root)]
    elements = [run.get("elements", {}).values() for run in rows]
    return {
        "run_id": [run["run_id"] for run in rows],
        "project": [run.get("project") or "" for run in rows],
        "name": [run.get("name") or "" for run in rows],
        "status": [run.get("status", "") for run in rows],
        "elements": [f"{sum(e.get('status') == Status.COMPLETED for e in found)}/{len(found)} completed"
                     for found in elements],
        "created": [(run.get("created") or "")[:19] for run in rows],
    }


def runs_page(scheduler: Any, extra: dict, doc: Document) -> None:
    """The runs of the scheduler's stores with their status; a run id opens its progress page."""
    roots = _stores(scheduler).roots
    source = ColumnDataSource(runs_table(roots), name="sweepfit-runs")
    link = HTMLTemplateFormatter(template=f'<a href="{PROGRESS_PAGE.lstrip("/")}?run=<%= value %>"><%= value %></a>')
    columns = [TableColumn(field="run_id", title="run id", formatter=link),
               *(TableColumn(field=c, title=c) for c in RUN_COLUMNS[1:])]
    table = DataTable(source=source, columns=columns, sizing_mode="stretch_width", height=400, index_position=None)
    doc.title = "sweepfit runs"
    doc.add_root(column(Div(text="<h3>sweepfit runs</h3>"), table, sizing_mode="stretch_width"))

    async def refresh() -> None:
        latest = await asyncio.to_thread(runs_table, roots)  # off the scheduler's event loop
        if latest != source.data:
            source.data = latest

    doc.add_periodic_callback(refresh, monitor.REFRESH_MS)


def progress_page(scheduler: Any, extra: dict, doc: Document) -> None:
    """The monitor's page over the scheduler's stores."""
    monitor.document(doc, roots=lambda: list(_stores(scheduler).roots))


PAGES = {RUNS_PAGE: runs_page, PROGRESS_PAGE: progress_page}


def install() -> None:
    """Give the dashboards of schedulers made in this process from now on sweepfit's pages.

    Examples
    --------
    >>> from orchestrator import dashboard
    >>> dashboard.install()  # before LocalCluster(): distributed builds the menu when it starts
    """
    from distributed.dashboard.scheduler import applications

    applications.update(PAGES)


def serves_pages(scheduler: Any) -> bool:
    """Whether this scheduler's dashboard has sweepfit's pages (it started after :func:`install`)."""
    from bokeh.server.tornado import BokehTornado

    application = getattr(scheduler, "http_application", None)
    return any(isinstance(app, BokehTornado) and RUNS_PAGE in app.app_paths
               for app in getattr(application, "applications", []))


def add_store(dask_scheduler: Any, root: str) -> bool:
    """On the scheduler: show the runs of the store at ``root`` in its pages and metrics.

    Returns False, and changes nothing, on a scheduler whose dashboard has no sweepfit pages.
    """
    if not serves_pages(dask_scheduler):
        return False
    _stores(dask_scheduler).add(Path(root).expanduser().resolve())
    Metrics.serve(_stores(dask_scheduler))
    return True


def _fits_and_sweeps(runs: list[dict[str, Any]]) -> Iterator[tuple[str | None, Progress]]:
    """(element type, progress) of every element that made its own progress (not loaded from a cache)."""
    for run in runs:
        types = {name: e.get("element_type") for name, e in run.get("spec", {}).get("elements", {}).items()}
        for name, element in run.get("elements", {}).items():
            progress = monitor.progress_of(element)
            if progress is not None and not element.get("cached_from"):
                yield types.get(name), progress


class Metrics:
    """Prometheus collector over a scheduler's stores, read at each scrape of ``/metrics``.

    Registered once in the process's registry (the one Dask's ``/metrics`` serves); a later
    scheduler in the same process (tests start several) points it at its own stores, as Dask's
    own collectors do.
    """

    _serving: Metrics | None = None

    def __init__(self, stores_: Stores) -> None:
        self.stores = stores_

    @classmethod
    def serve(cls, stores_: Stores) -> None:
        import prometheus_client

        if cls._serving is None:
            cls._serving = cls(stores_)
            prometheus_client.REGISTRY.register(cls._serving)
        cls._serving.stores = stores_

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        runs = [run for root in self.stores.roots for run in stores.list_runs(root)]
        by_status = GaugeMetricFamily("sweepfit_runs", "Runs in the scheduler's sweepfit stores, by status",
                                      labels=["status"])
        for status in STORED:
            by_status.add_metric([status.value], sum(run.get("status") == status for run in runs))
        yield by_status
        found = list(_fits_and_sweeps(runs))
        yield CounterMetricFamily("sweepfit_fit_evaluations", "Candidates evaluated by the fits of these runs",
                                  value=sum(p.evaluations or 0 for kind, p in found if kind == "data_fit"))
        yield CounterMetricFamily("sweepfit_sweep_chunks", "Sweep chunks solved and stored",
                                  value=sum(p.done for kind, p in found if kind == "sweep"))
        yield CounterMetricFamily("sweepfit_failed_solves", "Solves that failed (infeasible, timed out, errors)",
                                  value=sum(p.failed or 0 for _, p in found))


def register_store(client: Any, root: Path) -> bool:
    """Tell ``client``'s scheduler to show the store at ``root``; whether its dashboard has the pages."""
    return bool(client.run_on_scheduler(add_store, root=str(root)))
