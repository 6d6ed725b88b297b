"""Excel workbooks and decimal-comma text exports read as the same data as a plain CSV of them.

Data (see data/README.md): Samsung INR21700 HPPC workbooks from the PyBOP repository and the first
rows of the Tesla 4680 T-cell pseudo-OCV export (Ank et al. 2023), both BSD-3-Clause.
"""

import csv
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from elements.core.data import DataError, load_measurements
from tests.conftest import DATA

HPPC = DATA / "samsung_inr21700" / "multipulse_hppc.xlsx"
TESLA = DATA / "tesla_4680" / "T-cell_pOCV_first300.txt"
COLUMNS = {"Time": "Time [s]", "Current": "Current [A]", "Voltage": "Voltage [V]"}


def sheet_as_csv(workbook: Path, sheet: str, target: Path) -> None:
    """The sheet's cell values written as CSV by openpyxl and the csv module (no pandas)."""
    rows = openpyxl.load_workbook(workbook, read_only=True, data_only=True)[sheet].iter_rows(values_only=True)
    with target.open("w", newline="") as f:
        csv.writer(f).writerows([repr(v) if isinstance(v, float) else v for v in row] for row in rows)


def test_xlsx_sheet_reads_as_the_same_data_as_its_csv(tmp_path):
    sheet_as_csv(HPPC, "Sheet1", tmp_path / "hppc.csv")
    shutil.copy(HPPC, tmp_path / "hppc.xlsx")
    [excel] = load_measurements({"source": "file:hppc.xlsx", "sheet": "Sheet1", "column_map": COLUMNS},
                                base_dir=tmp_path)
    [text] = load_measurements({"source": "file:hppc.csv", "column_map": COLUMNS}, base_dir=tmp_path)
    assert len(excel.frame) == 1194 - 7  # seven step boundaries logged twice
    pd.testing.assert_frame_equal(excel.frame, text.frame)
    assert excel.current.max() == pytest.approx(6.0, abs=0.05)  # the 6 A discharge pulse, positive on discharge


def test_first_sheet_by_default_and_by_position(tmp_path):
    by_name = load_measurements({"source": "file:multipulse_hppc.xlsx", "sheet": "Sheet1", "column_map": COLUMNS},
                                base_dir=HPPC.parent)[0].frame
    for options in ({}, {"sheet": 0}):
        found = load_measurements({"source": "file:multipulse_hppc.xlsx", "column_map": COLUMNS, **options},
                                  base_dir=HPPC.parent)[0].frame
        pd.testing.assert_frame_equal(found, by_name)


def test_missing_sheet_names_the_sheets_found():
    with pytest.raises(DataError, match=r"no sheet 'Sheet3'; the workbook has sheets \['Sheet1', 'Sheet2'\]"):
        load_measurements({"source": "file:multipulse_hppc.xlsx", "sheet": "Sheet3", "column_map": COLUMNS},
                          base_dir=HPPC.parent)


def test_missing_columns_in_a_sheet_name_the_columns_found():
    with pytest.raises(DataError, match=r"missing column\(s\) \['Voltage \[V\]'\]; present columns: \['Time \[s\]', "
                                        r"'Current \[A\]'\]"):
        load_measurements({"source": "file:sample_drive_cycle.xlsx", "sheet": "Sheet3",
                           "column_map": {"Time": "Time [s]", "Current": "Current [A]"}},
                          base_dir=DATA / "samsung_inr21700")


def test_decimal_comma_export_reads_as_the_same_data_as_with_points(tmp_path):
    (tmp_path / "points.txt").write_text(TESLA.read_text().replace(",", "."))
    shutil.copy(TESLA, tmp_path / "commas.txt")
    columns = {"time/s": "Time [s]", "Ewe-Ece/V": "Voltage [V]"}
    [commas] = load_measurements({"source": "file:commas.txt", "decimal": ",", "column_map": columns},
                                 base_dir=tmp_path, required=("Time [s]", "Voltage [V]"))
    [points] = load_measurements({"source": "file:points.txt", "column_map": columns},
                                 base_dir=tmp_path, required=("Time [s]", "Voltage [V]"))
    assert commas.frame.shape == (300, 11)
    pd.testing.assert_frame_equal(commas.frame, points.frame)
    assert commas.voltage[0] == pytest.approx(3.1071846)


def test_decimal_commas_read_without_decimal_say_how_to_read_them():
    with pytest.raises(DataError, match=r"'183903,1284' at row 0 \(a decimal comma: read the file with decimal=\",\"\)"):
        load_measurements({"source": f"file:{TESLA.name}", "column_map": {"time/s": "Time [s]", "Ewe-Ece/V": "Voltage [V]"}},
                          base_dir=TESLA.parent, required=("Time [s]", "Voltage [V]"))


@pytest.mark.parametrize(("name", "options", "message"), [
    ("multipulse_hppc.xlsx", {"decimal": ","}, r"decimal= describe a text file, not a xlsx file"),
    ("T-cell_pOCV_first300.txt", {"sheet": "Sheet1"}, r"sheet= picks a sheet of an Excel workbook"),
])
def test_options_for_another_kind_of_file_are_errors(name, options, message):
    folder = HPPC.parent if name.endswith("xlsx") else TESLA.parent
    with pytest.raises(DataError, match=message):
        load_measurements({"source": f"file:{name}", **options}, base_dir=folder, required=())
