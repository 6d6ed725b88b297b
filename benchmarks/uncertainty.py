"""How sure a fit is, and what it costs: each uncertainty method beside its baseline, in one run.

The benchmark problem of de_fit.py: SPMe, Chen2020, a 1C (5 A) 3500 s synthetic discharge with
1 mV noise. Each comparison is one function of :class:`Problem` in ``COMPARISONS``; ``--only``
picks some (default: all, in order):

  ci     the ``linear_confidence_interval`` element (both diffusivities in log10, at the true
         values as a fit before it would leave them) run as a worker runs it, store writes
         included, against ONE gradient evaluation of the same objective: one solve with IDAKLU's
         sensitivities (``value_and_grad``). Both on a warm process, the model already built, as
         after the fit that precedes the interval in a pipeline. Target: <= 2x.
  sobol  a ``sobol_sensitivity`` element (N = 256 base points, 4 parameters: 1536 evaluations) on
         a ``--workers``-worker LocalCluster, end to end, against a serial loop of plain PyBaMM
         solves (one built model, ``solver.solve`` per point, build included) of the same points.
         Target: >= 1.8x.
  sampler  the posterior of both diffusivities (known 1 mV noise, uniform priors over the same
         boxes on both sides, chains started at the true values) by pints' DifferentialEvolutionMCMC:
         sweepfit's ``PintsSampler`` (every chain's proposal one population over a ``--workers``-worker
         LocalCluster) beside PyBOP 26.3's ``DifferentialEvolutionMCMC`` in one process (its own
         batched population evaluation), the same chains and iterations. Effective samples per
         second (ArviZ's bulk ESS of the scarcer parameter after a 10 % burn-in, over the wall) and
         both posteriors' means and standard deviations in log10. Target: >= 1.5x PyBOP's ESS/s.

PyBOP needs numpy<2.4, so it lives in its own virtual environment, run as a subprocess:

    python3 -m venv .bench-venv/pybop
    .bench-venv/pybop/bin/pip install pybop==26.3 "numpy<2.4"

    python benchmarks/uncertainty.py [--only ci,sobol,sampler] [--workers 2] [--repeats 5] [--n-samples 256]
                                     [--chains 8] [--iterations 1000] [--pybop-python .bench-venv/pybop/bin/python]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"
E_N, E_P = "Negative electrode porosity", "Positive electrode porosity"
TRUE = {D_N: 3.3e-14, D_P: 4e-15}
FIT_BOUNDS = {D_N: (1e-15, 1e-12), D_P: (1e-16, 1e-13)}  # the fits' bounds (de_fit.py, optimizers.py)
# Sobol's box: the diffusivities a decade wide around the truth (as benchmarks/sweep.py), porosities +-20 %
SOBOL_BOUNDS = {D_N: (1e-14, 1e-13), D_P: (1e-15, 1e-14), E_N: (0.2, 0.3), E_P: (0.27, 0.4)}


@dataclass(frozen=True)
class Problem:
    """What every comparison shares: the data, a scratch folder for stores, the command line."""

    csv: Path
    frame: pd.DataFrame
    scratch: Path
    workers: int
    repeats: int
    n_samples: int
    chains: int = 8
    iterations: int = 1000
    pybop_python: str = ".bench-venv/pybop/bin/python"

    def objective(self) -> dict:
        return {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{self.csv}"}


def _median_wall(func: Callable[[], object], repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def confidence_interval(problem: Problem) -> None:
    """The interval element's wall against one solve with sensitivities of the same objective."""
    import orchestrator
    from elements import ELEMENTS
    from elements.element import Context
    from elements.fit.evaluation import build
    from orchestrator.lifecycle import prepare
    from orchestrator.spec import load_pipeline
    from orchestrator.worker import run_element

    pipeline = {"elements": {"ci": {
        "element_type": "linear_confidence_interval", "objectives": {"1C": problem.objective()},
        "parameters": {n: {"bounds": list(FIT_BOUNDS[n]), "transform": "log10", "initial_value": v}
                       for n, v in TRUE.items()},
    }}}
    spec = load_pipeline(pipeline).elements["ci"]
    names = tuple(spec.parameters)
    [objective] = build(spec, names, Context(name="ci"))
    x = np.array([[TRUE[n] for n in names]])
    started = time.perf_counter()
    objective.value_and_grad(x, residuals=True)  # the first builds the model with sensitivities
    first = time.perf_counter() - started
    gradient = _median_wall(lambda: objective.value_and_grad(x, residuals=True), problem.repeats)

    store = problem.scratch / "ci"
    runs = []

    def element() -> None:
        run = prepare(pipeline, store_root=store, force=True)  # force: computed, not loaded from the cache
        runs.append(run.run_id)
        run_element(str(run.path), "ci", run.pipeline.elements["ci"], {}, str(run.base_dir))

    element_first = _median_wall(element, 1)  # the process's first: one-off imports and JIT compiles
    element_wall = _median_wall(element, problem.repeats)
    compute = _median_wall(lambda: ELEMENTS["linear_confidence_interval"].run(spec, Context(name="ci")),
                           problem.repeats)
    info = orchestrator.status(runs[-1], store=store)
    assert info["status"] == "completed" and "cached_from" not in info["elements"]["ci"], info
    ds = orchestrator.open_run(runs[-1], store)["ci"].to_dataset()
    print(f"\n[ci] linear_confidence_interval, 2 log10 diffusivities, {len(problem.frame)} points, "
          f"Jacobian from {ds.attrs['jacobian']}; medians of {problem.repeats} on a warm process")
    print(f"  one gradient evaluation (value_and_grad)  : {gradient * 1e3:8.1f} ms   (the process's first, "
          f"model build included: {first:.2f} s)")
    print(f"  the element, as a worker runs it          : {element_wall * 1e3:8.1f} ms   (the process's first: "
          f"{element_first:.2f} s; {info['elements']['ci']['solves']} solve, status and dataset written to zarr)")
    print(f"    of which the element's own computation  : {compute * 1e3:8.1f} ms   (no store: objectives built, "
          "Jacobian, covariance, dataset)")
    print(f"  ratio element / gradient                  : {element_wall / gradient:8.2f}   (target <= 2)")
    print(f"  ratio computation only / gradient         : {compute / gradient:8.2f}")
    for i, n in enumerate(names):
        print(f"  {n}: {float(ds['value'][i]):.4g} in [{float(ds['lower'][i]):.4g}, {float(ds['upper'][i]):.4g}]")


def _serial_costs(frame: pd.DataFrame, X: np.ndarray) -> tuple[float, float, np.ndarray]:
    """What a modeller writes by hand: one built model, one solve per point; (build s, loop s, RMSEs)."""
    import pybamm

    t, current, measured = (frame[c].to_numpy() for c in ("Time [s]", "Current [A]", "Voltage [V]"))
    started = time.perf_counter()
    values = pybamm.ParameterValues("Chen2020")
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
    values.update({n: "[input]" for n in SOBOL_BOUNDS})
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]"])
    sim = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values, solver=solver)
    sim.build()
    built = time.perf_counter()
    costs = []
    for row in X:
        inputs = dict(zip(SOBOL_BOUNDS, row))
        v = solver.solve(sim.built_model, [t[0], t[-1]], inputs=inputs, t_interp=t)["Voltage [V]"].data
        v = np.pad(v, (0, len(t) - len(v)), mode="edge")  # stopped at 2.5 V: held there
        costs.append(float(np.sqrt(np.mean((v - measured) ** 2))))
    return built - started, time.perf_counter() - built, np.array(costs)


def sobol(problem: Problem) -> None:
    """A Sobol' element on a LocalCluster against a serial loop of plain PyBaMM solves of its points."""
    from distributed import get_task_stream

    import orchestrator
    from clusters import closing, local_client

    pipeline = {"elements": {"sobol": {
        "element_type": "sobol_sensitivity", "objectives": {"1C": problem.objective()},
        "parameters": {n: {"bounds": list(b)} for n, b in SOBOL_BOUNDS.items()},
        "n_samples": problem.n_samples, "seed": 0,
    }}}
    store = problem.scratch / "sobol"
    with closing(local_client(n_workers=problem.workers, threads_per_worker=1)) as client:
        client.run(lambda: __import__("pybamm") and None)  # warm, as a long-lived cluster is
        with get_task_stream(client) as stream:
            started = time.perf_counter()
            info = orchestrator.run(pipeline, client=client, store=store, force=True)
            wall = time.perf_counter() - started
        assert info["status"] == "completed", info
        X = orchestrator.open_run(info["run_id"], store)["sobol"]["x"].values
        # Control: the serial loop itself split over the same workers, one part each (no sweepfit):
        # the speed-up the machine allows right now.
        started = time.perf_counter()
        client.gather(client.map(_serial_costs, [problem.frame] * problem.workers,
                                 np.array_split(X, problem.workers), pure=False))
        control = time.perf_counter() - started
    # The chunks' compute on the workers (Dask's task stream): solving at the serial loop's rate
    # there, with the wall near half their sum, means the fan-out works and the rest is overhead.
    chunks = [s["stop"] - s["start"] for task in stream.data if "-sobol-chunk" in str(task["key"])
              for s in task["startstops"] if s["action"] == "compute"]
    ds = orchestrator.open_run(info["run_id"], store)["sobol"].to_dataset().load()
    build_s, loop_s, serial = _serial_costs(problem.frame, X)
    n = len(X)
    agree = np.abs(serial / ds["cost"].sel(output="1C").values - 1)
    print(f"\n[sobol] sobol_sensitivity, N = {problem.n_samples}, {len(SOBOL_BOUNDS)} parameters: {n} evaluations")
    print(f"  serial PyBaMM loop          : {build_s + loop_s:7.2f} s  (build {build_s:.2f} s, "
          f"{n / loop_s:.0f} solves/s in the loop)")
    print(f"  sweepfit, {problem.workers} workers, end to end: {wall:7.2f} s  ({n / wall:.0f} evaluations/s; warm "
          "workers, run created, indices computed, zarr written)")
    print(f"    its {len(chunks)} chunks computed for {sum(chunks):.2f} s in all on the workers "
          f"({n / sum(chunks):.0f} evaluations per worker-second, model builds included; longest chunk "
          f"{max(chunks):.2f} s)")
    print(f"  ratio serial / sweepfit     : {(build_s + loop_s) / wall:7.2f}   (target >= 1.8)")
    print(f"  control: the serial loop split over the same {problem.workers} workers: {control:.2f} s, "
          f"ratio serial / control {(build_s + loop_s) / control:.2f}")
    print(f"  same costs: {int((agree < 1e-6).sum())} of {n} agree within 1e-6 (largest relative difference "
          f"{agree.max():.1e})")
    for p in SOBOL_BOUNDS:
        at = ds.sel(output="1C", parameter=p)
        print(f"  {p:40} S1 {float(at['S1']):6.3f} ± {float(at['S1_conf']):.3f}   ST {float(at['ST']):6.3f} ± "
              f"{float(at['ST_conf']):.3f}")


# The samplers' prior boxes: uniform, centred (in each parameter's units) on the truth, where PyBOP's
# sampler starts its chains (at its priors' means); the posterior lies well inside them.
SAMPLER_BOUNDS = {D_N: (1e-15, 6.5e-14), D_P: (1e-16, 7.9e-15)}
SIGMA = 0.001  # the synthetic data's noise, known to both likelihoods


def pybop_sampler(csv: str, chains: int, iterations: int) -> dict:
    """Runs in PyBOP's interpreter: the posterior as a PyBOP user samples it; prints its chains."""
    import pybamm
    import pybop

    data = np.genfromtxt(csv, delimiter=",", names=True)
    dataset = pybop.Dataset({"Time [s]": data["Time_s"], "Current [A]": data["Current_A"],
                             "Voltage [V]": data["Voltage_V"]})
    values = pybamm.ParameterValues("Chen2020")
    values.update({n: pybop.Parameter(pybop.Uniform(*b), initial_value=TRUE[n], transformation=pybop.LogTransformation())
                   for n, b in SAMPLER_BOUNDS.items()})
    started = time.perf_counter()
    simulator = pybop.pybamm.Simulator(pybamm.lithium_ion.SPMe(), parameter_values=values, protocol=dataset)
    posterior = pybop.LogPosterior(simulator, pybop.GaussianLogLikelihoodKnownSigma(dataset, sigma=SIGMA,
                                                                                    target="Voltage [V]"))
    np.random.seed(0)  # pints draws from numpy's global RNG
    options = pybop.PintsSamplerOptions(n_chains=chains, max_iterations=iterations, log_to_screen=False)
    result = pybop.DifferentialEvolutionMCMC(posterior, options=options).run()
    return {"wall": time.perf_counter() - started, "chains": np.log10(np.asarray(result.chains)).tolist()}


def _posterior(name: str, wall: float, chains: np.ndarray, burnin: int) -> float:
    """Print one sampler's line; its effective samples per second (the scarcer parameter's)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az
    kept = chains[:, burnin:]
    ess = az.ess(az.convert_to_dataset({"y": kept}))["y"].values
    mean, sd = kept.reshape(-1, kept.shape[-1]).mean(axis=0), kept.reshape(-1, kept.shape[-1]).std(axis=0)
    rate = float(ess.min()) / wall
    print(f"  {name:34} {wall:7.2f} s  ESS {ess.min():7.0f} ({rate:6.1f}/s)  log10 D_n {mean[0]:.4f} ± {sd[0]:.4f}  "
          f"log10 D_p {mean[1]:.4f} ± {sd[1]:.4f}")
    return rate


def sampler(problem: Problem) -> None:
    import subprocess

    import orchestrator
    from clusters import closing, local_client

    if not Path(problem.pybop_python).exists():
        raise SystemExit(f"sampler: no PyBOP interpreter at {problem.pybop_python}; create it as the docstring "
                         "says, or pass --pybop-python PATH")
    burnin = problem.iterations // 10
    fit = {"element_type": "data_fit", "objectives": {"1C": problem.objective()},
           "parameters": {n: {"bounds": list(b), "transform": "log10", "initial_value": TRUE[n]}
                          for n, b in SAMPLER_BOUNDS.items()},
           "cost": {"type": "GaussianLogLikelihood", "sigma": {"Voltage [V]": SIGMA}},
           "sampler": {"type": "PintsSampler", "method": "DifferentialEvolutionMCMC", "chains": problem.chains,
                       "max_iterations": problem.iterations, "burnin_iterations": burnin, "seed": 0}}
    print(f"\nsampler: pints' DifferentialEvolutionMCMC, {problem.chains} chains x {problem.iterations} iterations "
          f"({burnin} burn-in)")
    with closing(local_client(n_workers=problem.workers, threads_per_worker=1)) as client:
        client.run(lambda: __import__("pybamm") and None)  # warm, as a long-lived cluster is
        started = time.perf_counter()
        info = orchestrator.run({"elements": {"posterior": fit}}, client=client, store=problem.scratch / "sampler")
        wall = time.perf_counter() - started
    ds = orchestrator.open_run(info["run_id"], problem.scratch / "sampler")["posterior"].to_dataset()
    ours = _posterior(f"sweepfit on {problem.workers} workers", wall,
                      np.swapaxes(np.log10(ds["chain"].values), 0, 1), burnin)
    out = subprocess.run([problem.pybop_python, __file__, "--pybop-sampler", str(problem.csv), str(problem.chains),
                          str(problem.iterations)], check=True, capture_output=True, text=True).stdout
    theirs = json.loads(out.strip().splitlines()[-1])
    rate = _posterior("PyBOP 26.3, one process", theirs["wall"], np.array(theirs["chains"]), burnin)
    print(f"  ratio of ESS/s, sweepfit / PyBOP: {ours / rate:.2f}   (target >= 1.5)")


COMPARISONS: dict[str, Callable[[Problem], None]] = {"ci": confidence_interval, "sobol": sobol, "sampler": sampler}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(COMPARISONS),
                        help=f"comma-separated comparisons to run, of {', '.join(COMPARISONS)} (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timings that are medians take this many")
    parser.add_argument("--n-samples", type=int, default=256, help="Sobol' base points (a power of two)")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=1000, help="MCMC iterations, burn-in included")
    parser.add_argument("--pybop-python", default=".bench-venv/pybop/bin/python",
                        help="an interpreter with pybop==26.3 installed (see above)")
    parser.add_argument("--pybop-sampler", nargs=3, metavar=("CSV", "CHAINS", "ITERATIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pybop_sampler:  # the PyBOP subprocess
        csv, chains, iterations = args.pybop_sampler
        print(json.dumps(pybop_sampler(csv, int(chains), int(iterations))))
        return
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in COMPARISONS]
    if unknown or not chosen:
        parser.error(f"--only {args.only!r}: unknown {unknown}; valid: {', '.join(COMPARISONS)}")
    from elements.synthetic import synthetic_discharge

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "synthetic_1C.csv"
        frame = synthetic_discharge(values=TRUE, current=5.0, duration=3500.0)
        frame.to_csv(csv, index=False)
        problem = Problem(csv, frame, Path(tmp), args.workers, args.repeats, args.n_samples, args.chains,
                          args.iterations, args.pybop_python)
        print("problem: SPMe Chen2020 1C 3500 s, 1 mV noise (timings on whatever this machine is doing meanwhile)")
        for name in chosen:
            COMPARISONS[name](problem)


if __name__ == "__main__":
    main()
