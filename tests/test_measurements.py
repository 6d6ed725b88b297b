"""The measurement store: content-addressed db:<id> data, the `sweepfit data` commands, db: pipelines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import orchestrator
from elements.core.data import DataError, DataOptions, in_store, load_measurements
from orchestrator import measurements
from orchestrator.cli import app
from tests.conftest import D_N, DATA
from tests.test_data import write_neware_csv


@pytest.fixture
def frame() -> pd.DataFrame:
    t = [0.0, 10.0, 20.0, 30.0]
    return pd.DataFrame({"Time [s]": t, "Current [A]": [5.0] * 4, "Voltage [V]": [4.0, 3.99, 3.97, 3.96]})


def test_same_content_twice_is_one_id_and_one_copy(frame, tmp_path):
    store = tmp_path / "store"
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "copy of a.csv", index=False)
    # The same measurement in another layout: a renamed column and charge-positive current.
    frame.rename(columns={"Voltage [V]": "U"}).assign(**{"Current [A]": -frame["Current [A]"]}).to_csv(
        tmp_path / "b.csv", index=False)

    first, new = measurements.add_new(tmp_path / "a.csv", store=store)
    stored = next((store / "data").iterdir())
    written = {p: p.stat().st_mtime_ns for p in stored.rglob("*")}
    again, new_again = measurements.add_new(tmp_path / "copy of a.csv", store=store)
    relaid = measurements.add(tmp_path / "b.csv", store=store, column_map={"U": "Voltage [V]"},
                              current_sign="positive_charge")

    assert (new, new_again) == (True, False)
    assert first == again == relaid and len(first) == 64
    assert [p.name for p in (store / "data").iterdir()] == [f"{first}.zarr"]
    assert {p: p.stat().st_mtime_ns for p in stored.rglob("*")} == written  # nothing rewritten


def test_db_source_loads_by_prefix_or_name(frame, tmp_path):
    frame.to_csv(tmp_path / "cell.csv", index=False)
    id_ = measurements.add(tmp_path / "cell.csv", store=tmp_path, name="cell A 1C")
    [by_id] = load_measurements(in_store(f"db:{id_[:8]}", tmp_path))
    [by_name] = load_measurements(in_store("db:cell A 1C", tmp_path))
    [window] = load_measurements(in_store(DataOptions(source=f"db:{id_[:8]}", time_range=[10, 30]), tmp_path))
    pd.testing.assert_frame_equal(by_id.frame, frame)
    assert by_id.sha256 == by_name.sha256 == id_ and by_id.source == f"db:{id_}"
    assert window.time.tolist() == [0.0, 10.0, 20.0]  # filtered, then shifted to start at 0


def test_unknown_id_lists_close_matches(frame, tmp_path):
    frame.to_csv(tmp_path / "cell.csv", index=False)
    id_ = measurements.add(tmp_path / "cell.csv", store=tmp_path, name="cellA")
    with pytest.raises(DataError) as info:
        load_measurements(in_store("db:cellB", tmp_path))
    assert "no such measurement" in str(info.value) and f"{id_[:12]} (cellA)" in str(info.value)
    with pytest.raises(DataError, match="at least 8 characters"):
        load_measurements(in_store(f"db:{id_[:5]}", tmp_path))
    with pytest.raises(DataError, match="current_sign"):
        load_measurements(in_store(DataOptions(source=f"db:{id_[:8]}", current_sign="positive_charge"), tmp_path))
    with pytest.raises(DataError, match="store .* is empty"):
        load_measurements(in_store("db:cellA", tmp_path / "empty"))


def test_cli_data_add_list_show(frame, tmp_path):
    frame.rename(columns={"Time [s]": "t", "Voltage [V]": "U"}).to_csv(tmp_path / "raw.csv", index=False)
    cli = CliRunner()
    args = ["data", "add", str(tmp_path / "raw.csv"), "--store", str(tmp_path), "--name", "raw 1C",
            "--column-map", "t=Time [s],U=Voltage [V]"]
    added = cli.invoke(app, args)
    again = cli.invoke(app, args)
    assert added.exit_code == 0 and again.exit_code == 0, added.output
    id_ = added.stdout.strip().splitlines()[-1]
    assert again.stdout.strip().splitlines()[-1] == id_
    assert "already stored, nothing written" in again.output

    listed = cli.invoke(app, ["data", "list", "--store", str(tmp_path)])
    assert id_[:12] in listed.stdout and "raw 1C" in listed.stdout
    shown = cli.invoke(app, ["data", "show", id_[:8], "--store", str(tmp_path)])
    assert shown.exit_code == 0 and str(tmp_path / "raw.csv") in shown.stdout and "Voltage [V]" in shown.stdout
    bad = cli.invoke(app, ["data", "add", str(tmp_path / "raw.csv"), "--store", str(tmp_path), "--column-map", "t"])
    assert bad.exit_code != 0 and "FILE_COLUMN=PYBAMM_COLUMN" in bad.output
    missing = cli.invoke(app, ["data", "show", "deadbeefdead", "--store", str(tmp_path)])
    assert missing.exit_code == 2 and "no such measurement" in missing.output


def test_cli_adds_a_cycler_export(tmp_path):
    rows = pd.read_parquet(DATA / "lgm50_rpt_25degC.parquet").iloc[:50]
    write_neware_csv(rows, tmp_path / "neware.csv")
    cli = CliRunner()
    added = cli.invoke(app, ["data", "add", str(tmp_path / "neware.csv"), "--store", str(tmp_path),
                             "--cycler", "neware"])
    assert added.exit_code == 0, added.output
    [stored] = load_measurements(in_store(f"db:{added.stdout.strip().splitlines()[-1][:12]}", tmp_path))
    assert stored.voltage.tolist() == pytest.approx(rows["Voltage [V]"].tolist(), abs=1e-12)
    assert stored.current.tolist() == pytest.approx((-rows["Current [A]"]).tolist(), abs=1e-12)  # PyBaMM's sign
    wrong = cli.invoke(app, ["data", "add", str(tmp_path / "neware.csv"), "--store", str(tmp_path),
                             "--cycler", "arbin"])
    assert wrong.exit_code != 0 and "Arbin reader" in wrong.output


@pytest.mark.slow
def test_db_pipeline_runs_on_the_cluster(short_csv, client, tmp_path):
    id_ = measurements.add(short_csv, store=tmp_path)
    objective = {"objective": "CurrentDriven", "data": f"db:{id_[:12]}"}
    spec = {"elements": {
        "fit": {"element_type": "data_fit", "objectives": {"1C": objective},
                "parameters": {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"}},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 3, "maxiter": 2}},
        "check": {"element_type": "validation", "objectives": {"1C": objective}},
    }}
    info = orchestrator.run(spec, client=client, store=tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["check"]["summary"]["metrics"]["1C"]["RMSE"] < 0.01
    lineage = orchestrator.run_lineage(info["run_id"], store=tmp_path)
    assert lineage["data"] == {f"db:{id_}": id_}
    assert lineage["measurements"][id_]["source"] == str(Path(short_csv).resolve())


@pytest.mark.slow
def test_per_key_fits_read_db_data_from_the_runs_store_on_every_worker(short_csv, client, tmp_path):
    # The store is not the workers' default one: each key's fit runs as a task of its own on a worker,
    # and reads its db: data from the store the spec carries, not from where that worker looks by default.
    store = tmp_path / "elsewhere"
    ids = [measurements.add(pd.read_csv(short_csv).iloc[:n], store=store, name=f"cell{n}") for n in (40, 50)]
    spec = {"elements": {"fit": {
        "element_type": "array_data_fit",
        "objectives": {str(i): {"objective": "CurrentDriven", "data": f"db:{id_[:12]}"} for i, id_ in enumerate(ids)},
        "parameters": {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"}},
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 2, "maxiter": 1},
    }}}
    assert not any(client.run(lambda: __import__("pathlib").Path("sweepfit-runs/data").is_dir()).values())
    info = orchestrator.run(spec, client=client, store=store)
    assert info["status"] == "completed", info
    assert info["elements"]["fit"]["summary"]["counts"]["keys"] == 2
