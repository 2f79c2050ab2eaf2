"""Run never freezes napari: the GUI thread's longest pause, from before Run to the result.

``gui_pauses.py`` measures it in a fresh process (first-use imports and set-up count), on a
1024x1024 image (the widget's button, twice; ``restore_layer`` for one run and for two at
once) and on a Z-stack.  About 40 s.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("napari")

pytestmark = pytest.mark.slow

#: The longest pause of the GUI thread a run may cause, in seconds, on a machine where napari
#: adds a run's layer in under a third of that; on a slower one, three times napari's own pause.
MAX_PAUSE_S = 0.25
NAPARI = "napari adds a layer"
CASES = (
    "widget, 1024x1024",
    "widget again (replaces its result)",
    "restore_layer, 1024x1024",
    "restore_layer, two 1024x1024 at once",
    "restore_layer, 8x512x512 stack",
)


def measure() -> dict:
    script = Path(__file__).with_name("gui_pauses.py")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "QT_API": os.environ.get("QT_API", "pyqt6")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pauses() -> dict:
    """The measurements; a case over the limit is measured once more, in a new process, and
    keeps the better of its two: another program may take the CPU for a moment, a freeze
    caused by the run comes back."""
    first = measure()
    if all(first[case]["max_gap_s"] < limit(first) for case in CASES):
        return first
    second = measure()
    kept = {case: min(first[case], second[case], key=lambda m: m["max_gap_s"]) for case in CASES}
    return {**kept, NAPARI: max(first[NAPARI], second[NAPARI], key=lambda m: m["max_gap_s"])}


def limit(pauses: dict) -> float:
    """The pause allowed.  A run shows its layers, and napari's own pause to add one is a
    floor no run goes under: 0.06 s on our 2 cores, about 2.5 times that on a CI machine where
    the runs' pauses were 0.26-0.32 s (0.08-0.10 s here)."""
    return max(MAX_PAUSE_S, 3 * pauses[NAPARI]["max_gap_s"])


@pytest.mark.parametrize("case", CASES)
def test_a_run_never_pauses_the_gui(pauses, case):
    measured = pauses[case]
    assert measured["errors"] == []
    assert measured["max_gap_s"] < limit(pauses), (
        f"{case}: pauses (s after Run, s) {measured}; napari's own: {pauses[NAPARI]}"
    )
