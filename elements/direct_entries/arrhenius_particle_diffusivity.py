"""``arrhenius_particle_diffusivity``: ``D(sto, T) = D_ref exp(E_D / R (1 / T_ref - 1 / T))``."""

from __future__ import annotations

from typing import Any, Literal

from elements.direct_entries import DIRECT_ENTRIES, Electrode, LibraryEntry
from elements.values import serialised


@DIRECT_ENTRIES.register("arrhenius_particle_diffusivity")
class ArrheniusParticleDiffusivity(LibraryEntry):
    """The electrode's particle diffusivity, leaving its reference value and activation energy free.

    Examples
    --------
    >>> ArrheniusParticleDiffusivity(electrode="positive").introduces
    ('Positive particle reference diffusivity [m2.s-1]', 'Positive particle diffusivity activation energy [J.mol-1]')
    """

    type: Literal["arrhenius_particle_diffusivity"] = "arrhenius_particle_diffusivity"
    electrode: Electrode
    direction: Literal[""] = ""
    phase: Literal[""] = ""

    @property
    def introduces(self) -> tuple[str, ...]:
        side = self.electrode.capitalize()
        return (f"{side} particle reference diffusivity [m2.s-1]",
                f"{side} particle diffusivity activation energy [J.mol-1]")

    def values(self) -> dict[str, Any]:
        import pybamm

        reference, activation = (pybamm.Parameter(n) for n in self.introduces)
        t_ref = pybamm.Parameter("Reference temperature [K]")

        def particle_diffusivity(sto: Any, T: Any) -> Any:  # noqa: N803
            return reference * pybamm.exp(activation / pybamm.constants.R * (1 / t_ref - 1 / T))

        name = f"{self.electrode.capitalize()} particle diffusivity [m2.s-1]"
        return {name: serialised(name, particle_diffusivity)}
