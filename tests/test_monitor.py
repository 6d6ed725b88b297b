"""The monitor page in headless Chromium while a fit runs: its curve is in the page and on screen."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
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

pytestmark = [pytest.mark.browser, pytest.mark.slow]

D_N = "Negative particle diffusivity [m2.s-1]"
D_P = "Positive particle diffusivity [m2.s-1]"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


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


class Page:
    """One Chromium tab over the DevTools protocol (tornado's websocket client)."""

    def __init__(self, ws) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.write_message(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.read_message())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


# A column of a named data source as BokehJS holds it in the browser, or null before it rendered.
COLUMN_JS = """(() => {
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  const source = doc && doc.get_model_by_name(%s);
  if (!source) return null;
  const column = source.data instanceof Map ? source.data.get(%s) : source.data[%s];
  return Array.from(column);
})()"""


def column_js(source: str, column: str) -> str:
    return COLUMN_JS % (json.dumps(source), json.dumps(column), json.dumps(column))
# Rendered text and canvases, including inside the shadow roots bokeh renders into.
RENDERED_JS = """(() => {
  let canvases = 0, text = "";
  const walk = (root) => root.querySelectorAll("*").forEach((el) => {
    if (el.tagName === "CANVAS") canvases++;
    if (el.shadowRoot) { text += " " + el.shadowRoot.textContent; walk(el.shadowRoot); }
  });
  walk(document);
  return {canvases, text};
})()"""


async def _look(devtools: str, url: str, run_id: str, screenshot: Path) -> dict:
    from tornado.websocket import websocket_connect

    port = re.search(r":(\d+)/", devtools).group(1)
    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
    ws = await websocket_connect(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"],
                                 max_message_size=64 * 2**20)
    page = Page(ws)
    await page.call("Page.enable")
    await page.call("Emulation.setDeviceMetricsOverride", width=1100, height=800, deviceScaleFactor=1, mobile=False)
    await page.call("Page.navigate", url=url)
    best_cost = column_js(f"best_cost:{run_id}:fit", "best_cost")
    deadline = time.monotonic() + 60
    while not (first := await page.evaluate(best_cost)) or len(first) < 3:
        assert time.monotonic() < deadline, "the page never showed the fit's best-cost data"
        await asyncio.sleep(0.5)
    while len(latest := await page.evaluate(best_cost)) <= len(first):  # live: new generations arrive
        assert time.monotonic() < deadline, "the page did not update while the fit ran"
        await asyncio.sleep(0.5)
    # the best candidate so far against the data
    model = await page.evaluate(column_js(f"preview:{run_id}:fit:0", "y_model"))
    data = await page.evaluate(column_js(f"preview:{run_id}:fit:0", "y_data"))
    await asyncio.sleep(1.5)  # let the canvas draw the latest points
    rendered = await page.evaluate(RENDERED_JS)
    shot = await page.call("Page.captureScreenshot", format="png")
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    ws.close()
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


def test_monitor_page_shows_the_running_fit(tmp_path):
    from elements.synthetic import synthetic_discharge
    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `make test` installs it (apt-get install chromium)"
    data = tmp_path / "short.csv"
    synthetic_discharge(values={D_N: 3.3e-14, D_P: 4e-15}, model="SPM", current=5.0, duration=600.0).to_csv(data, index=False)
    store, port = tmp_path / "store", free_port()
    monitor = subprocess.Popen([Path(sys.executable).parent / "sweepfit", "monitor", "--store", str(store),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_id = orchestrator.submit(_pipeline(data), cluster="local", store=store)
    browser = None
    try:
        _wait_for_port(port)
        deadline = time.monotonic() + 120
        while (orchestrator.get(run_id, store=store)["elements"]["fit"].get("progress") or {}).get("done", 0) < 4:
            assert time.monotonic() < deadline, orchestrator.get(run_id, store=store)
            time.sleep(0.5)
        browser = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chrome'}",
                                    "--remote-debugging-port=0", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in browser.stderr:
            if "DevTools listening on" in line:
                devtools = line.split("on", 1)[1].strip()
                break
        url = f"http://127.0.0.1:{port}/monitor?run={run_id}"
        screenshot = tmp_path / "monitor.png"
        seen = asyncio.run(_look(devtools, url, run_id, screenshot))
        assert orchestrator.get(run_id, store=store)["status"] == "running"  # looked at it during the run
    finally:
        orchestrator.cancel(run_id, store=store, wait=30)
        for proc in (browser, monitor):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)

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
