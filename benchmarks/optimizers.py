"""Optimizers on one problem, in one run: sweepfit's on a LocalCluster beside PyBOP's in-process.

The benchmark problem of de_fit.py: SPMe, Chen2020, a 1C (5 A) 3500 s synthetic discharge with
1 mV noise, both particle diffusivities fitted in log10. sweepfit runs DE, CMA-ES, L-BFGS-B (its
finite-difference gradient one parallel call) and a 4-start L-BFGS-B multistart (each start its
own task) on a ``--workers``-worker LocalCluster, then the exact-gradient methods: L-BFGS-B with
the gradient from IDAKLU's sensitivities (one solve per evaluation) and ScipyLeastSquares (trf, the
Jacobian from the same sensitivities); PyBOP 26.3 runs SciPyDifferentialEvolution (the
same DE options) and CMAES (PyBOP's defaults) the way PyBOP runs, in one process. Every answer's
cost is evaluated again by sweepfit's objective, so the cost column compares like with like.

PyBOP needs numpy<2.4, so it lives in its own virtual environment, run as a subprocess:

    python3 -m venv .bench-venv/pybop
    .bench-venv/pybop/bin/pip install pybop==26.3 "numpy<2.4"

    python benchmarks/optimizers.py [--workers 2] [--repeats 3] [--pybop-python .bench-venv/pybop/bin/python]
    python benchmarks/optimizers.py --no-pybop      # sweepfit's methods only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"
TRUE = {D_N: 3.3e-14, D_P: 4e-15}
BOUNDS = {D_N: (1e-15, 1e-12), D_P: (1e-16, 1e-13)}
DE = {"popsize": 15, "seed": 0, "polish": False}  # de_fit.py's options, both sides
SWEEPFIT = {
    "sweepfit DE": {"optimizer": {"type": "ScipyDifferentialEvolution", **DE}},
    "sweepfit CMA-ES": {"optimizer": {"type": "CMAES", "seed": 0, "tolx": 1e-4}},
    "sweepfit L-BFGS-B": {"optimizer": {"type": "ScipyMinimize", "method": "L-BFGS-B", "gradient": "forward"}},
    "sweepfit L-BFGS-B x4 starts": {"optimizer": {"type": "ScipyMinimize", "method": "L-BFGS-B", "gradient": "forward"},
                                    "multistarts": 4, "initial_guess_sampler": {"type": "LatinHypercube", "seed": 0}},
    "sweepfit L-BFGS-B sensitivities": {"optimizer": {"type": "ScipyMinimize", "method": "L-BFGS-B",
                                                      "gradient": "sensitivities"}},
    "sweepfit L-BFGS-B sens. x4 starts": {"optimizer": {"type": "ScipyMinimize", "method": "L-BFGS-B",
                                                        "gradient": "sensitivities"},
                                          "multistarts": 4, "initial_guess_sampler": {"type": "LatinHypercube", "seed": 0}},
    "sweepfit ScipyLeastSquares": {"optimizer": {"type": "ScipyLeastSquares"}},
}
PYBOP = ("PyBOP SciPyDifferentialEvolution", "PyBOP CMAES")


def pybop_fit(csv: str, method: str) -> dict:
    """Runs in PyBOP's interpreter: one fit, as a PyBOP user writes it; prints what it found."""
    import pybamm
    import pybop

    data = np.genfromtxt(csv, delimiter=",", names=True)
    dataset = pybop.Dataset({"Time [s]": data["Time_s"], "Current [A]": data["Current_A"],
                             "Voltage [V]": data["Voltage_V"]})
    values = pybamm.ParameterValues("Chen2020")
    values.update({n: pybop.Parameter(bounds=b, transformation=pybop.LogTransformation()) for n, b in BOUNDS.items()})
    started = time.perf_counter()
    simulator = pybop.pybamm.Simulator(pybamm.lithium_ion.SPMe(), parameter_values=values, protocol=dataset)
    problem = pybop.Problem(simulator, pybop.RootMeanSquaredError(dataset, target="Voltage [V]"))
    if method == "PyBOP SciPyDifferentialEvolution":
        optimiser = pybop.SciPyDifferentialEvolution(problem, options=pybop.SciPyDifferentialEvolutionOptions(**DE))
    else:
        np.random.seed(0)  # pints' CMAES seeds cma from numpy's global RNG
        optimiser = pybop.CMAES(problem)
    result = optimiser.run()
    return {"wall": time.perf_counter() - started, "x": [float(v) for v in result.x],
            "solves": int(result.n_evaluations), "message": str(result.message)}


def sweepfit_fits(csv: Path, workers: int, store: Path, repeats: int) -> dict[str, dict]:
    import orchestrator
    from clusters import closing, local_client

    objective = {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{csv}"}
    found = {}
    with closing(local_client(n_workers=workers, threads_per_worker=1)) as client:
        client.run(lambda: __import__("pybamm") and None)  # warm, as a long-lived cluster is
        for repeat in range(repeats):
            for i, (name, options) in enumerate(SWEEPFIT.items()):
                pipeline = {"elements": {"fit": {
                    "element_type": "data_fit", "objectives": {"1C": objective},
                    "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in BOUNDS.items()}, **options,
                }}}
                started = time.perf_counter()
                info = orchestrator.run(pipeline, client=client, store=store / f"{repeat}-{i}")
                wall = time.perf_counter() - started
                summary = info["elements"]["fit"]["summary"]
                walls = found.get(name, {}).get("walls", []) + [wall]
                found[name] = {"walls": walls, "x": [summary["parameters"][n] for n in BOUNDS],
                               "solves": summary["evaluations"]}
    return found


def cost_of(csv: Path, xs: list[list[float]]) -> np.ndarray:
    """RMSE of each answer, by the same objective for every method."""
    from orchestrator.spec import load_pipeline

    spec = load_pipeline({"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{csv}"}},
        "parameters": {n: {"bounds": list(b)} for n, b in BOUNDS.items()},
    }}}).elements["fit"]
    [objective] = spec.objectives["1C"].build("1C", inputs=tuple(BOUNDS), existing={}, cost=spec.cost,
                                              base_dir=Path.cwd())
    return np.array([objective.cost(o) for o in objective.solve(np.array(xs))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="run each fit this often; the fastest wall counts")
    parser.add_argument("--pybop-python", default=".bench-venv/pybop/bin/python",
                        help="an interpreter with pybop==26.3 installed (see above)")
    parser.add_argument("--no-pybop", action="store_true", help="run sweepfit's methods only")
    parser.add_argument("--pybop", nargs=2, metavar=("METHOD", "CSV"), help=argparse.SUPPRESS)  # the subprocess
    args = parser.parse_args()
    if args.pybop:
        print(json.dumps(pybop_fit(args.pybop[1], args.pybop[0])))
        return
    if not args.no_pybop and not Path(args.pybop_python).exists():
        parser.error(f"no PyBOP interpreter at {args.pybop_python}; create it as the docstring says, "
                     "or pass --pybop-python PATH")
    from elements.synthetic import synthetic_discharge

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "synthetic_1C.csv"
        synthetic_discharge(values=TRUE, current=5.0, duration=3500.0).to_csv(csv, index=False)
        found = sweepfit_fits(csv, args.workers, Path(tmp) / "store", args.repeats)
        for method in () if args.no_pybop else PYBOP:
            for _ in range(args.repeats):
                out = subprocess.run([args.pybop_python, __file__, "--pybop", method, str(csv)], check=True,
                                     capture_output=True, text=True).stdout
                run = json.loads(out.strip().splitlines()[-1])
                found[method] = {**run, "walls": found.get(method, {}).get("walls", []) + [run["wall"]]}
        costs = cost_of(csv, [f["x"] for f in found.values()])
        floor = float(cost_of(csv, [list(TRUE.values())])[0])

    print(f"problem: SPMe Chen2020 1C 3500 s, 1 mV noise, 2 log10 diffusivities; sweepfit on {args.workers} "
          f"workers, PyBOP in one process. RMSE at the true values: {floor * 1e3:.4f} mV")
    print(f"{'method':36} {'solves':>7} {'wall s':>7} {'RMSE mV':>9} {'D_n err':>8} {'D_p err':>8}  walls of the repeats")
    for (name, f), cost in zip(found.items(), costs):
        err = [f["x"][i] / TRUE[n] - 1 for i, n in enumerate(BOUNDS)]
        walls = " ".join(f"{w:.2f}" for w in f["walls"])
        print(f"{name:36} {f['solves']:7d} {min(f['walls']):7.2f} {cost * 1e3:9.4f} {err[0]:+8.2%} {err[1]:+8.2%}  {walls}")


if __name__ == "__main__":
    main()
