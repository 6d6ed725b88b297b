"""sweepfit's settings live in dask.config under ``sweepfit.``; defaults come from sweepfit.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.config
import yaml

_DEFAULTS = Path(__file__).with_name("sweepfit.yaml")
dask.config.update_defaults(yaml.safe_load(_DEFAULTS.read_text()))


def get(key: str, value: Any = None) -> Any:
    """``value`` if given, else the configured ``sweepfit.<key>``."""
    return value if value is not None else dask.config.get(f"sweepfit.{key}")
