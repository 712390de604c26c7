"""What every study reports, in one place: the mean ± std of each label mode, soft − hard paired
by split with its verdict (:mod:`dqlabels.studies.verdicts`), the table cells, and the three
files a study writes (JSON, Markdown, CSV). The paper's study (:mod:`~dqlabels.studies.study`),
the K-fold study (:mod:`~dqlabels.studies.real_study`) and the budget study
(:mod:`~dqlabels.studies.budget_results`) each say what they measure and lay out their own
tables; the numbers and files come from here.

Examples:
    >>> runs = [{"split": k, "mode": m, "acc": a} for k, m, a in
    ...         [(0, "hard", 0.5), (0, "soft", 0.6), (1, "hard", 0.7), (1, "soft", 0.7)]]
    >>> summary, comparison = compare_modes(runs, {"acc": True}, "split")
    >>> cell(summary["soft"]["acc"]), round(comparison["acc"]["mean"], 4)
    ('0.6500 ± 0.0707', 0.05)
    >>> comparison["acc"]["verdict"]  # soft − hard: +0.1 and 0.0 over the two splits
    "a tie within the folds' spread"
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dqlabels._io import write_csv_atomic, write_text_atomic
from dqlabels.studies.verdicts import paired, verdict

MODES = ("hard", "soft")


def mean_std(values) -> dict:
    """Mean ± sample std (ddof 1); the std is None (undefined) for a single value."""
    values = np.asarray(values, dtype=np.float64)
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return {"mean": float(values.mean()), "std": std, "values": values.tolist()}


def compare_modes(runs: list[dict], metrics: dict[str, bool], by: str,
                  baseline: str = "hard", other: str = "soft") -> tuple[dict, dict]:
    """Over ``runs`` (dicts with ``mode``, ``by`` and each metric) ordered by ``by`` (the split
    or fold): per mode (hard, soft, and ``baseline`` and ``other`` where they are others) and
    metric the mean ± std, and per metric ``other − baseline`` paired by ``by`` with its verdict,
    which names ``other`` ("shrunk better"; ``metrics`` maps each metric to whether higher is
    better)."""
    ordered = sorted(runs, key=lambda r: r[by])
    by_mode = {mode: [r for r in ordered if r["mode"] == mode]
               for mode in dict.fromkeys((*MODES, baseline, other))}
    summary = {mode: {m: mean_std([r[m] for r in runs_of]) for m in metrics}
               for mode, runs_of in by_mode.items()}
    comparison = {}
    for metric, higher in metrics.items():
        entry = paired([r[metric] for r in by_mode[baseline]],
                       [r[metric] for r in by_mode[other]])
        comparison[metric] = {**entry,
                              "verdict": verdict(entry, higher).replace("soft", other)}
    return summary, comparison


def cell(entry: dict) -> str:
    """``mean ± std`` with four decimals (the mean alone where the std is undefined)."""
    return f"{entry['mean']:.4f}" + ("" if entry["std"] is None else f" ± {entry['std']:.4f}")


def difference(entry: dict) -> str:
    """A paired comparison: ``+mean [low, high] (verdict)``, the interval left out where one
    split gives none."""
    if entry["interval"] is None:
        return f"{entry['mean']:+.4f} ({entry['verdict']})"
    low, high = entry["interval"]
    return f"{entry['mean']:+.4f} [{low:+.4f}, {high:+.4f}] ({entry['verdict']})"


def write_study_files(out_dir: Path, stem: str, results: dict, markdown: str, columns,
                      rows) -> None:
    """``STEM.json`` (the results), ``STEM.md`` (``markdown``) and ``STEM.csv`` (``columns``,
    ``rows``), each written atomically."""
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / f"{stem}.json", json.dumps(results, indent=2) + "\n")
    write_text_atomic(out_dir / f"{stem}.md", markdown)
    write_csv_atomic(out_dir / f"{stem}.csv", columns, rows)
