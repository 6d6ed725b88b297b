"""A `dask scheduler --protocol tls` and a `dask worker` started with certificates from a CA made here:
a pipeline runs through an address profile with `tls: {ca-file, cert, key}`, and a client without
the certificates, or with ones the scheduler does not trust, gets one line naming the address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from distributed import Security

import orchestrator
from tests.conftest import dask_processes

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
D_N = "Negative particle diffusivity [m2.s-1]"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def signed(folder: Path, name: str, ca: str) -> dict[str, str]:
    """A key and a certificate for 127.0.0.1 signed by the CA ``ca`` (``ca.pem``/``ca.key`` in ``folder``)."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", "san.cnf", cwd=folder)
    return {"ca-file": str(folder / f"{ca}.pem"), "cert": str(folder / f"{name}.pem"), "key": str(folder / f"{name}.key")}


def authority(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-days", "2", "-subj", f"/CN={name}", cwd=folder)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The cluster's CA with a certificate for the scheduler and workers, one for the client, and a
    client certificate from another CA that the cluster does not trust."""
    folder = tmp_path_factory.mktemp("certs")
    authority(folder, "ca")
    authority(folder, "rogue-ca")
    return {"node": signed(folder, "node", "ca"), "client": signed(folder, "client", "ca"),
            "rogue": signed(folder, "rogue", "rogue-ca")}


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory, certs):
    """A TLS scheduler and one two-thread TLS worker, separate processes on 127.0.0.1."""
    logs = tmp_path_factory.mktemp("dask")
    node = certs["node"]
    tls = ("--tls-ca-file", node["ca-file"], "--tls-cert", node["cert"], "--tls-key", node["key"])
    security = Security(tls_ca_file=node["ca-file"], tls_client_cert=node["cert"], tls_client_key=node["key"],
                        require_encryption=True)
    with dask_processes(logs, "--nworkers", "1", "--nthreads", "2", *tls, scheduler_args=tls, protocol="tls",
                        security=security) as (address, _):
        yield address


def sweepfit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN / "sweepfit", *args], capture_output=True, text=True, timeout=240, check=False)


def write(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def profiles(tmp_path: Path, address: str, tls: dict[str, str]) -> Path:
    return write(tmp_path / "profiles.yaml",
                 {"sweepfit": {"clusters": {"lab": {"type": "address", "address": address, "tls": tls}}}})


def test_a_pipeline_runs_on_a_tls_scheduler_through_a_profile(tmp_path, scheduler, certs):
    from elements.synthetic import synthetic_discharge

    data = tmp_path / "short.csv"
    synthetic_discharge(values={D_N: 3.3e-14}, model="SPM", current=5.0, duration=300.0).to_csv(data, index=False)
    objectives = {"1C": {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}}
    pipeline = write(tmp_path / "pipeline.yaml", {"project": "tls", "elements": {
        "fit": {"element_type": "data_fit", "objectives": objectives,
                "parameters": {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"}},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 3, "maxiter": 1,
                              "tol": 0, "polish": False}},
        "check": {"element_type": "validation", "objectives": objectives},
    }})
    store = str(tmp_path / "store")
    done = sweepfit("run", str(pipeline), "--cluster", "lab", "--profiles",
                    str(profiles(tmp_path, scheduler, certs["client"])), "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["elements"]["fit"]["summary"]["evaluations"] >= 3
    assert result["elements"]["check"]["summary"]["metrics"]["1C"]["RMSE"] > 0

    status = orchestrator.get(result["run_id"], store=store)
    assert status["scheduler"] == scheduler and status["cluster"] == "lab"
    for element in status["elements"].values():
        assert element["worker"]["worker"].startswith("tls://127.0.0.1:")  # ran on the TLS worker


@pytest.mark.parametrize("how, message", [
    ("no certificates", "is a TLS address but no certificates were given"),
    ("untrusted certificate", "answered but the TLS handshake failed"),
])
def test_a_client_without_the_clusters_certificates_gets_one_line_naming_the_address(
    tmp_path, scheduler, certs, how, message
):
    pipeline = write(tmp_path / "pipeline.yaml", {"elements": {"start": {"element_type": "entry", "values": {"x": 1}}}})
    cluster = ["--cluster", scheduler]
    if how == "untrusted certificate":
        cluster = ["--cluster", "lab", "--profiles", str(profiles(tmp_path, scheduler, certs["rogue"]))]
    done = sweepfit("run", str(pipeline), *cluster, "--store", str(tmp_path / "store"), "--json")
    assert done.returncode == 2, (done.stdout, done.stderr)
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and scheduler in line and message in line, line
    assert "Traceback" not in done.stdout + done.stderr

    # The run it had created ends failed with the same reason: nothing is left pending.
    [run] = orchestrator.list_runs(tmp_path / "store")
    assert run["status"] == "failed" and message in run["error"]
