"""Shared pytest configuration and fixtures."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dask.config
import pytest

# Compiling each distinct model costs 1-2 s of gcc on a cold cache (a fresh CI machine) and tests solve
# few points per model: the suite solves uncompiled (tests/test_compiled.py checks compiled solves);
# the environment variable reaches the `dask worker` processes tests start.
os.environ["DASK_SWEEPFIT__SOLVE__COMPILE"] = "false"
dask.config.set({"sweepfit.solve.compile": False})
# A warm cluster the developer has up (`sweepfit cluster up`) is not the tests': they look for theirs elsewhere.
os.environ["DASK_SWEEPFIT__WARM__FOLDER"] = os.path.join(tempfile.gettempdir(), f"sweepfit-tests-warm-{os.getpid()}")
dask.config.set({"sweepfit.warm.folder": os.environ["DASK_SWEEPFIT__WARM__FOLDER"]})

pytest_plugins = ["tests.slurm_fixture"]

DATA = Path(__file__).resolve().parent / "data"  # measured files with their licences, see data/README.md
D_N = "Negative particle diffusivity [m2.s-1]"
D_P = "Positive particle diffusivity [m2.s-1]"
TRUE = {D_N: 3.3e-14, D_P: 4e-15}
# Headless, and nothing reaching out to the network on its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark problem: SPMe, Chen2020, 1C (5 A) for 3500 s, 1 mV noise, seed 0."""
    from elements.synthetic import synthetic_discharge

    path = tmp_path_factory.mktemp("data") / "synthetic_1C.csv"
    synthetic_discharge(values=TRUE, current=5.0, duration=3500.0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def short_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-minute 1C discharge: cheap enough for fits in fast tests."""
    from elements.synthetic import synthetic_discharge

    path = tmp_path_factory.mktemp("data") / "short_1C.csv"
    synthetic_discharge(values=TRUE, current=5.0, duration=600.0).to_csv(path, index=False)
    return path


@pytest.fixture
def browser():
    """Headless Chromium driven by Playwright: the apt package (`make test` installs it), since
    Playwright's own browser download is not reachable from where these tests run."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def client():
    """A real two-worker LocalCluster shared by the end-to-end tests."""
    from clusters import closing, local_client

    with closing(local_client(n_workers=2, threads_per_worker=1)) as made:
        yield made


def fit_pipeline(data: Path, **optimizer: object) -> dict:
    """A two-diffusivity fit followed by a validation, on one data file."""
    objective = {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{data}"}
    return {
        "project": "tests",
        "elements": {
            "fit": {
                "element_type": "data_fit",
                "objectives": {"1C": objective},
                "parameters": {
                    D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"},
                    D_P: {"bounds": [1e-16, 1e-13], "transform": "log10"},
                },
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, **optimizer},
            },
            "check": {"element_type": "validation", "objectives": {"1C": objective}},
        },
    }


def run_serially(spec: dict, store: Path) -> dict:
    """Run every element in this process with a serial map: the fast path for unit tests."""
    import orchestrator
    from orchestrator.lifecycle import prepare
    from orchestrator.worker import run_element

    run = prepare(spec, store_root=store)
    values: dict = {}
    for name, element in run.pipeline.elements.items():
        values = run_element(str(run.path), name, element, values, str(run.base_dir))
    return orchestrator.status(run.run_id, store=store)


@contextlib.contextmanager
def dask_processes(
    logs: Path, *worker_args: str, workers: int = 1, scheduler_args: tuple[str, ...] = (), protocol: str = "tcp",
    security: object = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `dask scheduler SCHEDULER_ARGS` and `dask worker WORKER_ARGS` on loopback: (address, worker
    process). Waits until ``workers`` workers joined (connecting with ``security``); stops both (the
    worker first) on exit.
    """
    from distributed import Client

    from orchestrator.monitor import free_port

    bin_ = Path(sys.executable).parent
    port = str(free_port())
    address = f"{protocol}://127.0.0.1:{port}"
    log = open(logs / "dask.log", "w")
    procs = [subprocess.Popen([bin_ / "dask", "scheduler", "--protocol", protocol, "--host", "127.0.0.1", "--port", port,
                               "--dashboard-address", "127.0.0.1:0", *scheduler_args], stdout=log, stderr=subprocess.STDOUT)]
    procs.append(subprocess.Popen([bin_ / "dask", "worker", address, "--host", "127.0.0.1", *worker_args],
                                  stdout=log, stderr=subprocess.STDOUT))
    try:
        with Client(address, security=security, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, procs[1]
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
