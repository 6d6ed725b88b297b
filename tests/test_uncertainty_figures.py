"""Figures of a confidence interval and of Sobol' indices, drawn from a real run's store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.container import BarContainer
from matplotlib.image import AxesImage
from typer.testing import CliRunner

import orchestrator
from orchestrator import figures
from orchestrator.cli import app
from tests.conftest import D_N, D_P, TRUE, run_serially

PARAMETERS = {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"},
              D_P: {"bounds": [1e-16, 1e-13], "transform": "log10"}}


@pytest.fixture(scope="module")
def run(short_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A least-squares fit of the short discharge, its confidence interval, and Sobol' indices (with
    second order) of two objectives' costs, run in this process into a fresh store."""
    from elements.synthetic import synthetic_discharge

    folder = tmp_path_factory.mktemp("uncertainty")
    half = folder / "half_C.csv"
    synthetic_discharge(values=TRUE, current=2.5, duration=600.0, seed=1).to_csv(half, index=False)
    objectives = {name: {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{path}"}
                  for name, path in (("1C", short_csv), ("C/2", half))}
    one = {"1C": objectives["1C"]}
    spec = {"project": "tests", "elements": {
        "fit": {"element_type": "data_fit", "objectives": one, "parameters": PARAMETERS,
                "optimizer": {"type": "ScipyLeastSquares"}},
        "ci": {"element_type": "linear_confidence_interval", "objectives": one, "parameters": PARAMETERS},
        "sobol": {"element_type": "sobol_sensitivity", "objectives": objectives, "parameters": PARAMETERS,
                  "n_samples": 8, "calc_second_order": True, "seed": 0},
    }}
    store = folder / "store"
    info = run_serially(spec, store)
    assert info["status"] == "completed", info
    return store, info["run_id"]


def _element(run: tuple[Path, str], name: str) -> xr.Dataset:
    store, run_id = run
    return orchestrator.open_run(run_id, store)[name].to_dataset().load()


def _interval_drawn(ax) -> list[float]:
    [container] = ax.containers  # the errorbar: its horizontal bar runs from the lower to the upper end
    [bars] = container.lines[2]
    [[(lower, _), (upper, _)]] = bars.get_segments()
    return [lower, upper]


def test_intervals_relative_to_the_value_on_log_axes_for_log10_parameters(run):
    store, run_id = run
    ci = _element(run, "ci")
    made = figures.element_figures(run_id, "ci", store=store)
    assert list(made) == ["intervals", "correlation"]
    panels = made["intervals"].axes
    assert len(panels) == 2
    for ax, name in zip(panels, (D_N, D_P)):
        at = ci.sel(parameter=name)
        value = float(at["value"])
        np.testing.assert_allclose(_interval_drawn(ax), [float(at["lower"]) / value, float(at["upper"]) / value])
        assert ax.get_xscale() == "log" and ax.get_xlabel() == "relative to the fitted value (log axis)"
        ticks = [t.get_text() for t in ax.get_xticklabels()]  # the ends and the value, told apart
        assert len(set(ticks)) == 3 and ticks[1] == "1"
        assert ax.get_title(loc="left").startswith(f"{name.split(' [')[0]}: {value:.4g} (")
        assert ax.get_title(loc="left").endswith("m2.s-1")
    assert made["intervals"]._suptitle.get_text().startswith("95% intervals, gauss-newton, Jacobian from sensitivities")

    # A parameter fitted in its own units: a linear axis; one whose value is zero or negative: drawn in its units.
    linear = ci.assign(transform=("parameter", np.array(["none", "log10"], dtype=object)))
    first, second = figures.intervals(linear).axes
    assert first.get_xscale() == "linear" and first.get_xlabel() == "relative to the fitted value"
    assert second.get_xscale() == "log"
    at_zero = linear.assign(value=linear["value"] * [0, 1], lower=linear["lower"] - linear["value"] * [1, 0],
                            upper=linear["upper"] - linear["value"] * [1, 0])
    first = figures.intervals(at_zero).axes[0]
    assert first.get_xlabel() == "value [m2.s-1]"
    np.testing.assert_allclose(_interval_drawn(first), [float(at_zero["lower"][0]), float(at_zero["upper"][0])])
    negative = at_zero.assign(value=at_zero["value"] - [1e-14, 0], lower=at_zero["lower"] - [1e-14, 0],
                              upper=at_zero["upper"] - [1e-14, 0])
    first = figures.intervals(negative).axes[0]
    assert first.get_xlabel() == "value [m2.s-1]"
    np.testing.assert_allclose(_interval_drawn(first), [float(negative["lower"][0]), float(negative["upper"][0])])


def test_correlation_heat_map_writes_each_coefficient_in_its_cell(run):
    store, run_id = run
    ci = _element(run, "ci")
    [ax, colorbar] = figures.element_figures(run_id, "ci", store=store)["correlation"].axes
    [image] = [i for i in ax.get_children() if isinstance(i, AxesImage)]
    np.testing.assert_allclose(image.get_array(), ci["correlation"].values)
    written = sorted(t.get_text() for t in ax.texts)
    assert written == sorted(f"{c:+.2f}" for c in ci["correlation"].values.ravel())
    assert written.count("+1.00") == 2  # the diagonal
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Negative particle\ndiffusivity",
                                                            "Positive particle\ndiffusivity"]
    assert colorbar.get_ylabel() == "correlation" and image.get_clim() == (-1.0, 1.0)


def test_sobol_bars_per_output_with_bootstrap_intervals(run):
    store, run_id = run
    sobol = _element(run, "sobol")
    made = figures.element_figures(run_id, "sobol", store=store)
    outputs = ["1C", "C/2", "total"]
    assert list(made) == [f"{kind} {o}" for o in outputs for kind in ("indices", "second order")]
    for output in outputs:
        [ax] = made[f"indices {output}"].axes
        s1, st = [c for c in ax.containers if isinstance(c, BarContainer)]  # one per index, error bars attached
        assert len(ax.patches) == 2 * 2  # S1 and ST for each of the two parameters
        for bars, key in ((s1, "S1"), (st, "ST")):
            np.testing.assert_allclose([b.get_height() for b in bars], sobol[key].sel(output=output).values)
            [spans] = bars.errorbar.lines[2]
            half_widths = [abs(top - bottom) / 2 for (_, bottom), (_, top) in spans.get_segments()]
            np.testing.assert_allclose(half_widths, sobol[f"{key}_conf"].sel(output=output).values)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["S1", "ST"]
        assert ax.get_ylabel() == "Sobol' index" and ax.get_title() == f"{output}: 48 evaluations, N = 8"

    [ax, colorbar] = made["second order 1C"].axes
    [image] = [i for i in ax.get_children() if isinstance(i, AxesImage)]
    shown = np.ma.filled(image.get_array(), np.nan)
    assert np.isfinite(shown).tolist() == [[False, True], [False, False]]  # the one pair, above the diagonal
    s2 = sobol.sel(output="1C", parameter=D_N, parameter_2=D_P)
    assert [t.get_text() for t in ax.texts] == [f"{float(s2['S2']):.2f}\n±{float(s2['S2_conf']):.2f}"]
    assert colorbar.get_ylabel() == "S2"

    failed = sobol.assign(failed=("output", [0, 5, 5]))
    assert figures.indices(failed, "C/2").axes[0].get_title() == "C/2: 5 of 48 points failed: no indices"


def test_plot_writes_the_uncertainty_figures(run, tmp_path):
    store, run_id = run
    done = CliRunner().invoke(app, ["plot", run_id, "ci", "--out", str(tmp_path), "--store", str(store)])
    assert done.exit_code == 0, done.output
    assert done.stdout.split() == [str(tmp_path / "ci/intervals.png"), str(tmp_path / "ci/correlation.png")]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in (tmp_path / "ci").iterdir())


def test_the_uncertainty_example_is_a_valid_pipeline():
    from orchestrator.spec import load_pipeline

    pipeline = load_pipeline(Path(__file__).resolve().parents[1] / "examples" / "uncertainty.yaml")
    assert {n: e.element_type for n, e in pipeline.elements.items()} == {
        "fit diffusivities": "data_fit", "intervals": "linear_confidence_interval", "sensitivity": "sobol_sensitivity"}
