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

#: The longest pause of the GUI thread a run may cause, in seconds.
MAX_PAUSE_S = 0.25
CASES = (
    "widget, 1024x1024",
    "widget again (replaces its result)",
    "restore_layer, 1024x1024",
    "restore_layer, two 1024x1024 at once",
    "restore_layer, 8x512x512 stack",
)


@pytest.fixture(scope="module")
def pauses() -> dict:
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


@pytest.mark.parametrize("case", CASES)
def test_a_run_never_pauses_the_gui(pauses, case):
    measured = pauses[case]
    assert measured["errors"] == []
    assert measured["max_gap_s"] < MAX_PAUSE_S, f"{case}: pauses (s after Run, s) {measured}"
