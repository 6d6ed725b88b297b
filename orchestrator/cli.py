"""The `sweepfit` command line."""

from __future__ import annotations

import json
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


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
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
        if element.get("error"):
            line += f"\n    [red]{element['error']}[/red]"
        console.print(line, highlight=False)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML or JSON file.")],
    store: StoreOption = None,
    workers: Annotated[Optional[int], typer.Option(help="LocalCluster worker processes.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline to the end on a local Dask cluster, showing progress."""
    from clusters.local import local_client
    from orchestrator import runner, store as stores
    from orchestrator.graph import compile_pipeline

    try:
        spec, path, run_id, base = runner.prepare(pipeline, store_root=store)
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
