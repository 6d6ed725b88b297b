"""Run the C-rate x ambient temperature sweep on a local Dask cluster and print its summaries.

`python examples/sweep.py [--workers N] [--store DIR]`; the pipeline is sweep_crate_temperature.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orchestrator
from clusters import closing, local_client

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()

    with closing(local_client(n_workers=args.workers)) as client:
        print(f"Dask dashboard: {client.dashboard_link}")
        info = orchestrator.run(HERE / "sweep_crate_temperature.yaml", client=client, store=args.store)
    print(f"run {info['run_id']}: {info['status']}  ({info['elements']['rates']['summary']['counts']})")

    ds = orchestrator.open_sweep(info["run_id"], "rates", store=args.store)
    celsius = ds["Ambient temperature [K]"] - 273.15
    for name in ("discharge_capacity", "energy", "max_temperature"):
        table = ds[name].assign_coords({"Ambient temperature [K]": celsius.values}).to_pandas()
        table.columns.name = "ambient [C]"
        print(f"\n{name} [{ds[name].attrs['units']}]\n{table.round(3)}")
    print(f"\nresults: {info['path']}")
    print('plot one C-rate: ds["Voltage [V]"].sel(c_rate=2).plot.line(x="time")')


if __name__ == "__main__":
    main()
