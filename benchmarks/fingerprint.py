"""Digests of results and records over every task and front end, to compare two versions.

A refactoring must leave results bit for bit unchanged for a fixed seed and thread
count.  Run this before and after it and compare the two files:

    python benchmarks/fingerprint.py --out before.json     # on the old version
    python benchmarks/fingerprint.py --out after.json      # on the new one
    python benchmarks/fingerprint.py --compare before.json after.json

Each case runs a short restoration (a few seconds, tiny images, one thread) through
the Python API, ``Restoration``, ``rerun`` or the batch layer, and keeps a digest of
the result, of the uncertainty, and of the record (times and versions left out).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import napari_dip

#: Record keys that change from run to run whatever the code does (the default memory
#: budget is a share of the memory available at the time).
VOLATILE = {"wall_time_s", "finished_at", "version", "memory_budget_bytes", "mtime_ns"}


def _image(shape, seed=0):
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    clean = 200 + 100 * np.sin(y / 4.0) * np.cos(x / 5.0)
    noise = np.random.default_rng(seed).normal(0, 20, shape[:-2] + clean.shape)
    return np.clip(clean + noise, 0, None).astype(np.uint16)


def _mask(shape):
    mask = np.zeros(shape, bool)
    mask[10:18, 12:22] = True
    mask[30:34, 5:40] = True
    return mask


def _digest(array) -> str | None:
    if array is None:
        return None
    array = np.ascontiguousarray(array)
    header = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(header + array.tobytes()).hexdigest()[:16]


def _stable(record):
    """``record`` without its volatile keys, at every depth."""
    if isinstance(record, dict):
        return {k: _stable(v) for k, v in record.items() if k not in VOLATILE}
    if isinstance(record, list):
        return [_stable(v) for v in record]
    return record


def _record(record: dict) -> str:
    text = json.dumps(_stable(record), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _restoration(task, image, **options):
    run = napari_dip.Restoration(task, image, threads=1, seed=0, **options)
    result = run.run()
    record = run.info.to_dict() if hasattr(run.info, "to_dict") else run.info.as_dict()
    return {
        "result": _digest(result),
        "uncertainty": _digest(run.uncertainty),
        "record": _record(record),
        "rerun": _digest(napari_dip.rerun(record, image, **_data(options))),
    }


def _data(options):
    return {k: options[k] for k in ("mask", "psf", "guide") if k in options}


def _shortcuts() -> dict:
    image = _image((48, 48))
    psf = napari_dip.gaussian_psf(1.5)
    return {
        "denoise": _digest(napari_dip.denoise(image, max_iter=40, seed=1, threads=1)),
        "inpaint": _digest(
            napari_dip.inpaint(image, _mask((48, 48)), max_iter=40, seed=1, threads=1)
        ),
        "super_resolve": _digest(
            napari_dip.super_resolve(image[:24, :24], 2, max_iter=40, seed=1, threads=1)
        ),
        "deconvolve": _digest(napari_dip.deconvolve(image, psf, max_iter=40, seed=1, threads=1)),
    }


def _cases() -> dict:
    image = _image((48, 48))
    mask = _mask((48, 48))
    psf = napari_dip.gaussian_psf(1.5)
    movie = _image((3, 40, 40))
    channels = np.stack([_image((40, 40), seed=1), _image((40, 40), seed=2)], axis=-1)
    return {
        "denoise default": lambda: _restoration("denoise", image, max_iter=150),
        "denoise poisson": lambda: _restoration(
            "denoise", image, noise="poisson", offset=5.0, max_iter=80
        ),
        "denoise quality": lambda: _restoration("denoise", image, preset="quality", max_iter=40),
        "denoise paper": lambda: _restoration("denoise", image, preset="paper", max_iter=15),
        "denoise movie": lambda: _restoration("denoise", movie, axes="TYX", max_iter=60),
        "denoise channels independent": lambda: _restoration(
            "denoise", channels, channel_axis=-1, channels="independent", max_iter=40
        ),
        "denoise guide channel": lambda: _restoration(
            "denoise", channels, channel_axis=-1, guide_channel=0, max_iter=40
        ),
        "denoise guide image": lambda: _restoration(
            "denoise", image, guide=_image((48, 48), seed=7), max_iter=40
        ),
        "denoise tiled": lambda: _restoration(
            "denoise", _image((200, 200)), memory_budget="200MB", max_iter=10
        ),
        "inpaint default": lambda: _restoration("inpaint", image, mask=mask, max_iter=150),
        "inpaint not keep_known": lambda: _restoration(
            "inpaint", image, mask=mask, keep_known=False, max_iter=40
        ),
        "super_resolve default": lambda: _restoration(
            "super_resolve", image[:24, :24], factor=2, max_iter=120
        ),
        "super_resolve box": lambda: _restoration(
            "super_resolve", image[:24, :24], factor=3, kernel="box", max_iter=40
        ),
        "deconvolve default": lambda: _restoration("deconvolve", image, psf=psf, max_iter=120),
        "deconvolve poisson": lambda: _restoration(
            "deconvolve", image, psf=psf, noise="poisson", max_iter=60
        ),
        "denoise output uint16": lambda: _restoration(
            "denoise", image, output_dtype="input", max_iter=30
        ),
    }


def _batch() -> dict:
    from napari_dip.batch import restore_files

    try:
        from napari_dip.imaging.files import read_image, read_record, write_tiff
    except ImportError:  # versions before the file functions moved out of the batch layer
        from napari_dip.batch.files import read_image, read_record, write_tiff

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_tiff(folder / "cells.tif", _image((48, 48)), "YX", {})
        write_tiff(folder / "cells_mask.tif", _mask((48, 48)).astype(np.uint8), "YX", {})
        found = {}
        for task, extra in (
            ("denoise", {}),
            ("inpaint", {"mask": "{stem}_mask.tif"}),
            ("deconvolve", {"psf_sigma": 1.5}),
            ("super_resolve", {"factor": 2}),
        ):
            out = folder / task
            restore_files(task, folder / "cells.tif", out=out, max_iter=30, seed=0, **extra)
            (written,) = out.iterdir()
            found[task] = {
                "result": _digest(read_image(written).data),
                "record": _record(read_record(written)),
            }
        return found


def fingerprint() -> dict:
    found = {"shortcuts": _shortcuts(), "batch": _batch()}
    for name, case in _cases().items():
        print(name, file=sys.stderr, flush=True)
        found[name] = case()
    return found


def compare(before: dict, after: dict) -> int:
    differences = [
        f"{case}: {key} {old.get(key)} -> {new.get(key)}"
        for case in sorted(set(before) | set(after))
        for old, new in [(before.get(case, {}), after.get(case, {}))]
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    print("\n".join(differences) or f"identical: {len(before)} cases")
    return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the digests to this JSON file")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    arguments = parser.parse_args()
    if arguments.compare:
        before, after = (json.loads(Path(p).read_text()) for p in arguments.compare)
        return compare(before, after)
    found = fingerprint()
    text = json.dumps(found, indent=1, sort_keys=True)
    if arguments.out:
        Path(arguments.out).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
