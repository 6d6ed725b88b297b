"""A fit's journal: every generation's evaluations on disk, so a killed fit resumes where it stopped.

Resuming is a deterministic replay. The optimizer starts again from the beginning with the same
seed, and each objective call whose generation is in the journal gets the stored costs back instead
of being solved: the optimizer sees what it saw before, draws the same random numbers, and so
reaches the first unsolved generation in the same state, from where solving goes on. That works for
every optimizer (scipy, cma, pints) without pickling their internals. A fit whose optimizer takes a
``seed`` and was given none draws one and records it, so its replay repeats it too.

Layout, under the run's store (a folder of its own, so writing the element's datasets at the end
does not remove it before they are safely written)::

    _progress/<element>/journal.json     what the generations belong to (a token of the problem) and the seed
    _progress/<element>/gen000000.npz    x, cost, status, message of generation 0; then 1, 2, ...
    _progress/<element>/start<i>/        with multistarts: each start's journal.json and generations

Every file is written whole and renamed into place; generations are written in order by one
background thread of the task that runs the fit (the journal's only writer), so a kill leaves the
generations before it, never half of one, and solving does not wait for the disk. A multistart fit
keeps one such journal per start, in ``start<i>/``, written by that start's task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elements.core.storage import read_json, replacing, write_json


def folder(run: str | Path, element: str) -> Path:
    """Where an element's journal lives in a run's store."""
    return Path(run) / "_progress" / element


@dataclass
class Generation:
    """One objective call: the candidates, in the parameters' own units, and what each gave; for a
    gradient method also d cost / dx, and for least squares the residuals and their Jacobian."""

    x: np.ndarray
    cost: np.ndarray
    status: list[str]
    message: list[str]
    gradient: np.ndarray | None = None
    residuals: np.ndarray | None = None
    jacobian: np.ndarray | None = None


DERIVATIVES = ("gradient", "residuals", "jacobian")


class Journal:
    """The generations a fit has stored, and a writer that adds the next ones in the background.

    ``Journal(None)`` keeps nothing: a fit outside a run store (a serial unit test) runs as before.
    """

    def __init__(self, path: Path | None, token: str = "") -> None:
        self.path, self.token = path, token
        self.stored: list[Generation] = []
        self.seed: int | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []
        if path is None:
            return
        header = read_json(path / "journal.json")
        if header and header.get("token") != token:
            raise ValueError(
                f"cannot resume the fit from {path}: its stored generations were computed for another problem "
                "(the element's spec, its data or the values from upstream elements changed); "
                "start a new run (leave out --resume)"
            )
        self.seed = header.get("seed")
        self.stored = list(_contiguous(path))
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fit-journal")
        if not header:
            write_json(path / "journal.json", {"token": token, "seed": None})

    def seeded(self, seed: int | None) -> int:
        """The seed to run with: the recorded one on resume, else ``seed``, else a fresh one.

        It is recorded right away, before any generation (a multistart's starts write their own
        journals from other tasks), so that a resume replays it.
        """
        if self.seed is None:
            self.seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
            if self.path is not None:
                write_json(self.path / "journal.json", {"token": self.token, "seed": self.seed})
        return self.seed

    def replay(self, index: int, x: np.ndarray) -> Generation | None:
        """Generation ``index`` as stored, or None when it was never solved.

        Its candidates must be exactly ``x``: the same seed and the same costs take an optimizer
        along the same path, so any difference means the code that drives it changed.
        """
        if index >= len(self.stored):
            return None
        found = self.stored[index]
        if found.x.shape != x.shape or not np.array_equal(found.x, x):
            raise ValueError(
                f"cannot resume the fit from {self.path}: generation {index} asks for other candidates than "
                "the stored ones (the optimizer or sweepfit changed since they were solved); "
                "start a new run (leave out --resume)"
            )
        return found

    def record(self, index: int, generation: Generation) -> None:
        """Store a solved generation (in the background; generations reach the disk in order)."""
        if self.path is not None:
            self._later(_write_generation, self.path / f"gen{index:06d}.npz", generation)

    def close(self) -> None:
        """Wait for every queued write; raise the first that failed."""
        if self._writer is None:
            return
        self._writer.shutdown(wait=True)
        self._writer = None
        for future in self._pending:
            future.result()

    def _later(self, func: Callable[..., Any], *args: Any) -> None:
        assert self._writer is not None
        self._pending.append(self._writer.submit(func, *args))


def _write_generation(path: Path, generation: Generation) -> None:
    with replacing(path, "wb") as out:
        np.savez(out, x=generation.x, cost=generation.cost,
                 status=np.array(generation.status, dtype=str), message=np.array(generation.message, dtype=str),
                 **{k: v for k in DERIVATIVES if (v := getattr(generation, k)) is not None})


def _contiguous(path: Path) -> Iterator[Generation]:
    """The stored generations 0, 1, 2, ... up to the first one missing."""
    index = 0
    while (file := path / f"gen{index:06d}.npz").exists():
        with np.load(file) as found:
            yield Generation(found["x"], found["cost"], found["status"].tolist(), found["message"].tolist(),
                             **{k: found[k] for k in DERIVATIVES if k in found})
        index += 1
