"""sweepfit's orchestrator: pipeline specs, Dask graphs, runs and the results store."""

from __future__ import annotations

import importlib
from typing import Any

# Imported when first used: the runner brings in distributed, bokeh and PyBaMM (about 3 s), which the
# command line's store-reading commands (`status`, `list`, `result`) do without.
_WHERE = {"DataError": "elements.core.data", "load_measurements": "elements.core.data",
          "run_lineage": "orchestrator.lineage", "cancel": "orchestrator.runner", "get": "orchestrator.runner",
          "run": "orchestrator.runner", "status": "orchestrator.runner", "submit": "orchestrator.runner",
          "Pipeline": "orchestrator.spec", "SpecError": "orchestrator.spec", "load_pipeline": "orchestrator.spec",
          "list_runs": "orchestrator.store", "open_run": "orchestrator.store", "open_sweep": "orchestrator.store",
          "combine_runs": "orchestrator.tables", "runs_table": "orchestrator.tables"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        try:  # `orchestrator.store` after a bare `import orchestrator`, as when every submodule came with it
            return importlib.import_module(f"orchestrator.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"orchestrator.{name}":
                raise
            raise AttributeError(f"module 'orchestrator' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
