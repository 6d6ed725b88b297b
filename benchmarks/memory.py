"""Memory over long runs: RSS of the client process and of each worker, sampled through a
>= 10,000-evaluation fit and a >= 10,000-point sweep on a 2-worker LocalCluster.

The client process also holds the LocalCluster's scheduler. The fit is SPM (Chen2020) against a
short synthetic 1C discharge, both particle diffusivities in log10, differential evolution with
``tol: 0`` so it runs every generation; the sweep is the same model over a grid of the two
diffusivities. RSS is sampled each time the run's state is polled (``sweepfit.run.poll``). Growth
is counted after warm-up: from the first sample once 10 % of the work is done (evaluations of the
fit, chunks of the sweep) to the end of the run; the peak above that baseline is shown too.
Target (issue 12): <= 20 MB per process.

    python benchmarks/memory.py [--popsize 50 --maxiter 100] [--side 100] [--duration 300 --step 10]

``--duration 3000 --step 1`` makes the fit's data 3001 rows: every chunk task carries its
objectives, measured data included, so what the scheduler keeps per task shows more there.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"
TRUE = {D_N: 3.3e-14, D_P: 4e-15}
BOUNDS = {D_N: [1e-15, 1e-12], D_P: [1e-16, 1e-13]}
LIMIT_MB = 20.0
WARM_UP = 0.1  # growth is counted once this fraction of the work is done
MB = 1024**2


def rss() -> int:
    return psutil.Process().memory_info().rss


class Sampler:
    """``on_progress`` for ``lifecycle.execute``: how far ``element`` is, and the RSS of this
    process and of every worker (``client.run``). A fit's progress counts evaluations (of
    ``evaluations`` expected), a sweep's counts chunks of a known total."""

    def __init__(self, client, element: str, evaluations: int | None = None) -> None:
        self.client, self.element, self.evaluations = client, element, evaluations
        self.samples: list[tuple[float, float, dict[str, int]]] = []  # (seconds, fraction done, RSS)
        self.started = time.monotonic()

    def __call__(self, info: dict) -> None:
        element = info["elements"][self.element]
        progress = element.get("progress") or {}
        if element["status"] == "completed":
            fraction = 1.0
        elif self.evaluations:
            fraction = (progress.get("evaluations") or 0) / self.evaluations
        else:
            fraction = progress.get("done", 0) / (progress.get("total") or 1)
        found = {"client": rss(), **self.client.run(rss)}
        self.samples.append((time.monotonic() - self.started, fraction, found))


def report(title: str, samples: list[tuple[float, float, dict[str, int]]]) -> bool:
    """Print each process's RSS once warm, its growth to the end and its peak above that; whether
    every growth is within the limit."""
    warm = [(t, found) for t, fraction, found in samples if fraction >= WARM_UP]
    (started, baseline), end = warm[0], warm[-1][1]
    print(f"\n{title}: {samples[-1][0]:.0f} s, {len(samples)} samples; growth from {started:.0f} s "
          f"({WARM_UP:.0%} of the work done) to the end")
    print(f"  {'process':<26}{'baseline':>10}{'end':>10}{'growth':>10}{'peak+':>10}  <= {LIMIT_MB:g} MB")
    ok = True
    for name, base in baseline.items():
        growth = (end[name] - base) / MB
        peak = (max(found[name] for _, found in warm) - base) / MB
        ok &= growth <= LIMIT_MB
        print(f"  {name:<26}{base / MB:>9.1f}M{end[name] / MB:>9.1f}M{growth:>9.1f}M{peak:>9.1f}M  "
              f"{'yes' if growth <= LIMIT_MB else 'NO'}")
    return ok


def fit_pipeline(data: Path, popsize: int, maxiter: int) -> dict:
    objective = {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}
    return {"project": "bench-memory", "elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"1C": objective},
        "parameters": {p: {"bounds": b, "transform": "log10"} for p, b in BOUNDS.items()},
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": popsize, "maxiter": maxiter,
                      "tol": 0, "polish": False},
    }}}


def sweep_pipeline(side: int, duration: float) -> dict:
    import numpy as np

    return {"project": "bench-memory", "elements": {"grid": {
        "element_type": "sweep",
        "model": {"type": "SPM"},
        "protocol": {"current": 5.0, "duration": duration},
        "grid": {D_N: np.geomspace(1e-14, 1e-13, side).tolist(), D_P: np.geomspace(1e-15, 1e-14, side).tolist()},
        "outputs": {"variables": ["Voltage [V]"], "time": {"stop": duration, "step": 30},
                    "summaries": ["final_voltage"]},
    }}}


def measured(client, pipeline: dict, store: Path, sampler: Sampler) -> dict:
    """Run ``pipeline`` on ``client`` to its end, sampling while it runs; its final state."""
    from orchestrator import lifecycle

    info = lifecycle.execute(lifecycle.prepare(pipeline, store_root=store, force=True), client=client,
                             on_progress=sampler)
    assert info["status"] == "completed", info
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--popsize", type=int, default=50, help="DE popsize (x 2 parameters per generation)")
    parser.add_argument("--maxiter", type=int, default=100, help="DE generations after the first")
    parser.add_argument("--side", type=int, default=100, help="sweep grid side: side**2 points")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of 1C discharge")
    parser.add_argument("--step", type=float, default=10.0, help="seconds between the fit's data rows")
    args = parser.parse_args()

    from clusters import closing, local_client
    from elements.synthetic import synthetic_discharge

    with tempfile.TemporaryDirectory() as tmp, closing(local_client(n_workers=2, threads_per_worker=1)) as client:
        data = Path(tmp) / "discharge.csv"
        frame = synthetic_discharge(values=TRUE, model="SPM", duration=args.duration, step=args.step)
        frame.to_csv(data, index=False)
        client.run(lambda: __import__("pybamm") and None)  # imported once, as in use
        store = Path(tmp) / "store"

        sampler = Sampler(client, "fit", evaluations=len(TRUE) * args.popsize * (args.maxiter + 1))
        fit = measured(client, fit_pipeline(data, args.popsize, args.maxiter), store, sampler)
        evaluations = fit["elements"]["fit"]["summary"]["evaluations"]
        ok = report(f"fit, {evaluations:,} evaluations, data of {len(frame)} rows", sampler.samples)

        sampler = Sampler(client, "grid")
        sweep = measured(client, sweep_pipeline(args.side, args.duration), store, sampler)
        counts = sweep["elements"]["grid"]["summary"]["counts"]
        ok &= report(f"sweep, {counts['points']:,} points in {counts['chunks']} chunks", sampler.samples)
    print(f"\nevery process within {LIMIT_MB:g} MB: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
