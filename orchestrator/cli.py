"""The `sweepfit` command line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from elements.core.status import Status, Summary
from orchestrator.bars import element_line

app = typer.Typer(help="Fit and sweep PyBaMM models on a Dask cluster.", no_args_is_help=True)
# soft_wrap: long lines are not broken at 80 columns when piped, so a log greps whole names.
console = Console(stderr=True, soft_wrap=True)

StoreOption = Annotated[Optional[Path], typer.Option("--store", help="Store root (default ./sweepfit-runs).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
ClusterOption = Annotated[Optional[str], typer.Option(
    "--cluster", help="local (default), a scheduler address (tcp://host:8786), slurm, pbs, or a profile name.")]
ProfilesOption = Annotated[Optional[Path], typer.Option(
    "--profiles", help="YAML file of cluster profiles (sweepfit: {clusters: {NAME: {type: ...}}}).")]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Recompute elements that already completed in the store.")]
ResumeOption = Annotated[Optional[str], typer.Option(
    "--resume", help="Go on with this run (same pipeline): finished elements, fit generations and sweep chunks are kept.")]


def _run_info(run_id: str, store: Path | None) -> dict[str, Any]:
    """The run's status (see orchestrator.get), or exit 2 naming what is wrong."""
    from orchestrator import runner

    try:
        return runner.get(run_id, store=store)
    except ValueError as exc:
        _fail(exc)


# Exit codes of `sweepfit run` (the README lists them): 2 is also every command's code for bad input.
COMPLETED, DID_NOT_COMPLETE, INVALID, UNRECORDED = 0, 1, 2, 3


def _error(text: str) -> None:
    # escape: messages name columns and parameters such as "Time [s]", which rich would read as markup.
    console.print(f"[red]error:[/red] {escape(text)}", markup=True, highlight=False, emoji=False)


def _fail(exc: Exception, *, run_id: str | None = None, code: int = INVALID) -> None:
    _error(str(exc) + (f" (run {run_id} is marked failed)" if run_id else ""))
    raise typer.Exit(code)


def _warn(text: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {escape(text)}", markup=True, highlight=False, emoji=False)


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    elements = {
        name: {k: e.get(k) for k in ("status", "summary", "error", "damaged", "recomputed") if e.get(k) is not None}
        for name, e in info["elements"].items()
    }
    keep = ("run_id", "project", "status", "path", "error")
    return {**{k: info.get(k) for k in keep if info.get(k) is not None}, "store": str(Path(info["path"]).parent.parent), "elements": elements}


def _print_run(info: dict[str, Any]) -> None:
    console.print(escape(f"run {info['run_id']}: {info['status']}  ({info['path']})"), highlight=False)
    if info.get("error"):
        console.print(f"  [red]{escape(info['error'])}[/red]", highlight=False)
    for name, element in info["elements"].items():
        lines = [f"  {name}: {element['status']}"]
        lines += [f"    {line}" for line in Summary.model_validate(element.get("summary") or {}).lines()]
        if element.get("cached_from"):
            lines.append(f"    loaded from run {element['cached_from']['run_id']}, not recomputed")
        lines += [f"    recomputed: {element['recomputed']}"] if element.get("recomputed") else []
        console.print(escape("\n".join(lines)), highlight=False)
        for problem in (element.get("damaged"), element.get("error")):
            if problem:
                console.print(f"    [red]{escape(problem)}[/red]", highlight=False)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML or JSON file.")],
    store: StoreOption = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes.")] = None,
    cluster: ClusterOption = None,
    profiles: ProfilesOption = None,
    as_json: JsonOption = False,
    no_cache: NoCacheOption = False,
    resume: ResumeOption = None,
) -> None:
    """Run a pipeline to the end on a Dask cluster, showing progress: the warm cluster when
    `sweepfit cluster up` started one, else a new local one (closed at the end).

    Elements that already completed in any run of the store are loaded, not recomputed.
    """
    import clusters
    from orchestrator import lifecycle
    from orchestrator import store as stores
    from orchestrator.bars import RunBars

    overrides = {"n_workers": workers} if workers else {}
    connecting = None
    try:
        _load_profiles(profiles)
        cluster = cluster or (None if workers else _warm_if_up())
        clusters.profiles.kind(cluster, **overrides)  # a bad --cluster fails before the run exists
        connecting = lifecycle.connect_early(pipeline, cluster, store_root=store)
        prepared = lifecycle.prepare(pipeline, store_root=store, force=no_cache, resume=resume)
    except (ValueError, FileNotFoundError) as exc:
        lifecycle.discard(connecting)
        _fail(exc)
    for warning in prepared.warnings:
        _warn(warning)
    sent: list[Any] = []

    def started(client: Any) -> None:
        sent.append(client)
        console.print(f"run {prepared.run_id} -> {prepared.path}", highlight=False)
        _print_links(stores.read_attrs(prepared.path), prepared.run_id, prepared.path)

    with RunBars(console, disable=as_json) as bars:
        try:
            with _distributed_logs_to(prepared.path.with_suffix(".log")):
                info = lifecycle.execute(prepared, cluster=cluster, connecting=connecting, on_start=started,
                                         on_progress=bars.show, **overrides)
        except lifecycle.Unrecorded as exc:
            _unrecorded(exc, prepared.run_id, prepared.path)
        except Exception as exc:
            if sent:  # not sweepfit's handling of a failure, but a fault in it: one line, the traceback in a log
                _fail(RuntimeError(f"{type(exc).__name__}: {exc} (traceback {_log_traceback(prepared.path)})"),
                      code=DID_NOT_COMPLETE)
            _fail(exc, run_id=prepared.run_id)  # the cluster did not start: nothing ran, the run records why
    info = {**info, "path": str(prepared.path)}
    if as_json:
        typer.echo(json.dumps(_summary(info), indent=2))
    else:
        _print_run(info)
    raise typer.Exit(COMPLETED if info["status"] == Status.COMPLETED else DID_NOT_COMPLETE)


def _warm_if_up() -> str | None:
    """``"warm"`` when `sweepfit cluster up` has a cluster running here (said on the terminal) and no other
    default cluster is configured, else None."""
    from clusters import warm
    from elements.core import config

    found = warm.find() if config.get("cluster.default") == "local" else None
    if found is None:
        return None
    console.print(f"cluster: the warm cluster at {found.address} (`sweepfit cluster down` stops it; "
                  "--cluster local starts a new one)", highlight=False)
    return "warm"


@contextlib.contextmanager
def _distributed_logs_to(log: Path) -> Iterator[None]:
    """Send this process's distributed log lines (a lost scheduler's reconnect tracebacks: failures
    that sweepfit handles and reports in one line) to the run's log instead of the terminal."""
    handler = logging.FileHandler(log, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    handler.handleError = lambda record: None  # a full disk loses the log line, not the run's message
    # dask's logging config gives "distributed" and some of its children (distributed.client) handlers of their own
    names = [n for n in ["distributed", *logging.root.manager.loggerDict] if n.split(".")[0] == "distributed"]
    loggers = [logger for logger in map(logging.getLogger, dict.fromkeys(names)) if logger.handlers]
    saved = [logger.handlers for logger in loggers]
    for logger in loggers:
        logger.handlers = [handler]
    try:
        yield
    finally:
        for logger, handlers in zip(loggers, saved, strict=True):
            logger.handlers = handlers
        handler.close()


def _log_traceback(path: Path) -> str:
    """Append the exception being handled to the run's log (beside the run); where it went."""
    import traceback

    log = path.with_suffix(".log")
    try:
        with open(log, "a") as out:
            out.write(traceback.format_exc())
    except OSError as exc:
        return f"not kept: {log}: {exc.strerror or exc}"
    return f"in {log}"


def _unrecorded(exc: Any, run_id: str, path: Path) -> None:
    """A run that could not record its own end: say so, and how `status` reads it now its cluster is closed."""
    from orchestrator import runner

    info = runner.get(str(path))
    why = info.get("lost") or info.get("error")
    _error(f"{exc}; `sweepfit status {run_id}` reads {info['status']}" + (f" ({why})" if why else "")
           + f"; free space, then `sweepfit run ... --resume {run_id}` goes on from what it stored")
    raise typer.Exit(UNRECORDED)


@app.command("open")
def open_(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOption = None,
) -> None:
    """Print a run's results as an xarray DataTree."""
    import warnings

    from orchestrator.store import DamagedWarning, open_run

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DamagedWarning)
            tree = open_run(run_id, store)
    except ValueError as exc:
        _fail(exc)
    for warning in caught:
        _warn(str(warning.message))
    typer.echo(str(tree))


cluster_app = typer.Typer(
    help="A warm local cluster kept running between runs: `sweepfit run` and `submit` use it while it is up.",
    no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("up")
def cluster_up(
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: one per core).")] = None,
    idle_timeout: Annotated[Optional[float], typer.Option(
        help="Seconds with no task before it stops itself; 0: never (default sweepfit.warm.idle-timeout, 3600).")] = None,
) -> None:
    """Start the warm cluster in the background (PyBaMM imported on its workers) and print where it is."""
    from clusters import warm

    try:
        found, already = warm.start(n_workers=workers, idle_timeout=idle_timeout)
    except RuntimeError as exc:
        _fail(exc, code=DID_NOT_COMPLETE)
    console.print(f"warm cluster {'already ' if already else ''}up: {found.describe()}", highlight=False)
    console.print("`sweepfit run` and `sweepfit submit` use it until `sweepfit cluster down`", highlight=False)
    typer.echo(found.address)


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop the warm cluster and its workers."""
    from clusters import warm

    found = warm.stop()
    console.print(f"warm cluster at {found.address} stopped" if found else "no warm cluster was up", highlight=False)


@cluster_app.command("status")
def cluster_status(as_json: JsonOption = False) -> None:
    """Where the warm cluster is; exit 1 when none is up."""
    from dataclasses import asdict

    from clusters import warm

    found = warm.find()
    if as_json:
        typer.echo(json.dumps(asdict(found) if found else None))
    else:
        console.print(f"warm cluster up: {found.describe()}" if found
                      else "no warm cluster is up (start one with `sweepfit cluster up`)", highlight=False)
    raise typer.Exit(0 if found else 1)


data_app = typer.Typer(help="The measurement store: import data once, use it as db:<id> in pipelines.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _pairs(text: list[str], option: str) -> dict[str, str]:
    found = {}
    for item in (part for chunk in text for part in chunk.split(",") if part.strip()):
        column, sep, target = item.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise typer.BadParameter(f"{item!r} is not FILE_COLUMN=PYBAMM_COLUMN, e.g. \"U=Voltage [V]\"",
                                     param_hint=option)
        found[column.strip()] = target.strip()
    return found


def _numbers(text: Optional[str], option: str, kind: type) -> Optional[list]:
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers", param_hint=option) from None


@data_app.command("add")
def data_add(
    file: Annotated[Path, typer.Argument(help="CSV or parquet measurement, or a cycler's export (--cycler).")],
    name: Annotated[Optional[str], typer.Option(help="Label for listings (default: the file name).")] = None,
    column_map: Annotated[list[str], typer.Option("--column-map", help='"FILE_COLUMN=PyBaMM column,..."; repeatable.')] = [],  # noqa: B006
    columns: Annotated[Optional[str], typer.Option(help="Names for a header-less file's columns, comma-separated.")] = None,
    current_sign: Annotated[Optional[str], typer.Option(
        help="positive_discharge (the default) or positive_charge (with --cycler, the default).")] = None,
    cycler: Annotated[Optional[str], typer.Option(
        help="Read the file as this cycler's own export with PyProBE: arbin, basytec, biologic, maccor, neware, "
             "novonix.")] = None,
    steps: Annotated[Optional[str], typer.Option(help="Keep only these Step values, e.g. 5,6.")] = None,
    current: Annotated[Optional[float], typer.Option(help="Constant current [A] for files without one.")] = None,
    sep: Annotated[Optional[str], typer.Option(help="CSV separator (default: sniffed).")] = None,
    time_range: Annotated[Optional[str], typer.Option(help="Keep T0 <= Time [s] <= T1: 'T0,T1'.")] = None,
    store: StoreOption = None,
) -> None:
    """Import a measurement and print its id; the same content added again gives the same id."""
    from orchestrator import measurements

    options: dict[str, Any] = {"column_map": _pairs(column_map, "--column-map")}
    extra = {"columns": columns.split(",") if columns else None, "steps": _numbers(steps, "--steps", int),
             "current": current, "sep": sep, "time_range": _numbers(time_range, "--time-range", float),
             "current_sign": current_sign, "cycler": cycler}
    options.update({k: v for k, v in extra.items() if v is not None})
    try:
        id_, new = measurements.add_new(file, name=name, store=store, **options)
    except ValueError as exc:
        _fail(exc)
    console.print(("added " if new else "already stored, nothing written: ") + f"db:{id_[:measurements.SHOWN]}",
                  highlight=False)
    typer.echo(id_)


@data_app.command("list")
def data_list(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List stored measurements: id, name, rows, duration, original file."""
    from rich.table import Table

    from orchestrator import measurements

    found = measurements.entries(store)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("id", "name", "rows", "source", "added")
    for e in found:
        table.add_row(e["id"][:measurements.SHOWN], e["name"], str(e["rows"]), e["source"], e["created"][:19])
    Console().print(table)


@data_app.command("show")
def data_show(
    ref: Annotated[str, typer.Argument(help="Measurement id (8+ characters of it) or name.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one measurement: where it came from, how it was read, its columns and ranges."""
    from orchestrator import measurements

    try:
        frame, attrs = measurements.load(ref, store)
    except ValueError as exc:
        _fail(exc)
    numeric = frame.select_dtypes("number")
    ranges = {c: [float(numeric[c].min()), float(numeric[c].max())] for c in numeric.columns}
    if as_json:
        typer.echo(json.dumps({**attrs, "ranges": ranges}, indent=2))
        return
    for key in ("id", "name", "source", "source_sha256", "created", "rows"):
        typer.echo(f"{key:>14}: {attrs[key]}")
    typer.echo(f"{'options':>14}: {json.dumps({k: v for k, v in attrs['options'].items() if v not in (None, {})})}")
    typer.echo(f"{'use as':>14}: data: db:{attrs['id'][:measurements.SHOWN]}")
    for column, (low, high) in ranges.items():
        typer.echo(f"{column:>14}: {low:.6g} .. {high:.6g}")


@app.command()
def lineage(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Where a run's numbers came from: data checksums, spec, code versions, git, cached elements."""
    from orchestrator import lineage as lineages

    try:
        found = lineages.run_lineage(run_id, store)
    except ValueError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    else:
        # Unwrapped when piped: checksums are copied and grepped.
        Console(width=None if sys.stdout.isatty() else 1000).print(lineages.tree(found))


def _load_profiles(profiles: Path | None) -> None:
    if profiles is not None:
        from clusters import profiles as known

        known.load_file(profiles)


def _print_links(info: dict[str, Any], run_id: str, path: Path) -> None:
    """The Dask dashboard, sweepfit's pages in it (when the scheduler has them), and the monitor."""
    from elements.core import config

    store = path.parent.parent
    lines = [f"dashboard: {info.get('dashboard') or 'starting (see `sweepfit status ' + run_id + '`)'}"]
    if info.get("pages"):
        lines.append(f"this run:  {info['pages']}")
    lines.append(f"monitor:   sweepfit monitor --store {store}   "
                 f"-> http://127.0.0.1:{config.get('monitor.port')}/monitor?run={run_id}")
    console.print("\n".join(lines), highlight=False)


@app.command()
def submit(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML or JSON file.")],
    cluster: ClusterOption = None,
    profiles: ProfilesOption = None,
    store: StoreOption = None,
    no_cache: NoCacheOption = False,
    resume: ResumeOption = None,
) -> None:
    """Start a pipeline, print its run id at once and exit; the run goes on without this process.

    On a scheduler address, or the warm cluster (used when it is up and --cluster is not given), the
    graph lives on that scheduler. For local, slurm and pbs a detached driver process starts the
    cluster, runs the pipeline and closes the cluster when it ends.
    """
    from orchestrator import runner

    try:
        cluster = cluster or _warm_if_up()
        run_id = runner.submit(pipeline, cluster=cluster, store=store, profiles=profiles, force=no_cache, resume=resume)
    except (ValueError, OSError, TimeoutError) as exc:
        _fail(exc)
    typer.echo(run_id)
    info = runner.get(run_id, store=store)
    console.print(f"submitted run {run_id} -> {info['path']}", highlight=False)
    deadline = time.monotonic() + 10  # a driver publishes its dashboard once its cluster is up
    while "dashboard" not in info and info["status"] not in ("failed", "lost") and time.monotonic() < deadline:
        time.sleep(0.25)
        info = runner.get(run_id, store=store)
    _print_links(info, run_id, Path(info["path"]))


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """A run's status and each element's status and progress (lost: its scheduler or driver is gone)."""
    info = _run_info(run_id, store)
    if as_json:
        keep = ("run_id", "project", "name", "status", "lost", "stalled", "error", "warnings", "created", "finished",
                "path", "cluster", "scheduler", "dashboard", "pages")
        elements = {n: {k: e.get(k) for k in ("status", "error", "damaged", "recomputed", "progress", "worker")
                        if e.get(k) is not None} for n, e in info["elements"].items()}
        typer.echo(json.dumps({**{k: info[k] for k in keep if info.get(k) is not None}, "elements": elements}))
        return
    why = info.get("lost") or (info.get("stalled") if info["status"] == Status.STALLED else None)
    typer.echo(f"run {info['run_id']}: {info['status']}" + (f" ({why})" if why else ""))
    if info.get("error") and info["error"] != why:
        typer.echo(f"  error: {info['error']}")
    for warning in info.get("warnings") or []:
        typer.echo(f"  warning: {warning}")
    if info.get("dashboard"):
        typer.echo(f"dashboard: {info['dashboard']}")
    if info.get("pages"):
        typer.echo(f"this run:  {info['pages']}")
    for name, element in info["elements"].items():
        typer.echo(f"  {name}: {element_line(element, live=info['status'] in (Status.RUNNING, Status.STALLED))}")
        for key in ("damaged", "error"):
            if element.get(key):
                typer.echo(f"    {element[key]}")
        if element.get("recomputed"):
            typer.echo(f"    recomputed: {element['recomputed']}")


@app.command("list")
def list_(
    project: Annotated[Optional[str], typer.Option(help="Only this project.")] = None,
    status: Annotated[Optional[str], typer.Option(help="Only runs with this status.")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The runs in the store, oldest first."""
    from rich.table import Table

    from orchestrator.store import list_runs

    runs = list_runs(store, project=project, status=status)
    if as_json:
        keep = ("run_id", "project", "name", "status", "created", "finished", "path")
        typer.echo(json.dumps([{k: r.get(k) for k in keep} for r in runs]))
        return
    table = Table("run id", "project", "name", "status", "elements", "created")
    for r in runs:
        elements = r.get("elements", {})
        done = sum(e.get("status") == "completed" for e in elements.values())
        table.add_row(r["run_id"], r.get("project") or "", r.get("name") or "", r.get("status", ""),
                      f"{done}/{len(elements)} completed", (r.get("created") or "")[:19])
    Console(width=max(120, Console().width)).print(table)


@app.command()
def result(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """A run's results: fitted parameters, costs and metrics per element, and where the data is."""
    info = _run_info(run_id, store)
    if as_json:
        typer.echo(json.dumps(_summary(info), indent=2))
    else:
        _print_run(info)


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOption = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for running elements to stop.")] = 30.0,
) -> None:
    """Cancel a run: running elements stop at the next generation; finished elements keep their results."""
    from orchestrator import runner

    try:
        info = runner.cancel(run_id, store=store, wait=wait)
    except ValueError as exc:
        _fail(exc)
    typer.echo(f"run {info['run_id']}: {info['status']}")
    for name, element in info["elements"].items():
        typer.echo(f"  {name}: {element['status']}")


@app.command()
def monitor(
    store: StoreOption = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default sweepfit.monitor.port, 5006).")] = None,
    address: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
) -> None:
    """Serve a live page of the store's runs: best cost and parameters per generation, sweep progress."""
    from orchestrator.monitor import serve

    serve(store=store, port=port, address=address)


class FigureFormat(str, Enum):
    png = "png"
    svg = "svg"


@app.command()
def plot(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    element: Annotated[Optional[str], typer.Argument(help="One element's figures (default: every element's).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder (default <store>/runs/<run id>.figures).")] = None,
    fmt: Annotated[FigureFormat, typer.Option("--format", help="Image format.")] = FigureFormat.png,
    store: StoreOption = None,
) -> None:
    """Write a run's figures, made from the store alone, as <out>/<element>/<figure>, and print their paths.

    Fits: model vs data with residuals, cost and parameters per generation; validations: overlays
    with their metrics; sweeps: each summary over the swept variables and families of curves.
    """
    from orchestrator.figures import plot as write_figures

    try:
        written = write_figures(run_id, element, out=out, fmt=fmt.value, store=store)
    except ValueError as exc:
        _fail(exc)
    if not written:
        what = f"element {element!r} of run {run_id} has no results" if element else f"no element of run {run_id} has results"
        console.print(f"no figures: {what} yet (see `sweepfit status {run_id}`)", highlight=False, markup=False)
        raise typer.Exit(1)
    for path in written:
        typer.echo(str(path))


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file (default <store>/runs/<run id>.html).")] = None,
    store: StoreOption = None,
) -> None:
    """Write one self-contained HTML page of a run (status, summaries, figures, lineage, spec) and print its path."""
    from orchestrator.report import write_report

    try:
        typer.echo(str(write_report(run_id, out, store=store)))
    except ValueError as exc:
        _fail(exc)
