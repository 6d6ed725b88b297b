"""A user's first `sweepfit run` against the best repeat, for the benchmark DE fit, in one run.

Every run is a new `sweepfit run --no-cache` process, as a user types it, of the ``de_fit.py`` problem
(SPMe, Chen2020, 1C, two log10 diffusivities, popsize 15, seed 0), in three scenarios:

  cold              no warm cluster: each run starts a LocalCluster of its own (``--workers W``)
  warm              ``sweepfit cluster up --workers W`` first (timed apart), then the runs on it
  warm, no warm-up  the same with ``sweepfit.cluster.warm-up`` off: the first models are built by
                    the fit's first chunks, not while the client validates

Each scenario of each cycle starts from an empty PyBaMM compile cache (``PYBAMM_CASADI_AOT_CACHE``), as
on a fresh machine; scenarios alternate, ``--cycles`` times. It prints every run's wall and the fit's
own (the optimizer's, from the store), and the first run over the best repeat against the 20 % target.

    python benchmarks/first_run.py [--repeats 3] [--cycles 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from de_fit import BOUNDS, OPTIONS, TRUE  # noqa: E402

SWEEPFIT = str(Path(sys.executable).with_name("sweepfit"))
TARGET = 1.2
SCENARIOS = ("cold", "warm", "warm, no warm-up")


def sweepfit(*args: str, env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([SWEEPFIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"sweepfit {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - started, done


def runs(tmp: Path, env: dict[str, str], repeats: int, extra: tuple[str, ...]) -> list[tuple[float, float]]:
    """(command wall, fit wall) of ``repeats`` runs in a row."""
    import orchestrator

    found = []
    for _ in range(repeats):
        wall, done = sweepfit("run", "fit.yaml", "--no-cache", "--store", "runs", "--json", *extra, env=env, cwd=tmp)
        run_id = json.loads(done.stdout)["run_id"]
        fit = float(orchestrator.open_run(run_id, tmp / "runs")["fit"].attrs["wall_s"])
        found.append((wall, fit))
    return found


def scenario(name: str, cycle: int, tmp: Path, workers: int, repeats: int) -> dict:
    env = {**os.environ, "PYBAMM_CASADI_AOT_CACHE": str(tmp / f"aot-{cycle}-{SCENARIOS.index(name)}"),
           "DASK_SWEEPFIT__WARM__FOLDER": str(tmp / "warm")}
    if name == "cold":
        return {"up": None, "runs": runs(tmp, env, repeats, ("--workers", str(workers)))}
    if name == "warm, no warm-up":
        env["DASK_SWEEPFIT__CLUSTER__WARM_UP"] = "False"
    up, _ = sweepfit("cluster", "up", "--workers", str(workers), "--idle-timeout", "600", env=env, cwd=tmp)
    try:
        return {"up": up, "runs": runs(tmp, env, repeats, ())}
    finally:
        sweepfit("cluster", "down", env=env, cwd=tmp)


def ratio(values: list[float]) -> float:
    return values[0] / min(values[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario and cycle (the first and repeats)")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from elements.synthetic import synthetic_discharge

    load = os.getloadavg()
    results: dict[str, list[dict]] = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        synthetic_discharge(values=TRUE, current=5.0, duration=3500.0).to_csv(tmp / "synthetic_1C.csv", index=False)
        fit = {"element_type": "data_fit",
               "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPMe"},
                                     "data": "file:synthetic_1C.csv"}},
               "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in BOUNDS.items()},
               "optimizer": {"type": "ScipyDifferentialEvolution", **OPTIONS}}
        (tmp / "fit.yaml").write_text(yaml.safe_dump({"elements": {"fit": fit}}))
        for cycle in range(args.cycles):
            for which in SCENARIOS:
                results[which].append(scenario(which, cycle, tmp, args.workers, args.repeats))
                print(f"  cycle {cycle + 1}: {which} done", flush=True)

    print(f"\nDE fit (SPMe, popsize 15, 810 solves), {args.workers} workers, compiled, a new `sweepfit run` "
          f"process each run; {os.cpu_count()} cores, load average {load[0]:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"{'scenario':<17} {'cycle':>5} {'up s':>6} | {'run walls s (first, repeats)':<30} {'first/best':>10} | "
          f"{'fit walls s':<22} {'first/best':>10}")
    for which in SCENARIOS:
        for cycle, found in enumerate(results[which], 1):
            walls, fits = [w for w, _ in found["runs"]], [f for _, f in found["runs"]]
            up = "" if found["up"] is None else f"{found['up']:.1f}"
            print(f"{which:<17} {cycle:>5} {up:>6} | {'  '.join(f'{w:6.2f}' for w in walls):<30} "
                  f"{ratio(walls):>10.2f} | {'  '.join(f'{f:5.2f}' for f in fits):<22} {ratio(fits):>10.2f}")
    print(f"\nfirst run / best repeat, median over cycles (target <= {TARGET:.2f}):")
    warm_best = min(w for found in results["warm"] for w, _ in found["runs"][1:])
    for which in SCENARIOS:
        whole = statistics.median(ratio([w for w, _ in f["runs"]]) for f in results[which])
        fit = statistics.median(ratio([x for _, x in f["runs"]]) for f in results[which])
        met = "met" if whole <= TARGET else "not met"
        print(f"  {which:<17} run {whole:5.2f} ({met}), fit {fit:5.2f}")
    cold_first = statistics.median(f["runs"][0][0] for f in results["cold"])
    print(f"  a cold first run against the warm cluster's best repeat: {cold_first / warm_best:.2f}x "
          f"({cold_first:.1f} s vs {warm_best:.1f} s)")


if __name__ == "__main__":
    main()
