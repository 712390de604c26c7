"""Generated benchmark data: long-format annotations (item, annotator, label)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(os.environ.get("DQLABELS_BENCH_DIR", "/tmp/dqlabels-bench"))


def make_long_annotations(num_items=1_000_000, num_classes=10, num_annotators=2_000,
                          per_item=10, seed=0):
    """Encoded arrays of a simulated campaign: every item gets ``per_item`` distinct
    annotators; each annotator is right with their own accuracy, else picks uniformly."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, num_classes, num_items)
    start = rng.integers(0, num_annotators, num_items)
    step = rng.integers(1, num_annotators // per_item, num_items)
    annotators = (start[:, None] + step[:, None] * np.arange(per_item)) % num_annotators
    item = np.repeat(np.arange(num_items), per_item)
    annotator = annotators.reshape(-1)
    skill = rng.uniform(0.5, 0.95, num_annotators)
    right = rng.random(item.size) < skill[annotator]
    label = np.where(right, truth[item], rng.integers(0, num_classes, item.size))
    return item.astype(np.int64), annotator.astype(np.int64), label.astype(np.int64)


def write_long_csv(path: Path, item, annotator, label, num_classes=10):
    """Write the campaign as CSV with string ids (``img0000042``, ``w0042``, ``class_3``)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    def ids(prefix, codes, width):
        text = pc.utf8_lpad(pc.cast(pa.array(codes), pa.string()), width, "0")
        return pc.binary_join_element_wise(pa.scalar(prefix), text, "")

    names = pa.array([f"class_{k}" for k in range(num_classes)])
    table = pa.table({
        "item": ids("img", item, 7),
        "annotator": ids("w", annotator, 4),
        "label": names.take(pa.array(label)),
    })
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(table, tmp)
    os.replace(tmp, path)


def ensure_csv(directory: Path = DEFAULT_DIR, **kwargs) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "long-10M.csv"
    if not path.exists():
        write_long_csv(path, *make_long_annotations(**kwargs))
    return path


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs ({model}), Python {platform.python_version()}"
