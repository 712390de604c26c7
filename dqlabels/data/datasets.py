"""Dataset folders and splits (docs/conventions.md §7–8). No TensorFlow here: the tf.data pipeline lives in
the training modules.

A dataset folder holds images and one annotation file whose items are image paths relative to
the folder:

- dqlabels layout: ``DIR/images/…png``, ``DIR/annotations.csv`` (any format of
  :func:`dqlabels.read_annotations`) and ``DIR/dataset.json`` (name, classes, image size,
  generator, licence; it may name the annotation file and its format);
- DCIC layout (the benchmark that ships MiceBone): ``DIR/fold1 … fold5/`` and
  ``DIR/annotations.json``, read in place. An image path that does not exist as given but
  contains a ``foldN`` component is looked up from that component, so paths written as
  ``MiceBone/fold1/x.png`` resolve inside the MiceBone folder.

Every image path is resolved inside the folder; a path that leaves it is refused.

Splits: seeded, stratified (by hard label) 60/20/20 train/val/test splits, split k using seed
k (k = 0, 1, 2 for the study's three splits), or the DCIC fold rotation (slice s: val = fold
(s mod 5) + 1, test = fold ((s + 1) mod 5) + 1, train = the other three). A split is saved as a
CSV with the columns ``item, split``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from dqlabels._io import write_csv_atomic
from dqlabels._parallel import map_blocks
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import majority_vote, soft_labels
from dqlabels.readers.annotations import Annotations, read_annotations

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
ANNOTATION_FILES = ("annotations.csv", "annotations.parquet", "annotations.tsv",
                    "annotations.json")
_FOLD = re.compile(r"^fold([1-5])$")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset folder: images with their annotations.

    Attributes:
        root: the folder (absolute).
        annotations: the annotations; ``annotations.items`` are the image paths as written.
        paths: absolute path of each item's image, aligned with ``annotations.items``.
        layout: ``"dqlabels"`` or ``"dcic"``.
        info: the contents of ``dataset.json`` (empty when absent).

    ``soft_labels``, ``hard_labels`` and ``folds`` are computed on first use and kept.
    """

    root: Path
    annotations: Annotations
    paths: np.ndarray
    layout: str = "dqlabels"
    info: dict = field(default_factory=dict)

    @property
    def items(self) -> np.ndarray:
        return self.annotations.items

    @property
    def classes(self) -> tuple[str, ...]:
        return self.annotations.classes

    @property
    def num_items(self) -> int:
        return self.annotations.num_items

    @cached_property
    def soft_labels(self) -> np.ndarray:
        return soft_labels(self.annotations)

    @cached_property
    def hard_labels(self) -> np.ndarray:
        """Majority vote per item (lowest class index on ties)."""
        return majority_vote(self.annotations).labels_

    @cached_property
    def folds(self) -> np.ndarray | None:
        """DCIC fold number (1–5) of each item, or None when the items are not in folds."""
        folds = np.zeros(self.num_items, dtype=np.int64)
        for i, path in enumerate(self.paths):  # one per image
            parts = Path(path).relative_to(self.root).parts
            match = _FOLD.match(parts[0]) if parts else None
            if match is None:
                return None
            folds[i] = int(match.group(1))
        return folds


def load_dataset(path: str | os.PathLike, annotations: str | None = None, format: str | None = None,
                 check_images: bool = True) -> Dataset:
    """Load a dataset folder (dqlabels or DCIC layout).

    Args:
        path: the dataset folder.
        annotations: annotation file inside the folder; default: the one ``dataset.json``
            names, else the first of annotations.csv/.parquet/.tsv/.json found.
        format: annotation format (default: ``dataset.json``'s, else detected).
            ``dataset.json`` may also name the annotation file's columns, as
            ``"annotation_columns": {"item": ..., "annotator": ..., "label": ...}``.
        check_images: check that every image file exists (decoding is checked by
            :func:`verify_images`).

    Raises:
        InputError: missing folder or annotation file, malformed annotations, a path that leaves
            the folder, or missing images (the message names the first and how many).
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such dataset folder")
    if not root.is_dir():
        raise InputError(f"{root}: is not a folder (expected a dataset folder)")
    root = root.resolve()
    info = _read_info(root)
    name = annotations or info.get("annotations")
    if name is None:
        name = next((n for n in ANNOTATION_FILES if (root / n).is_file()), None)
        if name is None:
            raise InputError(f"{root}: no annotation file (expected one of "
                             f"{', '.join(ANNOTATION_FILES)}, or dataset.json naming one)")
    annotation_path = _inside(root, str(name), f"{root}: annotation file")
    if format is None and annotations is None:
        format = info.get("annotations_format")
    classes = info.get("classes")
    columns = info.get("annotation_columns") or {}
    ann = read_annotations(annotation_path, format=format, classes=classes,
                           **{f"{role}_column": columns.get(role)
                              for role in ("item", "annotator", "label")})
    layout = "dcic" if any((root / f"fold{k}").is_dir() for k in range(1, 6)) else "dqlabels"
    paths = _resolve_images(root, ann.items, annotation_path, check_images)
    return Dataset(root=root, annotations=ann, paths=paths, layout=layout, info=info)


def _read_info(root: Path) -> dict:
    info_path = root / "dataset.json"
    if not info_path.exists():
        return {}
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{info_path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise InputError(f"{info_path}: expected a JSON object")
    return info


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refused when the path itself leaves ``root`` (``..``, absolute).

    The check is on the path as written, not on where symlinks lead: a link the user put
    inside the folder (an images folder on another disk, say) is followed.
    """
    candidate = Path(os.path.normpath(os.path.join(root, relative)))
    if not candidate.is_relative_to(root):
        raise InputError(f"{what} {relative!r} leaves the dataset folder {str(root)!r}")
    return candidate


def _resolve_images(root: Path, items, annotation_path: Path, check: bool) -> np.ndarray:
    paths = np.empty(len(items), dtype=object)
    missing = []
    for i, item in enumerate(items):  # one per image, not per annotation
        candidate = _inside(root, item, f"{annotation_path}: image path")
        if not candidate.is_file():
            alternative = _from_fold(root, item)
            if alternative is not None:
                candidate = alternative
            elif check:
                missing.append(item)
        paths[i] = str(candidate)
    if missing:
        raise InputError(f"{annotation_path}: {len(missing)} image(s) named there do not exist "
                         f"in {str(root)!r}; the first is {missing[0]!r}")
    return paths


def _from_fold(root: Path, item: str) -> Path | None:
    parts = Path(item).parts
    for k, part in enumerate(parts):
        if _FOLD.match(part):
            candidate = _inside(root, str(Path(*parts[k:])), "image path")
            return candidate if candidate.is_file() else None
    return None


def read_targets(path, dataset: Dataset) -> np.ndarray:
    """The counts matrix of an annotation file for the items of ``dataset``, rows aligned with
    ``dataset.items`` and columns with its classes (training targets other than the dataset's
    own labels). Every item must have an annotation; items of the file that are not in the
    dataset are an error too."""
    ann = read_annotations(path, classes=dataset.classes)
    if ann.is_distribution:
        counts = ann.counts
    else:
        counts = ann.counts.astype(np.float64)
    index = {item: i for i, item in enumerate(ann.items)}  # one entry per item
    rows = np.array([index.get(item, -1) for item in dataset.items])
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        raise InputError(f"{path}: no annotation of {missing.size} item(s) of the dataset, e.g. "
                         f"{dataset.items[missing[0]]!r}")
    if len(index) != dataset.num_items:
        extra = sorted(set(index) - set(dataset.items))[:1]
        raise InputError(f"{path}: annotates items that are not in the dataset, e.g. {extra[0]!r}")
    return counts[rows]


def verify_images(dataset: Dataset) -> None:
    """Decode every image of ``dataset`` (on every core for many); raise InputError naming the
    first that cannot be decoded."""
    verify_image_files(dataset.paths, int(dataset.info.get("image_size") or 224))


def verify_image_files(paths, side: int = 224) -> None:
    """Decode every image file (``side``: about how many pixels wide they are, for the size rule
    of the thread pool); raise InputError naming the first that cannot be decoded, and how
    many cannot."""
    from PIL import Image, UnidentifiedImageError

    def check(path):
        try:
            with Image.open(path) as image:
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return path, None

    results = map_blocks(check, list(paths), size=len(paths) * side * side * 3)
    failed = [(path, problem) for path, problem in results if problem is not None]
    if failed:
        path, problem = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise InputError(f"{path}: image cannot be decoded ({problem}){more}")


# ----------------------------------------------------------------------------------------------
# Splits


def random_split(labels, seed: int, fractions=DEFAULT_FRACTIONS) -> np.ndarray:
    """Seeded split stratified by ``labels``: per class, a random ``fractions`` share of its
    items goes to train, val and test (rounded per class). Returns the split name per item.

    Examples:
        >>> split = random_split([0] * 10 + [1] * 5, seed=0)
        >>> [int((split[:10] == s).sum()) for s in SPLITS], [int((split[10:] == s).sum()) for s in SPLITS]
        ([6, 2, 2], [3, 1, 1])
    """
    labels = np.asarray(labels)
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1):
        raise InputError(f"Expected three split fractions summing to 1. Received: {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(labels.size)
    order = order[np.argsort(labels[order], kind="stable")]  # by class, random within
    grouped = labels[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sizes = np.diff(np.r_[starts, grouped.size])
    rank = np.arange(grouped.size) - np.repeat(starts, sizes)
    size = np.repeat(sizes, sizes)
    train_end = np.rint(fractions[0] * size)
    val_end = np.rint((fractions[0] + fractions[1]) * size)
    which = np.where(rank < train_end, 0, np.where(rank < val_end, 1, 2))
    split = np.empty(labels.size, dtype=object)
    split[order] = np.asarray(SPLITS, dtype=object)[which]
    return split


def kfold_split(labels, fold: int, num_folds: int, *, seed: int = 0,
                val_size: int = 0) -> np.ndarray:
    """Fold ``fold`` of a seeded K-fold cross-validation stratified by ``labels`` (docs/conventions.md §14):
    test = the fold, train = the other folds, less ``val_size`` images of them (seeded, for
    monitoring only) as val. Each class's items, in a seeded random order, are dealt to the
    folds in turn, so every fold holds each class's share within one image.

    Examples:
        >>> split = kfold_split([0] * 10 + [1] * 5, fold=0, num_folds=5, val_size=2)
        >>> [int((split == s).sum()) for s in SPLITS]
        [10, 2, 3]
    """
    labels = np.asarray(labels)
    if not 0 <= fold < num_folds or num_folds < 2:
        raise InputError(f"Expected 0 <= fold < num_folds and num_folds >= 2. Received: "
                         f"fold={fold}, num_folds={num_folds}")
    rng = np.random.default_rng([seed, 14])
    order = rng.permutation(labels.size)
    order = order[np.argsort(labels[order], kind="stable")]  # by class, random within
    folds = np.empty(labels.size, dtype=np.int64)
    # Dealt in turn along that order: each class goes round the folds from where the previous
    # one stopped, so the folds' sizes, and each class's share of them, differ by one at most.
    folds[order] = np.arange(labels.size) % num_folds
    split = np.where(folds == fold, "test", "train").astype(object)
    rest = np.flatnonzero(folds != fold)
    if val_size:
        split[rng.choice(rest, size=min(int(val_size), rest.size - 1), replace=False)] = "val"
    return split


def dcic_split(folds, slice_index: int) -> np.ndarray:
    """The DCIC fold rotation: val = fold (s mod 5) + 1, test = fold ((s + 1) mod 5) + 1,
    train = the other three folds."""
    folds = np.asarray(folds)
    val, test = slice_index % 5 + 1, (slice_index + 1) % 5 + 1
    split = np.full(folds.size, "train", dtype=object)
    split[folds == val] = "val"
    split[folds == test] = "test"
    return split


def make_split(dataset: Dataset, index: int, kind: str = "random") -> np.ndarray:
    """Split ``index`` of a dataset: ``kind="random"`` (stratified, seed = index) or ``"dcic"``
    (fold rotation; needs a DCIC-layout dataset)."""
    if kind == "random":
        return random_split(dataset.hard_labels, seed=index)
    if kind == "dcic":
        folds = dataset.folds
        if folds is None:
            raise InputError(f"{dataset.root}: the DCIC fold rotation needs images under "
                             f"fold1 … fold5")
        return dcic_split(folds, index)
    raise InputError(f"Expected split kind to be 'random' or 'dcic'. Received: {kind!r}")


def split_counts(split) -> dict[str, int]:
    """Number of items in each part of a split (train, val, test)."""
    split = np.asarray(split)
    return {name: int((split == name).sum()) for name in SPLITS}


def save_split(path: str | os.PathLike, items, split) -> None:
    """Write a split as CSV (``item, split``), atomically."""
    write_csv_atomic(path, ("item", "split"), zip(np.asarray(items, dtype=object).tolist(),
                                                 np.asarray(split).tolist()))


def read_split(path: str | os.PathLike, dataset: Dataset) -> np.ndarray:
    """Read a split CSV back, aligned with ``dataset.items``; every item must appear once."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such split file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    if list(frame.columns) != ["item", "split"]:
        raise InputError(f"{path}: expected the columns item, split; found {', '.join(frame.columns)}")
    bad = ~frame["split"].isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: line {row + 2}: split {frame['split'].iloc[row]!r} is not one "
                         f"of {', '.join(SPLITS)}")
    mapping = dict(zip(frame["item"], frame["split"]))
    if len(mapping) != len(frame):
        raise InputError(f"{path}: an item is listed twice")
    missing = [item for item in dataset.items if item not in mapping]
    if missing or len(mapping) != dataset.num_items:
        first = missing[0] if missing else next(i for i in mapping if i not in set(dataset.items))
        raise InputError(f"{path}: does not match the dataset's items (first difference: {first!r})")
    return np.asarray([mapping[item] for item in dataset.items], dtype=object)


# ----------------------------------------------------------------------------------------------
# A look at the data


# Facts about public datasets whose dataset.json predates the "hard_labels" and "anchors" keys
# (the copy in ../shared/data/cifar10h is one). dataset.json's own keys win.
KNOWN_DATASETS = {
    "cifar10h": {
        "hard_labels": "cifar10-test-labels.csv",
        "anchors": [
            {"name": "Peterson et al. 2019",
             "setup": "mean of 8 CIFAR networks from scratch, 10-fold CV (9,000 train / 1,000 "
                      "held out), ~150 epochs; hard = original labels",
             "hard": {"cross_entropy": 0.958, "accuracy": 0.840},
             "soft": {"cross_entropy": 0.605, "accuracy": 0.852}},
            {"name": "Gheibi & Ghazizadeh 2026 (as reported, not checked)",
             "setup": "CIFAR ResNet-18 from scratch, 80/20 split, 200 epochs, 10 seeds; hard = "
                      "majority labels",
             "hard": {"cross_entropy": 0.728, "accuracy": 0.857, "ece": 0.070},
             "soft": {"cross_entropy": 0.510, "accuracy": 0.869, "ece": 0.019}},
            {"name": "DCIC benchmark (Schmarje et al. 2022)",
             "setup": "ImageNet-pretrained ResNet50V2, 10 annotations per image, tuning score",
             "soft": {"kl": 0.427, "macro_f1": 0.900}},
        ],
    },
}


def dataset_facts(data) -> dict:
    """``hard_labels`` (a file name or None) and ``anchors`` (a list) of a dataset: its
    ``dataset.json``'s, else :data:`KNOWN_DATASETS`' for its name."""
    known = KNOWN_DATASETS.get(str(data.info.get("name", "")).lower(), {})
    return {"hard_labels": data.info.get("hard_labels", known.get("hard_labels")),
            "anchors": data.info.get("anchors", known.get("anchors", []))}


def dataset_augment(dataset: Dataset) -> str:
    """The augmentation a dataset's images allow (docs/conventions.md §14): ``dataset.json``'s ``"augment"``;
    else ``symmetric`` (flips and 90° rotations) for the synthetic shapes and DCIC folders (the
    paper's recipe; their microscopy images have no up), ``natural`` (pad-and-crop and
    horizontal flips) for other images: photographs are not rotation-invariant."""
    from dqlabels.config import AUGMENTS

    chosen = dataset.info.get("augment")
    if chosen is not None:
        if chosen not in AUGMENTS[1:]:
            raise InputError(f"{dataset.root / 'dataset.json'}: augment is {chosen!r}, expected "
                             f"one of {', '.join(AUGMENTS[1:])}")
        return chosen
    return "symmetric" if is_synthetic(dataset) or dataset.layout == "dcic" else "natural"


def is_synthetic(dataset: Dataset) -> bool:
    """Whether ``dataset`` was made by :func:`dqlabels.data.synthetic.generate_dataset`."""
    from dqlabels.data.synthetic import CLASSES

    generator = dataset.info.get("generator") or {}
    return generator.get("name") == "dqlabels.data.synthetic" and tuple(dataset.classes) == CLASSES


def pixel_estimate_scores(dataset: Dataset, rows=None) -> dict:
    """How well a synthetic dataset's images determine their labels: the pixel-moment
    estimate (:func:`dqlabels.data.pixel_estimate.estimate_soft_labels`) scored against the stored soft
    labels (macro accuracy and KL, as a network is scored), over ``rows`` (default: all)."""
    from dqlabels.data.pixel_estimate import estimate_soft_labels_from_files
    from dqlabels.labels.scores import kl_divergence, macro_accuracy

    rows = np.arange(dataset.num_items) if rows is None else np.asarray(rows)
    estimate = estimate_soft_labels_from_files(dataset.paths[rows])
    truth = dataset.soft_labels[rows]
    return {"macro_accuracy": macro_accuracy(truth, estimate), "kl": kl_divergence(truth, estimate),
            "num_items": int(rows.size)}


def dataset_summary(dataset: Dataset, pixel_estimate: bool = True) -> dict:
    """What ``dqlabels check-dataset`` reports: size, classes, class shares by hard and soft
    label and, for synthetic data (unless ``pixel_estimate=False``: it decodes every image),
    :func:`pixel_estimate_scores` with the placement."""
    soft = dataset.soft_labels
    hard_share = np.bincount(dataset.hard_labels, minlength=len(dataset.classes)) / dataset.num_items
    summary = {
        "root": str(dataset.root), "layout": dataset.layout, "num_items": dataset.num_items,
        "classes": list(dataset.classes), "annotations_format": dataset.annotations.format,
        "class_share": {"hard": dict(zip(dataset.classes, hard_share.tolist())),
                        "soft": dict(zip(dataset.classes, soft.mean(axis=0).tolist()))},
        "pixel_estimate": None,
    }
    if pixel_estimate and is_synthetic(dataset):
        generator = dataset.info["generator"]
        summary["pixel_estimate"] = {
            **pixel_estimate_scores(dataset),
            "placement": generator.get("placement", "free"),  # version 1 had no other
            "generator_version": generator.get("version")}
    return summary


def format_dataset_summary(summary: dict, decoded: bool = False) -> str:
    """:func:`dataset_summary` as the text ``dqlabels check-dataset`` prints."""
    lines = [f"Dataset {summary['root']} ({summary['layout']} layout): {summary['num_items']:,} "
             f"images, {len(summary['classes'])} classes, annotations "
             f"{summary['annotations_format']}" + (", every image decodes" if decoded else "")]
    hard, soft = summary["class_share"]["hard"], summary["class_share"]["soft"]
    lines += [f"  {name:<24} hard {hard[name]:.3f}   soft {soft[name]:.3f}"
              for name in summary["classes"]]
    estimate = summary["pixel_estimate"]
    if estimate is not None:
        lines.append(f"Labels read back from the pixels (placement {estimate['placement']}): "
                     f"macro accuracy {estimate['macro_accuracy']:.4f}, KL {estimate['kl']:.4f} "
                     f"(the image limit: the best a reader of the pixels can do)")
    return "\n".join(lines)
