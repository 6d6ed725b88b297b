"""`sweepfit run`'s bars, rendered into an 80-column console while a real fit and sweep run."""

from __future__ import annotations

import io
import re

import dask.config
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from orchestrator import cli
from tests.conftest import D_N, fit_pipeline

T_AMB = "Ambient temperature [K]"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _pipeline(data) -> dict:
    spec = fit_pipeline(data, popsize=10, maxiter=12, polish=False, tol=0)
    del spec["elements"]["check"]
    spec["elements"]["grid"] = {
        "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"current": 5.0, "duration": 600.0},
        "grid": {D_N: [1e-14, 2e-14, 3e-14, 4e-14, 5e-14, 6e-14, 7e-14, 8e-14],
                 T_AMB: [288.15, 293.15, 298.15, 303.15, 308.15, 313.15]},
        "chunk_size": 1, "outputs": {"time": {"stop": 600, "step": 60}, "summaries": ["final_voltage"]},
    }
    return spec


def _run(spec: dict, tmp_path, console: Console, monkeypatch, *args: str) -> str:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(cli, "console", console)
    with dask.config.set({"sweepfit.run.poll": 0.05, "sweepfit.sweep.chunk-seconds": 0.05}):
        done = CliRunner().invoke(cli.app, ["run", str(tmp_path / "p.yaml"), "--store", str(tmp_path / "s"), *args])
    assert done.exit_code == 0, done.output
    return console.file.getvalue()


def _rows(text: str, name: str) -> list[tuple[int, int | None, str]]:
    """(done, total, line) of each rendering of ``name``'s bar, in order."""
    found = []
    for line in re.split(r"[\r\n]", ANSI.sub("", text)):
        if line.startswith(name + " ") and (m := re.search(r" (\d+)/(\d+|\?) ", line)):
            found.append((int(m[1]), None if m[2] == "?" else int(m[2]), line))
    return found


@pytest.mark.slow
def test_bars_measure_generations_and_chunks_in_80_columns(short_csv, client, tmp_path, monkeypatch):
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None, soft_wrap=True)
    text = _run(_pipeline(short_csv), tmp_path, console, monkeypatch, "--cluster", client.scheduler.address)

    fit, grid = _rows(text, "fit"), _rows(text, "grid")
    assert {total for _, total, _ in fit} - {None} == {13}  # maxiter 12: the initial population and 12 generations
    fit_done = [done for done, _, _ in fit]
    assert fit_done == sorted(fit_done) and len(set(fit_done)) >= 4 and fit_done[-1] == 13, fit_done
    assert any(re.search(r"gen +best \d", line) for _, _, line in fit)  # the best cost beside the count
    assert {total for _, total, _ in grid} - {None} == {48}  # 8 x 6 points, one per chunk
    grid_done = [done for done, _, _ in grid]
    assert grid_done == sorted(grid_done) and len(set(grid_done)) >= 3 and grid_done[-1] == 48, grid_done
    assert any(re.search(r"chunks +~\d+ s left", line) for _, _, line in grid)
    for done, _, line in fit + grid:
        assert len(line.rstrip()) <= 80, line
        if done:
            assert re.search(r" \d:\d\d:\d\d$", line.rstrip()), line  # the elapsed time, whole


def test_without_a_terminal_each_change_is_one_line():
    from orchestrator.bars import RunBars

    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    states = [{"fit": {"status": "pending"}},
              {"fit": {"status": "running", "progress": {"unit": "generation", "done": 1, "total": 13,
                                                          "evaluations": 8, "best_cost": [0.5]}}},
              {"fit": {"status": "running", "progress": {"unit": "generation", "done": 1, "total": 13,
                                                          "evaluations": 8, "best_cost": [0.5]}}},
              {"fit": {"status": "running", "progress": {"unit": "generation", "done": 2, "total": 13,
                                                          "evaluations": 16, "best_cost": [0.5, 0.25]}}}]
    with RunBars(console) as bars:
        for elements in states:
            bars.show({"elements": elements})
    assert console.file.getvalue().splitlines() == [
        "fit: pending",
        "fit: running  generation 1/13  best 0.5  (8 evals)",
        "fit: running  generation 2/13  best 0.25  (16 evals)",
    ]
