"""sweepfit's orchestrator: pipeline specs, Dask graphs, runs and the results store."""

from elements.core.data import DataError, load_measurements
from orchestrator.lineage import run_lineage
from orchestrator.runner import cancel, get, run, status, submit
from orchestrator.spec import Pipeline, SpecError, load_pipeline
from orchestrator.store import list_runs, open_run, open_sweep
from orchestrator.tables import combine_runs, runs_table

__all__ = ["DataError", "Pipeline", "SpecError", "cancel", "combine_runs", "get", "list_runs", "load_measurements",
           "load_pipeline", "open_run", "open_sweep", "run", "run_lineage", "runs_table", "status", "submit"]
