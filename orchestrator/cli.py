"""The `sweepfit` command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(help="Fit and sweep PyBaMM models on a Dask cluster.", no_args_is_help=True)
console = Console(stderr=True)

StoreOption = Annotated[Optional[Path], typer.Option("--store", help="Store root (default ./sweepfit-runs).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Recompute elements that already completed in the store.")]


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, emoji=False)
    raise typer.Exit(2)


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    elements = {
        name: {k: e.get(k) for k in ("status", "summary", "error") if e.get(k) is not None}
        for name, e in info["elements"].items()
    }
    keep = ("run_id", "project", "status", "path", "error")
    return {**{k: info.get(k) for k in keep if info.get(k) is not None}, "store": str(Path(info["path"]).parent.parent), "elements": elements}


def _print_run(info: dict[str, Any]) -> None:
    console.print(f"run [bold]{info['run_id']}[/bold]: {info['status']}  ({info['path']})")
    for name, element in info["elements"].items():
        line = f"  {name}: {element['status']}"
        summary = element.get("summary") or {}
        if "parameters" in summary and "cost" in summary:
            fitted = ", ".join(f"{k} = {v:.4g}" for k, v in summary["parameters"].items())
            line += f"  cost {summary['cost']:.4g}  {fitted}"
        for objective, metrics in (summary.get("metrics") or {}).items():
            line += f"\n    {objective}: RMSE {metrics['RMSE']:.4g}, MAE {metrics['MAE']:.4g}, Max {metrics['Max']:.4g}"
        if element.get("cached_from"):
            line += f"\n    loaded from run {element['cached_from']['run_id']}, not recomputed"
        if element.get("error"):
            line += f"\n    [red]{element['error']}[/red]"
        console.print(line, highlight=False)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML or JSON file.")],
    store: StoreOption = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes.")] = None,
    as_json: JsonOption = False,
    no_cache: NoCacheOption = False,
) -> None:
    """Run a pipeline to the end on a local Dask cluster, showing progress.

    Elements that already completed in any run of the store are loaded, not recomputed.
    """
    from clusters.local import local_client
    from orchestrator import runner, store as stores
    from orchestrator.graph import compile_pipeline

    try:
        spec, path, run_id, base = runner.prepare(pipeline, store_root=store, force=no_cache)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    with local_client(n_workers=workers) as client:
        console.print(f"run {run_id} -> {path}\ndashboard: {client.dashboard_link}", highlight=False)
        future = client.compute(compile_pipeline(spec, path, run_id=run_id, base_dir=base))
        _watch(path, future, quiet=as_json)
    info = runner.status(run_id, store=path.parent.parent)
    if as_json:
        typer.echo(json.dumps(_summary(info), indent=2))
    else:
        _print_run(info)
    raise typer.Exit(0 if info["status"] == stores.COMPLETED else 1)


def _watch(path: Path, future: Any, *, quiet: bool) -> None:
    """A progress bar per element, fed from the run's status in the store."""
    from orchestrator import store as stores

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                  TimeElapsedColumn(), console=console, disable=quiet) as bar:
        tasks: dict[str, Any] = {}
        while True:
            for name, element in stores.read_attrs(path)["elements"].items():
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=1, detail="pending")
                progress = element.get("progress") or {}
                detail = element["status"]
                if "best_cost" in progress:
                    detail += f"  gen {progress['generation']}  best {progress['best_cost'][-1]:.4g}"
                done = element["status"] in stores.FINISHED
                bar.update(tasks[name], completed=1 if done else 0, detail=detail)
            if future.done():
                break
            time.sleep(0.5)


@app.command("open")
def open_(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOption = None,
) -> None:
    """Print a run's results as an xarray DataTree."""
    from orchestrator.store import open_run

    try:
        typer.echo(str(open_run(run_id, store)))
    except ValueError as exc:
        _fail(exc)


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
    file: Annotated[Path, typer.Argument(help="CSV or parquet measurement.")],
    name: Annotated[Optional[str], typer.Option(help="Label for listings (default: the file name).")] = None,
    column_map: Annotated[list[str], typer.Option("--column-map", help='"FILE_COLUMN=PyBaMM column,..."; repeatable.')] = [],  # noqa: B006
    columns: Annotated[Optional[str], typer.Option(help="Names for a header-less file's columns, comma-separated.")] = None,
    current_sign: Annotated[str, typer.Option(help="positive_discharge or positive_charge.")] = "positive_discharge",
    steps: Annotated[Optional[str], typer.Option(help="Keep only these Step values, e.g. 5,6.")] = None,
    current: Annotated[Optional[float], typer.Option(help="Constant current [A] for files without one.")] = None,
    sep: Annotated[Optional[str], typer.Option(help="CSV separator (default: sniffed).")] = None,
    time_range: Annotated[Optional[str], typer.Option(help="Keep T0 <= Time [s] <= T1: 'T0,T1'.")] = None,
    store: StoreOption = None,
) -> None:
    """Import a measurement and print its id; the same content added again gives the same id."""
    from orchestrator import measurements

    options: dict[str, Any] = {"column_map": _pairs(column_map, "--column-map"), "current_sign": current_sign}
    extra = {"columns": columns.split(",") if columns else None, "steps": _numbers(steps, "--steps", int),
             "current": current, "sep": sep, "time_range": _numbers(time_range, "--time-range", float)}
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
