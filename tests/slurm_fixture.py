"""Pytest plugin: a private single-node Slurm for the session (clusters/dev/slurm-up.sh)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

DEV = Path(__file__).resolve().parents[1] / "clusters" / "dev"


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEV / script)], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="session")
def slurm_conf():
    """Bring Slurm up (installing it if needed); yield the SLURM_CONF path; tear it down."""
    up = _run("slurm-up.sh")
    lines = up.stdout.strip().splitlines()
    if up.returncode != 0 or not lines or not lines[-1].startswith("export SLURM_CONF="):
        # Deliberately a failure, not a skip: a broken Slurm must not pass silently.
        pytest.fail(
            f"slurm-up.sh failed (rc={up.returncode})\n"
            f"--- stdout\n{up.stdout}\n--- stderr\n{up.stderr}",
            pytrace=False,
        )
    conf = lines[-1].split("=", 1)[1]
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        down = _run("slurm-down.sh")
        if down.returncode != 0:
            pytest.fail(
                f"slurm-down.sh failed (rc={down.returncode})\n{down.stdout}\n{down.stderr}",
                pytrace=False,
            )
