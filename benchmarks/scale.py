"""Strong scaling of a sweep and a population fit over 1, 2, ... N workers, with a model of both.

For each worker count W (``--workers 1,2,4,8,16``), on a LocalCluster of W single-thread workers
(``--separate``: a ``dask scheduler`` and ``dask worker --nworkers W`` processes instead), in one run:

  sweep  the ``benchmarks/sweep.py`` grid (SPMe, Chen2020, 5 A for 3600 s, two diffusivities), end to
         end through ``orchestrator.run``, against one process solving every point in one batched
         IDAKLU call with ``num_threads=W``;
  fit    the ``benchmarks/de_fit.py`` DE fit (popsize 15, seed 0), against one process running scipy's
         DE with deferred updates (the same algorithm) and each generation one batched IDAKLU call with
         ``num_threads=W`` (what PyBOP does);
  probes Dask's cost per task (``client.map`` of no-op tasks, the scheduler's share) and per
         generation (mapping and gathering as many no-op tasks as a generation has chunks, from a task).

It prints solves/s, efficiency against one worker and against the one-process baseline, the costs
it measured, and the scaling model (see README "Scaling") calibrated on the first worker count,
its prediction beside each measurement, then its prediction at 16, 100 and 1,000 workers.

    python benchmarks/scale.py --workers 1,2 [--separate] [--side 40] [--repeats 2] [--no-compile]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from de_fit import BOUNDS, D_N, D_P, OPTIONS, TRUE, _round_trips, overhead_per_generation  # noqa: E402
from sweep import TIME, grid  # noqa: E402

POPULATION = OPTIONS["popsize"] * len(BOUNDS)  # candidates per DE generation


def _noop(x: int) -> int:
    return x


# --- one-process baselines -------------------------------------------------------------------------


def baseline_sweep(points: list[dict[str, float]], threads: int, compile_: bool) -> float:
    """Seconds for one process to solve every point in one batched IDAKLU call."""
    import pybamm

    values = pybamm.ParameterValues("Chen2020")
    values.update({D_N: "[input]", D_P: "[input]", "Current function [A]": 5.0})
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]"], options={"num_threads": threads, "compile": compile_})
    sim = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values, solver=solver)
    sim.build()
    solver.solve(sim.built_model, [0, 3600], inputs=points[:1], t_interp=TIME)  # set up, as a worker's first chunk
    started = time.perf_counter()
    solver.solve(sim.built_model, [0, 3600], inputs=points, t_interp=TIME)
    return time.perf_counter() - started


def baseline_fit(frame, threads: int, compile_: bool) -> tuple[float, int, int]:
    """(seconds, solves, generations) of scipy's DE, deferred updates, a generation per batched IDAKLU call."""
    import pybamm
    from scipy.optimize import differential_evolution

    t, current, measured = (frame[c].to_numpy() for c in ("Time [s]", "Current [A]", "Voltage [V]"))
    values = pybamm.ParameterValues("Chen2020")
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
    values.update({D_N: "[input]", D_P: "[input]"})
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]"], options={"num_threads": threads, "compile": compile_})
    sim = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values, solver=solver)
    sim.build()
    solves = generations = 0

    def cost(ys: np.ndarray) -> np.ndarray:  # ys: (2, population)
        nonlocal solves, generations
        solves, generations = solves + ys.shape[1], generations + 1
        inputs = [{D_N: 10 ** a, D_P: 10 ** b} for a, b in ys.T]
        out = []
        for s in solver.solve(sim.built_model, [t[0], t[-1]], inputs=inputs, t_interp=t):
            v = s["Voltage [V]"].data
            out.append(np.sqrt(np.mean((np.pad(v, (0, len(t) - len(v)), mode="edge") - measured) ** 2)))
        return np.array(out)

    started = time.perf_counter()
    differential_evolution(cost, [np.log10(BOUNDS[D_N]), np.log10(BOUNDS[D_P])], vectorized=True,
                           updating="deferred", **OPTIONS)
    return time.perf_counter() - started, solves, generations


# --- clusters ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def cluster(workers: int, separate: bool, logs: Path) -> Iterator[tuple[object, float]]:
    """(client, seconds to start it with pybamm imported on every worker)."""
    from distributed import Client

    from clusters import closing, local_client

    started = time.perf_counter()
    if not separate:
        with closing(local_client(n_workers=workers, threads_per_worker=1)) as client:
            client.run(lambda: __import__("pybamm") and None)
            yield client, time.perf_counter() - started
        return
    from clusters.local import worker_config
    from orchestrator.monitor import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    here = str(Path(__file__).resolve().parent)  # the probes' functions live in de_fit.py, beside this file
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
           "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": str(
        worker_config()["distributed"]["worker"]["profile"]["enabled"])}
    with open(logs / f"dask-{workers}.log", "w") as log:
        procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                                   address.rsplit(":", 1)[1], "--dashboard-address", "127.0.0.1:0"],
                                  stdout=log, stderr=subprocess.STDOUT, env=env)]
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                                       "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"],
                                      stdout=log, stderr=subprocess.STDOUT, env=env))
        try:
            with Client(address, timeout=60) as client:
                client.wait_for_workers(workers, timeout=120)
                client.run(lambda: __import__("pybamm") and None)
                yield client, time.perf_counter() - started
        finally:
            for proc in reversed(procs):  # the workers first, so they do not wait for a lost scheduler
                proc.terminate()
                proc.wait(timeout=60)


def per_task_cost(client, n: int = 2000) -> float:
    """Seconds per task for the scheduler to run ``n`` no-op tasks submitted at once (its share per task)."""
    client.gather(client.map(_noop, range(50), pure=False))
    started = time.perf_counter()
    client.gather(client.map(_noop, range(n), pure=False))
    return (time.perf_counter() - started) / n


def sweep_pipeline(side: int) -> dict:
    d_n, d_p = grid(side)
    return {"project": "bench", "elements": {"sweep": {
        "element_type": "sweep", "model": {"type": "SPMe"}, "protocol": {"current": 5.0, "duration": 3600},
        "grid": {D_N: d_n.tolist(), D_P: d_p.tolist()},
        "outputs": {"variables": ["Voltage [V]"], "time": {"stop": 3600, "step": 10}, "summaries": ["final_voltage"]},
    }}}


def fit_pipeline(csv: Path) -> dict:
    return {"project": "bench", "elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{csv}"}},
        "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in BOUNDS.items()},
        "optimizer": {"type": "ScipyDifferentialEvolution", **OPTIONS},
    }}}


@dataclass
class Point:
    """One worker count's measurements (best of the repeats; ``first`` the first repeat's walls)."""

    workers: int
    start_s: float
    task_s: float  # scheduler seconds per no-op task
    points: int
    sweep_s: float  # end to end
    sweep_solve_s: float  # the solve phase
    chunk: int
    chunks: int
    base_sweep_s: float
    fit_s: float
    fit_solves: int
    generations: int
    fit_overhead_s: float  # per generation: the fit's wall less its busiest worker's solving
    fit_solving_s: float  # per generation: the busiest worker's solving
    fit_floor_s: float  # Dask's round trip of a generation's chunks as no-op tasks
    chunks_per_generation: int
    base_fit_s: float
    base_fit_solves: int
    base_generations: int
    first_sweep_s: float
    first_fit_s: float


def measure(workers: int, args, frame, csv: Path, tmp: Path) -> Point:
    import dask.config
    from distributed import get_task_stream

    import orchestrator
    from orchestrator.evaluators import EVENTS

    d_n, d_p = grid(args.side)
    points = [{D_N: float(a), D_P: float(b)} for a in d_n for b in d_p]
    runs: dict[str, list] = {"sweep": [], "fit": [], "base_sweep": [], "base_fit": []}
    with dask.config.set({"sweepfit.solve.compile": args.compile}), \
            cluster(workers, args.separate, tmp) as (client, start_s):
        task_s = per_task_cost(client)
        for repeat in range(args.repeats):  # interleaved: each repeat runs all four, one after another
            store = tmp / f"store-{workers}-{repeat}"
            started = time.perf_counter()
            info = orchestrator.run(sweep_pipeline(args.side), client=client, store=store, force=True)
            runs["sweep"].append((time.perf_counter() - started, info["elements"]["sweep"]["summary"]["counts"]))
            assert info["status"] == "completed", info
            runs["base_sweep"].append(baseline_sweep(points, workers, args.compile))
            since = time.time()
            with get_task_stream(client) as stream:
                started = time.perf_counter()
                info = orchestrator.run(fit_pipeline(csv), client=client, store=store, force=True)
                wall = time.perf_counter() - started
            assert info["status"] == "completed", info
            fit = orchestrator.open_run(info["run_id"], store)["fit"]
            calls = [event for _, event in client.get_events(EVENTS) if event["start"] >= since]
            overhead, solving, generations, _ = overhead_per_generation(stream.data, calls, float(fit.attrs["wall_s"]))
            runs["fit"].append((wall, info["elements"]["fit"]["summary"]["evaluations"], generations, overhead,
                                int(fit.attrs["chunks_per_generation"]), solving))
            runs["base_fit"].append(baseline_fit(frame, workers, args.compile))
        chunks = runs["fit"][0][4]
        floor = client.submit(_round_trips, 40, chunks, pure=False).result()
    sweep_wall, counts = min(runs["sweep"], key=lambda r: r[0])
    fit = min(runs["fit"], key=lambda r: r[0])
    base_fit = min(runs["base_fit"])
    return Point(workers, start_s, task_s, counts["points"], sweep_wall, counts["wall_s"], counts["chunk_size"],
                 counts["chunks"], min(runs["base_sweep"]), fit[0], fit[1], fit[2], fit[3], fit[5], floor, chunks,
                 base_fit[0], base_fit[1], base_fit[2], runs["sweep"][0][0], runs["fit"][0][0])


# --- the model (README "Scaling") ----------------------------------------------------------------------


@dataclass
class Model:
    """Calibrated on one measured point (``at``): every other figure scales from it.

    sweep: wall = fixed + max(ceil(chunks / W) * (chunk * solve * W / cores + per_chunk), chunks * task)
    fit:   generation = ceil(chunks / W) * ceil(P / chunks) * solve_fit * W / cores + floor(chunks) + rest
    where ``cores`` is how many cores' worth of solving the machine gives W threads: the one-process
    baseline's speed-up from ``at`` to W threads, measured in the same run (W on dedicated cores; less on
    a machine others are using),    where ``floor(c)`` is Dask's round trip of c chunks (a + b c, measured) and ``rest`` the fit's
    own per-generation work (the optimizer's step, evaluation records): overhead less floor at ``at``.
    """

    solve: float  # seconds per swept point on one worker, solving only
    per_chunk: float  # a chunk's other work on its worker: task, inputs, zarr write
    fixed: float  # a sweep's start: run created, chunk size measured, arrays allocated
    task: float  # the scheduler's seconds per task
    solve_fit: float  # seconds per fit candidate on one worker (sweepfit's own chunks)
    rest: float
    floor_a: float
    floor_b: float

    @classmethod
    def calibrate(cls, at: Point, floors: list[tuple[int, float]]) -> Model:
        solve = at.base_sweep_s * at.workers / at.points  # threads = workers in the baseline
        per_chunk = max(at.sweep_solve_s * at.workers / at.chunks - at.chunk * solve, 0.0)
        # a worker solves ceil(P / chunks) candidates per chunk, ceil(chunks / W) chunks per generation
        solve_fit = at.fit_solving_s / (math.ceil(at.chunks_per_generation / at.workers)
                                        * math.ceil(POPULATION / at.chunks_per_generation))
        if len(floors) > 1:
            b, a = np.polyfit([c for c, _ in floors], [f for _, f in floors], 1)
        else:
            a, b = floors[0][1], 0.0
        floor_at = a + b * at.chunks_per_generation
        return cls(solve, per_chunk, at.sweep_s - at.sweep_solve_s, at.task_s, solve_fit,
                   max(at.fit_overhead_s - floor_at, 0.0), float(a), float(max(b, 0.0)))

    def sweep_rate(self, workers: int, points: int, chunk: int, task: float | None = None,
                   cores: float | None = None) -> float:
        chunks = math.ceil(points / chunk)
        slower = workers / (cores or workers)
        busy = math.ceil(chunks / workers) * (chunk * self.solve * slower + self.per_chunk)
        return points / (self.fixed + max(busy, chunks * (self.task if task is None else task)))

    def generation(self, workers: int, chunks: int, cores: float | None = None) -> float:
        return (math.ceil(chunks / workers) * math.ceil(POPULATION / chunks) * self.solve_fit * workers
                / (cores or workers) + self.floor_a + self.floor_b * chunks + self.rest)

    def fit_rate(self, workers: int, chunks: int, cores: float | None = None) -> float:
        return POPULATION / self.generation(workers, chunks, cores)


def report(measured: list[Point]) -> None:
    one = measured[0]
    print(f"\n{'W':>4} {'start s':>8} {'task ms':>8} | {'sweep/s':>8} {'eff1':>5} {'vs base':>7} {'base/s':>8} "
          f"{'chunk':>5} | {'fit/s':>7} {'eff1':>5} {'vs base':>7} {'base/s':>7} {'ovh/gen ms':>10} {'floor ms':>8}")
    for p in measured:
        sweep, fit = p.points / p.sweep_s, p.fit_solves / p.fit_s
        print(f"{p.workers:>4} {p.start_s:>8.2f} {p.task_s * 1e3:>8.3f} | {sweep:>8.1f} "
              f"{sweep / (one.points / one.sweep_s) / p.workers * one.workers:>5.2f} {p.base_sweep_s / p.sweep_s:>7.2f} "
              f"{p.points / p.base_sweep_s:>8.1f} {p.chunk:>5} | {fit:>7.1f} "
              f"{fit / (one.fit_solves / one.fit_s) / p.workers * one.workers:>5.2f} "
              f"{(p.base_fit_s / p.base_fit_solves) / (p.fit_s / p.fit_solves):>7.2f} "
              f"{p.base_fit_solves / p.base_fit_s:>7.1f} {p.fit_overhead_s * 1e3:>10.1f} {p.fit_floor_s * 1e3:>8.1f}")
    print("  eff1: solves/s per worker against the first row's; vs base: against one process of batched IDAKLU "
          "with threads = W (sweep: every point in one call; fit: one call per generation)")
    print("  first repeat (what a user's first run sees) against the best: "
          + ", ".join(f"W={p.workers}: sweep {p.first_sweep_s / p.sweep_s:.2f}x, fit {p.first_fit_s / p.fit_s:.2f}x"
                      for p in measured))

    model = Model.calibrate(one, [(p.chunks_per_generation, p.fit_floor_s) for p in measured])
    print(f"\nmodel, calibrated at W={one.workers}: solve {model.solve * 1e3:.2f} ms/point, per chunk "
          f"{model.per_chunk * 1e3:.1f} ms, sweep start {model.fixed:.2f} s, scheduler {model.task * 1e3:.3f} ms/task; "
          f"fit {model.solve_fit * 1e3:.2f} ms/candidate, round trip {model.floor_a * 1e3:.1f} ms + "
          f"{model.floor_b * 1e3:.2f} ms/chunk, other {model.rest * 1e3:.1f} ms/generation")
    print(f"{'W':>6} {'cores':>5} {'sweep pred':>10} {'measured':>9} {'err':>6} | {'fit pred':>8} {'measured':>9} "
          f"{'err':>6}")
    for p in measured:
        cores = min(one.base_sweep_s / p.base_sweep_s * one.workers, p.workers)
        sweep = model.sweep_rate(p.workers, p.points, p.chunk, p.task_s, cores)
        fit = model.fit_rate(p.workers, p.chunks_per_generation, cores)
        m_sweep, m_fit = p.points / p.sweep_s, p.fit_solves / p.fit_s
        print(f"{p.workers:>6} {cores:>5.2f} {sweep:>10.1f} {m_sweep:>9.1f} {sweep / m_sweep - 1:>+6.0%} | {fit:>8.1f} "
              f"{m_fit:>9.1f} {fit / m_fit - 1:>+6.0%}")
    print("  cores: the one-process baseline's speed-up with W threads, measured here (the cores W workers get)")
    print("\nprediction (ideal cores; the scheduler's per-task cost as measured at the largest W):")
    task = measured[-1].task_s
    print(f"{'W':>6} {'sweep/s':>9} {'eff':>5} {'chunk':>6} {'chunk s':>7} | {'fit/s':>7} {'eff':>5} "
          f"{'P for 0.85':>10}")
    for w in (16, 100, 1000):
        points = 1_000_000
        chunk = chunk_for(model, w, task)
        sweep = model.sweep_rate(w, points, chunk, task)
        chunks = int(3 * w)  # sweepfit.fit.chunks-per-thread x threads
        fit = model.fit_rate(w, min(chunks, POPULATION))
        ideal_sweep, ideal_fit = w / model.solve, w / model.solve_fit
        print(f"{w:>6} {sweep:>9.0f} {sweep / ideal_sweep:>5.2f} {chunk:>6} {chunk * model.solve:>7.1f} | {fit:>7.0f} "
              f"{fit / ideal_fit:>5.2f} {population_for(model, w):>10}")
    print(f"  sweep: {points:,} points, the smallest chunk reaching 0.9 of the solving; fit: popsize 15 x 2 "
          f"parameters = {POPULATION} candidates a generation; 'P for 0.85': the population a generation needs "
          "for 0.85 efficiency")


def chunk_for(model: Model, workers: int, task: float) -> int:
    """Smallest chunk whose solving is 0.9 of its worker's time and keeps the scheduler under 0.9 busy."""
    by_worker = 9 * model.per_chunk / model.solve
    by_scheduler = workers * task / (0.9 * model.solve)
    return max(1, math.ceil(max(by_worker, by_scheduler)))


def population_for(model: Model, workers: int) -> int:
    """Candidates a generation needs so that solving is 0.85 of its wall (one chunk per worker)."""
    overhead = model.floor_a + model.floor_b * workers + model.rest
    return math.ceil(workers * overhead * 0.85 / 0.15 / model.solve_fit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--separate", action="store_true", help="dask scheduler / dask worker processes")
    parser.add_argument("--side", type=int, default=40, help="sweep grid side: side**2 points (default 40)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="PyBaMM's compiled IDAKLU, both sides (default: sweepfit.solve.compile)")
    args = parser.parse_args()
    from elements.core import config

    args.compile = config.get("solve.compile", args.compile)
    counts = sorted(int(w) for w in args.workers.split(","))
    from elements.synthetic import synthetic_discharge

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ.setdefault("PYBAMM_CASADI_AOT_CACHE", str(tmp / "aot"))  # one cache for every worker
        frame = synthetic_discharge(values=TRUE, current=5.0, duration=3500.0)
        csv = tmp / "synthetic_1C.csv"
        frame.to_csv(csv, index=False)
        print(f"{'dask scheduler + dask worker processes' if args.separate else 'LocalCluster'}; sweep "
              f"{args.side ** 2} SPMe points; DE fit {POPULATION} candidates a generation; best of {args.repeats} "
              f"repeats, interleaved; {'compiled' if args.compile else 'uncompiled'}; {os.cpu_count()} cores")
        measured = []
        for w in counts:
            measured.append(measure(w, args, frame, csv, tmp))
            print(f"  W={w} done", flush=True)
    report(measured)


if __name__ == "__main__":
    main()
