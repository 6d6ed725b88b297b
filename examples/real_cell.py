"""Run examples/real_cell.yaml on a local Dask cluster, print the RMSE per rate after each step and
write the figures of every step beside the run.

Run with `.venv/bin/python examples/real_cell.py [--workers N] [--store DIR]` (about 9 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orchestrator
from clusters import closing, local_client
from orchestrator.figures import plot

HERE = Path(__file__).resolve().parent
FITTED_ON = {"balance electrodes": ["0.1C"], "balance on the 0.1C solve": ["0.1C"],
             "kinetics and cooling": ["0.1C", "0.5C", "2C"], "refined": ["0.1C", "0.5C", "2C"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()

    with closing(local_client(n_workers=args.workers)) as client:
        print(f"Dask dashboard: {client.dashboard_link}")
        info = orchestrator.run(HERE / "real_cell.yaml", client=client, store=args.store)

    print(f"\nrun {info['run_id']}: {info['status']}")
    elements = info["elements"]
    rates = list(elements["as published"]["summary"]["metrics"])
    print(f"{'voltage RMSE [mV]':<22}" + "".join(f"{r:>8}" for r in rates))
    for name, element in elements.items():
        metrics = element["summary"].get("metrics")
        if metrics:
            print(f"{name:<22}" + "".join(f"{metrics[r]['RMSE'] * 1e3:>8.1f}" for r in rates))
        else:
            fitted = element["summary"]
            print(f"  {name}: cost {fitted['cost']:.4g} on {', '.join(FITTED_ON.get(name, []))}, "
                  f"{fitted['evaluations']} evaluations")
            for parameter, value in fitted["parameters"].items():
                print(f"    {parameter:<56}{value:.4g}")
    print("1C is held back: fitted on none of the steps.")
    figures = plot(info["run_id"], None, store=args.store)
    print(f"results: {info['path']}\nfigures of every step ({len(figures)}): {figures[0].parent.parent}")


if __name__ == "__main__":
    main()
