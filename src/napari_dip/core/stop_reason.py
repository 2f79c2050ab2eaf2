"""Why a fit, or a run of fits, ended: shared by the core, the API and the widget."""

from __future__ import annotations

from enum import Enum

__all__ = ["StopReason"]


class StopReason(str, Enum):
    """Why a fit, or a run of fits, ended (compares equal to its value).

    Examples
    --------
    >>> from napari_dip import StopReason
    >>> StopReason("auto") is StopReason.AUTO, StopReason.AUTO == "auto"
    (True, True)
    >>> StopReason.MAX_ITER.description
    'iteration cap reached'
    """

    MAX_ITER = "max_iter"
    AUTO = "auto"
    STOPPED = "stopped"

    @property
    def description(self) -> str:
        """In words, e.g. for a status line."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    StopReason.MAX_ITER: "iteration cap reached",
    StopReason.AUTO: "stopped automatically",
    StopReason.STOPPED: "stopped",
}
