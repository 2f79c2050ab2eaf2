"""Soak test of the command line on a Dask cluster: many files, corrupt ones, a worker killed.

50 small files, 5 of them corrupt, restored by ``napari-dip denoise --workers 2``; once a
few results are written, one worker process is killed with SIGKILL mid-run.  Then the same
command again.  Every good file must be restored exactly once (a watcher sees each result
appear under one inode), no temporary file may be left, the failures must be named, and the
second run must redo nothing.  About a minute: marked slow (CI runs it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")
tifffile = pytest.importorskip("tifffile")
iio = pytest.importorskip("imageio.v3")

pytestmark = pytest.mark.slow

GOOD, SHAPE = 45, (32, 32)
COUNTS = r"(\d+) restored, (\d+) skipped \(done already\), (\d+) failed"
COMMAND = ["denoise", "--workers", "2", "--preset", "fast", "--max-iter", "15", "--seed", "0"]


def write_inputs(folder: Path) -> list[str]:
    """The 45 good TIFF files and the 5 corrupt ones; the corrupt ones' names."""
    rng = np.random.default_rng(0)
    for i in range(GOOD):
        tifffile.imwrite(folder / f"cell{i:02d}.tif", rng.poisson(50, SHAPE).astype(np.uint16))
    whole = (folder / "cell00.tif").read_bytes()
    png = folder / "picture.png"
    iio.imwrite(png, rng.poisson(50, SHAPE).astype(np.uint8))
    corrupt = {
        "text.tif": b"not an image at all",
        "empty.tif": b"",
        "truncated.tif": whole[: len(whole) // 2],
        "truncated.png": png.read_bytes()[:40],
    }
    png.unlink()
    for name, content in corrupt.items():
        (folder / name).write_bytes(content)
    tifffile.imwrite(folder / "line.tif", np.arange(7, dtype=np.uint16))  # 1D: no image
    return [*corrupt, "line.tif"]


class Watcher(threading.Thread):
    """Polls the results' folder: which inodes each result name had, and any temporary file."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder, self.inodes, self.temporaries = folder, {}, set()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.look()
            time.sleep(0.02)

    def look(self) -> None:
        for entry in os.scandir(self.folder) if self.folder.exists() else ():
            if entry.name.startswith("."):
                self.temporaries.add(entry.name)
            else:
                try:
                    self.inodes.setdefault(entry.name, set()).add(entry.inode())
                except FileNotFoundError:
                    pass

    def stop(self) -> None:
        self.running = False
        self.join()
        self.look()


def run(inputs: Path, out: Path, kill_after: int | None = None):
    """The command line over ``inputs``; with ``kill_after``, SIGKILL a worker once that many
    results exist.  Its exit status, its stderr, the watcher and whether a worker was killed."""
    watcher = Watcher(out)
    watcher.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "napari_dip", *COMMAND, str(inputs), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    if kill_after is not None:
        deadline = time.monotonic() + 300
        while killed is None and process.poll() is None and time.monotonic() < deadline:
            if len(list(out.glob("*.ome.tif"))) >= kill_after:
                workers = psutil.Process(process.pid).children(recursive=True)
                busy = [w for w in workers if "spawn" in " ".join(w.cmdline())]
                if busy:
                    killed = busy[0].pid
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
    _, stderr = process.communicate(timeout=600)
    watcher.stop()
    return process.returncode, stderr, watcher, killed


def test_many_files_corrupt_ones_and_a_killed_worker(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    corrupt = write_inputs(inputs)
    good = {f"cell{i:02d}_denoised.ome.tif" for i in range(GOOD)}

    status, stderr, watcher, killed = run(inputs, out, kill_after=10)
    assert killed is not None, "no worker process was found to kill"
    assert "Restarting worker" in stderr  # the cluster saw it die and replaced it
    assert status == 1, stderr  # some files failed
    assert {path.name for path in out.iterdir()} == good  # nothing else, no temporary file
    once = {name: len(inodes) for name, inodes in watcher.inodes.items()}
    assert once == dict.fromkeys(good, 1), f"written more than once: {once}"
    restored, skipped, failed = map(int, re.search(COUNTS, stderr).groups())
    assert (restored + skipped, failed) == (GOOD, 5), stderr  # skipped: written before the kill
    for name in corrupt:
        assert f"failed: {inputs / name}:" in stderr, name
    results = {path.name: tifffile.imread(path) for path in out.iterdir()}
    assert all(image.shape == SHAPE and np.isfinite(image).all() for image in results.values())

    status, stderr, watcher, _ = run(inputs, out)
    assert status == 1 and f"0 restored, {GOOD} skipped (done already), 5 failed" in stderr
    assert {path.name for path in out.iterdir()} == good and not watcher.temporaries
    assert all(watcher.inodes[name] == {(out / name).stat().st_ino} for name in good), (
        "the second run rewrote a result"
    )
    assert all(np.array_equal(tifffile.imread(out / name), results[name]) for name in good)
