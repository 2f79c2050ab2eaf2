"""Benchmarks of napari-dip on the CPU: compute, PSNR versus wall time, memory, classical anchors.

    python benchmarks/run.py --out benchmarks/results [--quick] [--data ../shared/data] [--docs]

Sections, all measured in one run so that every figure sits next to its anchor:

a. Time per iteration (forward + backward + Adam step) of the paper's denoising network and of the
   default ("fast") network on a 256x256 image, their FLOP counts, and the machine's dense matmul
   GFLOP/s -> fraction of the machine's limit reached.
b. PSNR versus wall time of the "paper" and "default" presets on 256x256 crops of F16 (gray,
   sigma=25 Gaussian noise) and of the real-noise confocal FISH pair (gain/offset calibrated).
c. Peak memory and time per iteration of the default network on large 2D planes and a 3D stack.
d. BM3D, non-local means and total variation on the same crops, with the estimated noise level and
   with the best parameter of a small grid chosen against the clean image.

This file measures and writes report.json into --out; ``render.py`` turns it into report.md and
psnr_vs_time.png there, and with --docs into its section of docs/benchmarks.md (and
docs/benchmarks-psnr-vs-time.png).  --docs-only (or ``python benchmarks/render.py
benchmarks/results/report.json --docs``) re-renders the docs from an existing report.json without
measuring.  --quick uses tiny crops and short budgets (a smoke test, about 3 minutes); its numbers
are not the benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _pages import source_of
from _run_settings import GRIDS, NLM_PATCH, REPO, TARGET_GAP_DB
from render import _shape, write_docs, write_report

import napari_dip
from napari_dip.core.allocator import reuse_freed_memory
from napari_dip.core.devices import preferred_memory_format
from napari_dip.core.nets import SkipNet, padded_shape
from napari_dip.core.presets import PRESETS

REFERENCE = REPO / "benchmarks" / "paper_reference.json"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)

# Everything that differs between the full benchmark and the --quick smoke test.
SETTINGS = {
    "full": {
        "compute_shape": (256, 256),
        "compute_iterations": 5,  # timed, after two warm-up iterations
        "crop": 256,
        "paper_every": 5,
        "default_every": 10,
        "paper_budget_s": 270,
        "paper_patience": 300,  # iterations without a better PSNR before the paper run is stopped
        "default_budget_s": 330,
        # (shape, iterations, memory budget: None fits the whole input at once)
        "memory_cases": [
            ((512, 512), 4, None),
            ((2048, 2048), 3, None),
            ((2048, 2048), 3, "8GB"),
            ((32, 256, 256), 2, None),
        ],
    },
    "quick": {
        "compute_shape": (128, 128),
        "compute_iterations": 2,
        "crop": 64,
        "paper_every": 2,
        "default_every": 5,
        "paper_budget_s": 10,
        "paper_patience": 50,
        "default_budget_s": 20,
        "memory_cases": [
            ((128, 128), 3, None),
            ((256, 256), 3, None),
            ((256, 256), 3, "300MB"),
            ((8, 64, 64), 2, None),
        ],
    },
}
NOISE_SIGMA = 25.0  # F16, in 0-255 grey levels


# --------------------------------------------------------------------------- images and scores


def psnr(reference: np.ndarray, estimate: np.ndarray, data_range: float = 255.0) -> float:
    mse = float(
        np.mean((np.asarray(reference, np.float64) - np.asarray(estimate, np.float64)) ** 2)
    )
    return 10 * math.log10(data_range**2 / mse)


def intensity_calibration(clean: np.ndarray, noisy: np.ndarray) -> tuple[float, float]:
    """Gain and offset of ``noisy ~ gain * clean + offset``, by least squares.

    The FMD pairs were stretched to 0-255 one by one.  The noise is zero-mean, so regressing the
    noisy image on the clean one estimates the stretch without bias; it is fitted once per image
    and applied to every estimate alike.  (Fitting a gain and offset to each estimate instead
    flatters nearly flat estimates: a low-contrast early output then scores above every method.)
    """
    design = np.stack([clean.ravel(), np.ones(clean.size)], axis=1).astype(np.float64)
    (gain, offset), *_ = np.linalg.lstsq(design, noisy.ravel().astype(np.float64), rcond=None)
    return float(gain), float(offset)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    y, x = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[y : y + size, x : x + size]


def load_images(data: Path, crop: int) -> list[dict]:
    """The two benchmark images: noisy and clean crops in 0-255 units, and how to score them."""
    from skimage import color, io

    f16 = centre_crop(color.rgb2gray(io.imread(data / "paper/F16_GT.png")[..., :3]) * 255, crop)
    noise = np.random.default_rng(0).normal(0, NOISE_SIGMA, f16.shape)
    noisy = np.clip(f16 + noise, 0, 255)
    fish_noisy = io.imread(data / "microscopy/confocal_fish_noisy.png").astype(np.float64)
    fish_clean = io.imread(data / "microscopy/confocal_fish_clean.png").astype(np.float64)
    fish_crop, fish_clean_crop = centre_crop(fish_noisy, crop), centre_crop(fish_clean, crop)
    gain, offset = intensity_calibration(fish_clean_crop, fish_crop)
    return [
        {
            "name": "F16",
            "description": f"paper/F16_GT.png, gray (rgb2gray), centre {crop}x{crop} crop, "
            f"Gaussian noise sigma={NOISE_SIGMA:g} (numpy seed 0), clipped to 0-255",
            "noisy": noisy.astype(np.float32),
            "clean": f16,
            "calibration": (1.0, 0.0),
        },
        {
            "name": "confocal FISH",
            "description": f"microscopy/confocal_fish_noisy.png vs _clean.png (50-frame average), "
            f"centre {crop}x{crop} crop, real noise; PSNR after the gain/offset calibration "
            f"(noisy = {gain:.4f} clean {offset:+.3f}, fitted once from the noisy crop)",
            "noisy": fish_crop.astype(np.float32),
            "clean": fish_clean_crop,
            "calibration": (gain, offset),
        },
    ]


def score(image: dict, estimate: np.ndarray) -> float:
    """The benchmark's PSNR of ``estimate`` (0-255 units), after the image's intensity calibration."""
    gain, offset = image["calibration"]
    return psnr(image["clean"], (np.asarray(estimate, np.float64) - offset) / gain)


# --------------------------------------------------------------------------- a. compute


def matmul_gflops(n: int = 2048, repeats: int = 5) -> list[float]:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return rates


def network_compute(
    preset: str, shape: tuple[int, int], iterations: int, peak_gflops: float, tuned: bool = True
) -> dict:
    """FLOPs and time of one training iteration of ``preset``'s network, as in the fit loop.

    ``tuned=False`` leaves out the fit's throughput settings (channels-last tensors, reuse of
    freed memory) to measure what they bring.
    """
    from torch.utils.flop_counter import FlopCounterMode

    recipe = PRESETS[preset]
    torch.manual_seed(0)
    memory_format = (
        preferred_memory_format(torch.device("cpu"), 2) if tuned else torch.contiguous_format
    )
    net = SkipNet(recipe.input_depth, 1, recipe.net).to(memory_format=memory_format)
    z = torch.rand(1, recipe.input_depth, *padded_shape(shape, recipe.net.levels)) * 0.1
    z = z.contiguous(memory_format=memory_format)
    target = torch.rand(1, 1, *z.shape[2:])
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(z), target).backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.mse_loss(net(z), target).backward()
    flops = counter.get_total_flops()
    times = []
    with reuse_freed_memory(enabled=tuned):  # as the fit does
        step()  # warm-ups: the heap grows to its working size
        step()
        for _ in range(iterations):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    achieved = flops / seconds / 1e9
    return {
        "preset": preset,
        "tuned": tuned,
        "shape": list(z.shape[2:]),
        "input_depth": recipe.input_depth,
        "parameters": sum(p.numel() for p in net.parameters()),
        "gflop_per_iteration": flops / 1e9,
        "iteration_times_s": times,
        "seconds_per_iteration": seconds,
        "fastest_iteration_s": min(times),
        "achieved_gflops": achieved,
        "fraction_of_matmul": achieved / peak_gflops,
    }


def section_compute(settings: dict) -> dict:
    rates = matmul_gflops()
    peak = max(rates)
    shape, iterations = settings["compute_shape"], settings["compute_iterations"]
    nets = [
        network_compute(name, shape, iterations, peak, tuned)
        for name, tuned in (("paper-denoising", True), ("paper-denoising", False), ("fast", True))
    ]
    return {"matmul_gflops_samples": rates, "matmul_gflops": peak, "networks": nets}


# --------------------------------------------------------------------------- b. PSNR vs time


def dip_curve(image: dict, preset: str, every: int, budget_s: float, patience: int | None) -> dict:
    """Run a preset, scoring ``snap.smoothed`` at every snapshot; stop at the budget or patience."""
    run = napari_dip.Restoration("denoise", image["noisy"], preset=preset, seed=0, device="cpu")
    curve, best, best_iteration, cut = [], -math.inf, 0, None
    for snap in run.snapshots(every=every):
        value = score(image, snap.smoothed)
        point = {
            "iteration": snap.iteration,
            "time_s": snap.elapsed,
            "psnr": value,
            "raw_psnr": psnr(image["clean"], snap.smoothed),
            "output_psnr": score(image, snap.image),
        }
        if snap.done:
            final = point
            break
        curve.append(point)
        if value > best:
            best, best_iteration = value, snap.iteration
        if cut is None and snap.elapsed > budget_s:
            cut = "time budget"
            run.stop()
        elif cut is None and patience and snap.iteration - best_iteration >= patience:
            cut = "patience"
            run.stop()
    info = run.info
    top = max(curve, key=lambda point: point["psnr"])
    print(
        f"  {image['name']}, {preset}: best {top['psnr']:.2f} dB at {top['time_s']:.1f} s, "
        f"result {final['psnr']:.2f} dB after {info.iterations} iterations "
        f"({cut or info.stop_reason.value}, {final['time_s']:.1f} s)",
        flush=True,
    )
    return {
        "preset": preset,
        "recipe": info.preset,
        "every": every,
        "curve": curve,
        "best": top,
        "final": final,
        "iterations": info.iterations,
        "stop_reason": info.stop_reason,
        "cut_by": cut,
        "improving_at_cut": cut is not None and top is curve[-1],
        "seconds_per_iteration": final["time_s"] / max(final["iteration"], 1),
    }


def paper_reference(images: list[dict], settings: dict, names: list[str]) -> None:
    """Run the paper preset on each named image until its best point (or its 3000 iterations).

    The paper's best comes after thousands of iterations, longer than the whole benchmark may
    take, so it is measured once by ``--paper-reference`` and kept in ``paper_reference.json``.
    The main run converts its iteration of best into time with its own seconds per iteration.
    """
    for image in images:
        if image["name"] not in names:
            continue
        started = time.strftime("%Y-%m-%d %H:%M")
        run = dip_curve(
            image, "paper", settings["paper_every"], math.inf, settings["paper_patience"]
        )
        run.update(description=image["description"], started=started, machine=machine_info())
        # Read again just before writing: runs for other images may have finished meanwhile.
        reference = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {"runs": {}}
        reference["runs"][image["name"]] = run
        REFERENCE.write_text(json.dumps(reference, indent=1, default=float))


def reference_for(image: dict) -> dict | None:
    """The paper's long run on ``image`` from ``paper_reference.json``, if made on the same crop."""
    if not REFERENCE.exists():
        return None
    run = json.loads(REFERENCE.read_text())["runs"].get(image["name"])
    return run if run and run["description"] == image["description"] else None


def first_reaching(curve: list[dict], level: float) -> dict | None:
    return next((point for point in curve if point["psnr"] >= level), None)


def section_curves(images: list[dict], settings: dict) -> list[dict]:
    results = []
    for image in images:
        paper = dip_curve(
            image,
            "paper",
            settings["paper_every"],
            settings["paper_budget_s"],
            settings["paper_patience"],
        )
        default = dip_curve(
            image, "default", settings["default_every"], settings["default_budget_s"], None
        )
        paper_best, reference = paper_best_point(paper, reference_for(image))
        target = paper_best["psnr"] - TARGET_GAP_DB
        reached = first_reaching(default["curve"], target)
        results.append(
            {
                "image": image["name"],
                "noisy_psnr": score(image, image["noisy"]),
                "noisy_raw_psnr": psnr(image["clean"], image["noisy"]),
                "paper": paper,
                "paper_best": paper_best,
                "reference": reference,
                "default": default,
                "target_psnr": target,
                "default_reaches_target": reached,
                "time_ratio_default_to_paper_best": (
                    reached["time_s"] / paper_best["time_s"] if reached else None
                ),
                "default_auto_stop_gap_db": default["best"]["psnr"] - default["final"]["psnr"],
            }
        )
    return results


def paper_best_point(paper: dict, reference: dict | None) -> tuple[dict, dict | None]:
    """The paper preset's best point, from this run or from its long reference run.

    A reference best beyond this run's budget is timed at this run's own seconds per
    iteration, so the ratio to the default's time is still measured side by side.  The two
    curves are compared where they overlap: same seed and code, but another thread count sums
    in another order, so the trajectories drift apart by rounding.
    """
    best = {**paper["best"], "source": "this run"}
    if reference is None:
        return best, None
    ours = {point["iteration"]: point["psnr"] for point in paper["curve"]}
    common = [point for point in reference["curve"] if point["iteration"] in ours]
    summary = {
        "started": reference["started"],
        "threads": reference["machine"]["torch_threads"],
        "iterations": reference["iterations"],
        "cut_by": reference["cut_by"],
        "stop_reason": reference["stop_reason"],
        "best": reference["best"],
        "compared_points": len(common),
        "max_abs_difference_db": max(
            (abs(point["psnr"] - ours[point["iteration"]]) for point in common), default=None
        ),
        "curve": [
            {**point, "time_s": point["iteration"] * paper["seconds_per_iteration"]}
            for point in reference["curve"]
        ],
    }
    if reference["best"]["psnr"] > best["psnr"]:
        best = {
            **reference["best"],
            "time_s": reference["best"]["iteration"] * paper["seconds_per_iteration"],
            "source": "reference run",
        }
    return best, summary


# --------------------------------------------------------------------------- c. memory


def peak_rss_mib() -> float:
    """This process's peak resident memory.

    Linux: ``VmHWM``, which starts afresh at ``exec``; ``ru_maxrss`` would include the RSS of the
    parent process at the time of the fork.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def memory_case(shape: tuple[int, ...], iterations: int, budget: str | None = None) -> dict:
    """Run in a fresh process: peak RSS growth and time per iteration of the default preset.

    Without a ``budget`` the image is fitted in one piece; with one, in the tiles the API picks.
    """
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    before = peak_rss_mib()
    run = napari_dip.Restoration(
        "denoise",
        image,
        preset="default",
        max_iter=iterations,
        auto_stop=False,
        seed=0,
        device="cpu",
        memory_budget=budget or 2**50,
    )
    start = time.perf_counter()
    stamps = [time.perf_counter() - start for _ in run.snapshots(every=1)]
    after = peak_rss_mib()
    steps = np.diff(stamps)
    if run.tile is None:  # one fit: the median iteration after the warm-up
        per_iteration, fastest = float(np.median(steps)), float(np.min(steps))
    else:  # one iteration over the whole image = one in every tile, warm-ups included
        per_iteration = fastest = stamps[-1] / iterations
    return {
        "shape": list(shape),
        "budget": budget,
        "fits": run.info.fits,
        "network_shape": list(padded_shape(run.tile or shape, run.recipe.net.levels)),
        "total_s": stamps[-1],
        "iterations": iterations,
        "first_iteration_s": stamps[0],
        "iteration_times_s": list(steps),
        "seconds_per_iteration": per_iteration,
        "fastest_iteration_s": fastest,
        "peak_rss_before_mib": before,
        "peak_rss_mib": after,
        "peak_rss_delta_mib": after - before,
    }


def section_memory(settings: dict) -> dict:
    cases = []
    for shape, iterations, budget in settings["memory_cases"]:
        spec = json.dumps({"shape": shape, "iterations": iterations, "budget": budget})
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--memory-case", spec],
            capture_output=True,
            text=True,
            check=True,
        )
        case = json.loads(done.stdout.strip().splitlines()[-1])
        pixels = math.prod(case["shape"])
        case["us_per_pixel"] = case["seconds_per_iteration"] / pixels * 1e6
        case["mib_per_megapixel"] = case["peak_rss_delta_mib"] / (pixels / 1e6)
        cases.append(case)
        print(
            f"  {_shape(shape)} ({case['fits']} fits): {case['seconds_per_iteration']:.2f} "
            f"s/iteration, peak RSS +{case['peak_rss_delta_mib']:.0f} MiB",
            flush=True,
        )
    small, large = cases[0], cases[1]
    return {
        "cases": cases,
        "per_pixel_time_ratio": large["us_per_pixel"] / small["us_per_pixel"],
        "per_pixel_memory_ratio": large["mib_per_megapixel"] / small["mib_per_megapixel"],
    }


# --------------------------------------------------------------------------- d. classical anchors


def classical_denoisers(sigma: float) -> dict:
    """Each method as ``f(noisy, factor)``, its parameter ``factor`` times the sigma estimate."""
    import bm3d
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    return {
        "BM3D": lambda noisy, f: bm3d.bm3d(noisy, sigma_psd=f * sigma),
        "NLM": lambda noisy, f: denoise_nl_means(noisy, h=f * sigma, sigma=sigma, **NLM_PATCH),
        "TV": lambda noisy, f: denoise_tv_chambolle(noisy, weight=f * sigma),
    }


def section_classical(images: list[dict]) -> list[dict]:
    from skimage.restoration import estimate_sigma

    results = []
    for image in images:
        noisy = image["noisy"].astype(np.float64) / 255
        start = time.perf_counter()
        sigma = float(estimate_sigma(noisy))
        estimate_s = time.perf_counter() - start
        methods = {}
        for name, denoise in classical_denoisers(sigma).items():
            grid = []
            for factor in GRIDS[name]["factors"]:
                start = time.perf_counter()
                out = denoise(noisy, factor)
                seconds = time.perf_counter() - start
                estimate = np.asarray(out, np.float64).reshape(noisy.shape) * 255
                grid.append(
                    {
                        "factor": factor,
                        "psnr": score(image, estimate),
                        "raw_psnr": psnr(image["clean"], estimate),
                        "time_s": seconds,
                    }
                )
            methods[name] = {
                "grid": grid,
                "estimated": next(p for p in grid if p["factor"] == GRIDS[name]["estimated"]),
                "best": max(grid, key=lambda point: point["psnr"]),
            }
        results.append(
            {
                "image": image["name"],
                "sigma_estimate": sigma * 255,
                "estimate_sigma_s": estimate_s,
                "methods": methods,
            }
        )
    return results


# --------------------------------------------------------------------------- report


def machine_info() -> dict:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    from importlib.metadata import version

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-image": version("scikit-image"),
        "bm3d": version("bm3d"),
        "napari-dip": napari_dip.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (about 3 minutes)")
    parser.add_argument("--paper-budget", type=float, help="seconds per image for the paper preset")
    parser.add_argument("--default-budget", type=float, help="seconds per image for the default")
    parser.add_argument("--docs", action="store_true", help="also write docs/benchmarks.md")
    parser.add_argument(
        "--docs-only",
        action="store_true",
        help="only rewrite docs/benchmarks.md from --out/report.json",
    )
    parser.add_argument(
        "--paper-reference",
        nargs="+",
        metavar="IMAGE",
        help="only run the paper preset to its best point on these images (F16, 'confocal FISH') "
        "and store the curves in benchmarks/paper_reference.json (hours)",
    )
    parser.add_argument("--memory-case", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_case:
        case = json.loads(args.memory_case)
        print(json.dumps(memory_case(tuple(case["shape"]), case["iterations"], case["budget"])))
        return
    if args.docs_only:
        write_docs(json.loads((args.out / "report.json").read_text()))
        return

    mode = "quick" if args.quick else "full"
    settings = dict(SETTINGS[mode])
    if args.paper_reference:
        paper_reference(load_images(args.data, settings["crop"]), settings, args.paper_reference)
        return
    if args.paper_budget:
        settings["paper_budget_s"] = args.paper_budget
    if args.default_budget:
        settings["default_budget_s"] = args.default_budget
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "source": SOURCE,
        "mode": mode,
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "settings": settings,
        "machine": machine_info(),
        "load_start": load_average(),
        "durations_s": {},
    }
    images = load_images(args.data, settings["crop"])
    report["images"] = [{"name": i["name"], "description": i["description"]} for i in images]
    start = time.perf_counter()
    for key, run in (
        ("compute", lambda: section_compute(settings)),
        ("curves", lambda: section_curves(images, settings)),
        ("memory", lambda: section_memory(settings)),
        ("classical", lambda: section_classical(images)),
    ):
        began = time.perf_counter()
        print(f"[{time.perf_counter() - start:6.0f} s] section {key} ...", flush=True)
        report[key] = run()
        report["durations_s"][key] = time.perf_counter() - began
    report["total_s"] = time.perf_counter() - start
    report["load_end"] = load_average()

    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    markdown = write_report(report, args.out)
    if args.docs:
        write_docs(report)
    print(markdown)


if __name__ == "__main__":
    main()
