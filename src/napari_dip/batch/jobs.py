"""Restore many image files, here or on a Dask cluster: the engine behind ``napari-dip``.

``restore_files`` takes files, globs or folders, restores each file on its
own and writes each result itself (atomically, with the run's record in its
metadata), in a plain loop or as one Dask task per file on a
``LocalCluster`` (``workers=N``) or an existing cluster (``scheduler=``).  A
file that fails is reported and skipped; the others go on.  With
``resume=True`` a file whose result exists and was made with the same
settings is not redone.  ``restore_dask`` restores one array too big for a
machine, tile by tile, as a ``dask.array``.

Each fit uses ``threads`` CPU threads, 1 by default here: files run side by
side on the workers, and a fixed thread count makes a seed's result the same
bit for bit whatever the number of workers.

Needs the ``batch`` extra: ``pip install "napari-dip[batch]"``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._options import Options
from .._plan import resolved_auto_stop
from .._tasks import task_spec
from ..core.presets import Recipe, resolve_preset
from ..imaging.files import (
    find_inputs,
    output_path,
    read_image,
    read_record,
    uncertainty_path,
    write_result,
)

__all__ = [
    "FileReport",
    "Job",
    "make_jobs",
    "plan_files",
    "restore_file",
    "restore_files",
    "run_jobs",
]


@dataclass(frozen=True)
class Job:
    """One file to restore: where from and to, with what, and the mask, PSF or guide it needs.

    Made by ``make_jobs``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from napari_dip.batch import Job
    >>> from napari_dip import Options
    >>> job = Job("denoise", Path("cells.tif"), Path("cells_denoised.ome.tif"), Options(seed=0))
    >>> job.resume, job.mask
    (True, None)
    """

    task: str
    input: Path
    output: Path
    options: Options
    mask: Path | None = None
    psf: Path | None = None
    psf_sigma: float | None = None
    resume: bool = True
    guide: Path | None = None
    #: Also write ``Restoration.uncertainty`` beside the result (``uncertainty_path``).
    uncertainty: bool = False

    def request(self) -> dict:
        """What a finished result must have been made from to be kept by a resumed run."""
        options = {  # those given: the defaults may change between versions
            name: asdict(value) if isinstance(value, Recipe) else value
            for name, value in self.options.changed().items()
        }
        request = {
            "task": self.task,
            "options": options,
            "input": _identity(self.input),
            "mask": None if self.mask is None else _identity(self.mask),
            "psf": self.psf_sigma if self.psf is None else _identity(self.psf),
        }
        if self.guide is not None:  # absent unguided: results made before guides still match
            request["guide"] = _identity(self.guide)
        if self.uncertainty:  # likewise
            request["uncertainty"] = True
        return json.loads(json.dumps(request, default=str))


def _identity(path: Path) -> dict:
    status = path.stat()
    return {"name": path.name, "size": status.st_size, "mtime_ns": status.st_mtime_ns}


@dataclass(frozen=True)
class FileReport:
    """How one file went: ``status`` is "restored", "skipped" or "failed" (``reason`` says why).

    Examples
    --------
    >>> from napari_dip.batch import FileReport
    >>> report = FileReport("a.tif", "a_denoised.ome.tif", "failed", "cannot be read as an image")
    >>> report.status, report.seed
    ('failed', None)
    """

    input: str
    output: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    seed: int | None = None
    iterations: int | None = None


def make_jobs(
    task: str,
    inputs,
    *,
    out=None,
    suffix: str | None = None,
    mask: str | None = None,
    psf=None,
    psf_sigma: float | None = None,
    guide: str | None = None,
    resume: bool = True,
    uncertainty: bool = False,
    **options,
) -> list[Job]:
    """The jobs of a batch run, one per input file; the options are checked here.

    An earlier run's results beside their inputs are not inputs, and neither
    are the masks, guides and PSF of the inputs.

    Parameters
    ----------
    task : {"denoise", "inpaint", "super_resolve", "deconvolve"}
    inputs : str, Path or list of them
        Files, globs (``"data/*.tif"``) or folders (their TIFF, PNG, JPEG, Zarr).
    out : str or Path, optional
        Folder of the results (default: beside each input), named
        ``<name>_<suffix>`` (``cells_denoised.ome.tif``).
    suffix : str, optional
        Default: the task's ("denoised", "inpainted", ...).
    mask : str, for "inpaint"
        Each image's mask as a pattern, relative to the image's folder:
        ``"{stem}_mask.tif"`` is ``cells_mask.tif`` for ``cells.tif``.
    psf, psf_sigma : for "deconvolve"
        A PSF image file, or the sigma in pixels of a 2D Gaussian PSF.
    guide : str, optional
        Each image's guide (see ``napari_dip.Options.guide``) as a pattern,
        like ``mask``: ``"{stem}_dapi.tif"``.  Not with ``guide_channel``.
    resume : bool
        Skip files whose result exists and was made from the same request.
    uncertainty : bool
        Also write each result's uncertainty (``Restoration.uncertainty``, float32 in the
        image's units) beside it: ``cells_inpainted_uncertainty.ome.tif``.  For the
        runs that give one (``TaskSpec.gives_uncertainty``: several members,
        inpainting with the automatic stop, or denoising's default); refused for the others.
    **options
        Those of ``napari_dip.Restoration``; ``axes`` defaults to the file's
        metadata, else ``napari_dip.guess_axes``; ``threads`` to 1.

    Examples
    --------
    >>> from pathlib import Path
    >>> from tempfile import mkdtemp
    >>> import tifffile
    >>> from napari_dip import batch
    >>> folder = Path(mkdtemp())
    >>> tifffile.imwrite(folder / "cells.tif", [[0] * 32] * 32)
    >>> [job.output.name for job in batch.make_jobs("denoise", folder, seed=0)]
    ['cells_denoised.ome.tif']
    """
    spec = task_spec(task)
    options.setdefault("threads", 1)
    checked = Options(**options)  # refused before any file is read
    if spec.data == "mask" and mask is None:
        raise ValueError(
            "inpaint needs mask=, a pattern naming each image's mask, e.g. '{stem}_mask.tif'"
        )
    if spec.data == "psf" and (psf is None) == (psf_sigma is None):
        raise ValueError("deconvolve needs either psf= (a PSF image file) or psf_sigma= (pixels)")
    if uncertainty:
        recipe = resolve_preset(checked.preset, task, checked.factor)
        if not spec.gives_uncertainty(recipe, resolved_auto_stop(checked, recipe)):
            raise ValueError(
                f"{recipe.name} gives no uncertainty for {task}: choose a preset with "
                "several members (e.g. 'quality'), or inpaint with the automatic stop"
            )
    if guide is not None and options.get("guide_channel") is not None:
        raise ValueError("give a guide pattern or a guide_channel, not both")
    for what, pattern in (("mask", mask), ("guide", guide)):
        if pattern is not None and not isinstance(pattern, (str, os.PathLike)):
            raise TypeError(
                f"{what} is a file pattern here, such as '{{stem}}_{what}.tif', "
                f"not a {type(pattern).__name__}"
            )
    patterns = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    out_dir = None if out is None else Path(out)
    suffix = suffix or spec.result_suffix
    found = find_inputs([str(p) for p in patterns])
    outputs = {output_path(path, out_dir, suffix).resolve() for path in found}
    outputs |= {uncertainty_path(path) for path in outputs}
    psf = None if psf is None else Path(psf).resolve()
    companions = {_file_of(path, p) for path in found for p in (mask, guide) if p is not None}
    return [
        Job(
            task,
            path,
            output_path(path, out_dir, suffix),
            checked,
            mask=None if mask is None else _file_of(path, mask),
            psf=psf,
            psf_sigma=psf_sigma,
            resume=resume,
            guide=None if guide is None else _file_of(path, guide),
            uncertainty=uncertainty,
        )
        for path in found
        # an earlier run's result beside its input, or an input's mask, guide or PSF
        if path not in outputs and path not in companions and path != psf
    ]


def _file_of(image: Path, pattern) -> Path:
    """The mask or guide file of ``image``: ``pattern`` with ``{stem}`` and ``{name}``
    filled in, relative to the image's folder unless absolute."""
    from ..imaging.files import stem

    try:
        name = os.fspath(pattern).format(stem=stem(image), name=image.name)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"{pattern!r} is not a file pattern ({error!r}): its variables are {{stem}} "
            "and {name}"
        ) from None
    return (image.parent / os.path.expanduser(name)).resolve()


def restore_files(
    task: str,
    inputs,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    **settings,
) -> list[FileReport]:
    """Restore every image file named by ``inputs`` and write each result.

    Parameters
    ----------
    task, inputs
        The task, and the files, globs or folders: see ``make_jobs``.
    workers : int, optional
        Run on a ``dask.distributed.LocalCluster`` of this many worker
        processes (one file per task; each writes its results itself).
    scheduler : str, optional
        Run on an existing Dask cluster at this address instead.
    progress : bool
        Show progress bars (tqdm) over the files and the current file's
        iterations.
    **settings
        ``out``, ``suffix``, ``mask``, ``psf``, ``psf_sigma``, ``guide``, ``resume`` and
        the options of ``napari_dip.Restoration``: see ``make_jobs``, which
        checks them before any file is read.

    Returns
    -------
    list of FileReport
        One per file, in the order of the files.

    Examples
    --------
    Two PNG files, restored into another folder, then found done:

    >>> from pathlib import Path
    >>> from tempfile import mkdtemp
    >>> import imageio.v3 as iio
    >>> from numpy.random import default_rng
    >>> from napari_dip.batch import restore_files
    >>> folder = Path(mkdtemp())
    >>> for i in range(2):
    ...     iio.imwrite(folder / f"cell{i}.png", default_rng(i).poisson(50, (32, 32)).astype("uint8"))
    >>> reports = restore_files("denoise", folder, out=folder / "out", max_iter=5, seed=0)
    >>> [(Path(report.output).name, report.status) for report in reports]
    [('cell0_denoised.png', 'restored'), ('cell1_denoised.png', 'restored')]
    >>> again = restore_files("denoise", folder, out=folder / "out", max_iter=5, seed=0)
    >>> [report.status for report in again]
    ['skipped', 'skipped']
    """
    jobs = make_jobs(task, inputs, **settings)
    return run_jobs(jobs, workers=workers, scheduler=scheduler, progress=progress)


def run_jobs(
    jobs: list[Job], *, workers: int | None = None, scheduler: str | None = None, progress=False
) -> list[FileReport]:
    """Run ``jobs`` in a plain loop, or on a Dask cluster (see ``restore_files``).

    ``restore_files`` is ``make_jobs``, then this.

    Examples
    --------
    >>> from napari_dip import batch
    >>> batch.run_jobs([], workers=None)
    []
    """
    if workers is not None or scheduler is not None:
        return _on_cluster(jobs, workers, scheduler, progress)
    return _in_a_loop(jobs, progress)


def plan_files(jobs: list[Job]) -> list[tuple[Job, str]]:
    """For a dry run: each job with what it would do, read from the files' headers only.

    The command line's ``--dry-run`` prints it.

    Examples
    --------
    >>> from napari_dip import batch
    >>> batch.plan_files([])
    []
    """
    from .._plan import make_plan
    from ..imaging.psf import gaussian_psf

    lines = []
    for job in jobs:
        try:
            _check_companions(job)
            if job.resume and _finished(job):
                lines.append((job, "skip: restored already with these settings"))
                continue
            image = read_image(job.input, pixels=False)
            options = _file_options(job, image)
            if job.guide is not None:  # its shape and dtype, without its pixels
                guide = _read_companion(job.guide, "guide", pixels=False)
                pixels = np.broadcast_to(np.zeros((), guide.dtype), guide.shape)
                options = replace(options, guide=pixels)
            mask_shape = (
                None if job.mask is None else _read_companion(job.mask, "mask", pixels=False).shape
            )
            psf = _psf(job, gaussian_psf)
            plan = make_plan(
                job.task,
                image.shape,
                image.dtype,
                options,
                mask_shape=mask_shape,
                psf=psf,
            )
            lines.append((job, f"{plan.axes} {image.shape}: {plan.estimate().describe()}"))
        except (ValueError, TypeError, MemoryError, OSError) as error:
            lines.append((job, f"fails: {_one_line(error)}"))
    return lines


def _finished(job: Job) -> bool:
    record = read_record(job.output) if job.output.exists() else None
    written = not job.uncertainty or uncertainty_path(job.output).exists()
    return written and record is not None and record.get("request") == job.request()


def _file_options(job: Job, image) -> Options:
    """The job's options, with the file's axes (or a guess) unless given, and its device."""
    import napari_dip

    changes = {}
    if job.options.axes is None and job.options.channel_axis is None:
        changes["axes"] = image.axes or napari_dip.guess_axes(image.shape)[0]
    if job.options.device == "auto":
        changes["device"] = _worker_device()
    if job.output.suffix == ".png" and job.options.output_dtype is None:
        changes["output_dtype"] = "input"  # PNG holds 8- and 16-bit integers
    return replace(job.options, **changes)


def _worker_device() -> str:
    """``"auto"``, or on a Dask worker of a machine with several GPUs, one GPU per worker."""
    import torch

    if torch.cuda.device_count() < 2:
        return "auto"
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return "auto"
    index = name if isinstance(name, int) else sum(map(ord, str(name)))
    return f"cuda:{index % torch.cuda.device_count()}"


def _psf(job: Job, gaussian_psf):
    if job.psf_sigma is not None:
        return gaussian_psf(job.psf_sigma)
    return None if job.psf is None else _read_companion(job.psf, "PSF").data


def _check_companions(job: Job) -> None:
    """FileNotFoundError naming the first of ``job``'s mask, PSF and guide files that is missing."""
    for what, path in (("mask", job.mask), ("PSF", job.psf), ("guide", job.guide)):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"its {what} {path} does not exist")


def _read_companion(path: Path, what: str, *, pixels: bool = True):
    """An input's mask, PSF or guide file; a file that cannot be read is named in the error."""
    try:
        return read_image(path, pixels=pixels)
    except ValueError as error:
        raise ValueError(f"its {what} {path.name}: {error}") from None


def restore_file(job: Job, progress=None) -> FileReport:
    """Restore one file and write its result; never raises for a bad file (see ``FileReport``).

    ``progress(snapshot)``, when given, is called every 10 iterations.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from napari_dip import batch
    >>> broken = Path(tempfile.mkdtemp()) / "broken.tif"
    >>> _ = broken.write_bytes(b"not an image")
    >>> (job,) = batch.make_jobs("denoise", broken)
    >>> report = batch.restore_file(job)
    >>> report.status, report.reason.split(":")[0]
    ('failed', 'cannot be read as an image')
    """
    from .._restoration import Restoration
    from ..imaging.psf import gaussian_psf

    start = time.perf_counter()
    report = FileReport(str(job.input), str(job.output), "restored")
    try:
        _check_companions(job)
        if job.resume and _finished(job):
            return replace(report, status="skipped", reason="restored already with these settings")
        image = read_image(job.input)
        data, options = {}, _file_options(job, image)
        wanted = task_spec(job.task).data
        if wanted == "mask":
            data["mask"] = _read_companion(job.mask, "mask").data
        if wanted == "psf":
            data["psf"] = _psf(job, gaussian_psf)
        if job.guide is not None:
            options = replace(options, guide=_read_companion(job.guide, "guide").data)
        run = Restoration.from_options(job.task, image.data, options=options, **data)
        result = run.run(progress, every=10)
        factor = run.plan.factor
        sizes = {
            letter: (value / factor if letter in "YX" else value, unit)
            for letter, (value, unit) in image.sizes.items()
        }
        info = run.info
        record = {"request": job.request(), "run": info.to_dict()}
        if job.uncertainty:  # first: a result on disk means its run is complete
            described = {**record, "uncertainty_of": job.output.name}
            write_result(uncertainty_path(job.output), run.uncertainty, run.axes, sizes, described)
        write_result(job.output, result, run.axes, sizes, record, ome=image.ome)
        return replace(
            report, seconds=time.perf_counter() - start, seed=info.seed, iterations=info.iterations
        )
    except Exception as error:  # one bad file must not stop the others
        return replace(
            report, status="failed", reason=_one_line(error), seconds=time.perf_counter() - start
        )


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _in_a_loop(jobs: list[Job], progress: bool) -> list[FileReport]:
    from tqdm.auto import tqdm

    reports = []
    with tqdm(jobs, desc="files", unit="file", disable=not progress) as files:
        for job in files:
            files.set_postfix_str(job.input.name)
            with tqdm(desc="iterations", unit="it", leave=False, disable=not progress) as bar:

                def follow(snapshot, bar=bar):
                    bar.total = snapshot.max_iter
                    bar.update(snapshot.iteration - bar.n)

                reports.append(restore_file(job, follow))
    return reports


def _on_cluster(jobs, workers, scheduler, progress) -> list[FileReport]:
    """One task per file on a Dask cluster: a new LocalCluster, or the one at ``scheduler``."""
    from distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    if scheduler is not None:
        cluster, client = None, Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        futures = client.map(restore_file, jobs, pure=False)
        order = {future.key: index for index, future in enumerate(futures)}
        reports: list[Any] = [None] * len(jobs)
        with tqdm(total=len(jobs), desc="files", unit="file", disable=not progress) as bar:
            for future in as_completed(futures):
                reports[order[future.key]] = future.result()
                bar.update()
        return reports
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
