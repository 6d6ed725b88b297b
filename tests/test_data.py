"""Tests for elements.core.data: loading measured time series with clear errors.

Real data (see data/README.md): LG M50 reference performance test, PyProBE test data
(Imperial College London, BSD-3-Clause); Enertech discharges, Ai et al. 2020 as shipped in
pybamm 24.1 (BSD-3-Clause).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from elements.core import data
from elements.core.data import (
    DataError,
    DataOptions,
    load_measurements,
    register_source,
)
from elements.core.registry import Registry
from tests.conftest import DATA

GOOD_CSV = "Time [s],Voltage [V],Current [A]\n10,4.1,1.0\n20,4.0,1.0\n30,3.9,1.0\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, name: str, text: str, **options):
    write(tmp_path, name, text)
    return load_measurements({"source": f"file:{name}", **options}, base_dir=tmp_path)


def test_good_csv_is_normalised(tmp_path):
    [m] = load_text(tmp_path, "1C.csv", GOOD_CSV)
    assert (m.name, m.source) == ("1C", "file:1C.csv")
    np.testing.assert_array_equal(m.time, [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(m.voltage, [4.1, 4.0, 3.9])
    np.testing.assert_array_equal(m.current, [1.0, 1.0, 1.0])
    assert m.time.dtype == np.float64


@pytest.mark.parametrize(
    ("name", "text", "options", "fragments"),
    [
        ("run.xls", GOOD_CSV, {}, ["run.xls", "unsupported file type '.xls'", ".xlsx", ".parquet", "cycler="]),
        ("run.csv", "", {}, ["run.csv", "empty"]),
        ("run.csv", "Time [s],Voltage [V],Current [A]\n", {}, ["run.csv", "no data rows"]),
        ("run.csv", "t,Voltage [V],I\n0,4,1\n", {},
         ["run.csv", "'Time [s]'", "'Current [A]'", "present columns: ['t', 'Voltage [V]', 'I']",
          "column_map", "current="]),
        ("run.csv", "0,4.1,1\n1,4.0,1\n", {},
         ["run.csv", "'Time [s]'", "no header row", "columns="]),
        ("run.csv", "Time [s],Voltage [V],Current [A]\n0,4.1,1\n1,oops,1\n2,3.9,1\n", {},
         ["run.csv", "'Voltage [V]'", "non-numeric", "'oops'", "row 1"]),
        ("run.csv", "Time [s],Voltage [V],Current [A]\n0,4.1,1\n1,4.0,\n2,3.9,\n", {},
         ["run.csv", "'Current [A]'", "2 NaN", "row 1"]),
        ("run.csv", "Time [s],Voltage [V],Current [A]\n0,4.1,1\n1,4.0,1\n1,3.9,1\n", {},
         ["run.csv", "'Time [s]'", "not strictly increasing", "row 2", "time_range="]),
        ("run.csv", "Time [s],Voltage [V],Current [A]\n0,4.1,1\n1,4.0,1\n1,4.0,1\n0.5,3.9,1\n", {},
         ["run.csv", "'Time [s]'", "not strictly increasing", "row 3", "t = 0.5 after t = 1.0"]),
        ("run.csv", GOOD_CSV, {"column_map": {"U": "Voltage [V]"}},
         ["run.csv", "'U'", "present columns"]),
        ("run.csv", GOOD_CSV, {"steps": [1]}, ["run.csv", "'Step'", "present columns"]),
        ("run.csv", GOOD_CSV, {"time_range": [100, 200]},
         ["run.csv", "no data rows after filtering", "time_range=(100.0, 200.0)"]),
        ("run.csv", GOOD_CSV, {"current": 2.0}, ["run.csv", "'Current [A]'", "current="]),
        ("run.txt", "0\t4.1\n1\t4.0\n", {"columns": ["Time [s]"]},
         ["run.txt", "1 names", "2 columns"]),
    ],
)
def test_bad_file_raises_data_error_naming_file_and_column(tmp_path, name, text, options,
                                                           fragments):
    with pytest.raises(DataError) as info:
        load_text(tmp_path, name, text, **options)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_missing_file_names_resolved_path(tmp_path):
    with pytest.raises(DataError, match="nope.csv") as info:
        load_measurements("file:sub/nope.csv", base_dir=tmp_path)
    assert str(tmp_path / "sub" / "nope.csv") in str(info.value)


def test_non_numeric_time_reported_with_voltage_at_once(tmp_path):
    text = "Time [s],Voltage [V],Current [A]\n0,4.1,1\nx,4.0,1\n"
    with pytest.raises(DataError, match=r"'Time \[s\]' has 1 non-numeric value\(s\), the first 'x'"):
        load_text(tmp_path, "run.csv", text)


def test_column_map_renames_to_pybamm_names(tmp_path):
    text = "t,U,I,T\n5,4.1,1.5,25\n6,4.0,1.5,26\n"
    [m] = load_text(tmp_path, "run.csv", text, column_map={
        "t": "Time [s]", "U": "Voltage [V]", "I": "Current [A]", "T": "Temperature [C]"})
    np.testing.assert_array_equal(m.time, [0.0, 1.0])
    assert list(m.frame["Temperature [C]"]) == [25, 26]


def test_header_less_columns_and_current_sign_flip(tmp_path):
    [m] = load_text(tmp_path, "run.csv", "0,4.1,-2\n1,4.0,-2\n",
                    columns=["Time [s]", "Voltage [V]", "Current [A]"],
                    current_sign="positive_charge")
    np.testing.assert_array_equal(m.current, [2.0, 2.0])


def test_tab_separated_header_is_sniffed(tmp_path):
    [m] = load_text(tmp_path, "run.tsv", "Time [s]\tVoltage [V]\tCurrent [A]\n0\t4\t1\n1\t3.9\t1\n")
    np.testing.assert_array_equal(m.voltage, [4.0, 3.9])


def test_time_range_keeps_rows_and_shifts_time(tmp_path):
    [m] = load_text(tmp_path, "run.csv", GOOD_CSV, time_range=[15, 30])
    np.testing.assert_array_equal(m.time, [0.0, 10.0])
    np.testing.assert_array_equal(m.voltage, [4.0, 3.9])


def test_lgm50_c10_discharge_step_in_pybamm_convention():
    [m] = load_measurements({"source": "file:lgm50_rpt_25degC.parquet", "steps": [5],
                             "current_sign": "positive_charge"}, base_dir=DATA)
    assert m.time[0] == 0.0
    assert np.all(np.diff(m.time) > 0)
    assert m.time[-1] == pytest.approx(51909.6 - 17251.5, abs=1.0)
    assert m.current.mean() == pytest.approx(0.5, abs=1e-3)
    assert m.voltage[-1] == pytest.approx(2.5, abs=0.02)
    assert set(m.frame["Step"]) == {5}
    assert list(m.frame.index) == list(range(len(m.frame)))


def test_enertech_header_less_tab_file_with_constant_current():
    [m] = load_measurements(
        {"source": "file:enertech/1C_discharge_U.txt", "columns": ["Time [s]", "Voltage [V]"],
         "current": 2.28},
        base_dir=DATA,
    )
    assert m.name == "1C_discharge_U"
    assert len(m.frame) == 3615
    assert m.time[0] == 0.0
    assert m.voltage[0] == pytest.approx(4.181100464)
    assert np.all(m.current == 2.28)


def test_folder_gives_one_measurement_per_file_sorted(tmp_path):
    write(tmp_path, "b.csv", GOOD_CSV)
    write(tmp_path, "a.csv", GOOD_CSV.replace("4.1", "4.2"))
    write(tmp_path, "notes.txt", "not data")
    measurements = load_measurements("folder:.", base_dir=tmp_path)
    assert [m.name for m in measurements] == ["a", "b"]
    assert [m.source for m in measurements] == ["file:a.csv", "file:b.csv"]
    assert measurements[0].voltage[0] == 4.2


def test_empty_folder_raises(tmp_path):
    with pytest.raises(DataError, match=r"no \.csv or \.parquet files"):
        load_measurements("folder:.", base_dir=tmp_path)


def test_dataframe_input():
    frame = pd.DataFrame({"Time [s]": [3.0, 4.0], "Voltage [V]": [4.0, 3.9],
                          "Current [A]": [1.0, 1.0]})
    [m] = load_measurements(frame)
    assert m.name == "dataframe"
    np.testing.assert_array_equal(m.time, [0.0, 1.0])
    assert frame["Time [s]"].tolist() == [3.0, 4.0]
    assert m.sha256 == load_measurements(frame.copy())[0].sha256


def test_same_bytes_give_same_sha256(tmp_path):
    write(tmp_path, "a.csv", GOOD_CSV)
    write(tmp_path, "b.csv", GOOD_CSV)
    write(tmp_path, "c.csv", GOOD_CSV.replace("4.1", "4.2"))
    a, b, c = load_measurements("folder:.", base_dir=tmp_path)
    assert a.sha256 == b.sha256 != c.sha256
    assert len(a.sha256) == 64


def test_unknown_prefix_lists_valid_prefixes_and_registry_works(monkeypatch):
    with pytest.raises(DataError, match="valid prefixes: db, file, folder"):
        load_measurements("lab:42")
    isolated = Registry("data source")  # "lab" stays out of the registry other tests see
    for prefix in ("file", "folder"):
        isolated.register(prefix, data.DATA_SOURCES[prefix])
    monkeypatch.setattr(data, "DATA_SOURCES", isolated)
    frame = pd.DataFrame({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, 3.9],
                          "Current [A]": [1.0, 1.0]})
    register_source("lab", lambda target, options, base_dir, required: load_measurements(frame, required=required))
    assert load_measurements("lab:42")[0].name == "dataframe"
    with pytest.raises(ValueError, match="'lab' is registered twice"):
        register_source("lab", lambda target, options, base_dir, required: [])


def test_source_without_prefix_suggests_file_prefix():
    with pytest.raises(DataError, match="'file:data/1C.csv'"):
        load_measurements("data/1C.csv")


def test_invalid_options_raise_data_error_naming_key():
    with pytest.raises(DataError, match="colum_map"):
        load_measurements({"source": "file:1C.csv", "colum_map": {}})
    with pytest.raises(DataError, match="t0 < t1"):
        load_measurements({"source": "file:1C.csv", "time_range": [5, 1]})


def test_wrong_kind_raises_type_error():
    with pytest.raises(TypeError, match="got int"):
        load_measurements(3)


def test_options_model_rejects_unknown_keys():
    assert DataOptions(source="file:x.csv").current_sign == "positive_discharge"
    with pytest.raises(ValueError, match="extra"):
        DataOptions(source="file:x.csv", worksheet=1)


# Cycler exports, written in the layouts PyProBE's readers expect from rows of the real LG M50 test: the end
# of step 4 (rest) and the start of step 5 (C/10 discharge). Times are rounded to the microsecond a Neware
# date holds, so every export carries the same numbers.
@pytest.fixture(scope="module")
def rpt_rows() -> pd.DataFrame:
    frame = pd.read_parquet(DATA / "lgm50_rpt_25degC.parquet")
    start = frame.index[frame["Step"] == 5][0]
    rows = frame.iloc[start - 20:start + 180].reset_index(drop=True)
    return rows.assign(**{"Time [s]": rows["Time [s]"].round(6)})


def write_neware_csv(rows: pd.DataFrame, path: Path) -> None:
    micros = pd.to_timedelta((rows["Time [s]"] * 1e6).round().astype("int64"), unit="us")
    pd.DataFrame({
        "Date": (pd.Timestamp("2024-03-01 09:00:00") + micros).dt.strftime("%Y-%m-%d  %H:%M:%S.%f"),
        "Step Index": rows["Step"],
        "Current(mA)": rows["Current [A]"] * 1000,
        "Voltage(V)": rows["Voltage [V]"],
        "Chg. Cap.(Ah)": 0.0,
        "DChg. Cap.(Ah)": rows["Capacity [Ah]"].iloc[0] - rows["Capacity [Ah]"],
        "T1(℃)": rows["Temperature [C]"],
    }).to_csv(path, index=False)


def write_biologic_mpt(rows: pd.DataFrame, path: Path) -> None:
    table = pd.DataFrame({
        "mode": np.where(rows["Current [A]"] == 0, 3, 1),  # EC-Lab: 1 galvanostatic, 3 rest
        "time/s": rows["Time [s]"],
        "Ns": rows["Step"],
        "I/mA": rows["Current [A]"] * 1000,
        "Ecell/V": rows["Voltage [V]"],
        "Q charge/mA.h": 0.0,
        "Q discharge/mA.h": (rows["Capacity [Ah]"].iloc[0] - rows["Capacity [Ah]"]) * 1000,
    })
    header = ["EC-Lab ASCII FILE", "Nb header lines : 4", "Acquisition started on : 03/01/2024 09:00:00.000"]
    path.write_text("\n".join(header) + "\n" + table.to_csv(sep="\t", index=False), encoding="iso-8859-1")


@pytest.mark.parametrize(("cycler", "name", "write_export"),
                         [("neware", "run.csv", write_neware_csv), ("biologic", "run.mpt", write_biologic_mpt)])
def test_cycler_export_reads_as_the_same_rows(tmp_path, rpt_rows, cycler, name, write_export):
    rpt_rows.to_parquet(tmp_path / "rows.parquet")
    write_export(rpt_rows, tmp_path / name)
    listing = sorted(tmp_path.iterdir())
    [m] = load_measurements({"source": f"file:{name}", "cycler": cycler, "steps": [5]}, base_dir=tmp_path)
    [expected] = load_measurements({"source": "file:rows.parquet", "steps": [5], "current_sign": "positive_charge"},
                                   base_dir=tmp_path)
    assert sorted(tmp_path.iterdir()) == listing  # PyProBE wrote no parquet beside the export
    assert len(m.frame) == 180
    assert set(m.frame["Step"]) == {5}
    assert "Date" not in m.frame
    for column in data.TIME_SERIES:
        np.testing.assert_allclose(m.frame[column], expected.frame[column], rtol=1e-9, atol=1e-9)
    assert m.current.mean() == pytest.approx(0.5, abs=1e-3)  # PyBaMM's sign: positive on discharge


def test_explicit_current_sign_wins_over_the_cycler_default(tmp_path, rpt_rows):
    write_neware_csv(rpt_rows, tmp_path / "run.csv")
    options = {"source": "file:run.csv", "cycler": "neware", "steps": [5]}
    [default] = load_measurements(options, base_dir=tmp_path)
    [explicit] = load_measurements({**options, "current_sign": "positive_discharge"}, base_dir=tmp_path)
    assert default.current.mean() == pytest.approx(0.5, abs=1e-3)
    np.testing.assert_array_equal(explicit.current, -default.current)


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"cycler": "bitrode"},
         ["cycler\n  Input should be", "'arbin', 'basytec', 'biologic', 'maccor', 'neware' or 'novonix'"]),
        ({"cycler": "neware", "columns": ["Time [s]"]}, ["columns=", "cycler='neware'", "own header"]),
        ({"cycler": "arbin"}, ["run.csv", "Arbin reader", "'Current (*)'", "an export of that cycler", "Check cycler="]),
        ({"cycler": "biologic"}, ["run.csv", "Biologic reader says", "time/s", "Check cycler="]),
    ],
)
def test_cycler_errors_name_the_file_and_the_cycler(tmp_path, rpt_rows, options, fragments):
    write_neware_csv(rpt_rows, tmp_path / "run.csv")
    with pytest.raises(DataError) as info:
        load_measurements({"source": "file:run.csv", **options}, base_dir=tmp_path)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.csv"]
