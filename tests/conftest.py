"""Fixtures several test files share; plain shared values are in ``helpers.py``.

The Qt binding is chosen in the repository's root ``conftest.py``, which also covers the
docstrings' examples under ``src/``.
"""

import pytest
from helpers import LAYOUT, blobs, counts

#: User scripts that mypy checks (test_typing.py): not to be imported by pytest's doctests.
collect_ignore = ["typing"]


def two_cells(tmp_path, guides: bool = False):
    """A folder of two TIFFs of counts, with a guide beside each if asked."""
    import tifffile

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        tifffile.imwrite(data / f"cell{i}.tif", counts((32, 32), seed=i))
        if guides:
            tifffile.imwrite(data / f"cell{i}_dapi.tif", counts((32, 32), seed=10 + i))
    return data


@pytest.fixture
def folder(tmp_path):
    """Two good TIFFs and a corrupt one."""
    data = two_cells(tmp_path)
    (data / "broken.tif").write_bytes(b"II*\x00 not a TIFF at all")
    return data


@pytest.fixture
def guided(tmp_path):
    """Two TIFFs, each with its guide beside it, named so that the inputs' glob matches it."""
    return two_cells(tmp_path, guides=True)


@pytest.fixture
def one_thread():
    """Tiny networks gain nothing from threads, and on a busy CPU their syncing costs 100x."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def viewer(request):
    """A napari viewer, closed after the test (napari's pytest plugin); skipped without napari."""
    pytest.importorskip("napari")
    return request.getfixturevalue("make_napari_viewer")()


@pytest.fixture
def image(viewer):
    """A noisy uint16 image layer with a scale, translation, units and axis labels."""
    return viewer.add_image(blobs(), name="cells", **LAYOUT)
