"""What the budget study measures on real photographs (issue 40): every run scored as the K-fold
study scores its folds (:func:`dqlabels.studies.real_study.fold_scores`: cross-entropy against
the image's human distribution, all of its answers; accuracy against the original labels, or the
majority of all answers where the dataset names none; expected calibration error), per budget
and label mode, with soft − hard and shrunk − soft paired by split.

Made from the runs' ``predictions.csv`` after they are trained, so that a finished study
gains these scores by running its command again (every run is reused)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqlabels.studies.results import cell, compare_modes, difference

PHOTO_METRICS = {"cross_entropy": False, "accuracy": True, "ece": False}  # higher is better?
PHOTO_NAMES = {"cross_entropy": "CE vs human", "accuracy": "accuracy", "ece": "ECE"}


def photo_results(out_dir: Path, runs: list[dict], full) -> dict:
    """The scores of ``runs`` (the budget study's rows: size, budget, split, mode, run) against
    ``full``, the whole dataset (a :class:`~dqlabels.data.datasets.Dataset`): per run, and per
    (size, budget) the mean ± std of each mode with the paired comparisons."""
    from dqlabels.data.datasets import dataset_facts
    from dqlabels.studies.real_study import fold_scores, hard_labels_of

    source = "original" if dataset_facts(full)["hard_labels"] is not None else "majority"
    hard, _ = hard_labels_of(full, source)
    scored, rows = {}, []
    for run in runs:  # budget 1's soft run also stands for hard: scored once
        if run["run"] not in scored:
            scored[run["run"]] = fold_scores(Path(out_dir) / run["run"], full, hard)
        rows.append({key: run[key] for key in ("size", "budget", "split", "mode", "run")}
                    | {m: scored[run["run"]][m] for m in PHOTO_METRICS})
    table = {}
    for size, budget in dict.fromkeys((r["size"], r["budget"]) for r in rows):
        of = [r for r in rows if r["size"] == size and r["budget"] == budget]
        summary, soft_hard = compare_modes(of, PHOTO_METRICS, "split")
        entry = {"size": size, "budget": budget, "summary": summary, "soft_vs_hard": soft_hard}
        if any(r["mode"] == "shrunk" for r in of):
            entry["summary"], entry["shrunk_vs_soft"] = compare_modes(
                of, PHOTO_METRICS, "split", baseline="soft", other="shrunk")
        table[f"{size}/{budget}"] = entry
    answers = full.annotations.counts.sum(axis=1)
    return {"accuracy_against": source, "answers_per_image": float(np.mean(answers)),
            "runs": rows, "table": table}


def photo_markdown(photos: dict) -> list[str]:
    """The section of ``budget.md`` for real photographs: a row per budget and mode, then the
    paired differences with their verdicts."""
    against = ("the original labels" if photos["accuracy_against"] == "original"
               else "the majority of all answers")
    heads = " | ".join(f"{PHOTO_NAMES[m]} {'↑' if up else '↓'}"
                       for m, up in PHOTO_METRICS.items())
    lines = ["## Against every human answer", "",
             f"Each run's test predictions scored as the K-fold study scores its folds: "
             f"cross-entropy against the image's human distribution (all of its answers, "
             f"{photos['answers_per_image']:.1f} per image on average), accuracy against "
             f"{against}, ECE. Mean ± sample std over the splits.", "",
             f"| images | annotations per image | labels | {heads} |", "|---|---|---|---|---|---|"]
    for entry in photos["table"].values():
        modes = [m for m in ("hard", "soft", "shrunk") if m in entry["summary"]]
        if entry["budget"] == 1:  # one answer: the hard and the soft labels are the same
            modes.remove("hard")
        for mode in modes:
            label = "hard = soft" if entry["budget"] == 1 and mode == "soft" else mode
            lines.append(f"| {entry['size']:,} | {_budget(entry['budget'])} | {label} | "
                         + " | ".join(cell(entry["summary"][mode][m]) for m in PHOTO_METRICS)
                         + " |")
    lines += ["", "Paired by split (mean [95% t interval] (verdict: better or worse only where "
                  "the interval excludes 0)):", "",
              f"| images | annotations per image | comparison | "
              f"{' | '.join(PHOTO_NAMES[m] for m in PHOTO_METRICS)} |", "|---|---|---|---|---|---|"]
    for entry in photo_comparisons(photos):
        lines.append(f"| {entry[0]:,} | {_budget(entry[1])} | {entry[2]} | "
                     + " | ".join(difference(entry[3][m]) for m in PHOTO_METRICS) + " |")
    return lines + [""]


def photo_comparisons(photos: dict) -> list[tuple]:
    """(size, budget, name, comparison) for every paired comparison with something to say:
    soft − hard above one answer (at one they are the same labels), shrunk − soft wherever
    the shrunk arm ran."""
    found = []
    for entry in photos["table"].values():
        if entry["budget"] != 1:
            found.append((entry["size"], entry["budget"], "soft − hard", entry["soft_vs_hard"]))
        if "shrunk_vs_soft" in entry:
            found.append((entry["size"], entry["budget"], "shrunk − soft",
                          entry["shrunk_vs_soft"]))
    return found


def photo_figure(photos: dict, path: Path) -> Path:
    """Cross-entropy against the human answers, accuracy and ECE against annotations per image:
    one line per label mode with error bars (sample std over the splits); ``all`` drawn at the
    mean number of answers per image."""
    from dqlabels.figures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    entries = list(photos["table"].values())
    where = [photos["answers_per_image"] if e["budget"] == "exact" else e["budget"]
             for e in entries]
    styles = {"hard": ("--", "s"), "soft": ("-", "o"), "shrunk": (":", "^")}
    for mode, (line, marker) in styles.items():
        shown = [(x, e["summary"][mode]) for x, e in zip(where, entries)
                 if mode in e["summary"]]  # budget 1: hard is the soft run
        for ax, metric in zip(axes, PHOTO_METRICS):
            ax.errorbar([x for x, _ in shown], [s[metric]["mean"] for _, s in shown],
                        yerr=[s[metric]["std"] or 0 for _, s in shown], ls=line, marker=marker,
                        capsize=3, label=mode)
    for ax, metric in zip(axes, PHOTO_METRICS):
        ax.set_xscale("log")
        ax.set_xticks(where, [_budget(e["budget"]) for e in entries])
        ax.minorticks_off()
        ax.set_xlabel("annotations per image")
        ax.set_ylabel(f"{PHOTO_NAMES[metric]} {'↑' if PHOTO_METRICS[metric] else '↓'}")
    axes[0].legend(fontsize=8)
    fig.suptitle("Hard, soft and shrunk labels from real answers (held out, over the splits)")
    return save_figure(fig, path)


def _budget(budget) -> str:
    return "all" if budget == "exact" else str(budget)
