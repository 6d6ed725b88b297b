"""sweepfit's base layer: settings, registries, status records and data readers.

Everything else builds on it; it imports nothing else of sweepfit (a contract in
``tests/test_layers.py`` keeps it so).
"""

from elements.core import config
from elements.core.data import DataError, DataOptions, Measurement, load_measurements
from elements.core.registry import Registry, unknown_name
from elements.core.status import Progress, SolveStatus, Status, Summary

__all__ = ["DataError", "DataOptions", "Measurement", "Progress", "Registry", "SolveStatus", "Status", "Summary",
           "config", "load_measurements", "unknown_name"]
