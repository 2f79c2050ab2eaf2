"""napari's reader of results: only the files napari-dip wrote."""

import tifffile
from helpers import blobs


def test_the_reader_leaves_other_files_to_other_readers(tmp_path):
    from napari_dip._napari.io import get_reader

    plain = tmp_path / "plain.ome.tif"
    tifffile.imwrite(plain, blobs(), ome=True)
    assert get_reader(str(plain)) is None and get_reader(str(tmp_path / "a.png")) is None
