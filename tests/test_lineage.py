"""Lineage (data checksums, spec, versions, git) and queries across runs (runs_table)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import orchestrator
from orchestrator.cli import app
from tests.conftest import D_N
from tests.test_cache import pipeline, run_serially


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def repo_run(short_csv, tmp_path_factory) -> tuple[Path, Path, dict]:
    """A pipeline file committed in a git repository, then edited (dirty), then run."""
    repo = tmp_path_factory.mktemp("repo")
    shutil.copy(short_csv, repo / "1C.csv")
    spec = pipeline(Path("1C.csv"))
    (repo / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    git(repo, "init", "-q")
    git(repo, "add", "pipeline.yaml", "1C.csv")
    git(repo, "commit", "-q", "-m", "pipeline")
    spec["elements"]["check"]["objectives"]["1C"]["weight"] = 2.0
    (repo / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    store = tmp_path_factory.mktemp("store")
    return repo, store, run_serially(str(repo / "pipeline.yaml"), store)


def test_lineage_records_data_checksum_versions_and_git(repo_run):
    repo, store, info = repo_run
    found = orchestrator.run_lineage(info["run_id"], store=store)
    sha = hashlib.sha256((repo / "1C.csv").read_bytes()).hexdigest()
    assert found["data"] == {"file:1C.csv": sha}
    assert found["elements"]["fit"]["data"] == {"file:1C.csv": sha} and found["elements"]["seed"]["data"] == {}
    assert found["versions"]["pybamm"] == importlib.metadata.version("pybamm")
    assert found["versions"]["sweepfit"] == importlib.metadata.version("sweepfit")
    assert found["pipeline"]["file"] == str(repo / "pipeline.yaml")
    assert found["pipeline"]["git"] == {"root": str(repo), "commit": git(repo, "rev-parse", "HEAD"),
                                        "dirty": True, "file": "modified"}
    assert found["elements"]["check"]["upstream"] == {"fit": found["elements"]["fit"]["cache_key"]}
    assert found["elements"]["fit"]["outputs"] == ["fit", "fit/traces/1C"]


def test_lineage_cli_prints_the_tree_and_survives_copying_the_store(repo_run, tmp_path):
    repo, store, info = repo_run
    copied = shutil.copytree(store, tmp_path / "elsewhere")
    result = CliRunner().invoke(app, ["lineage", info["run_id"][:17], "--store", str(copied)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    sha = hashlib.sha256((repo / "1C.csv").read_bytes()).hexdigest()
    assert f"file:1C.csv  sha256 {sha}" in text
    assert f"pybamm {importlib.metadata.version('pybamm')}" in text
    assert f"git {git(repo, 'rev-parse', 'HEAD')[:12]} (dirty)" in text
    assert "fit (data_fit)  completed" in text and "output check/traces/1C" in text


def test_lineage_says_which_run_a_cached_element_came_from(repo_run):
    repo, store, info = repo_run
    again = run_serially(str(repo / "pipeline.yaml"), store)
    found = orchestrator.run_lineage(again["run_id"], store=store)
    assert found["elements"]["fit"]["cached_from"]["run_id"] == info["run_id"]
    text = CliRunner().invoke(app, ["lineage", again["run_id"], "--store", str(store)]).stdout
    assert f"loaded from run {info['run_id']}" in text


def test_runs_table_for_three_runs(short_csv, tmp_path):
    for project, seed in (("cell-A", 0), ("cell-A", 1), ("cell-B", 0)):
        spec = pipeline(short_csv)
        spec["project"] = project
        spec["elements"]["fit"]["optimizer"]["seed"] = seed
        run_serially(spec, tmp_path)

    df = orchestrator.runs_table(tmp_path)
    assert list(df.columns) == ["run_id", "project", "name", "created", "finished", "status", "cost", "solves",
                                "cached", D_N, "1C RMSE", "1C MAE", "1C Max"]
    assert len(df) == 3 and set(df.status) == {"completed"}
    assert df.created.is_monotonic_increasing and str(df.created.dtype).startswith("datetime64")
    assert df[D_N].between(1e-15, 1e-12).all() and (df["cost"] > 0).all()
    assert df.loc[2, "cached"] == 3 and df.loc[2, "solves"] == 0  # cell-B repeats cell-A's first run
    means = df.groupby("project")["1C RMSE"].mean()
    assert list(means.index) == ["cell-A", "cell-B"]

    per_element = orchestrator.runs_table(tmp_path, per="element", project="cell-A")
    assert len(per_element) == 6 and list(per_element.element[:3]) == ["seed", "fit", "check"]
    assert {"element_type", "element_status", "cached_from", "cache_key", D_N, "1C RMSE"} <= set(per_element.columns)
    assert orchestrator.runs_table(tmp_path, status="failed").empty
    assert [r["project"] for r in orchestrator.list_runs(tmp_path, project="cell-B")] == ["cell-B"]
    with pytest.raises(ValueError, match="per must be"):
        orchestrator.runs_table(tmp_path, per="objective")


def test_sweeps_across_runs_combine_into_one_dataset(tmp_path):
    def sweep(values: list[float]) -> dict:
        return {"project": "grid", "elements": {"sweep": {
            "element_type": "sweep", "model": {"type": "SPMe"}, "protocol": {"current": 5.0, "duration": 600.0},
            "grid": {D_N: values}, "outputs": {"time": {"stop": 600, "step": 100}, "summaries": ["final_voltage"]},
        }}}

    first = run_serially(sweep([1e-14, 2e-14]), tmp_path)
    run_serially(sweep([3e-14]), tmp_path)
    again = run_serially(sweep([1e-14, 2e-14]), tmp_path)
    assert again["elements"]["sweep"]["solves"] == 0
    assert again["elements"]["sweep"]["cached_from"]["run_id"] == first["run_id"]

    grid = orchestrator.combine_runs("sweep", tmp_path, project="grid")
    assert grid.final_voltage.dims == (D_N,) and grid[D_N].values.tolist() == [1e-14, 2e-14, 3e-14]
    assert grid["Voltage [V]"].sizes == {D_N: 3, "time": 7} and (grid.status == "ok").all()
    stacked = orchestrator.combine_runs("sweep", tmp_path, by="run")
    assert stacked.final_voltage.sizes == {"run_id": 3, D_N: 3}
    # The cached run holds the same numbers as the run that computed them; points a run lacks are NaN.
    np.testing.assert_array_equal(stacked.final_voltage.isel(run_id=0), stacked.final_voltage.isel(run_id=2))
    assert stacked.final_voltage.isnull().sum(D_N).values.tolist() == [1, 2, 1]
