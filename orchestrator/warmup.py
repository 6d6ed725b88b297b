"""Start-up work done on the workers before a run needs it.

A first fit on a new cluster waited, in turn, for PyBaMM's import on the worker that ran the element
(~3 s), then on every other worker when its evaluator arrived, then on each worker for its model's
build and PyBaMM's compile of it in the first solve (0.4 s + 1.6-2.2 s). Here:

- as a worker preload (``sweepfit.cluster.worker-preload``), :func:`dask_setup` imports PyBaMM in a
  thread as the worker starts: every worker at once, while the client still prepares the run;
- a model build sets its solver up (``elements.engine``): PyBaMM compiles there, not in the first solve;
- :func:`send` starts, on every worker, a thread that validates the pipeline and builds the models of
  its first element, as soon as a run has a client: on a running cluster (the warm one, an address)
  that is before the client has validated the pipeline itself, which imports PyBaMM (2-4 s).

Only the first element is built ahead: the values it starts from are empty, so its builds are the
ones it will use; a later element's depend on the results before it. The run needs none of this
work: whatever fails here is left for the run to report.
"""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any

from elements import engine
from elements.core import config
from elements.core.data import in_store
from elements.core.problem import GRADIENT, RESIDUALS
from elements.fit.spec import DataFitSpec
from orchestrator.spec import load_pipeline

logger = logging.getLogger(__name__)


# PyBaMM; and dask.array, which xarray imports when an element first writes its results.
IMPORTS = ("pybamm", "dask.array")


def dask_setup(worker: Any) -> None:
    """Worker preload: import :data:`IMPORTS` in the background; a task that needs one first waits on its import."""
    threading.Thread(target=_import, args=(IMPORTS,), name="sweepfit-imports", daemon=True).start()


def _import(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


def send(client: Any, pipeline: dict[str, Any], *, base_dir: str | Path, store: str | Path) -> None:
    """Start building ``pipeline``'s first models on every worker of ``client`` (one round trip)."""
    if not config.get("cluster.warm-up"):
        return
    try:
        client.run(build_first, pipeline, str(base_dir), str(store))
    except Exception as exc:  # noqa: BLE001 - workers without sweepfit, say: the run goes on without it
        logger.info("sweepfit warm-up not sent: %s: %s", type(exc).__name__, exc)


def build_first(pipeline: dict[str, Any], base_dir: str, store: str) -> None:
    """On a worker, through ``client.run`` (on its event loop): the builds, in a thread of their own."""
    threading.Thread(target=_build_first, args=(pipeline, Path(base_dir), Path(store)), name="sweepfit-warm-up",
                     daemon=True).start()


def _build_first(pipeline: dict[str, Any], base_dir: Path, store: Path) -> None:
    try:
        for setup, sensitivities in setups(pipeline, base_dir, store):
            engine.built(setup, sensitivities=sensitivities)
    except Exception as exc:  # noqa: BLE001 - the run meets the same problem and reports it
        logger.info("sweepfit warm-up stopped: %s: %s", type(exc).__name__, exc)


def setups(pipeline: dict[str, Any], base_dir: Path, store: Path) -> list[tuple[engine.Setup, bool]]:
    """The builds (setup, with sensitivities) the pipeline's first element starts with, when it is a fit."""
    spec = next(iter(load_pipeline(pipeline).elements.values()))
    if not isinstance(spec, DataFitSpec):
        return []
    spec = in_store(spec, store)
    noise = spec.noise_parameters
    inputs = tuple(n for n in spec.parameters if n not in noise)
    needs = spec.optimizer.needs() if spec.optimizer is not None else frozenset()  # analyses have none
    sensitivities = bool(needs & {GRADIENT, RESIDUALS})
    found = []
    for key, kind in spec.objectives.items():
        for objective in kind.build(key, inputs=inputs, existing={}, cost=kind.cost or spec.cost, base_dir=base_dir):
            setup = getattr(objective, "setup", None)
            if isinstance(setup, engine.Setup):
                # the optimizer's builds first; the plain one also serves the fit's last solve
                found += [(setup, True)] * sensitivities + [(setup, False)]
    return found
