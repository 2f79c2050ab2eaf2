"""``python -m napari_dip``: the ``napari-dip`` command line."""

from .batch.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
