"""``napari-dip demo``: the main job on a bundled sample, without a display.

Writes the sample *noisy cells* (``imaging.samples``) as an OME-TIFF, restores
it as the command line restores any file (the estimate first, then a progress
bar), and writes a before/after PNG beside the result that a person can open.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..imaging import samples
from ..imaging.files import read_image, write_tiff
from .jobs import make_jobs, plan_files, run_jobs

__all__ = ["run_demo"]

SAMPLE = "noisy_cells"


def run_demo(out, *, progress: bool = True, **options) -> Path:
    """Restore the sample into the folder ``out``; return the before/after PNG's path.

    ``options`` are those of ``napari_dip.Restoration`` (e.g. ``max_iter``,
    ``seed``); the sample's pixel size is carried to the result.

    Raises
    ------
    RuntimeError
        When the restoration fails (the reason is in the message).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = out / f"{SAMPLE}.ome.tif"
    pixel = (samples.PIXEL_UM, "µm")
    write_tiff(source, samples.noisy_cells(), "YX", {"Y": pixel, "X": pixel})
    jobs = make_jobs("denoise", source, out=out, resume=False, **options)
    for job, line in plan_files(jobs):
        print(f"{job.input.name}: {line}", file=sys.stderr)
    (report,) = run_jobs(jobs, progress=progress)
    if report.status != "restored":
        raise RuntimeError(f"{report.input}: {report.reason}")
    before = read_image(source).data
    after = read_image(Path(report.output)).data
    picture = out / f"{SAMPLE}_before_after.png"
    _save_side_by_side(picture, before, after)
    return picture


def _save_side_by_side(path: Path, before: np.ndarray, after: np.ndarray) -> None:
    """One 8-bit PNG: ``before`` on the left, ``after`` on the right, 8 pixels apart, both
    shown with the same contrast (``before``'s 0.5th to 99.5th percentile)."""
    from PIL import Image

    low, high = np.percentile(before, (0.5, 99.5))
    gap = np.full((before.shape[0], 8), 255, np.uint8)

    def shown(image):
        scaled = (np.asarray(image, np.float64) - low) / max(high - low, 1e-12)
        return np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)

    Image.fromarray(np.hstack([shown(before), gap, shown(after)])).save(path)
