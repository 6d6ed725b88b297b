"""The fault suite, continued: what sweepfit reports after a fault is what happened.

Damaged results, a killed scheduler, a full disk, failing elements and shared stores, with real
processes (a `dask scheduler`, `sweepfit run`, a tmpfs in a user namespace) where the fault needs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from distributed import Client
from typer.testing import CliRunner

import orchestrator
from elements.core.status import Status
from orchestrator import lifecycle
from orchestrator import store as stores
from orchestrator.cli import app
from tests.conftest import D_N, D_P, dask_processes, fit_pipeline, run_serially

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _small_fit(data: Path) -> dict:
    spec = fit_pipeline(data, popsize=2, maxiter=1, polish=False)
    del spec["elements"]["check"]
    return spec


def test_a_deleted_element_group_reads_damaged_everywhere_and_a_rerun_recomputes_it(short_csv, tmp_path):
    store = tmp_path / "store"
    first = run_serially(_small_fit(short_csv), store)
    assert first["status"] == "completed"
    shutil.rmtree(store / "runs" / f"{first['run_id']}.zarr" / "fit")

    info = orchestrator.get(first["run_id"], store=store)
    assert info["status"] == Status.DAMAGED and info["elements"]["fit"]["status"] == Status.DAMAGED
    assert re.match(r"\d+ of its \d+ files missing \(fit/", info["elements"]["fit"]["damaged"])
    shown = cli("status", first["run_id"], "--store", store).output
    assert f"run {first['run_id']}: damaged" in shown and "files missing (fit/" in shown
    assert "files missing" in cli("result", first["run_id"], "--store", store).output
    opened = cli("open", first["run_id"], "--store", store)
    assert "warning: element 'fit' of run" in opened.output and "Group: /fit" not in opened.output
    with pytest.warns(stores.DamagedWarning, match="is damaged and left out"):
        assert "fit" not in orchestrator.open_run(first["run_id"], store).children
    plotted = cli("plot", first["run_id"], "--store", store, "--out", tmp_path / "figures")
    assert plotted.exit_code == 2 and "element 'fit' of run" in plotted.output and "is damaged" in plotted.output

    again = run_serially(_small_fit(short_csv), store)  # the cache does not reuse it: it says so and recomputes
    fit = again["elements"]["fit"]
    assert again["status"] == "completed" and "cached_from" not in fit and fit["solves"] > 0
    assert fit["recomputed"].startswith(f"run {first['run_id']} computed it (element 'fit'), but that copy is damaged")
    tree = orchestrator.open_run(again["run_id"], store)
    assert np.isfinite(tree["fit"].to_dataset().cost.values).all()
    assert "recomputed: run" in cli("status", again["run_id"], "--store", store).output
    assert "Group: /fit" in cli("open", again["run_id"], "--store", store).output

    resumed = lifecycle.prepare(_small_fit(short_csv), store_root=store, resume=first["run_id"])
    assert orchestrator.get(resumed.run_id, store=store)["elements"]["fit"]["status"] == Status.PENDING  # not passed on


def test_a_changed_file_reads_damaged_with_its_name(short_csv, tmp_path):
    info = run_serially(_small_fit(short_csv), tmp_path)
    path = stores.run_path(info["run_id"], tmp_path)
    chunk = next(p for p in sorted((path / "fit").rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:-1])  # cut short, as a copy interrupted mid-file leaves it
    why = stores.read_attrs(path)["elements"]["fit"]["damaged"]
    assert why.startswith("1 of its") and f"files changed size ({chunk.relative_to(path).as_posix()})" in why


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_killed_scheduler_reads_lost_within_10_s_and_no_key_error_reaches_the_user(short_csv, tmp_path):
    spec = fit_pipeline(short_csv, popsize=10, maxiter=5000, tol=0)
    del spec["elements"]["check"]
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(spec))
    store = tmp_path / "store"
    with dask_processes(tmp_path, "--nthreads", "2") as (address, _):
        with Client(address) as client:
            scheduler_pid = client.run_on_scheduler(os.getpid)
        run = subprocess.Popen([BIN / "sweepfit", "run", "fit.yaml", "--cluster", address, "--store", "store"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not list(store.glob("runs/*.zarr/_progress/fit/gen000002.npz")):
            assert time.monotonic() < deadline and run.poll() is None, run.communicate()
            time.sleep(0.1)
        run_id = next(store.glob("runs/*.zarr")).stem
        os.kill(scheduler_pid, signal.SIGKILL)
        killed = time.monotonic()
        while not (shown := cli("status", run_id, "--store", store).output).startswith(f"run {run_id}: lost"):
            assert time.monotonic() - killed < 10, shown
            time.sleep(0.2)
        out, err = run.communicate(timeout=60)
    assert f"lost the scheduler {address}" in shown or f"its scheduler {address} does not answer" in shown
    assert run.returncode == 1, err
    assert "KeyError" not in out + err + shown and "Traceback" not in out + err
    record = json.loads((store / "runs" / f"{run_id}.zarr" / "_run.json").read_text())
    assert record["status"] == "lost" and f"lost the scheduler {address}" in record["error"]
    assert f"--resume {run_id}" in record["error"]
    info = orchestrator.get(run_id, store=store)
    assert info["status"] == "lost" and info["elements"]["fit"]["status"] == "lost"  # the records and the view agree
    assert "~" not in cli("status", run_id, "--store", store).output  # no time left is promised for a lost run


FULL_DISK = """
set -u
store=$PWD/store
mkdir -p "$store" && mount -t tmpfs -o size=4m tmpfs "$store"
"$BIN/sweepfit" run fit.yaml --store "$store" --workers 1 > run.out 2> run.err & run=$!
for i in $(seq 600); do ls "$store"/runs/*.zarr/_progress/fit/gen000002.npz > /dev/null 2>&1 && break; sleep 0.2; done
dd if=/dev/zero of="$store/filler" bs=64k 2> /dev/null
# hold the disk full: take every page the run frees (a replaced record, a removed staging file)
( n=0; while kill -0 $run 2> /dev/null; do n=$((n + 1))
  dd if=/dev/zero of="$store/fill.$n" bs=4k count=1 2> /dev/null || rm -f "$store/fill.$n"; done ) &
wait $run; echo $? > code
id=$(basename "$store"/runs/*.zarr .zarr)
"$BIN/sweepfit" status "$id" --store "$store" --json > status.json
cp "$store/runs/$id.zarr/_run.json" run.json
"""


def _user_namespaces() -> bool:
    done = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False) if shutil.which("unshare") else None
    return done is not None and done.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not _user_namespaces(), reason="no user namespaces here to mount a small tmpfs in "
                    "(test_a_failure_the_store_cannot_take_says_so covers the same path with an ENOSPC write)")
def test_a_full_disk_ends_with_exit_3_saying_how_status_reads(short_csv, tmp_path):
    """A 4 MB tmpfs store, filled mid-fit: the run cannot record its failure, says so with exit 3 and
    the status `sweepfit status` then shows (resuming after freeing space: the resume tests in test_faults)."""
    spec = fit_pipeline(short_csv, popsize=4, maxiter=12, tol=0, polish=False)
    del spec["elements"]["check"]
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(spec))
    done = subprocess.run(["unshare", "-rm", "bash", "-c", FULL_DISK], cwd=tmp_path, env={**os.environ, "BIN": str(BIN)},
                          capture_output=True, text=True, check=False, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    err = (tmp_path / "run.err").read_text()
    status = json.loads((tmp_path / "status.json").read_text())
    assert (tmp_path / "code").read_text().strip() == "3", err
    assert "Traceback" not in err and "No space left on device" in err
    assert f"but could not record it in {tmp_path}/store/runs/{status['run_id']}.zarr" in " ".join(err.split())
    # what it said `status` reads is what `status` reads, and that is what the store holds
    said = re.search(r"`sweepfit status \S+` reads (\w+) \((.*?)\);", " ".join(err.split()))
    assert said and status["status"] == said[1] == "lost" and status["lost"] == said[2]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"  # not written: the disk was full


def test_a_failure_the_store_cannot_take_says_so(tmp_path, monkeypatch):
    spec = {"elements": {"a": {"element_type": "entry", "values": {"x": 1.0}}}}
    run = lifecycle.prepare(spec, store_root=tmp_path)

    def full(path, **values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stores, "write_run", full)
    with pytest.raises(lifecycle.Unrecorded, match=rf"run {run.run_id} ended \(the graph broke\) but could not record "
                                                   r"it in .*: No space left on device"):
        lifecycle.fail(run, "the graph broke")


@pytest.mark.slow
def test_an_element_that_fails_on_a_worker_prints_one_line_and_no_traceback(short_csv, tmp_path):
    spec = fit_pipeline(short_csv, popsize=2, maxiter=1)
    objectives = spec["elements"]["fit"]["objectives"]
    objectives["1C"] = {**objectives["1C"], "initial_state": "4.5 V"}  # above Chen2020's 4.2 V: fails on the worker
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    done = subprocess.run([BIN / "sweepfit", "run", "fit.yaml", "--store", "store", "--workers", "1"], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=180)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout and "Compute Failed" not in done.stderr
    assert "4.5 V lies outside the voltage cut-offs [2.5, 4.2]" in done.stderr
    [run] = stores.list_runs(tmp_path / "store")
    assert run["status"] == "failed" and "Traceback" in run["elements"]["fit"]["traceback"]  # kept in the record
    check = run["elements"]["check"]
    assert check["status"] == "canceled" and check["error"] == "not started: element 'fit' failed"  # not left pending


def test_an_ocp_table_from_3_points_is_refused_before_any_cluster(tmp_path):
    pd.DataFrame({"Stoichiometry": [0.1, 0.5, 0.9], "Voltage [V]": [0.6, 0.2, 0.1]}).to_csv(tmp_path / "ocp.csv",
                                                                                              index=False)
    spec = {"elements": {"ocp": {"element_type": "calculation", "calculation": "OCPDataInterpolant",
                                 "electrode": "negative", "data": "file:ocp.csv"}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec))
    done = cli("run", tmp_path / "p.yaml", "--store", tmp_path / "store", "--cluster", "tcp://127.0.0.1:9")
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert ("elements.ocp: file:ocp.csv: 3 distinct stoichiometries (after merging those within 1e-06); an OCP "
            "table needs at least 5") in " ".join(done.output.split())
    assert orchestrator.list_runs(tmp_path / "store") == []  # nothing written, no cluster asked for


def test_data_no_cell_can_follow_is_a_warning_before_anything_is_solved(short_csv, tmp_path):
    frame = pd.read_csv(short_csv)
    frame.assign(**{"Current [A]": 1e6}).to_csv(tmp_path / "megaampere.csv", index=False)
    frame.assign(**{"Voltage [V]": frame["Voltage [V]"] * 1000}).to_csv(tmp_path / "millivolts.csv", index=False)
    spec = fit_pipeline(tmp_path / "megaampere.csv")
    checked = spec["elements"]["check"]["objectives"]
    checked["1C"] = {**checked["1C"], "data": f"file:{tmp_path / 'millivolts.csv'}"}
    run = lifecycle.prepare(spec, store_root=tmp_path)
    assert len(run.warnings) == 2
    assert run.warnings[0].startswith("elements.fit: objective '1C': data ") and (
        "draws up to 1e+06 A, 2e+05C for Chen2020's nominal capacity of 5 A.h") in run.warnings[0]
    assert "outside Chen2020's voltage cut-offs 2.5-4.2 V" in run.warnings[1]
    shown = cli("status", run.run_id, "--store", tmp_path).output
    assert "warning: elements.fit: objective '1C'" in shown  # kept with the run
    assert lifecycle.prepare(fit_pipeline(short_csv), store_root=tmp_path).warnings == ()


UMASKED = """
import sys
from tests.conftest import run_serially
assert run_serially({"elements": {"a": {"element_type": "entry", "values": {"x": 1.0}}}}, sys.argv[1])["status"] == "completed"
"""


@pytest.mark.parametrize("umask, files, folders", [("002", 0o664, 0o775), ("077", 0o600, 0o700)])
def test_store_files_and_folders_take_the_users_umask(tmp_path, umask, files, folders):
    """With umask 002 (a group sharing a store on a cluster file system) every record, manifest and
    zarr file and folder is group-writable; with 077 none is. One user here: no second account to read with."""
    subprocess.run(["sh", "-c", f'umask {umask} && exec "$0" -c "$1" "$2"', sys.executable, UMASKED, tmp_path / "store"],
                   cwd=ROOT, check=True, timeout=120)
    found = list((tmp_path / "store").rglob("*"))
    assert {"_run.json", "a.json", "zarr.json"} <= {p.name for p in found}
    assert {oct(p.stat().st_mode & 0o777) for p in found if p.is_file()} == {oct(files)}
    assert {oct(p.stat().st_mode & 0o777) for p in found if p.is_dir()} == {oct(folders)}


def test_every_yaml_block_in_the_readme_parses():
    text = (ROOT / "README.md").read_text()
    blocks = [(text[:m.start()].count("\n") + 1, m[1]) for m in re.finditer(r"```yaml\n(.*?)```", text, re.S)]
    assert len(blocks) >= 10
    for line, block in blocks:
        try:
            yaml.safe_load(block)
        except yaml.YAMLError as exc:
            pytest.fail(f"README.md line {line}: {exc}")
    pipeline = yaml.safe_load(blocks[0][1])
    objective = pipeline["elements"]["fit"]["objectives"]["1C"]
    assert objective["variables"] == ["Voltage [V]"] and pipeline["elements"]["start"]["values"] == {
        "Ambient temperature [K]": 298.15}
    assert D_N in pipeline["elements"]["fit"]["parameters"] and D_P not in pipeline["elements"]["fit"]["parameters"]
