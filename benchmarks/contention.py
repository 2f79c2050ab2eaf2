"""Seconds per iteration of a default fit alone and beside other work, by thread policy.

For each image size, a default denoising fit (fast preset, fixed iteration
count) is timed in a fresh process in three settings: alone, beside a busy
loop on one core, and beside a second default fit of the same size run with
the same policy.  Two policies run side by side in the same session:

- ``fixed``: every core (``threads=torch.get_num_threads()``), the behaviour
  before the thread policy;
- ``auto``: the thread policy (``threads=None``, ``napari_dip.core.threads``).

The table reports the time alone and each shared setting as a multiple of
the same policy's time alone (a fair share of two cores is x2), and the
automatic policy's time alone against the fixed one's.  Probing iterations
are counted: the figure is the wall time of iterations 10..N.

Usage::

    python benchmarks/contention.py [--sizes 256 128 64] [--json results.json] [--docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _pages import replace_table, source_of

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "threads.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
#: Iterations timed per size (after the first 10): about 15-25 s of fitting alone.
ITERATIONS = {256: 60, 128: 160, 64: 400}

_FIT = """
import sys, time, numpy as np, torch, napari_dip
size, iterations, policy, loop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "loop"
threads = None if policy == "auto" else torch.get_num_threads()
image = np.random.default_rng(0).random((size, size)).astype(np.float32)
marks = {}
def note(snapshot):
    marks[snapshot.iteration] = time.perf_counter()
while True:
    napari_dip.denoise(image, seed=0, max_iter=iterations + 10, auto_stop=False,
                       threads=threads, callback=note, every=10)
    if not loop:
        break
print((marks[iterations + 10] - marks[10]) / iterations)
"""


def _fit_seconds(size: int, policy: str) -> float:
    """Seconds per iteration of one timed fit in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _FIT, str(size), str(ITERATIONS[size]), policy, "once"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _background(kind: str, size: int, policy: str) -> subprocess.Popen:
    if kind == "busy loop":
        command = [sys.executable, "-c", "while True: pass"]
    else:  # another fit, looping until killed
        command = [sys.executable, "-c", _FIT, str(size), "50", policy, "loop"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.0 if kind == "another fit" else 0.5)  # let it start fitting
    return process


def measure(sizes: list[int]) -> dict:
    rows = []
    for size in sizes:
        row = {"size": size}
        for policy in ("fixed", "auto"):
            row[policy] = {"alone": _fit_seconds(size, policy)}
            for kind in ("busy loop", "another fit"):
                process = _background(kind, size, policy)
                try:
                    row[policy][kind] = _fit_seconds(size, policy)
                finally:
                    process.kill()
                    process.wait()
            print(size, policy, row[policy], flush=True)
        rows.append(row)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "torch_threads_default": _default_threads(),
        "rows": rows,
    }


def _default_threads() -> int:
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout)


def render(results: dict) -> str:
    lines = [
        "| image | policy | alone | beside a busy loop | beside another fit | alone, auto / fixed |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        size = row["size"]
        for policy in ("fixed", "auto"):
            cells = row[policy]
            alone = cells["alone"]
            ratio = (
                f"x{row['auto']['alone'] / row['fixed']['alone']:.2f}" if policy == "auto" else ""
            )
            lines.append(
                f"| {size}x{size} | {policy} | {alone:.3f} s | x{cells['busy loop'] / alone:.1f} "
                f"| x{cells['another fit'] / alone:.1f} | {ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128, 64])
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument("--docs", action="store_true", help="rewrite the table in docs/threads.md")
    args = parser.parse_args()
    results = measure(args.sizes)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    table = render(results)
    print(table)
    if args.docs:
        stamp = f"Measured {results['date']} ({results['machine']}; torch's default: {results['torch_threads_default']} threads)."
        replace_table(DOCS, "contention table", f"{stamp}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
