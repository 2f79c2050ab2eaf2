"""Types of the lazily imported namespace (``__init__.py`` imports on first use)."""

from ._api import (
    deconvolve as deconvolve,
)
from ._api import (
    denoise as denoise,
)
from ._api import (
    inpaint as inpaint,
)
from ._api import (
    rerun as rerun,
)
from ._api import (
    super_resolve as super_resolve,
)
from ._napari.layer_run import restore_layer as restore_layer
from ._options import Options as Options
from ._plan import Plan as Plan
from ._plan import RunEstimate as RunEstimate
from ._records import RunInfo as RunInfo
from ._records import StopReason as StopReason
from ._restoration import Restoration as Restoration
from ._tasks import TASKS as TASKS
from .core.devices import available_devices as available_devices
from .core.fit import Snapshot as Snapshot
from .core.nets import NetSpec as NetSpec
from .core.presets import (
    PRESETS as PRESETS,
)
from .core.presets import (
    Recipe as Recipe,
)
from .core.presets import (
    preset_names as preset_names,
)
from .core.presets import (
    resolve_preset as resolve_preset,
)
from .imaging.axes import guess_axes as guess_axes
from .imaging.psf import gaussian_psf as gaussian_psf

__version__: str
__all__: list[str]
