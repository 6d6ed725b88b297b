"""sweepfit's dashboard pages and metrics on a scheduler started outside sweepfit (see :mod:`orchestrator.dashboard`).

    dask scheduler --preload orchestrator.preload --sweepfit-store /shared/sweepfit-runs

or in dask config: ``distributed.scheduler.preload: [orchestrator.preload]``. Runs that sweepfit
starts on the scheduler add their own store; ``--sweepfit-store`` (repeatable) shows one from the start.
"""

from __future__ import annotations

from typing import Any

import click

from orchestrator import dashboard

# At import: distributed imports a preload before the scheduler's dashboard starts and builds its menu.
dashboard.install()


@click.command()
@click.option("--sweepfit-store", multiple=True, type=click.Path(file_okay=False),
              help="A sweepfit store root whose runs the dashboard shows (repeatable).")
def dask_setup(scheduler: Any, sweepfit_store: tuple[str, ...]) -> None:
    for root in sweepfit_store:
        dashboard.add_store(scheduler, root)
