"""PyBaMM models and parameter sets by the names users write."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from elements import ecm, values
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


@MODELS.register(ecm.MODEL)
def equivalent_circuit(options: dict[str, Any]) -> Any:
    return ecm.thevenin(options)


def check_options(model: str, options: dict[str, Any]) -> None:
    """Raise ValueError for options the model does not take, naming them and what is valid."""
    import pybamm

    if model == ecm.MODEL:
        ecm.options(options)
        return
    try:
        pybamm.BatteryModelOptions(options)
    except pybamm.OptionError as exc:
        raise ValueError(f"invalid PyBaMM model option: {str(exc).strip()}") from exc


def check_parameter_set(model: str, parameter_set: str) -> None:
    """Raise ValueError for an equivalent circuit's parameter set with a lithium-ion model, or the reverse."""
    if (model == ecm.MODEL) != ecm.is_ecm_set(parameter_set):
        want = "an equivalent-circuit parameter set such as 'ECM_Example'" if model == ecm.MODEL else \
            "a lithium-ion parameter set such as 'Chen2020'"
        raise ValueError(f"model {model!r} with parameter set {parameter_set!r}: {model} needs {want}")


def parameter_set_names() -> list[str]:
    import pybamm

    return sorted(pybamm.parameter_sets)


@functools.lru_cache(maxsize=16)
def _parameter_values(name: str) -> Any:
    import pybamm

    if name not in pybamm.parameter_sets:
        raise ValueError(unknown_name("parameter set", name, pybamm.parameter_sets))
    return pybamm.ParameterValues(name)


def parameter_values(name: str, model: str | None = None, options: dict[str, Any] | None = None) -> Any:
    """A fresh copy of a named PyBaMM parameter set (loaded once per process); for an ECM ``model``,
    with what its ``options`` need beyond the set (:func:`elements.ecm.complete`)."""
    found = _parameter_values(name).copy()
    return ecm.complete(found, options or {}) if model == ecm.MODEL else found


def unknown_parameters(
    parameter_set: str, names: list[str], model: str | None = None, options: dict[str, Any] | None = None,
    *, tables: dict[str, tuple[int, ...] | None] | None = None,
) -> list[str]:
    """Messages for names that the parameter set does not define (factors on its functions, the
    initial SOC, and knots of its tables or of ``tables`` earlier elements pass on are defined: see
    :mod:`elements.values`)."""
    return values.name_problems(parameter_values(parameter_set, model, options), names, of=parameter_set,
                                tables=tables)


def replaced_functions(parameter_set: str, names: list[str]) -> list[str]:
    """Messages for fitted names that are functions in the parameter set (fit a factor instead).

    None for an equivalent circuit: its resistances and capacitances are functions of temperature,
    current and SOC in PyBaMM, and fitting one number per pulse in their place is the usual method.
    """
    if ecm.is_ecm_set(parameter_set):
        return []
    return values.replaced_functions(_parameter_values(parameter_set), names, of=parameter_set)
