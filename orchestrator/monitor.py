"""A live page of a store's runs, served by bokeh (``sweepfit monitor``).

Everything shown comes from the runs' records in the store (elements' typed ``Progress``), so the
page works for any cluster — local, a remote scheduler, Slurm — as long as it can read the store.
A fit shows its best cost and best parameters per step and its best candidate against the data; a
sweep its chunks done and the map of its first summary filling in; every element its status and
progress line, as ``sweepfit status`` prints them.
Open ``/monitor?run=<id>`` for one run.
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from bokeh.document import Document
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from elements.core import config
from elements.core.status import Progress, Status
from orchestrator import live
from orchestrator import store as stores

COST_COLOR = "#d62728"  # the best-cost curve: one distinctive colour, easy to find in a screenshot
REFRESH_MS = 1000
RECENT = 3  # finished runs shown besides the unfinished ones


def _runs(root: Path, run_id: str | None) -> list[dict[str, Any]]:
    if run_id:
        try:
            path = stores.run_path(run_id, root)
        except ValueError:
            return []
        runs = [{**stores.read_attrs(path), "path": str(path)}]
    else:
        found = stores.list_runs(root)
        runs = [r for r in found if not Status(r["status"]).finished] + [
            r for r in found if Status(r["status"]).finished][-RECENT:]
    for run in runs:
        _live(run)
    return runs


def _live(run: dict[str, Any]) -> None:
    """Attach what the live figures draw: a fit's preview, a sweep's map."""
    path = Path(run["path"])
    specs = run.get("spec", {}).get("elements", {})
    for name, element in run.get("elements", {}).items():
        if element.get("status") == Status.PENDING:
            continue
        element["preview"] = stores.read_preview(path, name)
        if specs.get(name, {}).get("element_type") == "sweep":
            progress = progress_of(element)
            element["sweep_map"] = _sweep_map(str(path), name, progress.done if progress else 0)


@lru_cache(maxsize=32)
def _sweep_map(path: str, name: str, done: int) -> dict[str, Any] | None:
    # Read again only when more chunks are done: the page refreshes every second.
    return live.sweep_map_data(Path(path), name)


def progress_of(element: dict[str, Any]) -> Progress | None:
    found = element.get("progress")
    return Progress.model_validate(found) if found else None


def _fit_data(progress: Progress) -> tuple[dict[str, list], dict[str, list]]:
    costs = [math.nan if c is None else c for c in progress.best_cost]
    steps = list(range(len(costs)))
    cost = {"generation": steps, "best_cost": costs}
    params: dict[str, list] = {"generation": steps[: len(progress.best_x)]}
    for i, _ in enumerate(progress.parameters):
        params[f"p{i}"] = [x[i] for x in progress.best_x]
    return cost, params


def _line(element: dict[str, Any]) -> str:
    progress = progress_of(element)
    return f"{element.get('status')}" + (f"  {progress.line()}" if progress else "")


def _element_panel(run_id: str, name: str, element: dict[str, Any], sources: dict[str, Any]) -> Any:
    progress = progress_of(element)
    key = f"{run_id}:{name}"
    header = Div(text=f"<b>{name}</b>: {_line(element)}", name=f"status:{run_id}:{name}")
    sources[f"status:{run_id}:{name}"] = header
    if progress is not None and progress.best_cost:
        cost, params = _fit_data(progress)
        cost_source = ColumnDataSource(cost, name=f"best_cost:{run_id}:{name}")
        param_source = ColumnDataSource(params, name=f"best_x:{run_id}:{name}")
        sources[f"best_cost:{run_id}:{name}"] = cost_source
        sources[f"best_x:{run_id}:{name}"] = param_source
        costs = [c for c in cost["best_cost"] if c == c]
        cost_fig = figure(title=f"best cost per {progress.unit}", height=320, width=420, x_axis_label=progress.unit,
                          y_axis_type="log" if costs and min(costs) > 0 else "linear")
        cost_fig.line("generation", "best_cost", source=cost_source, color=COST_COLOR, line_width=3)
        cost_fig.scatter("generation", "best_cost", source=cost_source, color=COST_COLOR, size=5)
        values = [v for k, col in params.items() if k != "generation" for v in col]
        param_fig = figure(title=f"best parameters per {progress.unit}", height=320, width=520,
                           x_axis_label=progress.unit, y_axis_type="log" if values and min(values) > 0 else "linear")
        for i, label in enumerate(progress.parameters):
            param_fig.line("generation", f"p{i}", source=param_source, color=Category10_10[i % 10],
                           line_width=2, legend_label=label)
        if param_fig.legend:
            param_fig.legend.label_text_font_size = "8pt"
            param_fig.add_layout(param_fig.legend[0], "below")  # beside the lines, not over them
        previews = live.preview_figures(key, element.get("preview", {}), sources)
        return column(header, row(cost_fig, param_fig), *(row(previews[i:i + 2]) for i in range(0, len(previews), 2)))
    if progress is not None and progress.total is not None:
        done_source = ColumnDataSource({"y": [0], "done": [progress.done], "total": [progress.total]},
                                       name=f"done:{run_id}:{name}")
        sources[f"done:{run_id}:{name}"] = done_source
        bar = figure(title=f"{progress.unit} done / total", height=90, width=420,
                     x_range=(0, max(1, progress.total)), toolbar_location=None, y_axis_type=None)
        bar.hbar(y="y", left=0, right="total", height=0.6, source=done_source, color="#dddddd")
        bar.hbar(y="y", left=0, right="done", height=0.6, source=done_source, color="#2ca02c")
        if element.get("sweep_map") is not None:
            return column(header, bar, live.sweep_map(key, element["sweep_map"], sources))
        return column(header, bar)
    return header


def _title(run: dict[str, Any]) -> str:
    label = " · ".join(str(x) for x in (run["run_id"], run.get("project"), run.get("name")) if x)
    return f"<h3>run {label}: {run.get('status')}</h3>"


def _layout(runs: list[dict[str, Any]], sources: dict[str, Any]) -> list[Any]:
    """The page's panels: each run's title, then one panel per element (kept as ``panel:<run>:<element>``)."""
    panels: list[Any] = []
    if not runs:
        panels.append(Div(text="<i>no runs in this store yet</i>"))
    for run in runs:
        panels.append(Div(text=_title(run), name=f"run:{run['run_id']}"))
        sources[f"run:{run['run_id']}"] = panels[-1]
        for name, element in run.get("elements", {}).items():
            panels.append(_element_panel(run["run_id"], name, element, sources))
            sources[f"panel:{run['run_id']}:{name}"] = panels[-1]
    return panels


def _outline(runs: list[dict[str, Any]]) -> list[tuple]:
    return [(r["run_id"], tuple(r.get("elements", {}))) for r in runs]


def _kind(element: dict[str, Any]) -> tuple:
    """What decides an element's panel: which kind of progress it has and what its figures draw."""
    progress = progress_of(element)
    drawn = (len(live.preview_data(element.get("preview", {}))), element.get("sweep_map") is not None)
    return drawn if progress is None else (bool(progress.best_cost), progress.total is not None, *drawn)


def _kinds(runs: list[dict[str, Any]]) -> dict[str, tuple]:
    return {f"{r['run_id']}:{n}": _kind(e) for r in runs for n, e in r.get("elements", {}).items()}


def _forget(key: str, sources: dict[str, Any]) -> None:
    """Drop the models of one element's panel (``<what>:<run>:<element>[:<i>]``)."""
    for found in [k for k in sources if k.split(":", 1)[1] == key or k.split(":", 1)[1].startswith(f"{key}:")]:
        del sources[found]


def _header(roots: list[Path]) -> str:
    where = ", ".join(str(root) for root in roots) or "no store yet: runs started on this cluster show here"
    return f"<h2>sweepfit monitor</h2><small>{where}</small>"


def document(doc: Document, *, roots: Callable[[], list[Path]]) -> None:
    """Build one browser session's page and keep it fresh from the stores ``roots()`` names.

    ``roots`` is asked at every refresh: a scheduler's dashboard learns stores as runs start.
    """
    args = doc.session_context.request.arguments if doc.session_context else {}
    run_id = args["run"][0].decode() if args.get("run") else None
    doc.title = "sweepfit monitor"
    sources: dict[str, Any] = {}

    def found() -> list[dict[str, Any]]:
        return [run for root in roots() for run in _runs(root, run_id)]

    runs = found()
    outline, kinds = _outline(runs), _kinds(runs)
    page = column(_layout(runs, sources), name="page")
    header = Div(text=_header(roots()))
    doc.add_root(column(header, page))

    shown: dict[str, int | None] = {}  # the preview step each fit's figures show

    async def refresh() -> None:
        nonlocal outline, kinds
        # Read the store in a thread: inside a Dask dashboard this event loop is the scheduler's.
        latest = await asyncio.to_thread(found)
        header.text = _header(roots())
        if _outline(latest) != outline:  # other runs: a new page
            outline, kinds = _outline(latest), _kinds(latest)
            sources.clear()
            shown.clear()
            page.children = _layout(latest, sources)
            return
        children, replaced = list(page.children), False
        for run in latest:
            sources[f"run:{run['run_id']}"].text = _title(run)
            for name, element in run.get("elements", {}).items():
                key = f"{run['run_id']}:{name}"
                if _kind(element) != kinds[key]:
                    # A new panel for this element only: the others keep their figures (and the reader's zoom).
                    kinds[key] = _kind(element)
                    at = children.index(sources[f"panel:{key}"])
                    _forget(key, sources)
                    shown.pop(key, None)
                    shown.pop(f"sweep:{key}", None)
                    children[at] = sources[f"panel:{key}"] = _element_panel(run["run_id"], name, element, sources)
                    replaced = True
                progress = progress_of(element)
                sources[f"status:{key}"].text = f"<b>{name}</b>: {_line(element)}"
                if progress is None:
                    continue
                if f"best_cost:{key}" in sources:
                    cost, params = _fit_data(progress)
                    if len(cost["best_cost"]) != len(sources[f"best_cost:{key}"].data["best_cost"]):
                        sources[f"best_cost:{key}"].data = cost
                        sources[f"best_x:{key}"].data = params
                if f"done:{key}" in sources:
                    sources[f"done:{key}"].data = {"y": [0], "done": [progress.done], "total": [progress.total]}
                preview = element.get("preview", {})
                if preview.get("step") != shown.get(key):
                    shown[key] = preview.get("step")
                    live.update_previews(key, preview, sources)
                if progress.done != shown.get(f"sweep:{key}"):
                    shown[f"sweep:{key}"] = progress.done
                    live.update_sweep_map(key, element.get("sweep_map"), sources)
        if replaced:
            page.children = children

    doc.add_periodic_callback(refresh, REFRESH_MS)


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def serve(*, store: str | Path | None = None, port: int | None = None, address: str = "127.0.0.1") -> None:
    """Serve the monitor at ``http://<address>:<port>/monitor`` until interrupted.

    Examples
    --------
    >>> serve(store="sweepfit-runs", port=5006)  # doctest: +SKIP
    """
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import Server

    root = stores.root(store)
    port = config.get("monitor.port", port)
    app = Application(FunctionHandler(partial(document, roots=lambda: [root])))
    origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    server = Server({"/monitor": app}, port=port, address=address, allow_websocket_origin=origins)
    server.start()
    print(f"sweepfit monitor for {root}: http://{address}:{port}/monitor", flush=True)
    server.io_loop.start()
