"""The ``napari-dip`` command line: one subcommand per task, over files, globs and folders.

    napari-dip denoise 'data/*.tif' --out restored/
    napari-dip inpaint 'scans/*.tif' --mask '{stem}_mask.tif' --workers 4
    napari-dip denoise 'data/*.tif' --guide '{stem}_dapi.tif'
    napari-dip super-resolve stack.ome.tif --factor 2 --dry-run
    napari-dip deconvolve images/ --psf-sigma 1.5 --scheduler tcp://host:8786
    napari-dip demo --out results/          # the bundled sample, and a before/after PNG

The options' flags are made from the options' one definition (``Options``):
``--noise``, ``--preset``, ``--max-iter``, ``--seed``, ... with the same
choices, defaults and help as the Python API.  Exit status: 0 when every
file was restored (or skipped, being done already), 1 when some failed, 2 for
a usage error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Literal, get_args, get_origin

from .. import __version__
from .._options import describe, option_type
from .._tasks import COMMON_OPTIONS, TASK_TABLE, TaskSpec

__all__ = ["main"]

#: Extra help for the options whose command-line form differs from Python's.
COMMAND_LINE_HELP = {
    "axes": "Default here: what the file's OME or ImageJ metadata says, else a guess from its shape.",
    "threads": "Default here: 1, so that a seed gives the same files whatever --workers is.",
    "output_dtype": 'e.g. uint16, float32, or "input"; PNG results default to "input".',
    "guide_channel": "The channels are the C of --axes (or of the file's metadata).",
}
#: The options that the command line takes otherwise than from their definition.
OWN_FLAGS = ("guide", "guide_channel")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-dip",
        description="Restore microscopy images with a Deep Image Prior, file by file.",
    )
    parser.add_argument("--version", action="version", version=f"napari-dip {__version__}")
    tasks = parser.add_subparsers(dest="command", required=True, metavar="TASK")
    for spec in TASK_TABLE.values():
        command = tasks.add_parser(spec.command, help=f"{spec.command} image files")
        _add_files(command, spec)
        _add_guides(command)
        for name in spec.keyword_options + COMMON_OPTIONS:
            if name not in OWN_FLAGS:
                _add_option(command, name)
        command.set_defaults(task=spec.name)
    demo = tasks.add_parser(
        "demo", help="denoise a bundled sample and write a before/after PNG (no display needed)"
    )
    demo.add_argument("--out", default="results", help="folder of the results (default: results)")
    demo.add_argument("--max-iter", type=int, help=describe("max_iter"))
    demo.add_argument("--seed", type=int, default=0, help="the fit's seed (default: 0)")
    demo.add_argument("--threads", type=int, help=describe("threads"))
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(task="demo")
    return parser


def _add_files(command: argparse.ArgumentParser, spec: TaskSpec) -> None:
    command.add_argument(
        "inputs", nargs="+", help="image files, globs (quoted) or folders: TIFF, PNG, JPEG, Zarr"
    )
    command.add_argument("--out", help="folder of the results (default: beside each input)")
    command.add_argument("--suffix", help="added to the results' names (default: the task's)")
    if spec.data == "mask":
        command.add_argument(
            "--mask",
            required=True,
            metavar="PATTERN",
            help="each image's mask: a pattern such as '{stem}_mask.tif' ({stem}, {name}), "
            "relative to the image's folder; nonzero = missing",
        )
    for name in spec.required:
        _add_option(command, name, required=True)
    if spec.data == "psf":
        psf = command.add_mutually_exclusive_group(required=True)
        psf.add_argument("--psf", help="the PSF, an image file")
        psf.add_argument("--psf-sigma", type=float, help="a 2D Gaussian PSF of this sigma (pixels)")
    command.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip inputs whose result exists and matches the settings (default: on)",
    )
    command.add_argument(
        "--dry-run", action="store_true", help="print each file's plan and estimate, restore none"
    )
    command.add_argument("--workers", type=int, help="run on a local Dask cluster of N processes")
    command.add_argument("--scheduler", help="run on the Dask cluster at this address")
    command.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write each result's uncertainty beside it (<result>_uncertainty.ome.tif)",
    )
    command.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_guides(command: argparse.ArgumentParser) -> None:
    """``--guide``, a file per image as ``--mask`` is, or ``--guide-channel``; not both."""
    guides = command.add_mutually_exclusive_group()
    guides.add_argument(
        "--guide",
        metavar="PATTERN",
        help="each image's guide, an image of the same field that is cleaner or brighter "
        "(another channel, a longer exposure): a pattern such as '{stem}_dapi.tif' ({stem}, "
        "{name}), relative to the image's folder; its Y and X are the image's (the result's "
        "for super-resolution), a channel axis may come first or last. A guide the "
        "inputs' glob matches is not restored itself. See docs/guided.md",
    )
    _add_option(guides, "guide_channel")


def _add_option(command: argparse.ArgumentParser, name: str, required: bool = False) -> None:
    """A flag for option ``name``, from its definition; absent means the option's default
    (a ``required`` one cannot be absent)."""
    flag = "--" + name.replace("_", "-")
    help_text = describe(name) + (
        " " + COMMAND_LINE_HELP[name] if name in COMMAND_LINE_HELP else ""
    )
    help_text = help_text.replace("%", "%%")
    settings = {"default": argparse.SUPPRESS, "help": help_text, "required": required}
    annotation = option_type(name)
    if get_origin(annotation) is Literal:
        command.add_argument(flag, choices=get_args(annotation), **settings)
    elif annotation in (bool, bool | None):
        command.add_argument(flag, action=argparse.BooleanOptionalAction, **settings)
    elif annotation in (int, int | None):
        command.add_argument(flag, type=int, **settings)
    elif annotation is float:
        command.add_argument(flag, type=float, **settings)
    else:
        command.add_argument(flag, **settings)


def main(argv: list[str] | None = None) -> int:
    arguments = vars(build_parser().parse_args(argv))
    task = arguments["task"]
    if task == "demo":
        return _demo(arguments)
    names = TASK_TABLE[task].options + COMMON_OPTIONS
    options = {name: arguments[name] for name in names if name in arguments and name != "guide"}
    try:
        from . import jobs as batch

        jobs = batch.make_jobs(
            task,
            arguments["inputs"],
            out=arguments["out"],
            suffix=arguments["suffix"],
            mask=arguments.get("mask"),
            psf=arguments.get("psf"),
            psf_sigma=arguments.get("psf_sigma"),
            guide=arguments["guide"],
            resume=arguments["resume"],
            uncertainty=arguments["uncertainty"],
            **options,
        )
    except ImportError as error:
        print(
            f"napari-dip: {error}; install the batch extra: pip install 'napari-dip[batch]'",
            file=sys.stderr,
        )
        return 2
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"napari-dip: {error}", file=sys.stderr)
        return 2
    if arguments["dry_run"]:
        for job, line in batch.plan_files(jobs):
            print(f"{job.input} -> {job.output}: {line}")
        return 0
    reports = batch.run_jobs(
        jobs,
        workers=arguments["workers"],
        scheduler=arguments["scheduler"],
        progress=not arguments["quiet"],
    )
    return _summarise(reports)


def _demo(arguments: dict) -> int:
    from .demo import run_demo

    options = {name: arguments[name] for name in ("max_iter", "seed", "threads")}
    try:
        picture = run_demo(arguments["out"], progress=not arguments["quiet"], **options)
    except (ValueError, TypeError) as error:  # an option refused
        print(f"napari-dip: {error}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as error:  # the restoration or a file failed
        print(f"napari-dip: {error}", file=sys.stderr)
        return 1
    print(f"before and after: {picture}", file=sys.stderr)
    return 0


def _summarise(reports) -> int:
    counts = {
        status: sum(r.status == status for r in reports)
        for status in ("restored", "skipped", "failed")
    }
    print(
        f"{counts['restored']} restored, {counts['skipped']} skipped (done already), "
        f"{counts['failed']} failed",
        file=sys.stderr,
    )
    for report in reports:
        if report.status == "failed":
            print(f"  failed: {report.input}: {report.reason}", file=sys.stderr)
    return 1 if counts["failed"] else 0
