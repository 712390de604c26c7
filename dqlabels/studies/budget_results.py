"""The budget study's results: the summary over splits per size × budget × label mode, the
paired soft − hard comparisons with their verdicts, and ``results.md``/``.json``/``.csv`` and the
figure (:func:`write_budget_results`); the runs themselves are :mod:`dqlabels.studies.budget`'s."""

from __future__ import annotations

from pathlib import Path

from dqlabels.studies.budget_photos import photo_figure, photo_markdown
from dqlabels.studies.results import MODES, cell, compare_modes, mean_std, write_study_files
from dqlabels.studies.verdicts import verdict

METRICS = ("macro_accuracy", "kl")


def summarise(runs: list[dict], inputs: list[dict], settings: dict) -> dict:
    """Per size × budget × mode, mean ± std over the splits of the model's macro accuracy and
    KL against the exact labels, and of the input labels'; per size × budget, the paired
    soft − hard comparison."""
    summary, comparisons = {}, {}
    for size in settings["sizes"]:
        for budget in settings["budgets"]:
            key = f"{size}/{budget}"
            chosen = [r for r in runs if r["size"] == size and r["budget"] == budget]
            given = [r for r in inputs if r["size"] == size and r["budget"] == budget]
            by_mode, comparisons[key] = compare_modes(
                chosen, {m: m == "macro_accuracy" for m in METRICS}, "split")
            summary[key] = {"size": size, "budget": budget, **by_mode}
            summary[key]["input"] = {
                m: mean_std([r[m] for r in given])
                for m in ("input_macro_accuracy", "input_kl_soft", "input_kl_hard")}
            if any(r["mode"] == "shrunk" for r in chosen):  # the third arm: shrunk − raw soft
                by_arm, shrunk_vs_soft = compare_modes(
                    chosen, {m: m == "macro_accuracy" for m in METRICS}, "split",
                    baseline="soft", other="shrunk")
                summary[key]["shrunk"] = by_arm["shrunk"]
                summary[key]["input"]["input_kl_shrunk"] = mean_std(
                    [r["input_kl_shrunk"] for r in given])
                comparisons[key]["shrunk_vs_soft"] = shrunk_vs_soft
    return {"settings": settings, "runs": runs, "inputs": inputs, "summary": summary,
            "paired": comparisons}


def _interval(entry) -> str:
    if entry["interval"] is None:
        return f"{entry['mean']:+.4f} (one split)"
    low, high = entry["interval"]
    return f"{entry['mean']:+.4f} [{low:+.4f}, {high:+.4f}]"


def _verdict(comparison: dict, higher_is_better: bool) -> str:
    # Results written before verdicts existed carry none: derive it from the interval.
    return comparison.get("verdict") or verdict(comparison, higher_is_better)


def _shrunk_lines(results: dict, size: int, budgets) -> list[str]:
    """The third arm's table: shrunk vs raw soft labels of the same answers (when trained)."""
    keys = [(b, f"{size}/{b}") for b in budgets if "shrunk" in results["summary"][f"{size}/{b}"]]
    if not keys:
        return []
    lines = ["", "The third arm: training on the shrunk soft labels (the posterior mean of the "
                 "same answers) against their raw mean, paired by split:", "",
             "| annotations per image | shrunk ACC ↑ | shrunk KL ↓ | input KL shrunk / raw | "
             "shrunk − raw: macro accuracy | shrunk − raw: KL |", "|---|---|---|---|---|---|"]
    for budget, key in keys:
        s, p = results["summary"][key], results["paired"][key]["shrunk_vs_soft"]
        lines.append(f"| {budget} | {cell(s['shrunk']['macro_accuracy'])} | "
                     f"{cell(s['shrunk']['kl'])} | {s['input']['input_kl_shrunk']['mean']:.3f} / "
                     f"{s['input']['input_kl_soft']['mean']:.3f} | "
                     f"{_interval(p['macro_accuracy'])}: {p['macro_accuracy']['verdict']} | "
                     f"{_interval(p['kl'])}: {p['kl']['verdict']} |")
    return lines


def budget_markdown(results: dict) -> str:
    """The results as Markdown: per size, a table of budgets, and the paired comparison."""
    settings = results["settings"]
    lines = ["# Hard vs soft labels across annotation budgets and training-set sizes", "",
             f"Training: {settings['train']['model']}, {settings['train']['epochs']} epochs, "
             f"batch {settings['train']['batch_size']}; every model scored on the test split "
             f"against the exact soft labels; mean ± sample std over the splits.", ""]
    for size, splits in zip(settings["sizes"], settings["splits"]):
        lines += [f"## {size:,} images ({splits} split{'s' if splits > 1 else ''})", "",
                  "| annotations per image | hard ACC ↑ | hard KL ↓ | soft ACC ↑ | soft KL ↓ | "
                  "input ACC | input KL (soft) | input KL (hard) |",
                  "|---|---|---|---|---|---|---|---|"]
        for budget in settings["budgets"]:
            s = results["summary"][f"{size}/{budget}"]
            lines.append(f"| {budget}{' (hard = soft)' if budget == 1 else ''} | "
                         f"{cell(s['hard']['macro_accuracy'])} | {cell(s['hard']['kl'])} | "
                         f"{cell(s['soft']['macro_accuracy'])} | {cell(s['soft']['kl'])} | "
                         f"{cell(s['input']['input_macro_accuracy'])} | "
                         f"{cell(s['input']['input_kl_soft'])} | "
                         f"{cell(s['input']['input_kl_hard'])} |")
        lines += ["", "Soft − hard on the same split (mean, 95% t interval, splits where soft is "
                      "higher; the verdict: better or worse only where the interval excludes 0):",
                  "", "| annotations per image | macro accuracy | KL |", "|---|---|---|"]
        for budget in settings["budgets"]:
            p = results["paired"][f"{size}/{budget}"]
            lines.append(f"| {budget} | {_interval(p['macro_accuracy'])}, "
                         f"{p['macro_accuracy']['soft_higher']}/{p['macro_accuracy']['splits']}: "
                         f"{_verdict(p['macro_accuracy'], True)} | "
                         f"{_interval(p['kl'])}, "
                         f"{p['kl']['soft_lower']}/{p['kl']['splits']} "
                         f"lower: {_verdict(p['kl'], False)} |")
        lines += _shrunk_lines(results, size, settings["budgets"])
        lines.append("")
    if results.get("photographs"):
        lines += photo_markdown(results["photographs"])
    if "seconds" in results:
        lines.append(f"Wall time of this invocation: {results['seconds']:.0f} s; the runs' "
                     f"training (their last sessions, reused runs included): "
                     f"{results.get('training_seconds', 0) / 60:.0f} min.")
    return "\n".join(lines) + "\n"


BUDGET_COLUMNS = ("kind", "size", "budget", "split", "mode", "macro_accuracy", "kl",
                  "input_macro_accuracy", "input_kl_soft", "input_kl_hard", "std_macro_accuracy",
                  "std_kl", "interval_low", "interval_high")


def write_budget_results(out_dir: Path, results: dict) -> None:
    """``budget.json``, ``budget.md``, ``budget.csv`` (one row per run, per input, per summary
    and per paired comparison) and ``budget.png``; on real photographs also
    ``budget-photos.png`` (the scores against every human answer, kept in the JSON and the
    Markdown)."""
    rows = [("run", r["size"], r["budget"], r["split"], r["mode"], r["macro_accuracy"], r["kl"],
             None, None, None, None, None, None, None) for r in results["runs"]]
    rows += [("input", r["size"], r["budget"], r["split"], None, None, None,
              r["input_macro_accuracy"], r["input_kl_soft"], r["input_kl_hard"], None, None,
              None, None) for r in results["inputs"]]
    for s in results["summary"].values():
        for mode in MODES:
            e = s[mode]
            rows.append(("mean", s["size"], s["budget"], None, mode,
                         e["macro_accuracy"]["mean"], e["kl"]["mean"], None, None, None,
                         e["macro_accuracy"]["std"], e["kl"]["std"], None, None))
    for key, p in results["paired"].items():
        size, budget = key.split("/")
        for metric in METRICS:
            low, high = p[metric]["interval"] or (None, None)
            rows.append((f"paired {metric}", int(size), budget, None, "soft - hard",
                         p[metric]["mean"] if metric == "macro_accuracy" else None,
                         p[metric]["mean"] if metric == "kl" else None, None, None, None, None,
                         None, low, high))
    write_study_files(out_dir, "budget", results, budget_markdown(results), BUDGET_COLUMNS, rows)
    budget_figure(results, out_dir / "budget.png")
    if results.get("photographs"):
        photo_figure(results["photographs"], out_dir / "budget-photos.png")


def budget_figure(results: dict, path: Path) -> Path:
    """KL and macro accuracy against annotations per image, hard and soft per size, with error
    bars (sample std over the splits); the exact labels' results as dashed lines."""
    from dqlabels.figures import pyplot, save_figure

    plt = pyplot()
    settings = results["settings"]
    numbers = [b for b in settings["budgets"] if b != "exact"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for s, size in enumerate(settings["sizes"]):
        for m, mode in enumerate(MODES):
            colour = colours[(2 * s + m) % len(colours)]
            for ax, metric in zip(axes, ("kl", "macro_accuracy")):
                entries = [results["summary"][f"{size}/{b}"][mode][metric] for b in numbers]
                ax.errorbar(numbers, [e["mean"] for e in entries],
                            yerr=[e["std"] or 0 for e in entries], marker="o", capsize=3,
                            color=colour, ls="-" if mode == "soft" else "--",
                            label=f"{size:,} images, {mode}")
                if "exact" in settings["budgets"]:
                    ax.axhline(results["summary"][f"{size}/exact"][mode][metric]["mean"],
                               color=colour, lw=0.8, ls=":")
    for ax, name in zip(axes, ("KL(exact ‖ prediction) ↓", "macro accuracy ↑")):
        ax.set_xscale("log")
        ax.set_xticks(numbers, [str(b) for b in numbers])
        ax.set_xlabel("annotations per image (dotted: the exact labels)")
        ax.set_ylabel(name)
    axes[0].legend(fontsize=7)
    fig.suptitle("Hard vs soft labels across annotation budgets")
    return save_figure(fig, path)
