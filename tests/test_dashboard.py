"""sweepfit's pages and metrics in the scheduler's own Dask dashboard, read in Chromium while a fit
and then a sweep run on the detached driver's LocalCluster; the preload for a scheduler started elsewhere."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

import orchestrator
from orchestrator import dashboard, lifecycle
from orchestrator import store as stores
from tests.bokeh_page import RENDERED_JS, column, grown
from orchestrator.monitor import free_port
from tests.conftest import D_N, D_P, TRUE

T_AMB = "Ambient temperature [K]"
SCREENSHOT = "dashboard.png"


def _pipeline(data: Path) -> dict:
    objective = {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}
    return {
        "project": "dashboard-test",
        "elements": {
            "fit": {
                "element_type": "data_fit", "objectives": {"1C": objective},
                "parameters": {D_N: {"bounds": [1.0e-15, 1.0e-12], "transform": "log10"},
                               D_P: {"bounds": [1.0e-16, 1.0e-13], "transform": "log10"}},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 8, "maxiter": 60,
                              "tol": 0, "polish": False},
            },
            "grid": {
                "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"current": 5.0, "duration": 3000.0},
                "grid": {D_N: [1e-14 * (1 + i) for i in range(30)], T_AMB: [283.15 + 3 * i for i in range(10)]},
                "chunk_size": 1, "outputs": {"time": {"stop": 3000, "step": 60}, "summaries": ["final_voltage"]},
            },
        },
    }


def _metrics(base: str) -> dict[str, float]:
    """sweepfit's samples on the scheduler's ``/metrics``, by name and labels."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    return {s.name + json.dumps(s.labels, sort_keys=True): s.value
            for family in text_string_to_metric_families(text) if family.name.startswith("sweepfit")
            for s in family.samples}


def _until(what: str, check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.3)
    return found


def _element(run_id: str, store: Path, name: str) -> dict:
    return orchestrator.get(run_id, store=store)["elements"][name]


def _listening(pid: int) -> set[str]:
    """The addresses a process and its children (the LocalCluster's workers) listen on."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {c.laddr.ip for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_shows_the_running_fit_and_sweep_with_metrics(browser, tmp_path):
    from elements.synthetic import synthetic_discharge

    data, store = tmp_path / "spm.csv", tmp_path / "store"
    synthetic_discharge(values=TRUE, model="SPM", current=5.0, duration=600.0).to_csv(data, index=False)
    run_id = orchestrator.submit(_pipeline(data), cluster="local", store=store)
    try:
        info = _until("the run's pages", lambda: orchestrator.get(run_id, store=store).get("pages") and
                      (_element(run_id, store, "fit").get("progress") or {}).get("done", 0) >= 3 and
                      orchestrator.get(run_id, store=store))
        base = info["dashboard"].rsplit("/", 1)[0]
        assert info["pages"] == f"{base}/individual-sweepfit-progress?run={run_id}"
        assert base.startswith("http://127.0.0.1:")
        driver = stores.read_attrs(Path(info["path"]))["driver"]["pid"]
        assert _listening(driver) == {"127.0.0.1"}  # nothing new on a public interface
        plots = json.loads(urllib.request.urlopen(f"{base}/individual-plots.json", timeout=10).read())
        assert plots["Individual Sweepfit Runs"] == "/individual-sweepfit-runs"
        assert plots["Individual Sweepfit Progress"] == "/individual-sweepfit-progress"

        # As a user would: Dask's status page, its "More..." menu, sweepfit's progress page.
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(info["dashboard"])
        page.get_by_text("More...").hover()
        page.get_by_role("link", name="Sweepfit Progress").click()
        page.wait_for_url("**/individual-sweepfit-progress")
        best_cost = f"best_cost:{run_id}:fit"
        first = grown(page, best_cost, "best_cost", 2)
        assert len(first) < 61, "the fit ended before the page was read: give it more generations"
        latest = grown(page, best_cost, "best_cost", len(first))  # the fit's generations arrive
        stored = _element(run_id, store, "fit")["progress"]["best_cost"]
        assert latest == pytest.approx(stored[: len(latest)])  # the current best cost is the store's
        # A Div renders its text after its styles; on a slow machine the fit may have ended meanwhile.
        _until("the fit's status line on the page", timeout=30, check=lambda: re.search(
            r"fit: (running|completed)  generation \d+/61 ", page.evaluate(RENDERED_JS)["text"]))

        runs = browser.new_page()  # the runs page, in a second tab
        runs.goto(f"{base}/individual-sweepfit-runs")
        assert grown(runs, "sweepfit-runs", "run_id", 0) == [run_id]
        assert column(runs, "sweepfit-runs", "status") == ["running"]
        runs.close()

        # The sweep, once the fit is done: the page redraws with its chunks done of total, growing.
        _until("the sweep to start", lambda: (_element(run_id, store, "grid").get("progress") or {}).get("done"))
        # Metrics on the same port as Dask's own, as the store has them (read first: the sweep is short).
        before = _element(run_id, store, "grid")["progress"]["done"]
        metrics = _metrics(base)
        after = _element(run_id, store, "grid")["progress"]["done"]
        fit = _element(run_id, store, "fit")
        assert metrics['sweepfit_runs{"status": "running"}'] == 1  # the sweep is running: so is its run
        assert metrics['sweepfit_runs{"status": "completed"}'] == 0
        assert metrics["sweepfit_fit_evaluations_total{}"] == fit["progress"]["evaluations"] == 61 * 16
        assert before <= metrics["sweepfit_sweep_chunks_total{}"] <= after
        failed = [_element(run_id, store, name)["progress"].get("failed") or 0 for name in ("fit", "grid")]
        assert metrics["sweepfit_failed_solves_total{}"] == sum(failed)

        done = f"done:{run_id}:grid"
        first_done = _until("the sweep on the page", lambda: column(page, done, "done"), timeout=30)[0]

        def grew() -> int | None:
            now = column(page, done, "done")[0]
            return now if now > first_done else None

        latest_done = _until("the page's done count to grow", grew, timeout=30)
        assert column(page, done, "total") == [300]
        assert 0 < first_done < latest_done <= 300
        page.wait_for_timeout(1000)  # let the canvases draw the latest points
        page.screenshot(path=tmp_path / SCREENSHOT, full_page=True)  # the README's picture
        page.close()
    finally:
        orchestrator.cancel(run_id, store=store, wait=30)
    print(f"screenshot: {tmp_path / SCREENSHOT}")


@pytest.mark.slow
def test_a_scheduler_started_elsewhere_gets_the_pages_through_the_preload(short_csv, tmp_path):
    from distributed import Client

    store, other = tmp_path / "store", tmp_path / "other"
    lifecycle.prepare(_pipeline(short_csv), store_root=store)
    lifecycle.prepare(_pipeline(short_csv), store_root=other)
    port, dashboard_port = free_port(), free_port()
    scheduler = subprocess.Popen(
        [Path(sys.executable).parent / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", f"127.0.0.1:{dashboard_port}", "--preload", "orchestrator.preload",
         "--sweepfit-store", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            base = f"http://127.0.0.1:{dashboard_port}"
            plots = json.loads(urllib.request.urlopen(f"{base}/individual-plots.json", timeout=10).read())
            assert {"Individual Sweepfit Runs", "Individual Sweepfit Progress"} <= set(plots)
            menu = urllib.request.urlopen(f"{base}/status", timeout=10).read().decode()
            assert 'href="individual-sweepfit-runs">Sweepfit Runs<' in menu
            assert _metrics(base)['sweepfit_runs{"status": "pending"}'] == 1  # the store given to the preload
            assert dashboard.register_store(client, other)  # as a run started on it does
            assert _metrics(base)['sweepfit_runs{"status": "pending"}'] == 2
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
