"""``dqlabels split``: one train/val/test split of a dataset folder as CSV (:func:`run_split`)."""

from __future__ import annotations

from dqlabels._io import check_output_file
from dqlabels.data.datasets import load_dataset, make_split, save_split, split_counts


def run_split(dataset, out_path, *, index: int = 0, kind: str = "random",
              overwrite: bool = False) -> str:
    """Write split ``index`` of ``kind`` of ``dataset`` to ``out_path``; returns the line the
    command prints."""
    check_output_file(out_path, overwrite=overwrite)
    data = load_dataset(dataset, check_images=False)
    assignment = make_split(data, index, kind)
    save_split(out_path, data.items, assignment)
    counts = ", ".join(f"{name} {count:,}" for name, count in split_counts(assignment).items())
    return f"Wrote split {index} ({kind}) of {data.num_items:,} items to {out_path}: {counts}."
