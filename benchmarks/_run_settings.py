"""Settings of ``run.py``'s measurements that ``render.py`` also needs, to describe them.

Kept apart so that rendering a report from its JSON imports neither torch nor napari-dip.  The
crop sizes, budgets and intervals are not here: they are stored in the report
(``report["settings"]``).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_GAP_DB = 0.2  # the default's target: the paper's best PSNR minus this
# Grids of the classical methods' parameter, as multiples of the estimated noise sigma;
# the factor marked "estimated" is the setting used with the noise estimate alone.
GRIDS = {
    "BM3D": {
        "factors": (0.5, 0.7, 1.0, 1.4, 2.0, 2.4, 2.8),
        "estimated": 1.0,
        "parameter": "sigma_psd",
    },
    "NLM": {
        "factors": (0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0, 2.5),
        "estimated": 0.8,
        "parameter": "h",
    },
    "TV": {
        "factors": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0),
        "estimated": 1.0,
        "parameter": "weight",
    },
}
NLM_PATCH = {"patch_size": 5, "patch_distance": 6, "fast_mode": True}
