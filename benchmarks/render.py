"""Render a report of ``benchmarks/run.py`` (its ``report.json``) as markdown and plots.

    python benchmarks/render.py benchmarks/results/report.json [--docs]

Writes report.md and psnr_vs_time.png next to the JSON; --docs also rewrites the run's section of
docs/benchmarks.md (and docs/benchmarks-psnr-vs-time.png), stamped with the run.py that measured.
Measures nothing, and needs neither torch nor napari-dip: ``run.py`` calls the same functions after
measuring.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _pages import replace_table
from _run_settings import GRIDS, NLM_PATCH, REPO, TARGET_GAP_DB

PLOT = "psnr_vs_time.png"
DOCS_PLOT = "benchmarks-psnr-vs-time.png"


def plot_curves(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    curves = report["curves"]
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for ax, result, anchors in zip(axes[0], curves, report["classical"]):
        for key, colour in (("paper", "tab:blue"), ("default", "tab:orange")):
            run = result[key]
            times = [p["time_s"] for p in run["curve"]]
            values = [p["psnr"] for p in run["curve"]]
            ax.plot(times, values, color=colour, label=f"{key} ({run['recipe']}), smoothed")
            ax.plot(
                times,
                [p["output_psnr"] for p in run["curve"]],
                color=colour,
                linewidth=0.5,
                alpha=0.5,
                label=f"{key}, current output",
            )
            ax.plot(run["best"]["time_s"], run["best"]["psnr"], "*", color=colour, markersize=11)
        if result.get("reference"):
            curve = result["reference"]["curve"]
            ax.plot(
                [p["time_s"] for p in curve],
                [p["psnr"] for p in curve],
                color="tab:blue",
                linestyle="--",
                linewidth=0.8,
                label="paper, reference run (time at this run's s/iteration)",
            )
            best = result["paper_best"]
            ax.plot(best["time_s"], best["psnr"], "*", color="tab:blue", markersize=11)
        final = result["default"]["final"]
        ax.plot(
            final["time_s"],
            final["psnr"],
            "X",
            color="tab:red",
            markersize=9,
            label=f"default result ({_stop(result['default'])})",
        )
        ax.axhline(
            result["target_psnr"],
            color="tab:blue",
            linestyle="--",
            linewidth=0.8,
            label=f"paper best - {TARGET_GAP_DB} dB",
        )
        bm3d_psnr = anchors["methods"]["BM3D"]["estimated"]["psnr"]
        ax.axhline(bm3d_psnr, color="gray", linestyle=":", label="BM3D (estimated sigma)")
        ax.axhline(result["noisy_psnr"], color="black", linewidth=0.6, label="noisy input")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("wall time (s)")
        calibrated = result["image"] != "F16"
        ax.set_ylabel("PSNR (dB)" + (", gain/offset calibrated" if calibrated else ""))
        ax.set_title(result["image"])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _stop(run: dict) -> str:
    """Why a DIP run ended: our cut (time budget, patience) or the fit's own stop reason."""
    if run["cut_by"] is None:
        return run["stop_reason"]
    return run["cut_by"] + (", still improving" if run["improving_at_cut"] else "")


def _t(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds:.3g}"


def _shape(values) -> str:
    return "x".join(map(str, values))


def _load(values) -> str:
    return "n/a" if values is None else "/".join(f"{v:.2f}" for v in values)


def render_machine(report: dict) -> list[str]:
    m, d = report["machine"], report["durations_s"]
    return [
        (
            f"Mode: **{report['mode']}**; run {report['started']}; total "
            f"{report['total_s'] / 60:.1f} "
            f"min (a {d['compute']:.0f} s, b {d['curves']:.0f} s, c {d['memory']:.0f} s, "
            f"d {d['classical']:.0f} s)."
        ),
        "",
        (
            f"Machine: {m['cpu']}; {m['cores']} cores ({m['usable_cores']} usable), "
            f"{m['torch_threads']} torch threads; torch {m['torch']}, numpy {m['numpy']}, "
            f"scikit-image {m['scikit-image']}, bm3d {m['bm3d']}, napari-dip {m['napari-dip']}, "
            f"Python {m['python']}; {m['platform']}. Device: cpu. Load average (1/5/15 min) at "
            f"start {_load(report['load_start'])}, at end {_load(report['load_end'])}: other "
            "processes may share the CPU, which is why each figure is given next to an anchor "
            "measured in the same run."
        ),
    ]


def render_compute(report: dict) -> list[str]:
    c = report["compute"]
    samples = ", ".join(f"{r:.1f}" for r in c["matmul_gflops_samples"])
    lines = [
        "## a. Compute: time per iteration versus the machine's matmul rate",
        "",
        (
            f"Anchor: dense float32 `torch.mm` of 2048x2048 matrices, best of "
            f"{len(c['matmul_gflops_samples'])}: **{c['matmul_gflops']:.1f} GFLOP/s** "
            f"(samples {samples})."
        ),
        "",
        (
            "One iteration = forward, MSE loss, backward, Adam step, on one grayscale image with a "
            "32-channel input code. FLOPs are counted by "
            "`torch.utils.flop_counter.FlopCounterMode` "
            "over forward + backward (convolutions and matmuls only: BatchNorm, LeakyReLU, "
            "padding, "
            "upsampling and the Adam step are not counted). Time: median of "
            f"{report['settings']['compute_iterations']} iterations after two warm-ups."
        ),
        "",
        (
            "| network | image | parameters | GFLOP / iteration | s / iteration (fastest) | "
            "achieved GFLOP/s | fraction of matmul rate |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for net in c["networks"]:
        lines.append(
            f"| {net['preset']}{'' if net['tuned'] else ', untuned'} | {_shape(net['shape'])} | {net['parameters']:,} | "
            f"{net['gflop_per_iteration']:.1f} | {net['seconds_per_iteration']:.3f} "
            f"({net['fastest_iteration_s']:.3f}) | {net['achieved_gflops']:.1f} | "
            f"{net['fraction_of_matmul']:.1%} |"
        )
    paper, untuned, fast = c["networks"]
    flops = paper["gflop_per_iteration"] / fast["gflop_per_iteration"]
    speed = paper["seconds_per_iteration"] / fast["seconds_per_iteration"]
    tuning = untuned["seconds_per_iteration"] / paper["seconds_per_iteration"]
    lines += [
        "",
        (
            'Rows without "untuned" run as the fit runs them: channels-last tensors on the CPU '
            "and freed memory kept for reuse while fitting (`napari_dip.core.allocator`; glibc "
            "otherwise returns large blocks to the system after every iteration and page-faults "
            f"them back in). Together they make the paper network's iteration x{tuning:.2f} "
            f"faster. The default network needs {flops:.1f}x fewer FLOPs per iteration than the "
            f"paper's and runs {speed:.1f}x faster per iteration."
        ),
    ]
    return lines


def render_curves(report: dict, plot: str) -> list[str]:
    s = report["settings"]
    lines = [
        "## b. PSNR versus wall time: paper preset and default, same images, same run",
        "",
        (
            "PSNR of `snap.smoothed` (the running average the fit returns) against the clean image "
            f"at every snapshot (paper every {s['paper_every']}, default every "
            f"{s['default_every']} iterations); time is the fit's own clock (`snap.elapsed`). "
            "Seed 0 for both. In this run the paper preset (3000 iterations, no automatic stop) "
            f"is stopped when its PSNR has not improved for {s['paper_patience']} iterations or "
            f"after {s['paper_budget_s']:g} s, whichever comes first. The paper's best comes "
            "later than a 30-minute benchmark can wait, so it was also run once to its best point "
            f"(the same rule without the time budget: `python benchmarks/run.py --paper-reference "
            "F16 'confocal FISH'`, stored in `benchmarks/paper_reference.json`); its iteration of "
            "best is timed at this run's seconds per iteration, and its curve is checked against "
            "this run's where they overlap. "
            f"The default runs until its automatic stop (or {s['default_budget_s']:g} s). "
            "Best PSNRs are oracle values (they need the clean image); the default's result is "
            "what a user gets. The smoothed output is a bias-corrected exponential moving average "
            "(decay 0.99) of the outputs; the plot's thin lines are the current output."
        ),
        "",
    ]
    lines += [f"- {image['name']}: {image['description']}." for image in report["images"]]
    lines += [
        "",
        f"![PSNR versus wall time]({plot})",
        "",
        (
            "| image | noisy | paper best (dB) | paper time to best (s) | paper iterations in this "
            "run (stop) | default best (dB) | default time to best (s) | default reaches paper "
            f"best - {TARGET_GAP_DB} dB at (s) | ratio to paper time to best | default result "
            "(dB) | result gap to own best (dB) | default iterations (stop), total time (s) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["curves"]:
        p, d, reached, best = r["paper"], r["default"], r["default_reaches_target"], r["paper_best"]
        source = "" if best["source"] == "this run" else ", reference run"
        lines.append(
            f"| {r['image']} | {r['noisy_psnr']:.2f} | {best['psnr']:.2f} | "
            f"{best['time_s']:.1f} (it {best['iteration']}{source}) | {p['iterations']} "
            f"({_stop(p)}) | {d['best']['psnr']:.2f} | {d['best']['time_s']:.1f} "
            f"(it {d['best']['iteration']}) | "
            f"{_t(reached['time_s']) if reached else 'not reached'} | "
            f"{_t(r['time_ratio_default_to_paper_best'])} | {d['final']['psnr']:.2f} | "
            f"{r['default_auto_stop_gap_db']:.2f} | {d['iterations']} ({_stop(d)}), "
            f"{d['final']['time_s']:.1f} |"
        )
    per_iteration = "; ".join(
        f"{r['image']}: paper {r['paper']['seconds_per_iteration']:.3f}, "
        f"default {r['default']['seconds_per_iteration']:.3f}"
        for r in report["curves"]
    )
    lines += [
        "",
        f"Seconds per iteration inside the fit (all overheads included): {per_iteration}.",
    ]
    for r in report["curves"]:
        ref = r.get("reference")
        if not ref:
            lines += ["", f"{r['image']}: no reference run of the paper preset on this crop."]
            continue
        difference = ref["max_abs_difference_db"]
        agreement = (
            f"; over the {ref['compared_points']} snapshots both runs have, its PSNR differs "
            f"from this run's by at most {difference:.2f} dB (rounding differs with the thread "
            "count, and the early iterations amplify it)"
            if difference is not None
            else ""
        )
        lines += [
            "",
            f"{r['image']}, paper reference run ({ref['started']}, {ref['threads']} torch "
            f"thread(s)): {ref['iterations']} iterations ({ref['cut_by'] or ref['stop_reason']}), "
            "best "
            f"{ref['best']['psnr']:.2f} dB at iteration {ref['best']['iteration']}{agreement}.",
        ]
    return lines


def render_memory(report: dict) -> list[str]:
    mem = report["memory"]
    small, large = mem["cases"][0], mem["cases"][1]
    lines = [
        "## c. Memory and time per iteration of the default network on large inputs",
        "",
        (
            "Each case runs in a fresh Python process: `napari_dip.Restoration('denoise', image, "
            "preset='default', auto_stop=False, memory_budget=...)` for a few iterations on random "
            "data, snapshots every iteration. Without a budget the input is fitted in one piece; "
            "with one, in the tiles the API chooses for it (the default budget is half the "
            "available RAM). Peak RSS delta = the process's peak resident memory (`VmHWM`) after "
            "the run minus before it (after imports and making the image). Time per iteration: "
            "one fit, the median after the first (warm-up) iteration; tiles, the whole run "
            "divided by the iterations (one iteration of every tile, warm-ups included)."
        ),
        "",
        (
            "| input | memory budget | fits, network runs on | iterations | first iteration (s) "
            "| s / iteration (fastest) | us / pixel | peak RSS delta (MiB) | MiB / megapixel | "
            "peak RSS total (MiB) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in mem["cases"]:
        lines.append(
            f"| {_shape(case['shape'])} | {case['budget'] or 'none: one fit'} | {case['fits']}, "
            f"{_shape(case['network_shape'])} | {case['iterations']} | "
            f"{case['first_iteration_s']:.2f} | {case['seconds_per_iteration']:.2f} "
            f"({case['fastest_iteration_s']:.2f}) | {case['us_per_pixel']:.2f} | "
            f"{case['peak_rss_delta_mib']:.0f} | {case['mib_per_megapixel']:.0f} | "
            f"{case['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        (
            f"Scaling from {_shape(small['shape'])} to {_shape(large['shape'])} in one fit: time "
            f"per pixel x{mem['per_pixel_time_ratio']:.2f}, memory per pixel "
            f"x{mem['per_pixel_memory_ratio']:.2f} (1.00 = linear in the pixel count). Pixels and "
            "voxels are counted on the input; the network runs on the padded shape."
        ),
    ]
    return lines


def render_classical(report: dict) -> list[str]:
    grids = "; ".join(
        f"{name} {grid['parameter']}: {', '.join(f'{f:g}' for f in grid['factors'])}"
        for name, grid in GRIDS.items()
    )
    lines = [
        "## d. Classical anchors on the same crops",
        "",
        (
            "Inputs scaled to [0, 1]; sigma estimated by `skimage.restoration.estimate_sigma` on "
            "the noisy crop. BM3D: `bm3d.bm3d(noisy, sigma_psd)`. NLM: `denoise_nl_means(noisy, h, "
            f"sigma=sigma_est, patch_size={NLM_PATCH['patch_size']}, "
            f"patch_distance={NLM_PATCH['patch_distance']}, fast_mode={NLM_PATCH['fast_mode']})`. "
            "TV: `denoise_tv_chambolle(noisy, weight)`. With the estimate: BM3D sigma_psd = "
            "sigma_est, NLM h = 0.8 sigma_est (scikit-image's suggestion), TV weight = sigma_est "
            "(a "
            "heuristic). Grid (an upper bound, chosen against the clean image): the parameter = "
            f"sigma_est times {grids}. Times are one call of the method (the grid search is not "
            "included). DIP rows come from section b; their time is the whole fit for the result "
            "(until the automatic stop or the budget) and the time to the snapshot for the best "
            "rows."
        ),
        "",
    ]
    for anchors, curves in zip(report["classical"], report["curves"]):
        lines += _classical_table(anchors, curves) + [""]
    return lines


def _classical_table(anchors: dict, curves: dict) -> list[str]:
    calibrated = curves["image"] != "F16"
    default, paper = curves["default"], curves["paper_best"]
    dip = default["final"]
    rows = [("noisy input", curves["noisy_psnr"], curves["noisy_raw_psnr"], None)]
    for name, method in anchors["methods"].items():
        est, best = method["estimated"], method["best"]
        rows.append((f"{name}, estimated sigma", est["psnr"], est["raw_psnr"], est["time_s"]))
        rows.append(
            (
                f"{name}, best of grid (x{best['factor']:g})",
                best["psnr"],
                best["raw_psnr"],
                best["time_s"],
            )
        )
    rows += [
        (
            f"**DIP default, result** ({_stop(default)})",
            dip["psnr"],
            dip["raw_psnr"],
            dip["time_s"],
        ),
        (
            "DIP default, best snapshot",
            default["best"]["psnr"],
            default["best"]["raw_psnr"],
            default["best"]["time_s"],
        ),
        (
            f"DIP paper, best snapshot ({paper['source']}; {_stop(curves['paper'])} here)",
            paper["psnr"],
            paper["raw_psnr"],
            paper["time_s"],
        ),
    ]
    note = "; PSNR after the gain/offset calibration, raw PSNR alongside" if calibrated else ""
    lines = [
        f"**{anchors['image']}** (sigma_est = {anchors['sigma_estimate']:.2f} grey levels{note})",
        "",
        (
            f"| method | PSNR (dB) |{' raw PSNR (dB) |' if calibrated else ''} PSNR minus DIP "
            "default result (dB) | time (s) | time / DIP default result's |"
        ),
        f"|---|---|{'---|' if calibrated else ''}---|---|---|",
    ]
    for label, value, raw, seconds in rows:
        raw_cell = f" {raw:.2f} |" if calibrated else ""
        ratio = None if seconds is None else seconds / dip["time_s"]
        lines.append(
            f"| {label} | {value:.2f} |{raw_cell} {value - dip['psnr']:+.2f} | {_t(seconds)} | "
            f"{_t(ratio)} |"
        )
    return lines


def render(report: dict, plot: str) -> str:
    """The report as markdown; ``plot`` is the path of the PSNR-versus-time figure."""
    parts = [
        render_machine(report),
        render_compute(report),
        render_curves(report, plot),
        render_memory(report),
        render_classical(report),
    ]
    return "\n\n".join("\n".join(part) for part in parts)


def docs_section(report: dict) -> str:
    """The run's part of docs/benchmarks.md: a warning for a smoke run, then the report."""
    banner = ""
    if report["mode"] == "quick":
        crop = report["settings"]["crop"]
        banner = (
            f"> **These numbers come from a `--quick` smoke run** ({crop}x{crop} crops, budgets of "
            "seconds, smaller memory cases): they show that the benchmark works, they are not the "
            "benchmark. Regenerate this section from a full run.\n\n"
        )
    return banner + render(report, DOCS_PLOT)


def write_docs(report: dict) -> None:
    """Rewrite the run's section of docs/benchmarks.md (and its plot) from ``report``."""
    docs = REPO / "docs"
    plot_curves(report, docs / DOCS_PLOT)
    replace_table(docs / "benchmarks.md", "run report", docs_section(report), report["source"])


def write_report(report: dict, out: Path) -> str:
    """Write report.md and its plot into ``out``; returns the markdown."""
    plot_curves(report, out / PLOT)
    markdown = "# napari-dip benchmarks\n\n" + render(report, PLOT) + "\n"
    (out / "report.md").write_text(markdown)
    return markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.json written by benchmarks/run.py")
    parser.add_argument("--docs", action="store_true", help="also write docs/benchmarks.md")
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    write_report(report, args.report.parent)
    if args.docs:
        write_docs(report)


if __name__ == "__main__":
    main()
