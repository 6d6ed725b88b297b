"""Equivalent-circuit tables over SOC: quick ones from an HPPC test's rests and steps
(``HPPCTables``), and the per-pulse fits of an ``array_data_fit`` assembled (``ECMTables``), over
SOC or over SOC and temperature."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field, field_validator

from elements import ecm
from elements.calculations import CALCULATIONS, CalculationSpec
from elements.core.data import DataError, DataInput, Measurement, load_measurements
from elements.core.status import Summary
from elements.element import Result
from elements.pulses import chosen_pulses, pulse_bounds
from elements.schema import ModelSpec, ParameterSetName
from elements.values import grid_table, is_grid, is_table, key_numbers, table

OCV, R0 = "Open-circuit voltage [V]", "R0 [Ohm]"


class _EcmCalculation(CalculationSpec):
    parameter_set: ParameterSetName = "ECM_Example"
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(type=ecm.MODEL))
    interpolator: Literal["linear", "cubic", "pchip"] = "linear"


@CALCULATIONS.register("HPPCTables")
class HPPCTables(_EcmCalculation):
    """The open-circuit voltage and an instantaneous R0 over SOC, from an HPPC test without a fit.

    The test is cut into pulses as the ``Pulse`` objective cuts it (``pulses`` picks some, 0-based).
    Each pulse's SOC is ``initial_soc`` less the charge counted from the data's start over
    ``capacity``; its OCV is the rest voltage before it, and R0 the voltage step over the current
    step from that rest sample to the first sample with current. That sample is one sampling
    interval into the pulse, so R0 includes what the RC pairs moved in that time: at 1 s against
    a 10 s time constant, about a tenth of R1. Pulses at one SOC (a discharge and a charge pulse)
    are averaged. ``tables`` picks what is passed on (both by default): an OCV from the rests of a
    test at ten SOCs is coarse where the OCV curves, so pass on R0 only where an OCV test gives the OCV.

    Examples
    --------
    >>> HPPCTables(element_type="calculation", calculation="HPPCTables", data="file:hppc.csv", capacity=5.0,
    ...            initial_soc=0.95).parameter_set
    'ECM_Example'
    """

    calculation: Literal["HPPCTables"]
    data: DataInput
    capacity: float = Field(gt=0, description="the cell's capacity [A.h], for coulomb counting")
    initial_soc: float = Field(ge=0, le=1, description="the SOC at the data's first sample")
    pulses: list[int] | None = None
    rest_current: float = Field(1e-3, gt=0, description="below this |current| [A] the cell rests")
    tables: list[Literal["Open-circuit voltage [V]", "R0 [Ohm]"]] = Field(default_factory=lambda: [OCV, R0],
                                                                         min_length=1)

    def passed_tables(self, earlier: dict[str, Any]) -> dict[str, None]:
        """The tables it passes on; how many SOCs they have, the data will tell."""
        return dict.fromkeys(self.tables)

    def measurement(self, base_dir: Path) -> Measurement:
        found = load_measurements(self.data, base_dir=base_dir)
        if len(found) != 1:
            raise DataError(f"HPPCTables needs one data set, got {len(found)} from {self.data!r}")
        return found[0]

    def sources(self, base_dir: Path) -> dict[str, str]:
        m = self.measurement(base_dir)
        return {m.source: m.sha256}

    def derive(self, values: Any, base_dir: Path) -> Result:
        m = self.measurement(base_dir)
        bounds = pulse_bounds(m, rest_current=self.rest_current)
        chosen = chosen_pulses("HPPCTables", m, len(bounds), self.pulses, self.rest_current)
        time, current, voltage = m.time, m.current, m.voltage
        charge = np.concatenate([[0.0], np.cumsum(np.diff(time) * (current[1:] + current[:-1]) / 2)]) / 3600.0
        rest = np.array([bounds[i][0] for i in chosen])
        soc = self.initial_soc - charge[rest] / self.capacity
        r0 = (voltage[rest] - voltage[rest + 1]) / current[rest + 1]
        grid, index = np.unique(np.round(soc, 6), return_inverse=True)
        counts = np.bincount(index)
        ocv, r0_mean = np.bincount(index, voltage[rest]) / counts, np.bincount(index, r0) / counts
        if len(grid) < 2:
            raise DataError(f"HPPCTables: {m.source!r} gives pulses at {len(grid)} SOC; a table needs two or more. "
                            f"Pick pulses at different SOCs with pulses=")
        ds = xr.Dataset({OCV: ("soc", ocv), R0: ("soc", r0_mean), "pulses": ("soc", counts)}, coords={"soc": grid})
        tables = {name: table(grid, y, interpolator=self.interpolator, argument="SoC") for name, y in
                  ((OCV, ocv), (R0, r0_mean)) if name in self.tables}
        return Result(parameters=tables, datasets={"": ds},
                      summary=Summary(counts={"pulses": len(chosen), "socs": len(grid)},
                                      values={"R0 [Ohm] mean": float(r0_mean.mean())}))


ARGUMENT = Literal["SoC", "Cell temperature [degC]"]
DIMS = {"SoC": "soc", "Cell temperature [degC]": "temperature"}  # the dataset's dimension for each argument


@CALCULATIONS.register("ECMTables")
class ECMTables(_EcmCalculation):
    """The per-key results of the ``array_data_fit`` named ``fit`` as tables over ``argument``.

    That fit passes each fitted parameter on as ``"<fit>/<parameter>"``, a table over its keys
    (:func:`elements.values.per_key`); this makes each one the parameter's own table, which the
    ECM evaluates: ``R0 [Ohm]``, ``R1 [Ohm]``, ``C1 [F]``, ... ``parameters`` picks some; by default all.
    Keys that are numbers are the ``argument``: the ``SoC`` (or the cell temperature, for keys in °C).
    Keys that are pairs (``"0.9, 25"``) make 2-D tables: ``argument`` then names both parts in the
    keys' order (``[SoC, "Cell temperature [degC]"]``), and every SOC needs a result at every temperature.

    Examples
    --------
    >>> ECMTables(element_type="calculation", calculation="ECMTables", fit="pulses").argument
    'SoC'
    >>> ECMTables(element_type="calculation", calculation="ECMTables", fit="pulses",
    ...           argument=["SoC", "Cell temperature [degC]"]).argument
    ['SoC', 'Cell temperature [degC]']
    """

    calculation: Literal["ECMTables"]
    fit: str = Field(description="the name of the array_data_fit element whose keys are SOCs (or SOC, temperature)")
    parameters: list[str] | None = None
    argument: ARGUMENT | list[ARGUMENT] = Field("SoC", description="what the keys are: one argument, or two for pairs")

    @field_validator("argument")
    @classmethod
    def _two_different(cls, value: Any) -> Any:
        if isinstance(value, list) and (len(value) != 2 or len(set(value)) != 2):
            raise ValueError(f"argument {value} must name the two parts of a key, each once: "
                             "[SoC, 'Cell temperature [degC]'] or ['Cell temperature [degC]', SoC]")
        return value

    def passed_tables(self, earlier: dict[str, Any]) -> dict[str, tuple[int, ...] | None]:
        """The tables it passes on, each with a knot per distinct number of the array fit's keys (on each
        axis, for pairs); a key whose fit fails leaves a table one knot short, which the run checks."""
        fit = earlier.get(self.fit)
        keys = [key_numbers(k) for k in getattr(fit, "objectives", {})]
        names = self.parameters or list(getattr(fit, "parameters", {}))
        if not keys or None in keys or len({len(k) for k in keys}) != 1:
            return dict.fromkeys(names)
        return dict.fromkeys(names, tuple(len({k[i] for k in keys}) for i in range(len(keys[0]))))

    def derive_from(self, upstream: dict[str, Any], values: Any, base_dir: Path) -> Result:
        prefix = f"{self.fit}/"
        found = {name[len(prefix):]: value for name, value in upstream.items()
                 if name.startswith(prefix) and is_table(value)}
        wanted = list(found) if self.parameters is None else self.parameters
        missing = [name for name in wanted if name not in found]
        if not found or missing:
            raise ValueError(f"ECMTables: no per-key result {missing or ''} of an array_data_fit named {self.fit!r} "
                             f"(one with numbers or pairs of numbers as keys, before this element); found: "
                             f"{sorted(found)}")
        pairs = is_grid(found[wanted[0]])
        if pairs != isinstance(self.argument, list):
            keys, fix = (("pairs of numbers ('0.9, 25')", "[SoC, 'Cell temperature [degC]'], in the keys' order")
                         if pairs else ("numbers", "SoC or Cell temperature [degC]"))
            raise ValueError(f"ECMTables: the keys of {self.fit!r} are {keys}, but argument is {self.argument!r}; "
                             f"set argument to {fix}")
        if pairs:
            return self._grids({name: found[name] for name in wanted})
        tables = {name: table(found[name]["x"], found[name]["y"], interpolator=self.interpolator,
                              argument=self.argument) for name in wanted}
        grid = np.unique(np.concatenate([t["x"] for t in tables.values()]))
        dim = DIMS[self.argument]
        ds = xr.Dataset({name: (dim, np.interp(grid, t["x"], t["y"], left=np.nan, right=np.nan))
                         for name, t in tables.items()}, coords={dim: grid}, attrs={"argument": self.argument})
        return Result(parameters=tables, datasets={"": ds},
                      summary=Summary(counts={"tables": len(tables), "knots": len(grid)}))

    def _grids(self, found: dict[str, dict[str, Any]]) -> Result:
        """2-D tables over both parts of the keys, each stored on (soc, temperature)."""
        if self.interpolator == "pchip":
            raise ValueError("ECMTables: interpolator 'pchip' is 1-D only in PyBaMM; a table over SOC and "
                             "temperature takes 'linear' or 'cubic'")
        dims = [DIMS[a] for a in self.argument]
        holes = {name: [k for k, ok in zip(_knots(t), np.isfinite(np.asarray(t["y"], dtype=float)).ravel()) if not ok]
                 for name, t in found.items()}
        holes = {name: knots for name, knots in holes.items() if knots}
        if holes:
            name, knots = next(iter(holes.items()))
            raise ValueError(f"ECMTables: {self.fit!r} has no result for {name!r} at {len(knots)} key(s) "
                             f"({', '.join(self.argument)}) {knots[:5]}; a table over both needs every SOC at every "
                             "temperature: fit those keys again, or leave that SOC out at every temperature")
        tables = {name: grid_table(t["x"], t["y"], interpolator=self.interpolator, arguments=self.argument)
                  for name, t in found.items()}
        ds = xr.merge([xr.DataArray(np.asarray(t["y"]), coords=dict(zip(dims, t["x"], strict=True)), dims=dims,
                                    name=name) for name, t in tables.items()])
        ds = ds.transpose("soc", "temperature")
        ds.attrs["argument"] = list(self.argument)
        return Result(parameters=tables, datasets={"": ds},
                      summary=Summary(counts={"tables": len(tables), "socs": ds.sizes["soc"],
                                              "temperatures": ds.sizes["temperature"]}))


def _knots(grid: dict[str, Any]) -> list[tuple[float, float]]:
    """A grid's knots in the order of its ``y`` flattened."""
    return [(a, b) for a in grid["x"][0] for b in grid["x"][1]]
