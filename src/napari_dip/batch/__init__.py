"""Batch runs over files, here or on a Dask cluster, and the ``napari-dip`` command line.

``restore_files`` restores files, globs or folders one file at a time
(``jobs``: reading and writing in ``files``); ``restore_dask`` restores one
array too big for a machine, tile by tile (``dask_tiles``); ``cli`` is the
command line over ``restore_files``.

Needs the ``batch`` extra: ``pip install "napari-dip[batch]"``.
"""

from .dask_tiles import restore_dask
from .jobs import (
    FileReport,
    Job,
    make_jobs,
    plan_files,
    restore_file,
    restore_files,
    run_jobs,
)

__all__ = [
    "FileReport",
    "Job",
    "make_jobs",
    "plan_files",
    "restore_dask",
    "restore_file",
    "restore_files",
    "run_jobs",
]
