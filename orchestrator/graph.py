"""Compile a validated pipeline into a Dask graph: one node per element, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dask.delayed import Delayed, delayed

from orchestrator.spec import Pipeline
from orchestrator.worker import element_task


def compile_pipeline(pipeline: Pipeline, path: Path, *, run_id: str, base_dir: Path) -> Delayed:
    """The graph whose result is the parameter values after the last element.

    Each node receives the values accumulated so far (Ionworks' existing_parameters), or the
    :class:`~orchestrator.worker.Stopped` of an element before it that did not complete. Keys read
    like the pipeline: ``"<element>-<run id>"``.
    """
    upstream: Any = {}
    for name, spec in pipeline.elements.items():
        upstream = delayed(element_task, pure=False)(
            str(path), name, spec, upstream, str(base_dir), dask_key_name=f"{name}-{run_id}",
        )
    return upstream
