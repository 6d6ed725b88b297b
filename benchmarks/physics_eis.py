"""A physics model's impedance, in one run: sweepfit on a LocalCluster beside a serial pybamm loop and PyBOP.

The problem: SPMe (surface form differential), Chen2020 at 50 % SOC, 30 frequencies from 10 mHz to
1 kHz, 64 candidates of the negative electrode's double-layer capacity and exchange-current factor
(seeded, uniform in log10 within the fit's bounds). Three ways to get the 64 spectra, each warm (its
model built before the clock starts, as in a fit):

- serial pybamm: one ``pybamm.EISSimulation`` with the candidates as inputs, ``solve`` in a loop;
- sweepfit: the EIS objective's ``solve`` on a ``--workers``-worker LocalCluster (one thread each),
  the population split into one chunk per worker, as a population fit evaluates it;
- PyBOP 26.3: ``pybop.pybamm.EISSimulator(...).solve(list_of_inputs)``, in PyBOP's own venv as a subprocess.

Every tool's spectra are compared with the serial loop's. Then a complete 5-SOC fit (one objective
per SOC sharing both parameters, 1 % noise, DE) on the same cluster: its wall and what it found.

PyBOP needs numpy<2.4, so it lives in its own virtual environment:

    python benchmarks/physics_eis.py [--workers 2] [--pybop-python .bench-venv/pybop/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CDL_N = "Negative electrode double-layer capacity [F.m-2]"
J0_N = "Negative electrode exchange-current density [A.m-2]"
NAMES = (CDL_N, f"{J0_N} factor")
BOUNDS = np.array([[0.05, 1.0], [0.3, 3.0]])
TRUTH = {CDL_N: 0.3, f"{J0_N} factor": 1.3}
F = np.logspace(-2, 3, 30)
SOCS = (0.1, 0.3, 0.5, 0.7, 0.9)
OPTIONS = {"surface form": "differential"}


def population(n: int = 64, seed: int = 0) -> np.ndarray:
    log = np.log10(BOUNDS)
    return 10 ** np.random.default_rng(seed).uniform(log[:, 0], log[:, 1], size=(n, len(NAMES)))


def pybop_spectra(X: np.ndarray) -> tuple[float, np.ndarray]:
    """Runs in PyBOP's interpreter: the spectra of every row of X, as a PyBOP user gets them."""
    import pybamm
    import pybop

    values = pybamm.ParameterValues("Chen2020")
    j0 = values[J0_N]
    values.update({CDL_N: pybop.Parameter(bounds=list(BOUNDS[0])), "j0 factor": pybop.Parameter(bounds=list(BOUNDS[1]))},
                  check_already_exists=False)
    values[J0_N] = lambda *args: pybamm.InputParameter("j0 factor") * j0(*args)
    sim = pybop.pybamm.EISSimulator(pybamm.lithium_ion.SPMe(OPTIONS), f_eval=F, parameter_values=values,
                                    initial_state={"Initial SoC": 0.5})
    inputs = [{CDL_N: float(a), "j0 factor": float(b)} for a, b in X]
    sim.solve(inputs[:1])  # warm, as the others
    started = time.perf_counter()
    solutions = sim.solve(inputs)
    wall = time.perf_counter() - started
    return wall, np.array([s["Impedance"].data for s in solutions])


def serial(X: np.ndarray) -> tuple[float, np.ndarray]:
    from elements.eis.physics import EISSetup, simulation

    sim = simulation(EISSetup("SPMe", OPTIONS, "Chen2020", {"Initial SOC": 0.5}, NAMES))
    sim.build()
    sim.solve(F, inputs=dict(zip(NAMES, X[0])))
    started = time.perf_counter()
    z = [sim.solve(F, inputs=dict(zip(NAMES, map(float, row)))).impedance for row in X]
    return time.perf_counter() - started, np.array(z)


def sweepfit_spectra(client: object, X: np.ndarray, workers: int) -> tuple[float, np.ndarray]:
    from elements.eis.physics import EISSetup
    from elements.objectives.eis import ModelSpectrum

    setup = EISSetup("SPMe", OPTIONS, "Chen2020", {"Initial SOC": 0.5}, NAMES)
    objective = ModelSpectrum("eis", setup, F, np.zeros(len(F), complex))
    client.run(objective.solve, X[:1])  # every worker builds its model once
    started = time.perf_counter()
    futures = client.map(objective.solve, np.array_split(X, workers), pure=False)
    outcomes = [o for chunk in client.gather(futures) for o in chunk]
    return time.perf_counter() - started, np.array([o.value for o in outcomes])


def five_soc_fit(client: object, folder: Path) -> tuple[float, dict, int]:
    import orchestrator
    from elements.eis.physics import synthetic_spectrum

    objectives = {}
    for i, soc in enumerate(SOCS):
        path = folder / f"soc_{soc}.csv"
        synthetic_spectrum(values=TRUTH, frequency=F, initial_soc=soc, noise=0.01, seed=i).to_csv(path, index=False)
        objectives[f"soc {soc}"] = {"type": "EIS", "model": {"type": "SPMe", "options": OPTIONS},
                                    "initial_soc": soc, "data": f"file:{path}", "weighting": "modulus"}
    pipeline = {"elements": {"fit": {
        "element_type": "data_fit", "objectives": objectives,
        "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in zip(NAMES, BOUNDS, strict=True)},
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 8, "tol": 1e-6, "polish": False},
    }}}
    started = time.perf_counter()
    info = orchestrator.run(pipeline, client=client, store=folder / "store")
    wall = time.perf_counter() - started
    summary = info["elements"]["fit"]["summary"]
    return wall, summary["parameters"], summary["evaluations"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pybop-python", default=".bench-venv/pybop/bin/python")
    parser.add_argument("--pybop", action="store_true", help=argparse.SUPPRESS)  # the subprocess: X on stdin
    args = parser.parse_args()
    if args.pybop:
        wall, z = pybop_spectra(np.array(json.loads(sys.stdin.read())))
        print(json.dumps({"wall": wall, "real": z.real.tolist(), "imag": z.imag.tolist()}))
        return
    from clusters import closing, local_client

    X = population()
    rows = {}
    rows["serial pybamm.EISSimulation"], reference = serial(X)
    out = subprocess.run([args.pybop_python, __file__, "--pybop"], input=json.dumps(X.tolist()), check=True,
                         capture_output=True, text=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    rows["PyBOP 26.3 EISSimulator"] = found["wall"]
    differences = {"PyBOP 26.3 EISSimulator": np.max(np.abs(np.array(found["real"]) + 1j * np.array(found["imag"])
                                                            - reference) / np.abs(reference))}
    with tempfile.TemporaryDirectory() as tmp, closing(local_client(n_workers=args.workers, threads_per_worker=1)) as client:
        name = f"sweepfit, {args.workers} workers"
        rows[name], z = sweepfit_spectra(client, X, args.workers)
        differences[name] = np.max(np.abs(z - reference) / np.abs(reference))
        fit_wall, fitted, evaluations = five_soc_fit(client, Path(tmp))
    print(f"{len(X)} SPMe spectra at {len(F)} frequencies (warm; shared, busy machine):")
    print(f"{'':32s} {'spectra/s':>10s} {'vs serial':>10s} {'max rel. diff.':>15s}")
    for label, wall in rows.items():
        print(f"{label:32s} {len(X) / wall:10.1f} {rows['serial pybamm.EISSimulation'] / wall:10.2f}x "
              f"{differences.get(label, 0.0):15.1e}")
    errors = {n: f"{v:.4g} ({v / TRUTH[n] - 1:+.2%})" for n, v in fitted.items()}
    print(f"5-SOC fit (DE, popsize 8, {args.workers} workers): {fit_wall:.1f} s wall, {evaluations} evaluations; {errors}")


if __name__ == "__main__":
    main()
