"""Equivalent circuits, pulse by pulse: run examples/ecm_pulses.yaml (a synthetic 2-RC cell's HPPC test
fitted pulse by pulse, assembled into tables over SOC, validated on a drive cycle) and
examples/ecm_samsung.yaml (a measured Samsung INR21700 multi-pulse test, 1-RC against 2-RC) on a local
Dask cluster; print fitted against true values and the RMSEs, and write the figures of every step.

Run with `.venv/bin/python examples/ecm.py [--workers N] [--store DIR]` (75 s on 2 busy cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import orchestrator
from clusters import closing, local_client
from elements.synthetic import synthetic_ecm, synthetic_hppc, two_rc_cell
from orchestrator.figures import plot

HERE = Path(__file__).resolve().parent
SOCS = np.round(np.linspace(0.95, 0.05, 10), 2)
CELL = two_rc_cell()
DRIVE_CYCLE = HERE.parent / "tests" / "data" / "samsung_inr21700" / "sample_drive_cycle.xlsx"


def make_data() -> None:
    """The synthetic cell's HPPC test and its voltage on the Samsung drive cycle's current, into examples/data/."""
    folder = HERE / "data"
    folder.mkdir(exist_ok=True)
    synthetic_hppc(values=CELL, socs=SOCS, capacity=5.0).to_csv(folder / "ecm_hppc.csv", index=False)
    cycle = pd.read_excel(DRIVE_CYCLE, sheet_name="Sheet3")
    synthetic_ecm(values=CELL, time=cycle["Time"].to_numpy(dtype=float), current=cycle["Current"].to_numpy(dtype=float),
                  initial_soc=0.9, capacity=5.0).to_csv(folder / "ecm_drive_cycle.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    make_data()

    with closing(local_client(n_workers=args.workers)) as client:
        print(f"Dask dashboard: {client.dashboard_link}")
        pulses = orchestrator.run(HERE / "ecm_pulses.yaml", client=client, store=args.store)
        samsung = orchestrator.run(HERE / "ecm_samsung.yaml", client=client, store=args.store)

    found = pulses["elements"]["tables"]["parameters"]  # every value so far: the assembled tables among them
    tables = {name: found[name] for name in CELL}
    quick = pulses["elements"]["steps"]["parameters"]["R0 [Ohm]"]
    print(f"\nrun {pulses['run_id']}: {pulses['status']}; fitted / true per SOC")
    print(f"{'SOC':>6}" + "".join(f"{name:>18}" for name in tables) + f"{'R0 from the step':>18}")
    for i, soc in enumerate(tables["R0 [Ohm]"]["x"]):
        cells = "".join(f"{t['y'][i]:>10.4g} /{np.interp(soc, CELL[n]['x'], CELL[n]['y']):>6.3g}" for n, t in tables.items())
        print(f"{soc:>6.2f}{cells}{quick['y'][i]:>18.4g}")
    drive = pulses["elements"]["drive cycle"]["summary"]["metrics"]["drive cycle"]
    print(f"drive cycle (3,601 s, noise 0.1 mV): RMSE {drive['RMSE'] * 1e3:.2f} mV, Max {drive['Max'] * 1e3:.2f} mV")

    print(f"\nrun {samsung['run_id']}: {samsung['status']}; Samsung INR21700 multi-pulse test")
    for name in ("1-RC", "2-RC"):
        fit = samsung["elements"][name]["summary"]
        values = ", ".join(f"{k} {v:.4g}" for k, v in fit["parameters"].items())
        print(f"  {name}: RMSE {fit['cost'] * 1e3:.2f} mV in {fit['evaluations']} evaluations; {values}")
    for info in (pulses, samsung):
        figures = plot(info["run_id"], None, store=args.store)
        print(f"figures of every step ({len(figures)}): {figures[0].parent.parent}")


if __name__ == "__main__":
    main()
