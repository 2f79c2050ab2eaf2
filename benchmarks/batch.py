"""Batch scaling: the same 8 files through a plain loop and Dask LocalClusters of 1 and 2 workers.

The files are 256x256 crops of the real noisy microscopy images (confocal
FISH and widefield BPAE, four each), written as TIFFs.  Every configuration
restores all of them with the same work per file (``fast`` preset, a fixed
iteration count, no automatic stop, seed 0, one thread per fit) and its
wall time is measured from the call to the last file written, cluster start
and shutdown included.  The results of the clusters are checked bit for bit
against the loop's.  A loop with two threads per fit (one file at a time,
both cores) is the reference a single process gets.

Usage::

    python benchmarks/batch.py [--iterations 60] [--json results.json] [--docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from _pages import replace_table, source_of
from skimage import io

from napari_dip import batch

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "microscopy"
DOCS = HERE.parent / "docs" / "batch.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
CONFIGURATIONS = [
    ("loop, 1 thread per fit", {"threads": 1}),
    ("LocalCluster, 1 worker", {"threads": 1, "workers": 1}),
    ("LocalCluster, 2 workers", {"threads": 1, "workers": 2}),
    ("loop, 2 threads per fit", {"threads": 2}),
]


def write_inputs(folder: Path) -> list[Path]:
    fish = io.imread(DATA / "confocal_fish_noisy.png")
    bpae = io.imread(DATA / "widefield_bpae_noisy.png")[..., 0]
    paths = []
    for name, image in (("fish", fish), ("bpae", bpae)):
        for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
            path = folder / f"{name}{i}.tif"
            tifffile.imwrite(path, image[y : y + 256, x : x + 256])
            paths.append(path)
    return paths


def measure(folder: Path, iterations: int) -> dict:
    runs = {}
    for label, settings in CONFIGURATIONS:
        settings = dict(settings)
        workers = settings.pop("workers", None)
        out = folder / label.replace(" ", "_").replace(",", "")
        start = time.perf_counter()
        reports = batch.restore_files(
            "denoise",
            folder / "*.tif",
            out=out,
            workers=workers,
            preset="fast",
            max_iter=iterations,
            auto_stop=False,
            seed=0,
            resume=False,
            **settings,
        )
        wall = time.perf_counter() - start
        assert all(r.status == "restored" for r in reports), reports
        runs[label] = {
            "wall_s": round(wall, 2),
            "fit_s": [round(r.seconds, 2) for r in reports],
            "outputs": [r.output for r in reports],
        }
        print(f"{label}: {wall:.1f} s")
    loop = runs[CONFIGURATIONS[0][0]]
    for label, _ in CONFIGURATIONS[1:3]:
        runs[label]["bitwise_equal_to_loop"] = all(
            np.array_equal(tifffile.imread(a), tifffile.imread(b))
            for a, b in zip(loop["outputs"], runs[label]["outputs"])
        )
    return runs


def render(report: dict) -> str:
    runs = report["runs"]
    loop, one, two, threads = (runs[label]["wall_s"] for label, _ in CONFIGURATIONS)
    rows = [
        "| configuration | wall time | files per minute | against the loop |",
        "|---|---|---|---|",
    ]
    for label, _ in CONFIGURATIONS:
        wall = runs[label]["wall_s"]
        same = runs[label].get("bitwise_equal_to_loop")
        note = "" if same is None else (", same files bit for bit" if same else ", files differ")
        rows.append(f"| {label} | {wall:.1f} s | {8 / wall * 60:.1f} | x{loop / wall:.2f}{note} |")
    return "\n".join(
        rows
        + [
            "",
            f"Run {report['date']} on {report['machine']}, {report['cpus']} CPUs; "
            f"{report['iterations']} iterations per file, 8 files of 256x256.",
            f"Scaling from 1 to 2 workers: x{one / two:.2f}, an efficiency of "
            f"{one / two / 2:.0%}. The cluster's overhead against the plain loop (1 worker, "
            f"start and shutdown included): {one - loop:+.1f} s ({(one - loop) / loop:+.1%}).",
            f"Two files side by side on 2 workers against one file at a time with 2 threads: "
            f"x{threads / two:.2f}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--json", type=Path, default=HERE / "batch.json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/batch.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_inputs(folder)
        runs = measure(folder, args.iterations)
    for run in runs.values():
        del run["outputs"]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "iterations": args.iterations,
        "runs": runs,
    }
    args.json.write_text(json.dumps(report, indent=1))
    text = render(report)
    print(text)
    if args.docs:
        replace_table(DOCS, "batch table", text, SOURCE)


if __name__ == "__main__":
    main()
