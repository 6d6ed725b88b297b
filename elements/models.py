"""PyBaMM models and parameter sets by the names users write."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from elements import values
from elements.core.registry import Registry, unknown_name

MODELS: Registry[Callable[[dict[str, Any]], Any]] = Registry("model")


@MODELS.register("SPM")
def spm(options: dict[str, Any]) -> Any:
    import pybamm

    return pybamm.lithium_ion.SPM(options)


@MODELS.register("SPMe")
def spme(options: dict[str, Any]) -> Any:
    import pybamm

    return pybamm.lithium_ion.SPMe(options)


@MODELS.register("DFN")
def dfn(options: dict[str, Any]) -> Any:
    import pybamm

    return pybamm.lithium_ion.DFN(options)


def parameter_set_names() -> list[str]:
    import pybamm

    return sorted(pybamm.parameter_sets)


@functools.lru_cache(maxsize=16)
def _parameter_values(name: str) -> Any:
    import pybamm

    if name not in pybamm.parameter_sets:
        raise ValueError(unknown_name("parameter set", name, pybamm.parameter_sets))
    return pybamm.ParameterValues(name)


def parameter_values(name: str) -> Any:
    """A fresh copy of a named PyBaMM parameter set (loaded once per process)."""
    return _parameter_values(name).copy()


def unknown_parameters(parameter_set: str, names: list[str]) -> list[str]:
    """Messages for names that the parameter set does not define (factors on its functions and the
    initial SOC are defined: see :mod:`elements.values`)."""
    return values.name_problems(_parameter_values(parameter_set), names, of=parameter_set)


def replaced_functions(parameter_set: str, names: list[str]) -> list[str]:
    """Messages for fitted names that are functions in the parameter set (fit a factor instead)."""
    return values.replaced_functions(_parameter_values(parameter_set), names, of=parameter_set)
