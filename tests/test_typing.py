"""What a type checker sees: the written-out signatures catch a user's misspelt keyword."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "typing" / "keyword_typo.py"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is in the test extra")
def test_mypy_flags_a_misspelt_keyword_and_nothing_else(tmp_path):
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path),
            "--follow-imports=silent",
            "--ignore-missing-imports",
            str(SCRIPT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    typo_line = next(
        n for n, line in enumerate(SCRIPT.read_text().splitlines(), 1) if "nosie" in line
    )
    assert len(errors) == 1, checked.stdout
    assert f'keyword_typo.py:{typo_line}: error: Unexpected keyword argument "nosie"' in errors[0]
    assert 'did you mean "noise"' in errors[0]
