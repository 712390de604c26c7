"""``dqlabels datasets list`` and ``dqlabels datasets get NAME DIR``: the public datasets with
human answers, as dataset folders (:mod:`dqlabels.data.public`)."""

from __future__ import annotations

from dqlabels.data.public import get_dataset, list_datasets
from dqlabels.text import plural


def run_datasets_list() -> str:
    """The datasets ``get`` builds, one per line with its source and contents."""
    lines = []
    for entry in list_datasets():
        manual = (f"; needs {', '.join(entry['manual_files'])} placed by hand"
                  if entry["manual_files"] else "")
        lines.append(f"{entry['name']:<10} {entry['source']}: {entry['about']}{manual}")
    return "\n".join(lines)


def run_datasets_get(name: str, out_dir, *, data_dir=None, manual_dir=None,
                     overwrite: bool = False, progress=None) -> str:
    """Build (or find finished) the folder of ``name``; returns the line the command prints."""
    folder, built = get_dataset(name, out_dir, data_dir=data_dir, manual_dir=manual_dir,
                                overwrite=overwrite, progress=progress)
    if not built:
        return f"{folder} is a finished {name} folder: nothing to do"
    import csv

    with open(folder / "annotations.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    items = len({r["item"] for r in rows})
    annotators = len({r["annotator"] for r in rows})
    return (f"Wrote {folder}: {plural(items, 'image')}, {plural(len(rows), 'human answer')} "
            f"by {plural(annotators, 'annotator')} (annotations.csv, original_labels.csv, "
            f"dataset.json). Next: dqlabels evaluate {folder}/annotations.csv")
