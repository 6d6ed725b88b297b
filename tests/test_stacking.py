"""An array fit's per-key datasets stacked on ``key`` and back: every number, type and attribute kept."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from elements.stacking import each, stack, stackable, unstack


def pulse(n: int, start: float, *, label: str, attrs: dict) -> xr.Dataset:
    """A key's dataset: its own times (an index that differs), evaluations of its own count, text and flags."""
    rng = np.random.default_rng(n)
    return xr.Dataset(
        {"data Voltage [V]": ("time", rng.normal(size=n)),
         "x": (("evaluation", "parameter"), rng.normal(size=(n + 1, 2))),
         "generation": ("evaluation", np.arange(n + 1)), "ok": ("evaluation", np.arange(n + 1) % 2 == 0),
         "status": ("evaluation", np.array([label * (i + 1) for i in range(n + 1)], dtype=object)),
         "best_cost": ((), float(n)), "bounds": ("parameter", [0.0, 1.0], {"units": "Ohm"})},
        coords={"time": start + np.arange(n, dtype=float), "parameter": np.array(["R0 [Ohm]", "C1 [F]"], dtype=object)},
        attrs=attrs)


def test_stacked_keys_come_back_as_they_were_after_a_zarr_round_trip(tmp_path):
    keys = {0.9: pulse(3, 0.0, label="ok", attrs={"nfev": 4, "message": "done", "devices": ["cpu"], "seed": 1}),
            0.5: pulse(5, 10.5, label="failed", attrs={"nfev": 6, "message": "done", "devices": ["cpu", "gpu"]})}
    stacked = stack(list(keys.values()), list(keys))
    assert stacked.attrs["message"] == "done"  # shared by every key: kept once
    assert stacked["time"].dims == ("key", "time_index") and stacked["x"].shape == (2, 6, 2)
    stacked.to_zarr(tmp_path / "s.zarr", mode="w", consolidated=False)
    read = xr.open_dataset(tmp_path / "s.zarr", engine="zarr", consolidated=False).load()
    for key, ds in keys.items():
        back = unstack(read, key)
        xr.testing.assert_identical(back.drop_attrs(deep=False), ds.drop_attrs(deep=False))
        assert back.attrs == ds.attrs and back["bounds"].attrs == {"units": "Ohm"}
        assert {n: back[n].dtype.kind for n in ("generation", "ok")} == {"generation": "i", "ok": "b"}
    assert [key for key, _ in each(read)] == [0.9, 0.5]


def test_datasets_of_different_structure_are_not_stacked():
    a = pulse(3, 0.0, label="ok", attrs={})
    assert not stackable([a, a.drop_vars("status")])
    with pytest.raises(ValueError, match="same variables on the same dimensions"):
        stack([a, a.drop_vars("status")], [1, 2])
