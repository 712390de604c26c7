"""Public datasets with human answers, fetched through TensorFlow Datasets and written as dataset
folders in the product's own layout (docs/generate.md, "Public datasets"):
``dqlabels datasets get NAME DIR``.

Each :class:`PublicDataset` names its TensorFlow Datasets builder and split and how an example's
human answers are read. :func:`get_dataset` writes:

- ``images/<id>.png``: every image, lossless;
- ``annotations.csv``: one row per human answer: ``item``, ``annotator`` (the source's own
  annotator id), ``label`` (a class name) and ``reaction_time`` (seconds, where the source has
  it), the items in the source's order;
- ``original_labels.csv``: ``item``, ``label``: the dataset's original labels (``hard_labels``);
- ``dataset.json``: name, classes, image size, the annotation file and its columns,
  augmentation (``natural``: photographs), licence, source (builder and version), the
  original labels' file and the published anchors (:data:`~dqlabels.data.datasets.
  KNOWN_DATASETS`).

The folder is built beside ``DIR`` (``DIR.partial``) and renamed into place when complete, so
``DIR`` is never half-written; an interrupted build is started again. A finished ``DIR`` of the
same source is left as it is. Nothing downloads at import: TensorFlow Datasets (the
``datasets`` extra) is imported only by :func:`get_dataset`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dqlabels.data.datasets import KNOWN_DATASETS
from dqlabels.errors import InputError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
ANNOTATION_COLUMNS = ("item", "annotator", "label", "reaction_time")
INSTALL_HINT = "pip install 'dqlabels[datasets]'"


def _cifar10h_answers(example) -> list[tuple]:
    """CIFAR-10H: every annotator's answer (``annotator_ids``, ``human_labels``,
    ``reaction_times`` as the source gives them)."""
    return [(int(a), int(label), float(t)) for a, label, t in zip(
        example["annotator_ids"], example["human_labels"], example["reaction_times"])]


def _cifar10n_answers(example) -> list[tuple]:
    """CIFAR-10N: its three workers' labels (``workerK_id``, ``random_labelK``,
    ``workerK_time`` as the source gives it)."""
    return [(int(example[f"worker{k}_id"]), int(example[f"random_label{k}"]),
             float(example[f"worker{k}_time"])) for k in (1, 2, 3)]


@dataclass(frozen=True)
class PublicDataset:
    """A public dataset with human answers that TensorFlow Datasets hosts.

    Attributes:
        name: the name ``dqlabels datasets get`` takes.
        tfds_name, split: the TensorFlow Datasets builder and the split with the answers.
        classes: the class names, in the source's label order.
        answers: ``answers(example) -> [(annotator, label index, reaction time), ...]``.
        about, licence: one line each for the list and ``dataset.json``.
        manual_files: files TensorFlow Datasets needs placed by hand (its manual directory),
            with where they come from.
    """

    name: str
    tfds_name: str
    split: str
    classes: tuple
    answers: object
    about: str
    licence: str
    manual_files: tuple = ()
    manual_source: str = ""
    hosts: tuple = ("www.cs.toronto.edu",)  # where TensorFlow Datasets downloads its sources


PUBLIC_DATASETS = {d.name: d for d in (
    PublicDataset(
        "cifar10h", "cifar10_h", "test", CIFAR10_CLASSES, _cifar10h_answers,
        "CIFAR-10's 10,000 test images with CIFAR-10H's ~51 human answers each (about 2,500 "
        "annotators, reaction times)",
        "images: CIFAR-10 test set (Krizhevsky 2009); annotations: CIFAR-10H (Peterson et al. "
        "2019), CC BY-NC-SA 4.0", hosts=("www.cs.toronto.edu", "github.com")),
    PublicDataset(
        "cifar10n", "cifar10_n", "train", CIFAR10_CLASSES, _cifar10n_answers,
        "CIFAR-10's 50,000 training images with CIFAR-10N's three human labels each (Amazon "
        "Mechanical Turk workers, work times)",
        "images: CIFAR-10 training set (Krizhevsky 2009); annotations: CIFAR-10N (Wei et al. "
        "2022), see https://github.com/UCSC-REAL/cifar-10-100n",
        manual_files=("side_info_cifar10N.csv", "CIFAR-10_human_annotations.csv",
                      "image_order_c10.npy"),
        manual_source="https://github.com/UCSC-REAL/cifar-10-100n (convert "
                      "CIFAR-10_human_ordered.npy to CIFAR-10_human_annotations.csv as the "
                      "TensorFlow Datasets catalogue page of cifar10_n shows)"),
)}


def list_datasets() -> list[dict]:
    """Every dataset ``dqlabels datasets get`` builds: name, source, and what it holds."""
    return [{"name": d.name, "source": f"tfds:{d.tfds_name} ({d.split})", "about": d.about,
             "manual_files": list(d.manual_files)} for d in PUBLIC_DATASETS.values()]


def get_dataset(name: str, out_dir, *, data_dir=None, manual_dir=None,
                overwrite: bool = False, progress=None) -> tuple[Path, bool]:
    """Build the dataset folder ``out_dir`` of the public dataset ``name`` (see the module
    docstring); returns the folder and whether it was built (False: it was there already).

    Args:
        name: a key of :data:`PUBLIC_DATASETS`.
        out_dir: the folder to write.
        data_dir: TensorFlow Datasets' own cache (default: its ``~/tensorflow_datasets``).
        manual_dir: where the manually downloaded files are (default: TensorFlow Datasets'
            ``<data_dir>/downloads/manual``).
        overwrite: replace an existing folder that is not this dataset's.
        progress: called with the number of images written so far, now and then.
    """
    if name not in PUBLIC_DATASETS:
        raise InputError(f"no public dataset named {name!r}: 'dqlabels datasets list' shows "
                         f"{', '.join(PUBLIC_DATASETS)}")
    spec = PUBLIC_DATASETS[name]
    out_dir = Path(out_dir)
    if _finished(out_dir, spec):
        return out_dir, False
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(f"{out_dir}: exists and is not a finished {name} folder; choose an "
                         f"empty folder, or --overwrite to replace it")
    tfds = _tensorflow_datasets()
    manual_dir = _manual_dir(spec, data_dir, manual_dir)
    examples, version = _examples(tfds, spec, data_dir, manual_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted build starts again
    (partial / "images").mkdir(parents=True)
    try:
        _write_folder(partial, spec, examples, f"tfds:{spec.tfds_name} {version}", progress)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the source failed while being read
        from dqlabels.readers.tables import message_line

        raise InputError(f"reading {spec.tfds_name} failed ({message_line(exc)[:200]}); "
                         f"{out_dir} was not written: run the command again") from None
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(partial, out_dir)
    return out_dir, True


def _finished(out_dir: Path, spec: PublicDataset) -> bool:
    """Whether ``out_dir`` is a finished folder of ``spec`` (its dataset.json, written last,
    names the same builder)."""
    try:
        info = json.loads((out_dir / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and str(info.get("source", "")).startswith(
        f"tfds:{spec.tfds_name} ")


def _tensorflow_datasets():
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise InputError(f"dqlabels datasets needs TensorFlow Datasets, which is not "
                         f"installed: {INSTALL_HINT}") from None
    return tfds


def _manual_dir(spec: PublicDataset, data_dir, manual_dir) -> Path | None:
    """The manual directory, with every file ``spec`` needs there (else one line naming the
    missing files, where to put them and where they come from)."""
    if not spec.manual_files:
        return None if manual_dir is None else Path(manual_dir)
    base = Path(data_dir) if data_dir is not None else Path.home() / "tensorflow_datasets"
    folder = Path(manual_dir) if manual_dir is not None else base / "downloads" / "manual"
    missing = [f for f in spec.manual_files if not (folder / f).is_file()]
    if missing:
        raise InputError(f"{spec.name} needs {', '.join(missing)} in {folder} (TensorFlow "
                         f"Datasets' manual directory; --manual-dir names another), from "
                         f"{spec.manual_source}")
    return folder


def _examples(tfds, spec: PublicDataset, data_dir, manual_dir):
    """The split's examples as numpy, and the builder's version (TensorFlow Datasets
    downloads, checks and caches the sources)."""
    from dqlabels.readers.tables import message_line

    config = tfds.download.DownloadConfig(manual_dir=None if manual_dir is None
                                          else str(manual_dir))
    try:
        builder = tfds.builder(spec.tfds_name, data_dir=None if data_dir is None
                               else str(data_dir))
        if not builder.is_prepared():  # a download: say at once when the network is missing
            unreachable = [host for host in spec.hosts if not reachable(host)]
            if unreachable:
                raise InputError(f"cannot reach {', '.join(unreachable)} (no network?): "
                                 f"TensorFlow Datasets downloads {spec.tfds_name}'s sources "
                                 f"once, then reads its cache (--data-dir); build the folder "
                                 f"where there is network and copy it here")
        builder.download_and_prepare(download_config=config)
        dataset = builder.as_dataset(split=spec.split, shuffle_files=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a refused download, a bad file
        raise InputError(f"could not get {spec.tfds_name} through TensorFlow Datasets "
                         f"({message_line(exc)[:200]}); it needs the network once (then its "
                         f"cache, --data-dir): build the folder where there is network and "
                         f"copy it") from None
    return tfds.as_numpy(dataset), str(builder.info.version)


def reachable(host: str, seconds: float = 3.0, port: int = 443) -> bool:
    """Whether a TCP connection to ``host``'s ``port`` (HTTPS) opens within ``seconds``."""
    import socket

    try:
        socket.create_connection((host, port), timeout=seconds).close()
        return True
    except OSError:
        return False


def _write_folder(folder: Path, spec: PublicDataset, examples, source: str, progress) -> None:
    """Images, answers, original labels, then dataset.json (last: it marks the folder done)."""
    from PIL import Image

    size = None
    with open(folder / "annotations.csv", "w", newline="", encoding="utf-8") as answers, \
            open(folder / "original_labels.csv", "w", newline="", encoding="utf-8") as labels:
        answer_rows, label_rows = csv.writer(answers), csv.writer(labels)
        answer_rows.writerow(ANNOTATION_COLUMNS)
        label_rows.writerow(("item", "label"))
        for count, example in enumerate(examples, 1):
            item = f"images/{example['id'].decode()}.png"  # Text features come as bytes
            image = example["image"]  # uint8, height × width × 3
            size = size or int(image.shape[0])
            Image.fromarray(image).save(folder / item)
            label_rows.writerow((item, spec.classes[int(example["label"])]))
            for annotator, label, seconds in spec.answers(example):
                answer_rows.writerow((item, annotator, spec.classes[label], seconds))
            if progress is not None and count % 1000 == 0:
                progress(count)
    if size is None:
        raise InputError(f"{spec.tfds_name} ({spec.split}) gave no examples")
    info = {"name": spec.name, "classes": list(spec.classes), "image_size": size,
            "annotations": "annotations.csv", "annotations_format": "long",
            "annotation_columns": {"item": "item", "annotator": "annotator", "label": "label"},
            "hard_labels": "original_labels.csv", "augment": "natural",
            "licence": spec.licence, "source": source,
            "anchors": KNOWN_DATASETS.get(spec.name, {}).get("anchors", [])}
    (folder / "dataset.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
