"""Kinds from a separate package, found through entry points: a new optimizer, a new objective and a
new cluster kind are each one module of that package, with no sweepfit file touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from elements.core.registry import Registry

PLUGIN = Path(__file__).resolve().parent / "plugin"
SWEEPFIT = str(Path(sys.executable).with_name("sweepfit"))


def test_a_plugins_optimizer_objective_and_cluster_kind_run_a_pipeline(tmp_path):
    x = np.linspace(0, 10, 21)
    pd.DataFrame({"x": x, "y": 0.75 * x - 2.0}).to_csv(tmp_path / "line.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({
        "project": "plugin",
        "elements": {"fit": {
            "element_type": "data_fit",
            "objectives": {"line": {"type": "Line", "data": "file:line.csv"}},
            "parameters": {"slope": {"bounds": [0.0, 1.0]}, "offset": {"bounds": [-4.0, 0.0]}},
            "cost": {"type": "RMSE"},
            "optimizer": {"type": "GridSearch", "points": 5},
        }},
    }))
    (tmp_path / "profiles.yaml").write_text("sweepfit:\n  clusters:\n    mine: {type: threads, threads: 2}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([SWEEPFIT, "run", "pipeline.yaml", "--cluster", "mine", "--profiles", "profiles.yaml",
                           "--store", "store", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    fit = result["elements"]["fit"]
    assert fit["status"] == "completed"
    assert fit["summary"]["parameters"] == pytest.approx({"slope": 0.75, "offset": -2.0})
    assert fit["summary"]["evaluations"] == 25  # the plugin's 5 x 5 grid, one population
    status = subprocess.run([SWEEPFIT, "status", result["run_id"], "--store", "store", "--json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    # The element ran on the plugin's in-process cluster: its worker has an in-process address.
    assert json.loads(status.stdout)["elements"]["fit"]["worker"]["worker"].startswith("inproc://")


def test_without_the_plugin_its_kinds_are_clear_errors(tmp_path):
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({"elements": {"fit": {
        "element_type": "data_fit", "objectives": {"line": {"type": "Line", "data": "file:line.csv"}},
        "parameters": {"slope": {"bounds": [0.0, 1.0]}}, "optimizer": {"type": "GridSearch"}}}}))
    done = subprocess.run([SWEEPFIT, "run", "pipeline.yaml", "--store", "store"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "elements.fit.objectives.line.type: unknown objective 'Line'; valid objectives: 'CurrentDriven'" in done.stderr
    assert "elements.fit.optimizer.type: unknown optimizer 'GridSearch'; valid optimizers: " in done.stderr
    assert not (tmp_path / "store").exists()


def test_a_name_registered_twice_is_an_error(monkeypatch):
    things = Registry("thing", group=None)
    things.register("a", 1)
    with pytest.raises(ValueError, match=r"thing 'a' is registered twice: by tests.test_plugins and by tests.test_plugins"):
        things.register("a", 2)
    # A plugin's entry point that takes a name sweepfit already uses fails on first lookup, naming both.
    monkeypatch.syspath_prepend(str(PLUGIN))
    plugged = Registry("thing", group="sweepfit_test.things")
    plugged.register("taken", object())
    with pytest.raises(ValueError, match=r"'taken' is registered twice: by tests.test_plugins and by "
                                         r"sweepfit_example_plugin:THING \(package sweepfit-example-plugin\)"):
        plugged["taken"]
