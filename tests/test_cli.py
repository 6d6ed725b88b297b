"""The `sweepfit` command line, run as a user would: a real process on a real LocalCluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import fit_pipeline

SWEEPFIT = [str(Path(sys.executable).with_name("sweepfit"))]  # the console script in this venv


def sweepfit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SWEEPFIT, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_run_json_then_open(short_csv, tmp_path):
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(fit_pipeline(short_csv, popsize=4, maxiter=2)))
    done = sweepfit("run", "fit.yaml", "--store", "runs", "--workers", "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert Path(result["store"]) == (tmp_path / "runs").resolve()
    fit = result["elements"]["fit"]
    assert fit["status"] == "completed" and fit["summary"]["cost"] > 0
    assert set(fit["summary"]["parameters"]) == set(fit_pipeline(short_csv)["elements"]["fit"]["parameters"])
    assert "RMSE" in result["elements"]["check"]["summary"]["metrics"]["1C"]
    assert "dashboard: http://127.0.0.1:" in done.stderr

    shown = sweepfit("open", result["run_id"][:15], "--store", "runs", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Group: /fit" in shown.stdout and "best_x" in shown.stdout


def test_bad_pipeline_exits_2_with_every_problem(short_csv, tmp_path):
    spec = fit_pipeline(short_csv)
    spec["elements"]["fit"]["cost"] = {"type": "RMS"}
    spec["elements"]["fit"]["optimizer"]["popsiz"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(spec))
    done = sweepfit("run", "bad.yaml", "--store", "runs", cwd=tmp_path)
    assert done.returncode == 2
    assert "elements.fit.cost.type" in done.stderr and "elements.fit.optimizer" in done.stderr
    assert not (tmp_path / "runs").exists()
