"""Equivalent-circuit fits, in one run: sweepfit on a LocalCluster beside PyBOP 26.3's Thevenin identification.

Two problems, both PyBaMM's Thevenin circuit with two RC pairs (its own two-state thermal model), R0,
R1, C1, R2, C2 fitted in log10 from the same starting values by the optimizers both have: L-BFGS-B
with the gradient from IDAKLU's sensitivities (PyBOP's ``SciPyMinimize`` turns the Jacobian on when
the problem has sensitivities) and scipy's differential evolution (popsize 10, 40 generations, seed 0);
sweepfit's ScipyLeastSquares (no counterpart in PyBOP) beside them:

1. the Samsung INR21700 30T (3 A.h) multi-pulse HPPC test (Excel), the whole test at once, with the
   open-circuit voltage from its rests (``HPPCTables``) and the initial SOC of its first voltage on it,
   handed to PyBOP as the same table and number. Both answers' RMSE is evaluated again by sweepfit's
   objective, so the RMSE column compares like with like;
2. a synthetic 2-RC cell whose parameters are tables over SOC and temperature
   (``elements.synthetic.two_rc_grid``: resistances x1.0, 1.5, 2.5 at 25, 10, 0 °C), an HPPC test at
   each temperature (isothermal), 10 SOCs each: 30 pulses, each fitted on its own: one
   ``array_data_fit`` of 30 keys ``"<SOC>, <°C>"`` on the cluster, then ``ECMTables`` assembling the
   2-D tables, against a loop over the 30 pulses in one process for PyBOP, as its users write it
   (L-BFGS-B). Each pulse starts at the SOC of its rest voltage on ``ECM_Example``'s OCV (the
   synthetic cell's). Both sides' answers are scored by sweepfit's objective (voltage RMSE).

Measured on a shared 2-core machine: compare walls within one run only.

PyBOP needs numpy<2.4, so it lives in its own virtual environment, run as a subprocess:

    python3 -m venv .bench-venv/pybop
    .bench-venv/pybop/bin/pip install pybop==26.3 "numpy<2.4"

    python benchmarks/ecm.py [--workers 2] [--pybop-python .bench-venv/pybop/bin/python]
    python benchmarks/ecm.py --no-pybop      # sweepfit only
    python benchmarks/ecm.py --pulses-only --values   # the 30 pulses only, every key's fitted values
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMSUNG = {"source": f"file:{ROOT / 'tests' / 'data' / 'samsung_inr21700' / 'multipulse_hppc.xlsx'}", "sheet": "Sheet1",
           "column_map": {"Time": "Time [s]", "Current": "Current [A]", "Voltage": "Voltage [V]"}}
# name: (lower, upper, start); PyBOP's example bounds on the Samsung test, the same starts for the synthetic cell
SAMSUNG_PARAMETERS = {"R0 [Ohm]": (1e-4, 0.1, 0.005), "R1 [Ohm]": (1e-4, 0.1, 0.005), "C1 [F]": (100, 1000, 500),
                      "R2 [Ohm]": (1e-4, 0.1, 0.005), "C2 [F]": (1000, 10000, 2000)}
PULSE_PARAMETERS = {"R0 [Ohm]": (1e-3, 0.1, 0.02), "R1 [Ohm]": (1e-4, 0.05, 0.003), "C1 [F]": (50, 5000, 500),
                    "R2 [Ohm]": (1e-4, 0.05, 0.01), "C2 [F]": (1000, 1e5, 1e4)}
SAMSUNG_CELL = {"Cell capacity [A.h]": 3.0, "Upper voltage cut-off [V]": 4.3, "Lower voltage cut-off [V]": 2.5}
PULSE_CELL = {"Cell capacity [A.h]": 5.0, "Lower voltage cut-off [V]": 2.5, "Upper voltage cut-off [V]": 4.4}
SOCS = np.round(np.linspace(0.95, 0.05, 10), 2)
SCALES = {25.0: 1.0, 10.0: 1.5, 0.0: 2.5}  # °C: the synthetic cell's resistances there (two_rc_grid)
DE = {"popsize": 10, "maxiter": 40, "seed": 0, "polish": False}  # both sides: 50 candidates a generation
# method: sweepfit's optimizer; those PyBOP has too run on both sides
METHODS = {"L-BFGS-B": {"type": "ScipyMinimize", "method": "L-BFGS-B", "gradient": "sensitivities"},
           "DE": {"type": "ScipyDifferentialEvolution", **DE},
           "ScipyLeastSquares": {"type": "ScipyLeastSquares"}}
IN_PYBOP = ("L-BFGS-B", "DE")
MODEL = {"type": "ECM", "options": {"rc pairs": 2, "thermal": "two-state"}}  # PyBaMM's Thevenin as it comes


def pybop_fits(problems: list[dict]) -> list[dict]:
    """Runs in PyBOP's interpreter: each problem fitted as a PyBOP user writes it, one after another."""
    import pybamm
    import pybop

    found = []
    started = time.perf_counter()
    for p in problems:
        dataset = pybop.Dataset({"Time [s]": np.array(p["time"]), "Current [A]": np.array(p["current"]),
                                 "Voltage [V]": np.array(p["voltage"])})
        values = pybamm.ParameterValues("ECM_Example")
        values.update({**p["fixed"], "Initial SoC": p["initial_soc"], "R2 [Ohm]": 0.0, "C2 [F]": 1.0,
                       "Element-2 initial overpotential [V]": 0.0}, check_already_exists=False)
        if p["ocv"] is not None:
            x, y = np.array(p["ocv"]["x"]), np.array(p["ocv"]["y"])
            values["Open-circuit voltage [V]"] = lambda soc: pybamm.Interpolant(x, y, soc, name="ocv")
        values.update({name: pybop.Parameter(bounds=[lo, hi], initial_value=x0, transformation=pybop.LogTransformation())
                       for name, (lo, hi, x0) in p["parameters"].items()})
        model = pybamm.equivalent_circuit.Thevenin(options={"number of rc elements": 2})
        # PyBOP's example sets dt_max: without it IDAKLU steps over the pulses (20.8 mV RMSE where the
        # same parameters give 2.3 mV); sweepfit restarts the solve at each current step instead
        solver = pybamm.IDAKLUSolver(options={"dt_max": 1.0})
        simulator = pybop.pybamm.Simulator(model, parameter_values=values, protocol=dataset, solver=solver)
        problem = pybop.Problem(simulator, pybop.RootMeanSquaredError(dataset, target="Voltage [V]"))
        if p["method"] == "DE":
            optimiser = pybop.SciPyDifferentialEvolution(problem, options=pybop.SciPyDifferentialEvolutionOptions(**DE))
        else:
            optimiser = pybop.SciPyMinimize(problem, options=pybop.SciPyMinimizeOptions(method="L-BFGS-B"))
        result = optimiser.run()
        found.append({"x": [float(v) for v in result.x], "solves": int(result.n_evaluations), "message": str(result.message)})
    return [{**f, "wall": time.perf_counter() - started} for f in found]


def samsung_problem(method: str) -> tuple[dict, dict]:
    """The Samsung test as sweepfit's pipeline and as the data PyBOP's side reads (the same OCV and initial SOC)."""
    from elements import ecm
    from elements.calculations.ecm_tables import OCV, HPPCTables
    from elements.core.data import load_measurements
    from elements.models import parameter_values
    from elements.values import apply

    rests = HPPCTables(element_type="calculation", calculation="HPPCTables", data=SAMSUNG, capacity=3.0,
                       initial_soc=0.99, tables=[OCV])
    ocv = rests.derive(None, ROOT).parameters[OCV]
    [m] = load_measurements(SAMSUNG)
    values = apply(parameter_values("ECM_Example", "ECM", {"rc pairs": 2}), {**SAMSUNG_CELL, OCV: ocv})
    soc = ecm.initial_soc(values, f"{float(m.voltage[0])} V")
    pipeline = {"elements": {
        "rests": {"element_type": "calculation", "calculation": "HPPCTables", "data": SAMSUNG, "capacity": 3.0,
                  "initial_soc": 0.99, "tables": [OCV]},
        "fit": {"element_type": "data_fit",
                "objectives": {"hppc": {"type": "CurrentDriven", "data": SAMSUNG, "initial_state": "from data",
                                        "model": MODEL, "parameters": SAMSUNG_CELL}},
                "parameters": spec_parameters(SAMSUNG_PARAMETERS), "optimizer": METHODS[method]},
    }}
    return pipeline, {"time": m.time.tolist(), "current": m.current.tolist(), "voltage": m.voltage.tolist(),
                      "ocv": ocv, "initial_soc": soc, "fixed": SAMSUNG_CELL, "parameters": SAMSUNG_PARAMETERS,
                      "method": method}


def pulses_problem(folder: Path, method: str) -> tuple[dict, list[dict], list[tuple[float, float]]]:
    """The synthetic 30-pulse test: sweepfit's pipeline, PyBOP's 30 problems, and (SOC, °C) per key."""
    from elements import ecm
    from elements.core.data import load_measurements
    from elements.models import parameter_values
    from elements.pulses import split_pulses
    from elements.synthetic import synthetic_hppc, two_rc_grid
    from elements.values import apply

    objectives, problems, keys = {}, [], []
    values = apply(parameter_values("ECM_Example", "ECM", {"rc pairs": 2}), PULSE_CELL)
    for celsius in SCALES:
        csv = folder / f"hppc_{celsius:g}C.csv"
        if not csv.exists():
            synthetic_hppc(values=two_rc_grid(SCALES), socs=SOCS, capacity=5.0,
                           temperature=273.15 + celsius).to_csv(csv, index=False)
        pieces = split_pulses(load_measurements(f"file:{csv}")[0], rest_current=1e-3)
        for k, soc in enumerate(SOCS):
            objectives[f"{soc}, {celsius:g}"] = {"type": "Pulse", "data": f"file:{csv}", "pulses": [2 * k],
                                                 "parameters": PULSE_CELL, "model": MODEL}
            piece = pieces[2 * k]
            problems.append({"time": piece.time.tolist(), "current": piece.current.tolist(),
                             "voltage": piece.voltage.tolist(), "ocv": None, "fixed": PULSE_CELL,
                             "initial_soc": ecm.initial_soc(values, f"{float(piece.voltage[0])} V"),
                             "parameters": PULSE_PARAMETERS, "method": method})
            keys.append((float(soc), celsius))
    pipeline = {"elements": {
        "pulses": {"element_type": "array_data_fit", "objectives": objectives,
                   "parameters": spec_parameters(PULSE_PARAMETERS), "optimizer": METHODS[method]},
        "tables": {"element_type": "calculation", "calculation": "ECMTables", "fit": "pulses",
                   "argument": ["SoC", "Cell temperature [degC]"]},
    }}
    return pipeline, problems, keys


def pulses_rmse(pipeline: dict, xs: np.ndarray) -> np.ndarray:
    """Each pulse's voltage RMSE at its answer in ``xs`` (one row per key), by sweepfit's objective."""
    from orchestrator.spec import load_pipeline

    fit = load_pipeline(pipeline).elements["pulses"]
    found = []
    for (name, kind), x in zip(fit.objectives.items(), xs, strict=True):
        [objective] = kind.build(name, inputs=tuple(PULSE_PARAMETERS), existing={}, cost=fit.cost, base_dir=ROOT)
        found.append(objective.cost(objective.solve(np.asarray(x)[None])[0]))
    return np.array(found)


def spec_parameters(parameters: dict) -> dict:
    return {n: {"bounds": [lo, hi], "initial_value": x0, "transform": "log10"} for n, (lo, hi, x0) in parameters.items()}


def samsung_rmse(pipeline: dict, xs: list[list[float]]) -> np.ndarray:
    """Voltage RMSE of each answer on the Samsung test, by sweepfit's objective for both sides."""
    from orchestrator.spec import load_pipeline

    from elements.calculations.ecm_tables import OCV

    spec = load_pipeline(pipeline)
    ocv = spec.elements["rests"].derive(None, ROOT).parameters[OCV]
    fit = spec.elements["fit"]
    [objective] = fit.objectives["hppc"].build("hppc", inputs=tuple(SAMSUNG_PARAMETERS), existing={OCV: ocv},
                                               cost=fit.cost, base_dir=ROOT)
    return np.array([objective.cost(o) for o in objective.solve(np.array(xs))])


def run_pybop(python: str, problems: list[dict], folder: Path) -> list[dict]:
    path = folder / f"problems-{len(problems)}.json"
    path.write_text(json.dumps(problems))
    out = subprocess.run([python, __file__, "--pybop", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pybop-python", default=".bench-venv/pybop/bin/python",
                        help="an interpreter with pybop==26.3 installed (see above)")
    parser.add_argument("--no-pybop", action="store_true", help="run sweepfit only")
    parser.add_argument("--pulses-only", action="store_true", help="the 30 synthetic pulses only, not the Samsung test")
    parser.add_argument("--values", action="store_true", help="print every pulse's fitted R0, R1, C1 beside the truth")
    parser.add_argument("--pybop", metavar="PROBLEMS", help=argparse.SUPPRESS)  # the subprocess
    args = parser.parse_args()
    if args.pybop:
        print(json.dumps(pybop_fits(json.loads(Path(args.pybop).read_text()))))
        return
    if not args.no_pybop and not Path(args.pybop_python).exists():
        parser.error(f"no PyBOP interpreter at {args.pybop_python}; create it as the docstring says, "
                     "or pass --pybop-python PATH")
    import orchestrator
    from clusters import closing, local_client
    from elements.synthetic import two_rc_grid

    names = list(SAMSUNG_PARAMETERS)
    samsung_rows, pulse_rows = [], []  # (label, wall, solves, x); pulses: and the fits' own wall
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        samsung = {} if args.pulses_only else {method: samsung_problem(method) for method in METHODS}
        pulses = {method: pulses_problem(folder, method) for method in ("L-BFGS-B", "ScipyLeastSquares")}
        keys = pulses["L-BFGS-B"][2]
        with closing(local_client(n_workers=args.workers, threads_per_worker=1)) as client:
            client.run(lambda: __import__("pybamm") and None)  # warm, as a long-lived cluster is
            for method, (pipeline, _) in samsung.items():
                started = time.perf_counter()
                info = orchestrator.run(pipeline, client=client, store=folder / f"samsung {method}")
                fit = info["elements"]["fit"]["summary"]
                samsung_rows.append((f"sweepfit {method}", time.perf_counter() - started, fit["evaluations"],
                                     [fit["parameters"][n] for n in names]))
            for method, (pipeline, _, _) in pulses.items():
                started = time.perf_counter()
                info = orchestrator.run(pipeline, client=client, store=folder / f"pulses {method}")
                wall = time.perf_counter() - started
                assert info["status"] == "completed", info
                ds = orchestrator.open_run(info["run_id"], folder / f"pulses {method}")["pulses"].to_dataset()
                pulse_rows.append((f"sweepfit {method}", wall, int(ds["nfev"].sum()), ds["best_x"].values,
                                   float(ds.attrs["wall_s"])))
        for method in () if args.no_pybop else [m for m in IN_PYBOP if m in samsung]:
            [found] = run_pybop(args.pybop_python, [samsung[method][1]], folder)
            samsung_rows.append((f"PyBOP {method}", found["wall"], found["solves"], found["x"]))
        if not args.no_pybop:
            found = run_pybop(args.pybop_python, pulses["L-BFGS-B"][1], folder)
            pulse_rows.append(("PyBOP L-BFGS-B", found[-1]["wall"], sum(f["solves"] for f in found),
                               np.array([f["x"] for f in found]), found[-1]["wall"]))
        rmse = samsung_rmse(samsung["L-BFGS-B"][0], [x for *_, x in samsung_rows]) if samsung else []
        pulse_rmse = [pulses_rmse(pulses["L-BFGS-B"][0], row[3]) for row in pulse_rows]

    if samsung:
        print(f"Samsung INR21700 multi-pulse test, 2-RC, the same start; sweepfit on {args.workers} workers, "
              f"PyBOP 26.3 in one process; RMSE by sweepfit's objective for every answer")
        print(f"{'':28} {'wall s':>7} {'solves':>7} {'RMSE mV':>8}" + "".join(f"{n:>11}" for n in names))
        for (label, wall, solves, x), cost in zip(samsung_rows, rmse):
            print(f"{label:28} {wall:7.2f} {solves:7d} {cost * 1e3:8.3f}" + "".join(f"{v:11.4g}" for v in x))
        print()

    grid = two_rc_grid(SCALES)
    expected = np.array([[_at(grid[n], soc, celsius) for n in names] for soc, celsius in keys])
    print(f"synthetic 2-RC cell, {len(keys)} pulses ({len(SCALES)} temperatures x {len(SOCS)} SOCs), each its own "
          f"fit; sweepfit's wall is the whole run (fits, the tables, the store), 'fits s' the fits alone; "
          f"the largest error against the truth, and the pulses' voltage RMSE by sweepfit's objective")
    print(f"{'':28} {'wall s':>7} {'fits s':>7} {'solves':>7} {'RMSE mV':>15}" + "".join(f"{n:>11}" for n in names))
    for (label, wall, solves, x, fits), cost in zip(pulse_rows, pulse_rmse):
        worst = np.max(np.abs(x / expected - 1), axis=0)
        spread = f"{np.median(cost) * 1e3:.3f} ({np.max(cost) * 1e3:.2f})"
        print(f"{label:28} {wall:7.2f} {fits:7.2f} {solves:7d} {spread:>15}" + "".join(f"{w:11.2%}" for w in worst))
    print("(RMSE: the median over pulses, the largest in brackets)")
    if not args.no_pybop:
        pybop_wall = pulse_rows[-1][1]
        for label, wall, *_ in pulse_rows[:-1]:
            print(f"PyBOP's wall / {label}'s: {pybop_wall / wall:.2f}x")
    if args.values:
        print(f"\n{'SOC':>5} {'°C':>4} {'':10}" + "".join(f"{n:>11}" for n in names[:3]))
        for i, (soc, celsius) in enumerate(keys):
            for label, row in (("truth", expected[i]), *((r[0].split()[0] + " " + r[0].split()[1][:6], r[3][i])
                                                          for r in pulse_rows)):
                print(f"{soc:5.2f} {celsius:4g} {label:10}" + "".join(f"{v:11.4g}" for v in row[:3]))


def _at(grid: dict, soc: float, celsius: float) -> float:
    """A grid's value at one of its temperatures, linear in SOC between its knots."""
    column = np.asarray(grid["y"])[:, grid["x"][1].index(celsius)]
    return float(np.interp(soc, grid["x"][0], column))


if __name__ == "__main__":
    main()
