"""Whether an unfinished run is still being worked on: its driver process and its scheduler."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from clusters.remote import reachable


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # an exited child not yet reaped is a zombie


def lost(attrs: dict[str, Any]) -> str | None:
    """Why an unfinished run will never finish (its driver or scheduler is gone), else None."""
    driver = attrs.get("driver")
    if driver and driver["host"] == socket.gethostname() and not pid_alive(driver["pid"]):
        return f"its driver process {driver['pid']} exited; see {driver['log']}"
    address = attrs.get("scheduler")
    if address and not reachable(address):
        return f"its scheduler {address} does not answer"
    return None
