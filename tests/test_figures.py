"""Figures and reports from a real run's store: units on every variable, what each figure draws, the CLI."""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PathCollection, QuadMesh
from typer.testing import CliRunner

import orchestrator
from elements.core.status import Summary
from elements.core.units import describe, split
from elements.element import ELEMENTS, ElementType, Result
from elements.schema import Strict
from orchestrator import figures
from orchestrator.cli import app
from orchestrator.figures._common import new_figure
from tests.conftest import D_N, fit_pipeline, run_serially

SWEEPFIT = str(Path(sys.executable).with_name("sweepfit"))
T_AMB = "Ambient temperature [K]"


@pytest.fixture(scope="module")
def run(short_csv, tmp_path_factory) -> tuple[Path, str]:
    """A short fit, its validation and a 2 x 3 SPM sweep, run in this process into a fresh store."""
    spec = fit_pipeline(short_csv, popsize=3, maxiter=2, polish=False)
    spec["elements"]["grid"] = {
        "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"current": 5.0, "duration": 600.0},
        "grid": {D_N: [1e-14, 3e-14], T_AMB: [288.15, 298.15, 308.15]}, "chunk_size": 2,
        "outputs": {"time": {"stop": 600, "step": 60}, "summaries": ["final_voltage", "discharge_capacity"]},
    }
    store = tmp_path_factory.mktemp("figures") / "store"
    info = run_serially(spec, store)
    assert info["status"] == "completed", info
    return store, info["run_id"]


def lines(ax) -> list:
    return [line for line in ax.get_lines() if line.get_transform() is ax.transData]  # not axhline's


def flat(label: str) -> str:
    return label.replace("\n", " ")  # xarray wraps long labels


def test_stored_variables_carry_units_so_xarray_labels_axes(run):
    store, run_id = run
    tree = orchestrator.open_run(run_id, store)
    for node in tree.subtree:
        for name, variable in node.to_dataset(inherit=False).variables.items():
            assert "long_name" in variable.attrs, f"{node.path}: {name}"
            assert "units" in variable.attrs or variable.dtype.kind not in "iuf", f"{node.path}: {name}"
    traces = tree["fit/traces/1C"].to_dataset()
    _, axes = new_figure()
    traces["model Voltage [V]"].plot(ax=axes[0, 0])
    assert axes[0, 0].get_ylabel() == "model Voltage [V]" and axes[0, 0].get_xlabel() == "Time [s]"
    fit = tree["fit"].to_dataset()
    assert fit["cost"].attrs == {"long_name": "cost (RMSE)", "units": "V"}
    assert fit["x"].attrs["units"] == "m2.s-1" and fit["generation"].attrs["units"] == "1"
    assert "units" not in fit["status"].attrs  # text has none
    check = tree["check"].to_dataset()
    assert check["RMSE"].attrs["units"] == "V"
    grid = orchestrator.open_sweep(run_id, "grid", store=store)
    assert grid["Voltage [V]"].attrs["units"] == "V"
    assert grid[T_AMB].attrs == {"kind": "input", "long_name": "Ambient temperature", "units": "K"}
    assert grid["final_voltage"].attrs["units"] == "V" and grid["final_voltage"].attrs["long_name"] == "final voltage"
    assert grid["time"].dtype.kind == "f"  # "s" is not read back as a timedelta


def test_describe_reads_names_and_keeps_what_an_element_set():
    assert split("Negative particle diffusivity [m2.s-1]") == ("Negative particle diffusivity", "m2.s-1")
    assert split("data Voltage [V]") == ("data Voltage", "V") and split("cost") is None
    ds = xr.Dataset({"Voltage [V]": ("time", [4.0], {"long_name": "terminal voltage"}),
                     "best_x": ("parameter", [1e-14, 300.0]), "count": ("time", [1])},
                    coords={"time": [0.0], "parameter": [D_N, T_AMB]})
    described = describe(ds, spec={"cost": {"type": "SSE"}, "objectives": {"a": {"variables": ["Voltage [V]"]}}})
    assert described["Voltage [V]"].attrs == {"long_name": "terminal voltage", "units": "V"}
    assert "units" not in described["best_x"].attrs  # parameters of different units share the axis
    assert "units" not in described["count"].attrs  # unknown: none rather than a wrong one
    assert ds["time"].attrs == {} and described["time"].attrs == {"long_name": "Time", "units": "s"}
    assert describe(xr.Dataset({"cost": 1.0}), spec={"cost": {"type": "SSE"}, "objectives": {"a": {}}})[
        "cost"].attrs == {"long_name": "cost (SSE)", "units": "V2"}


def test_fit_figures_draw_the_stored_numbers(run):
    store, run_id = run
    tree = orchestrator.open_run(run_id, store)
    fit, traces = tree["fit"].to_dataset(inherit=False).load(), tree["fit/traces/1C"].to_dataset(inherit=False)
    made = figures.element_figures(run_id, "fit", store=store)
    assert list(made) == ["fit 1C", "cost", "parameters"]  # no start dimension: no multistart figure

    top, bottom = made["fit 1C"].axes
    data, model = lines(top)
    np.testing.assert_array_equal(data.get_xdata(), traces["time"].values)
    np.testing.assert_array_equal(data.get_ydata(), traces["data Voltage [V]"].values)
    np.testing.assert_array_equal(model.get_ydata(), traces["model Voltage [V]"].values)
    assert top.get_ylabel() == "Voltage [V]" and bottom.get_ylabel() == "model - data [V]"
    assert bottom.get_xlabel() == "Time [s]"
    assert made["fit 1C"]._suptitle.get_text() == f"1C: cost {traces.attrs['cost']:.3g}"

    [ax] = made["cost"].axes
    [points] = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == int(np.isfinite(fit["cost"]).sum()) == fit.sizes["evaluation"]
    [best] = lines(ax)
    np.testing.assert_array_equal(best.get_ydata(), fit["best_cost_per_generation"].values)
    assert ax.get_ylabel() == "cost (RMSE) [V]" and ax.get_xlabel() == "generation"

    axes = [a for a in made["parameters"].axes if a.get_visible()]
    assert [flat(a.get_ylabel()) for a in axes] == [str(p) for p in fit["parameter"].values]
    for ax, name in zip(axes, fit["parameter"].values):
        [history] = lines(ax)
        np.testing.assert_array_equal(history.get_ydata(), fit["best_x_per_generation"].sel(parameter=name).values)
        assert ax.get_yscale() == "log"  # bounds span decades


def test_multistart_end_points_are_drawn_when_the_fit_has_starts(run):
    store, run_id = run
    fit = orchestrator.open_run(run_id, store)["fit"].to_dataset(inherit=False).load()
    assert figures.multistart(fit) is None
    rng = np.random.default_rng(0)
    ends = 10.0 ** rng.uniform(-15, -13, size=(5, 2))
    costs = np.array([3e-3, 1e-3, np.inf, 2e-3, 5e-3])
    # The layout data_fit writes for multistarts: each start's end point and cost on "start".
    starts = fit.assign(end_x=(("start", "parameter"), ends), end_cost=("start", costs),
                        start_x=(("start", "parameter"), ends * 2))
    [ranked, *per_parameter] = [a for a in figures.multistart(starts).axes if a.get_visible()]
    np.testing.assert_array_equal(lines(ranked)[0].get_ydata(), np.sort(costs[np.isfinite(costs)]))
    assert len(per_parameter) == 2
    for ax, column in zip(per_parameter, ends.T):
        everything, best = [c for c in ax.collections if isinstance(c, PathCollection)]
        np.testing.assert_array_equal(everything.get_offsets()[:, 0], column[np.isfinite(costs)])
        assert tuple(best.get_offsets()[0]) == (column[1], 1e-3)


def test_validation_overlay_names_its_metrics(run):
    store, run_id = run
    traces = orchestrator.open_run(run_id, store)["check/traces/1C"]
    made = figures.element_figures(run_id, "check", store=store)
    title = made["validation 1C"]._suptitle.get_text()
    assert title == "1C: " + ", ".join(f"{m} {traces.attrs[m]:.3g} V" for m in ("RMSE", "MAE", "Max"))
    data, _ = lines(made["validation 1C"].axes[0])
    assert len(data.get_xdata()) == traces.sizes["time"]


def test_sweep_map_and_curve_family(run):
    store, run_id = run
    grid = orchestrator.open_sweep(run_id, "grid", store=store).load()
    made = figures.element_figures(run_id, "grid", store=store)
    assert set(made) == {"map final_voltage", "map discharge_capacity", "curves Voltage [V]"}

    ax, colorbar = made["map final_voltage"].axes
    [mesh] = [c for c in ax.collections if isinstance(c, QuadMesh)]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(2, 3), grid["final_voltage"].values)
    assert (ax.get_xlabel(), flat(ax.get_ylabel())) == (
        "Ambient temperature [K]", "Negative particle diffusivity [m2.s-1]")
    assert colorbar.get_ylabel() == "final voltage [V]"

    panels = made["curves Voltage [V]"].axes
    assert len(panels) == 3  # one per temperature, one line per diffusivity
    for i, ax in enumerate(panels):
        drawn = lines(ax)
        assert len(drawn) == 2 and ax.get_xlabel() == "Time [s]"
        for j, line in enumerate(drawn):
            np.testing.assert_array_equal(line.get_ydata(), grid["Voltage [V]"].isel({D_N: j, T_AMB: i}).values)
    assert panels[0].get_ylabel() == "Voltage [V]"


def _spectra(n: int) -> xr.Dataset:
    frequency = np.logspace(-2, 4, 30)
    w = 2 * np.pi * frequency
    fit = np.array([0.01 + (0.02 + 0.004 * k) / (1 + 1j * w * (0.02 + 0.004 * k)) for k in range(n)])
    measured = fit * (1 + 0.01 * np.random.default_rng(0).standard_normal(fit.shape))
    dims = ("spectrum", "frequency")
    return xr.Dataset({"Z_real": (dims, measured.real), "Z_imag": (dims, measured.imag),
                       "Z_real_fit": (dims, fit.real), "Z_imag_fit": (dims, fit.imag)}, coords={"frequency": frequency})


def test_eis_nyquist_and_bode_draw_the_first_spectra_with_their_fits():
    ds = _spectra(6)
    [ax] = figures.nyquist(ds).axes
    drawn = lines(ax)
    assert len(drawn) == 2 * figures.eis.SPECTRA  # measured points and fit line per spectrum shown
    np.testing.assert_array_equal(drawn[0].get_xdata(), ds["Z_real"].isel(spectrum=0).values)
    np.testing.assert_array_equal(drawn[1].get_ydata(), -ds["Z_imag_fit"].isel(spectrum=0).values)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Re(Z) [Ohm]", "-Im(Z) [Ohm]")
    assert ax.get_title() == "first 4 of 6 spectra"

    modulus, phase = figures.bode(ds).axes
    assert modulus.get_xscale() == modulus.get_yscale() == "log"
    np.testing.assert_allclose(lines(modulus)[1].get_ydata(), np.abs(ds.Z_real_fit[0] + 1j * ds.Z_imag_fit[0]))
    assert modulus.get_ylabel() == "|Z| [Ohm]" and phase.get_ylabel() == "phase [deg]"
    assert phase.get_xlabel() == "Frequency [Hz]" and len(lines(phase)) == 8

    one = _spectra(1).isel(spectrum=0).drop_vars(["Z_real_fit", "Z_imag_fit"])
    assert len(lines(figures.nyquist(one).axes[0])) == 1  # measured only


class SpectraSpec(Strict):
    element_type: Literal["test_spectra"]


def test_an_element_type_without_figures_of_its_own_gets_them_from_its_data(tmp_path):
    # As the EIS element will: impedance data on a frequency coordinate, stored as any element's.
    if "test_spectra" not in ELEMENTS:
        ELEMENTS.register("test_spectra", ElementType(SpectraSpec, lambda spec, ctx: Result(datasets={"": _spectra(2)})))
    info = run_serially({"project": "tests", "elements": {"eis": {"element_type": "test_spectra"}}}, tmp_path)
    made = figures.element_figures(info["run_id"], "eis", store=tmp_path)
    assert set(made) == {"nyquist", "bode"} and len(lines(made["nyquist"].axes[0])) == 4
    stored = orchestrator.open_run(info["run_id"], tmp_path)["eis"]
    assert stored["Z_imag_fit"].attrs == {"long_name": "Im(Z), fit", "units": "Ohm"}


def sweepfit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SWEEPFIT, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_plot_writes_every_figure_and_names_valid_elements(run, tmp_path):
    store, run_id = run
    done = sweepfit("plot", run_id, "--store", str(store), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = [Path(p) for p in done.stdout.split("\n") if p]
    assert len(written) == 3 + 1 + 3
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert written[0].parent.parent == store.resolve() / "runs" / f"{run_id}.figures"

    # The rest in this process: the console script's start-up is the slow part.
    out = tmp_path / "figs"
    done = CliRunner().invoke(app, ["plot", run_id[:15], "check", "--out", str(out), "--format", "svg", "--store", str(store)])
    assert done.exit_code == 0, done.output
    assert done.stdout.split() == [str(out / "check/validation_1C.svg")]
    assert (out / "check/validation_1C.svg").read_text().lstrip().startswith("<?xml")

    bad = CliRunner().invoke(app, ["plot", run_id, "fitt", "--store", str(store)])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "'fitt'" in bad.stderr and "'check', 'fit', 'grid'" in bad.stderr and "Did you mean 'fit'" in bad.stderr
    missing = CliRunner().invoke(app, ["report", "no-such-run", "--store", str(store)])
    assert missing.exit_code == 2 and "no run 'no-such-run'" in missing.stderr


IMAGES_JS = "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"


@pytest.mark.browser
@pytest.mark.slow
def test_report_is_one_self_contained_page_that_chromium_shows(run, browser, tmp_path):
    store, run_id = run
    done = sweepfit("report", run_id, "--out", "report.html", "--store", str(store), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report.html"
    text = report.read_text()
    for name, element in orchestrator.get(run_id, store=store)["elements"].items():
        assert all(html.escape(line) in text for line in Summary.model_validate(element["summary"]).lines()), name
    assert "lineage" in text and "element_type: data_fit" in text  # the lineage and the spec

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri(), wait_until="load")
    images = page.evaluate(IMAGES_JS)
    assert len(images) == 3 + 1 + 3  # every figure of the fit, the validation and the sweep
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # nothing from elsewhere
