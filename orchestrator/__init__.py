"""sweepfit's orchestrator: pipeline specs, Dask graphs, runs and the results store."""

from __future__ import annotations

import importlib
from typing import Any

# Public names resolve lazily: `elements` imports orchestrator.config and orchestrator.data, and
# orchestrator.spec imports `elements`, so eager imports here would be circular.
_PUBLIC = {
    "DataError": "orchestrator.data",
    "load_measurements": "orchestrator.data",
    "Pipeline": "orchestrator.spec",
    "SpecError": "orchestrator.spec",
    "load_pipeline": "orchestrator.spec",
    "run": "orchestrator.runner",
    "status": "orchestrator.runner",
    "submit": "orchestrator.runner",
    "get": "orchestrator.runner",
    "cancel": "orchestrator.runner",
    "list_runs": "orchestrator.store",
    "open_run": "orchestrator.store",
    "runs_table": "orchestrator.tables",
    "combine_runs": "orchestrator.tables",
    "run_lineage": "orchestrator.lineage",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return __all__
