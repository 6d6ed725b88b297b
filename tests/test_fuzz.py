"""Fuzzed pipelines and data files: every input is either a valid run or one clear error, never a traceback.

Each input goes through the Python API (``load_pipeline``, ``lifecycle.prepare``) and through
``sweepfit run --json`` in-process, with the cluster step replaced by a marker so that no cluster
is ever started: bad input must stop the CLI with exit 2, one ``error:`` that names the field path
or the file, and no run in the store. Input that the CLI would send to a cluster is run serially
instead (``run_serially``) and must complete.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import dask.config
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from elements.core.data import DataError, DataOptions
from orchestrator import lifecycle
from orchestrator.cli import app
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, run_serially

COLUMNS = ["Time [s]", "Voltage [V]", "Current [A]"]
# Names users write, right and nearly right, so mutations reach registries, parameters and columns.
NAMES = ["entry", "data_fit", "validation", "sweep", "calculation", "CurrentDriven", "SPM", "SPMe", "DFN",
         "Chen2020", "RMSE", "RMS", "ScipyDifferentialEvolution", "log10", "none", "file:", "folder:", "db:x",
         D_N, "Ambient temperature [K]", "Step", "U", *COLUMNS, *DataOptions.model_fields, "", " "]
NUMBERS = [-1, 0, 1, 2, 0.5, -0.5, 1e-300, 1e300, -1e300, math.nan, math.inf, -math.inf]
EXAMPLES = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

leaves = st.one_of(st.none(), st.booleans(), st.sampled_from(NUMBERS), st.sampled_from(NAMES),
                   st.text(max_size=6))
garbage = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=4)), inner,
                                                 max_size=3)), max_leaves=6)
bad_bounds = st.sampled_from([[1e-12, 1e-15], [1e-14, 1e-14], [math.nan, 1e-12], [-math.inf, 1e-12], [0, 1e-12],
                              [-1e-12, 1e-12], [1e-15], [1e-15, 1e-13, 1e-12], [], [1e-300, 1e300], ["a", "b"]])


def base_pipeline(data: Path) -> dict[str, Any]:
    """A small valid pipeline touching every element type that reads options: cheap to run serially."""
    objective = {"objective": "CurrentDriven", "model": {"type": "SPM", "options": {}}, "data": {"source": f"file:{data}"}}
    return {
        "project": "fuzz",
        "elements": {
            "start": {"element_type": "entry", "values": {"Ambient temperature [K]": 298.15}},
            "fit": {
                "element_type": "data_fit",
                "objectives": {"1C": objective},
                "parameters": {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10", "initial_value": 1e-14}},
                "cost": {"type": "RMSE"},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 1, "maxiter": 1,
                              "polish": False},
            },
            "check": {"element_type": "validation", "objectives": {"1C": copy.deepcopy(objective)}},
            "rates": {
                "element_type": "sweep",
                "model": {"type": "SPM"},
                "protocol": {"current": 5.0, "duration": 60},
                "grid": {D_N: [1e-14, 3e-14]},
                "outputs": {"variables": ["Voltage [V]"], "time": {"stop": 60, "step": 30},
                            "summaries": ["final_voltage"]},
            },
        },
    }


def paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    found = []
    for key, value in children:
        found += [(*prefix, key), *paths(value, (*prefix, key))]
    return found


def at(tree: Any, path: tuple) -> Any:
    for step in path:
        tree = tree[step]
    return tree


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three mutations: a wrong value, a key dropped or added, bad bounds."""
    spec = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["replace", "drop", "add", "bounds"]))
        values = paths(spec)
        if how == "bounds":
            holder = [p for p in values if p[-1] == "bounds"]
            if holder:
                *parent, key = draw(st.sampled_from(holder))
                at(spec, tuple(parent))[key] = copy.deepcopy(draw(bad_bounds))  # later mutations edit it
        elif how in ("replace", "drop") and values:
            *parent, key = draw(st.sampled_from(values))
            if how == "replace":
                at(spec, tuple(parent))[key] = draw(garbage)
            else:
                del at(spec, tuple(parent))[key]
        else:
            mapping = draw(st.sampled_from([(), *(p for p in values if isinstance(at(spec, p), dict))]))
            at(spec, mapping)[draw(st.one_of(st.sampled_from(NAMES), st.text(max_size=5)))] = draw(garbage)
    return spec


class ClusterWouldStart(BaseException):
    """Raised where the CLI would connect to a cluster; not an Exception, so the CLI lets it through."""


def cli_run(pipeline: Path, store: Path) -> Any:
    """``sweepfit run PIPELINE --store STORE --json``'s result, or None where it would start a cluster."""

    def no_cluster(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ClusterWouldStart

    with mock.patch.object(lifecycle, "execute", no_cluster):
        try:
            return CliRunner().invoke(app, ["run", str(pipeline), "--store", str(store), "--json"])
        except ClusterWouldStart:
            return None


def problems(source: Any) -> list[tuple[str, str]]:
    try:
        load_pipeline(source)
    except SpecError as exc:
        return exc.problems
    return []


def check(source: Path, files: list[Path]) -> None:
    """One input through the API and the CLI: a valid run, or one clear error naming where."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        try:
            load_pipeline(source)
            lifecycle.prepare(source, store_root=Path(tmp) / "api")
        except SpecError as exc:
            assert exc.problems and all(path for path, _ in exc.problems), exc
            valid = False
        except ValueError as exc:  # DataError: the element that reads the data, or the file itself
            assert str(exc).startswith("elements.") or any(f.name in str(exc) for f in files), exc
            valid = False
        else:
            valid = True

        done = cli_run(source, store)
        if valid:
            assert done is None, done.output  # the CLI accepted it too
            info = run_serially(source, Path(tmp) / "serial")
            assert info["status"] == "completed", info
        else:
            assert done is not None, "the CLI would start a cluster for bad input"
            assert done.exit_code == 2 and "Traceback" not in done.output, (done.output, done.exception)
            [message] = [line for line in done.output.splitlines() if line.startswith("error: ")]
            assert ("problem(s)" in message or message.startswith("error: elements.")
                    or any(f.name in message for f in files)), done.output
            assert not list(store.glob("runs/*")), "a run was created for bad input"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-minute 1C discharge (SPM) on a 10 s time base."""
    from elements.synthetic import synthetic_discharge

    path = tmp_path_factory.mktemp("fuzz") / "discharge.csv"
    synthetic_discharge(values={D_N: 3.3e-14}, model="SPM", current=5.0, duration=120.0).to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True, scope="module")
def short_solves():
    with dask.config.set({"sweepfit.solve.time-limit": 10}):  # a wild but valid value fails fast
        yield


def test_the_base_pipeline_is_valid_and_runs(data, tmp_path):
    info = run_serially(base_pipeline(data), tmp_path)
    assert info["status"] == "completed"
    assert all(e["status"] == "completed" for e in info["elements"].values())


@EXAMPLES
@given(st.data())
def test_fuzzed_pipeline_dicts(data, st_data):
    spec = st_data.draw(mutated(base_pipeline(data)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
        assert problems(spec) == problems(path)  # the dict itself and its YAML file read alike
        check(path, [path, data])


TEXT_EDITS = ["duplicate a line", "truncate", "insert", "bytes", "nest", "json"]


@EXAMPLES
@given(st.data())
def test_fuzzed_pipeline_text(data, st_data):
    text = yaml.safe_dump(base_pipeline(data), sort_keys=False)
    lines = text.splitlines(keepends=True)
    how = st_data.draw(st.sampled_from(TEXT_EDITS))
    at = st_data.draw(st.integers(0, len(lines) - 1))
    suffix = ".yaml"
    if how == "duplicate a line":
        raw = "".join([*lines[: at + 1], lines[at], *lines[at + 1 :]]).encode()
    elif how == "truncate":
        raw = text[: st_data.draw(st.integers(0, len(text)))].encode()
    elif how == "insert":
        raw = "".join([*lines[:at], st_data.draw(st.text(max_size=12)), *lines[at:]]).encode()
    elif how == "bytes":
        raw = st_data.draw(st.binary(max_size=40)) + text.encode()[: st_data.draw(st.integers(0, 200))]
    elif how == "nest":
        depth = st_data.draw(st.sampled_from([10, 5000, 100_000]))
        raw = ("elements: " + "[" * depth + "]" * depth + "\n").encode()
    else:
        body = json.dumps(st_data.draw(mutated(base_pipeline(data))))
        raw = body[: st_data.draw(st.integers(0, len(body)))].encode()
        suffix = ".json"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"pipeline{suffix}"
        path.write_bytes(raw)
        check(path, [path, data])


@st.composite
def data_files(draw: st.DrawFn, frame: pd.DataFrame) -> bytes:
    """The measured CSV, broken: columns missing, cells not numbers, NaN, huge, time out of order..."""
    frame = frame.copy()
    how = draw(st.sampled_from(["drop column", "rename column", "cell", "booleans", "swap rows", "repeat row",
                                "rows", "empty", "garbage", "separator"]))
    column = draw(st.sampled_from(COLUMNS))
    row = draw(st.integers(0, len(frame) - 1))
    if how == "drop column":
        frame = frame.drop(columns=column)
    elif how == "rename column":
        frame = frame.rename(columns={column: draw(st.sampled_from(NAMES))})
    elif how == "cell":
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = draw(st.one_of(st.sampled_from([*NUMBERS, 10**40, "1,5", "", "True"]),
                                                st.text(max_size=4)))
    elif how == "booleans":
        frame[column] = frame.index % 2 == 0
    elif how == "swap rows" and row + 1 < len(frame):
        frame.iloc[[row, row + 1]] = frame.iloc[[row + 1, row]].to_numpy()
    elif how == "repeat row":
        frame = pd.concat([frame.iloc[: row + 1], frame.iloc[row:]])
    elif how == "rows":
        frame = frame.iloc[: draw(st.integers(0, 2))]
    elif how == "empty":
        return draw(st.sampled_from([b"", b"\n", b"   \n\t"]))
    elif how == "garbage":
        return draw(st.binary(max_size=60)) + frame.to_csv(index=False).encode()[: draw(st.integers(0, 120))]
    else:
        return frame.to_csv(index=False, sep=draw(st.sampled_from([";", "\t", " ", "|"]))).encode()
    return frame.to_csv(index=False).encode()


@EXAMPLES
@given(st.data())
def test_fuzzed_data_files(data, st_data):
    raw = st_data.draw(data_files(pd.read_csv(data)))
    with tempfile.TemporaryDirectory() as tmp:
        measured = Path(tmp) / "measured.csv"
        measured.write_bytes(raw)
        objective = {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{measured}"}
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(yaml.safe_dump({"elements": {"check": {"element_type": "validation",
                                                               "objectives": {"1C": objective}}}}))
        check(path, [path, measured])


@pytest.mark.parametrize("rows, column_map, message", [
    ("0,4.1,5\n1,inf,5\n", {}, r"column 'Voltage \[V\]' has 1 infinite value\(s\), the first at row 1"),
    ("True,4.1,5\nFalse,4.0,5\n", {}, r"column 'Time \[s\]' holds true/false values, not numbers"),
    ("0,4.1,5,4.1\n1,4.0,5,4.0\n", {"U": "Voltage [V]"}, r"column\(s\) \['Voltage \[V\]'\] appear more than once"),
])
def test_data_the_fuzzing_found_is_a_data_error_naming_element_and_file(tmp_path, rows, column_map, message):
    """Found while fuzzing: infinite values and true/false columns passed as numbers (a time of
    inf, or a TypeError from numpy), a column_map onto a column the file has raised a TypeError."""
    header = "Time [s],Voltage [V],Current [A]" + (",U" if column_map else "")
    (tmp_path / "bad.csv").write_text(f"{header}\n{rows}")
    objective = {"objective": "CurrentDriven", "model": {"type": "SPM"},
                 "data": {"source": "file:bad.csv", "column_map": column_map}}
    spec = {"elements": {"check": {"element_type": "validation", "objectives": {"1C": objective}}}}
    with pytest.raises(DataError, match=rf"^elements.check: .*bad.csv: {message}"):
        lifecycle.prepare(spec, store_root=tmp_path / "store", base_dir=tmp_path)


@pytest.mark.parametrize("text, message", [
    (b"elements:\n  ? [a, b]\n  : x\n", "p.yaml: not valid YAML or JSON: while constructing a mapping"),
    (b"elements:\n  a: {element_type: [entry]}\n", "elements.a.element_type: unknown element_type ['entry']"),
    (b"elements: " + b"[" * 100_000 + b"]" * 100_000, "p.yaml: not valid YAML or JSON: nested too deeply"),
    (b"\xff\xfeelements: {}\n", "p.yaml: not UTF-8 text ('utf-8' codec can't decode byte 0xff"),
])
def test_pipeline_text_the_fuzzing_found_is_exit_2_naming_file_or_path(tmp_path, text, message):
    """Found while fuzzing: unhashable YAML keys and element types raised TypeError, deep
    nesting RecursionError, and a file that is not UTF-8 gave an error that did not name it."""
    path = tmp_path / "p.yaml"
    path.write_bytes(text)
    with pytest.raises(SpecError) as caught:
        load_pipeline(path)
    assert message in str(caught.value)
    done = cli_run(path, tmp_path / "store")
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output
