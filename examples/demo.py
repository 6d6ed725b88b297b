"""The README's demo: fit two diffusivities to a synthetic 1C discharge on a local Dask cluster.

Run with `make demo`, or `python examples/demo.py [--workers N] [--store DIR]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orchestrator
from clusters import closing, local_client
from elements.synthetic import synthetic_discharge

HERE = Path(__file__).resolve().parent
TRUE = {"Negative particle diffusivity [m2.s-1]": 3.3e-14, "Positive particle diffusivity [m2.s-1]": 4e-15}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()

    data = HERE / "data" / "synthetic_1C.csv"
    data.parent.mkdir(exist_ok=True)
    # Chen2020 at 1C (5 A) reaches 2.5 V at ~3556 s: stop at 3500 s so the data never passes the cut-off.
    synthetic_discharge(values=TRUE, current=5.0, duration=3500.0, noise=0.001, seed=0).to_csv(data, index=False)

    with closing(local_client(n_workers=args.workers)) as client:
        print(f"Dask dashboard: {client.dashboard_link}")
        info = orchestrator.run(HERE / "demo.yaml", client=client, store=args.store)

    print(f"\nrun {info['run_id']}: {info['status']}")
    fit = info["elements"]["fit diffusivities"]["summary"]
    print(f"{'parameter':<42}{'fitted':>12}{'true':>12}{'error':>9}")
    for name, value in fit["parameters"].items():
        print(f"{name:<42}{value:>12.4g}{TRUE[name]:>12.4g}{(value / TRUE[name] - 1):>9.2%}")
    metrics = info["elements"]["check fit"]["summary"]["metrics"]["1C discharge"]
    print(f"validation RMSE {metrics['RMSE'] * 1e3:.2f} mV (noise 1 mV), {fit['evaluations']} evaluations")
    print(f"results: {info['path']}")
    print(f'open them with: xr.open_datatree("{info["path"]}", engine="zarr")  or  sweepfit open {info["run_id"]}')


if __name__ == "__main__":
    main()
