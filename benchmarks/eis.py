"""EIS circuit fits: impedance.py (serial curve_fit) vs sweepfit's batched JAX Levenberg–Marquardt, in one run.

Random noise-free spectra of ``R0-p(R1,C1)-p(R2-Wo1,C2)`` (71 frequencies, 1 mHz - 10 kHz; truths
log-uniform within BOUNDS). Every fit is bounded by BOUNDS. impedance.py and sweepfit's ``fit`` start
each spectrum from the same random point within BOUNDS; ``fit_multistart`` from Latin-hypercube starts.
impedance.py's curve_fit gets ``maxfev`` = 8 x 200: the evaluations of sweepfit's 200 iterations,
each a residual and a 7-column Jacobian (its default, 1e5, lets a few fits run for many minutes).
Prints fits per second, recovery (every parameter within 1 % of the truth; overall, and on the
spectra impedance.py fitted), the speed-up, the compile time, and how fast synthetic spectra are made.
Timed JAX calls are the fastest of three after a first, compiling call. The last row runs the
``eis_dataset`` element on a LocalCluster (one single-thread worker per core): spectra sampled,
evaluated with 0.1 % noise and written into zarr by the workers, timed by the element (cluster start
and each worker's first JAX compile included, as a user would see them).

    python benchmarks/eis.py [--impedance-spectra 30] [--spectra 2000] [--multistart-spectra 300] [--starts 16]
                             [--dataset 1000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable

import numpy as np

STRING = "R0-p(R1,C1)-p(R2-Wo1,C2)"
MAX_ITERATIONS = 200
MAXFEV = 8 * MAX_ITERATIONS
BOUNDS = {
    "R0": (5e-3, 5e-2), "R1": (2e-3, 5e-2), "C1": (0.5, 20.0), "R2": (2e-3, 5e-2),
    "Wo1_0": (1e-2, 2e-1), "Wo1_1": (1.0, 100.0), "C2": (0.05, 2.0),
}
LIMITS = tuple(zip(*BOUNDS.values(), strict=True))  # (lower, upper), as curve_fit takes them
F = np.logspace(-3, 4, 71)


def recovered(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.all(np.abs(found / truth - 1) < 0.01, axis=-1)


def impedance_py(spectra: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What an impedance.py user runs: one CustomCircuit fit per spectrum, one after another.

    Returns each fit's wall time and its parameters (NaN where curve_fit gave up).
    """
    from impedance.models.circuits import CustomCircuit

    found = np.full(starts.shape, np.nan)
    walls = np.zeros(len(spectra))
    for i, (z, start) in enumerate(zip(spectra, starts, strict=True)):
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # curve_fit's covariance warnings
                circuit = CustomCircuit(STRING, initial_guess=list(start))
                found[i] = circuit.fit(F, z, bounds=LIMITS, maxfev=MAXFEV).parameters_
        except RuntimeError:  # curve_fit used up maxfev: counts as not recovered
            pass
        walls[i] = time.perf_counter() - started
    return walls, found


def dataset_into_zarr(n: int, seed: int) -> tuple[float, dict]:
    """The eis_dataset element on a LocalCluster: its wall time and its counts (chunks, devices)."""
    import orchestrator
    from clusters import closing, local_client

    spec = {"elements": {"spectra": {
        "element_type": "eis_dataset", "circuits": [STRING], "n": n, "noise": 1e-3, "seed": seed,
        "parameters": {name: {"bounds": list(bounds)} for name, bounds in BOUNDS.items()},
        "frequencies": list(F),
    }}}
    with tempfile.TemporaryDirectory() as store, closing(local_client(threads_per_worker=1)) as client:
        info = orchestrator.run(spec, client=client, store=store)
    if info["status"] != "completed":
        raise RuntimeError(f"the eis_dataset run ended {info['status']}: {info['elements']['spectra'].get('error')}")
    counts = info["elements"]["spectra"]["summary"]["counts"]
    return counts["wall_s"], counts


def timed(run: Callable[[], object], repeats: int = 3) -> tuple[float, float, object]:
    """The first call's wall (compile included) and the fastest of ``repeats`` compiled calls."""
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        walls.append(time.perf_counter() - started)
    return first, min(walls), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impedance-spectra", type=int, default=30, help="spectra impedance.py fits")
    parser.add_argument("--spectra", type=int, default=2000, help="spectra sweepfit fits from one start")
    parser.add_argument("--multistart-spectra", type=int, default=300, help="spectra sweepfit fits from --starts")
    parser.add_argument("--starts", type=int, default=16, help="Latin-hypercube starts per spectrum")
    parser.add_argument("--synthetic", type=int, default=100_000, help="spectra to generate in one vmapped call")
    parser.add_argument("--dataset", type=int, default=1_000_000, help="spectra the eis_dataset element writes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from elements.eis.circuits import Circuit
    from elements.eis.fit import fit, fit_multistart, random_parameters, synthetic_spectra

    circuit = Circuit(STRING)
    n = max(args.impedance_spectra, args.spectra, args.multistart_spectra)
    truth = random_parameters(circuit, n, bounds=BOUNDS, seed=args.seed)
    spectra = np.asarray(synthetic_spectra(circuit, truth, F))
    starts = random_parameters(circuit, n, bounds=BOUNDS, seed=args.seed + 1)
    common = slice(0, min(args.impedance_spectra, args.spectra, args.multistart_spectra))

    walls, found = impedance_py(spectra[: args.impedance_spectra], starts[: args.impedance_spectra])
    rows = [("impedance.py CustomCircuit.fit, serial", args.impedance_spectra, 1, walls.sum(), found)]

    k = args.spectra
    first_one, wall, result = timed(
        lambda: fit(circuit, F, spectra[:k], starts[:k, None], bounds=BOUNDS, max_iterations=MAX_ITERATIONS)
    )
    rows.append(("sweepfit fit (jit/vmap LM)", k, 1, wall, result.parameters))

    k = args.multistart_spectra
    first_many, wall, result = timed(
        lambda: fit_multistart(
            circuit, F, spectra[:k], bounds=BOUNDS, n_starts=args.starts, seed=args.seed, max_iterations=MAX_ITERATIONS
        )
    )
    rows.append(("sweepfit fit_multistart", k, args.starts, wall, result.parameters))

    params = random_parameters(circuit, args.synthetic, bounds=BOUNDS, seed=args.seed + 2)
    _, clean, _ = timed(lambda: synthetic_spectra(circuit, params, F).block_until_ready())
    _, noisy, _ = timed(lambda: synthetic_spectra(circuit, params, F, noise=1e-3).block_until_ready())
    wall, counts = dataset_into_zarr(args.dataset, args.seed)
    workers = f"{os.cpu_count()} workers"
    rows.append((f"eis_dataset into zarr, LocalCluster {workers}", args.dataset, None, wall, None))

    print(f"{STRING}, {len(F)} frequencies 1 mHz - 10 kHz, noise-free; {os.cpu_count()} CPUs")
    header = ("spectra", "starts", "wall [s]", "spectra/s", "fits/s", "within 1 %", f"first {common.stop}")
    print(f"{'method':40} " + " ".join(f"{h:>10}" for h in header))
    for name, count, n_starts, wall, found in rows:
        if found is None:  # synthetic spectra: nothing fitted
            print(f"{name:40} {count:10d} {'-':>10} {wall:10.2f} {count / wall:10.1f}" + f" {'-':>10}" * 3)
            continue
        print(
            f"{name:40} {count:10d} {n_starts:10d} {wall:10.2f} {count / wall:10.1f} {count * n_starts / wall:10.1f} "
            f"{recovered(found, truth[:count]).mean():10.1%} {recovered(found[common], truth[common]).mean():10.1%}"
        )
    fits_per_second = [count * n_starts / wall for _, count, n_starts, wall, found in rows if found is not None]
    speedup = fits_per_second[1] / fits_per_second[0]
    print(f"speed-up, one start per spectrum: sweepfit fit / impedance.py = {speedup:.0f}x")
    print(f"impedance.py per fit: median {np.median(walls):.2f} s, slowest {walls.max():.2f} s")
    print(f"compile (first call minus fastest compiled call): fit {first_one - rows[1][3]:.1f} s, "
          f"fit_multistart {first_many - rows[2][3]:.1f} s")
    print(f"synthetic spectra ({args.synthetic}, vmapped): {args.synthetic / clean:,.0f}/s noise-free, "
          f"{args.synthetic / noisy:,.0f}/s with 0.1 % noise")
    print(f"eis_dataset: {counts['chunks']} chunk tasks of {counts['chunk_size']} spectra on {', '.join(counts['devices'])}, "
          f"{args.dataset * len(F) * 2 * 8 / 1e6 / wall:,.0f} MB/s of float64 into zarr")


if __name__ == "__main__":
    main()
