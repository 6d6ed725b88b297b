"""The monitor page in headless Chromium while a fit runs: its curve is in the page and on screen."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import orchestrator
from orchestrator.monitor import COST_COLOR, free_port
from tests.bokeh_page import RENDERED_JS, column, grown

pytestmark = [pytest.mark.browser, pytest.mark.slow]

D_N = "Negative particle diffusivity [m2.s-1]"
D_P = "Positive particle diffusivity [m2.s-1]"


def _pipeline(data: Path) -> dict:
    objectives = {"1C": {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}}
    return {
        "project": "monitor-test",
        "elements": {
            "fit": {
                "element_type": "data_fit",
                "objectives": objectives,
                "parameters": {D_N: {"bounds": [1.0e-15, 1.0e-12], "transform": "log10"},
                               D_P: {"bounds": [1.0e-16, 1.0e-13], "transform": "log10"}},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "maxiter": 2000,
                              "tol": 0, "polish": False},
            },
        },
    }


def _look(browser, url: str, run_id: str, screenshot: Path) -> dict:
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(url)
    best_cost = f"best_cost:{run_id}:fit"
    first = grown(page, best_cost, "best_cost", 2)
    latest = grown(page, best_cost, "best_cost", len(first))  # live: new generations arrive
    # the best candidate so far against the data
    model = column(page, f"preview:{run_id}:fit:0", "y_model")
    data = column(page, f"preview:{run_id}:fit:0", "y_data")
    page.wait_for_timeout(1500)  # let the canvas draw the latest points
    rendered = page.evaluate(RENDERED_JS)
    page.screenshot(path=screenshot)
    page.close()
    return {"first": first, "latest": latest, "model": model, "data": data, **rendered}


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/monitor", timeout=5).read()
            return
        except OSError:
            assert time.monotonic() < deadline, f"the monitor did not answer on port {port}"
            time.sleep(0.3)


def test_monitor_page_shows_the_running_fit(browser, tmp_path):
    from elements.synthetic import synthetic_discharge
    from PIL import Image

    data = tmp_path / "short.csv"
    synthetic_discharge(values={D_N: 3.3e-14, D_P: 4e-15}, model="SPM", current=5.0, duration=600.0).to_csv(data, index=False)
    store, port = tmp_path / "store", free_port()
    monitor = subprocess.Popen([Path(sys.executable).parent / "sweepfit", "monitor", "--store", str(store),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_id = orchestrator.submit(_pipeline(data), cluster="local", store=store)
    try:
        _wait_for_port(port)
        deadline = time.monotonic() + 120
        while (orchestrator.get(run_id, store=store)["elements"]["fit"].get("progress") or {}).get("done", 0) < 4:
            assert time.monotonic() < deadline, orchestrator.get(run_id, store=store)
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/monitor?run={run_id}"
        screenshot = tmp_path / "monitor.png"
        seen = _look(browser, url, run_id, screenshot)
        assert orchestrator.get(run_id, store=store)["status"] == "running"  # looked at it during the run
    finally:
        orchestrator.cancel(run_id, store=store, wait=30)
        monitor.terminate()
        monitor_log = monitor.communicate(timeout=30)[0]
    assert "Traceback" not in monitor_log, monitor_log

    progress = orchestrator.get(run_id, store=store)["elements"]["fit"]["progress"]["best_cost"]
    assert seen["first"] == pytest.approx(progress[: len(seen["first"])])  # the page shows the store's numbers
    assert len(seen["latest"]) > len(seen["first"])
    assert all(a >= b for a, b in zip(seen["latest"], seen["latest"][1:]))  # best cost never increases
    assert seen["canvases"] >= 3  # the cost, parameter and best-candidate plots
    measured = pd.read_csv(data)["Voltage [V]"].to_numpy()
    assert len(seen["data"]) == len(seen["model"]) == len(measured)
    np.testing.assert_allclose(seen["data"], measured)
    assert np.all(np.isfinite(seen["model"])) and np.max(np.abs(np.subtract(seen["model"], measured))) < 0.5
    assert f"run {run_id}" in seen["text"] and "fit: running" in seen["text"]
    # The cost curve is drawn: plenty of pixels in its colour.
    red = tuple(int(COST_COLOR[i:i + 2], 16) for i in (1, 3, 5))
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    assert pixels.shape == (800, 1100, 3)
    drawn = int((np.abs(pixels - red).max(axis=2) <= 12).sum())
    assert drawn >= 100, f"only {drawn} pixels of the cost curve's colour in {screenshot}"
    print(f"screenshot: {screenshot}")
