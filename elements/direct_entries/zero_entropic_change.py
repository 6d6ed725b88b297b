"""``zero_entropic_change``: both electrodes' OCPs independent of temperature."""

from __future__ import annotations

from typing import Any, Literal

from elements.direct_entries import DIRECT_ENTRIES, LibraryEntry


@DIRECT_ENTRIES.register("zero_entropic_change")
class ZeroEntropicChange(LibraryEntry):
    """``dU/dT = 0`` for both electrodes.

    Examples
    --------
    >>> sorted(ZeroEntropicChange().values().values())
    [0.0, 0.0]
    """

    type: Literal["zero_entropic_change"] = "zero_entropic_change"

    def values(self) -> dict[str, Any]:
        return {f"{side} electrode OCP entropic change [V.K-1]": 0.0 for side in ("Negative", "Positive")}
