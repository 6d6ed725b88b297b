"""``arrhenius_butler_volmer_exchange_current_density``: j0 with a fitted reference value.

``j0 = j0_ref (c_e / c_e0)^0.5 (c_s / c_s_max)^0.5 (1 - c_s / c_s_max)^0.5 exp(E_r / R (1 / T_ref - 1 / T))``,
normalised by the initial electrolyte concentration and the maximum concentration as in
ionworks-schema's worked example (``docs/examples/data/common.py``), so a ``j0_ref`` fitted here is
the same cell's as there.
"""

from __future__ import annotations

from typing import Any, Literal

from elements.direct_entries import DIRECT_ENTRIES, Electrode, LibraryEntry
from elements.values import serialised


@DIRECT_ENTRIES.register("arrhenius_butler_volmer_exchange_current_density")
class ArrheniusButlerVolmerExchangeCurrentDensity(LibraryEntry):
    """The electrode's exchange-current density, leaving its reference value and activation energy free.

    Examples
    --------
    >>> ArrheniusButlerVolmerExchangeCurrentDensity(electrode="negative").introduces[0]
    'Negative electrode reference exchange-current density [A.m-2]'
    """

    type: Literal["arrhenius_butler_volmer_exchange_current_density"] = "arrhenius_butler_volmer_exchange_current_density"
    electrode: Electrode
    # ionworks' per-direction and per-phase forms need hysteresis and composite electrodes
    direction: Literal[""] = ""
    phase: Literal[""] = ""

    @property
    def introduces(self) -> tuple[str, ...]:
        side = self.electrode.capitalize()
        return (f"{side} electrode reference exchange-current density [A.m-2]",
                f"{side} electrode reaction activation energy [J.mol-1]")

    def values(self) -> dict[str, Any]:
        import pybamm

        reference, activation = (pybamm.Parameter(n) for n in self.introduces)
        c_e0 = pybamm.Parameter("Initial concentration in electrolyte [mol.m-3]")
        t_ref = pybamm.Parameter("Reference temperature [K]")

        def exchange_current_density(c_e: Any, c_s_surf: Any, c_s_max: Any, T: Any) -> Any:  # noqa: N803
            x = c_s_surf / c_s_max
            arrhenius = pybamm.exp(activation / pybamm.constants.R * (1 / t_ref - 1 / T))
            return reference * (c_e / c_e0) ** 0.5 * x**0.5 * (1 - x) ** 0.5 * arrhenius

        name = f"{self.electrode.capitalize()} electrode exchange-current density [A.m-2]"
        return {name: serialised(name, exchange_current_density)}
