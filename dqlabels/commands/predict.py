"""``dqlabels predict``: a trained model's predictions for images, as a file that
``dqlabels evaluate --predictions`` and ``dqlabels plan --predictions`` read (docs/conventions.md §13).

The model is a training run's folder (``model.keras`` with the run's ``config.json``, which
records the class order and the image size) or a ``.keras`` file of a dqlabels model (its class
names from a ``config.json`` beside it, else from ``classes``). Images are files, folders
(searched recursively for PNG, JPEG, BMP, GIF and TIFF files) or dataset folders (every item of
the dataset's annotation file). The images go through the evaluation pipeline of training
(:func:`dqlabels.learning.tfdata.make_evaluation_dataset`: decode, resize to the model's input size), in
batches.

Item ids: a dataset folder's items are its annotation file's (so the predictions line up with
its annotations); other images are named by their path as given, relative to the current
folder when they are inside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dqlabels._io import atomic_path, check_output_file, write_csv_atomic
from dqlabels.config import PREDICT_BATCH_SIZE
from dqlabels.data.datasets import ANNOTATION_FILES, load_dataset, verify_image_files
from dqlabels.errors import InputError
from dqlabels.learning.models import FEATURE_LAYER, HEAD_LAYER, load_model
from dqlabels.readers.tables import natural_order

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
BATCH_SIZE = PREDICT_BATCH_SIZE


def resolve_model(model_path) -> tuple[Path, tuple[str, ...] | None, int | None]:
    """The ``.keras`` file of a run folder or a model path, with the class names and image size
    recorded beside it (None where nothing records them)."""
    path = Path(model_path)
    if path.is_dir():
        path = path / "model.keras"
        if not path.is_file():
            raise InputError(f"{model_path}: no model.keras (not a finished dqlabels run)")
    elif not path.is_file():
        raise InputError(f"{path}: no such model file or run folder")
    record = path.parent / "config.json"
    if not record.is_file():
        return path, None, None
    try:
        config = json.loads(record.read_text(encoding="utf-8"))
        return (path, tuple(config["identity"]["classes"]),
                int(config["config"]["image_size"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return path, None, None


def collect_images(sources) -> tuple[np.ndarray, list[str]]:
    """Item ids and image paths of the given files, folders and dataset folders."""
    items, paths = [], []
    for source in sources:
        source = Path(source)
        if not source.exists():
            raise InputError(f"{source}: no such image file or folder")
        if source.is_dir() and (any((source / n).is_file() for n in ANNOTATION_FILES)
                                or (source / "dataset.json").is_file()):
            data = load_dataset(source, check_images=True)
            items += [str(item) for item in data.items]
            paths += [str(p) for p in data.paths]
            continue
        found = [source] if source.is_file() else sorted(
            p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if source.is_dir() and not found:
            raise InputError(f"{source}: no image files (PNG, JPEG, BMP, GIF, TIFF) in the folder")
        for path in found:  # one per image
            items.append(_item_id(path))
            paths.append(str(path))
    if not items:
        raise InputError("no images given")
    order = natural_order(np.asarray(items, dtype=object))
    items = np.asarray(items, dtype=object)[order]
    paths = [paths[i] for i in order]
    repeated = np.flatnonzero(items[1:] == items[:-1])
    if repeated.size:
        raise InputError(f"{items[repeated[0]]}: the same image is given twice")
    return items, paths


def _item_id(path: Path) -> str:
    """A path as given, relative to the current folder when inside it (POSIX separators)."""
    absolute = path.absolute()
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def predict_images(model_path, images, out_path, *, features_path=None, classes=None,
                   batch_size: int = BATCH_SIZE, overwrite: bool = False, verbose=0) -> dict:
    """``dqlabels predict`` as a function: write the predictions CSV (``item`` and one
    probability column per class, in the model's class order) and, with ``features_path``, the
    GAP features (``.npy``, one row per CSV row). Returns a small summary.

    Raises:
        InputError: an output that exists (unless ``overwrite``), a model that cannot be loaded
            or does not fit (not a dqlabels model, another number of classes, no class names),
            images that cannot be decoded (named); nothing is written then.
    """
    from dqlabels.learning.inference import predict_with_features
    from dqlabels.learning.tfdata import make_evaluation_dataset

    outputs = [p for p in (out_path, features_path) if p is not None]
    for path in outputs:
        check_output_file(path, overwrite=overwrite)
    if features_path is not None and os.path.abspath(features_path) == os.path.abspath(out_path):
        raise InputError(f"{features_path}: out_path and features_path name the same file")
    model_file, recorded, image_size = resolve_model(model_path)
    names = tuple(classes) if classes is not None else recorded
    if names is None:
        raise InputError(f"{model_file}: no config.json beside the model records its classes; "
                         f"give them with classes=A,B,...")
    model = _load(model_file)
    units = model.get_layer(HEAD_LAYER).units
    if units != len(names):
        raise InputError(f"{model_file}: the model predicts {units} classes, not the "
                         f"{len(names)} given ({', '.join(names)})")
    input_size = model.input_shape[1]
    if image_size is not None and input_size is not None and image_size != input_size:
        raise InputError(f"{model_file}: the model takes {input_size}-px images but its run "
                         f"recorded {image_size} px")
    image_size = input_size or image_size
    items, paths = collect_images(images)
    verify_image_files(paths, image_size)
    dataset = make_evaluation_dataset(paths, np.zeros((len(paths), units), np.float32),
                                      image_size, batch_size)
    probabilities, features = predict_with_features(model, dataset, verbose=verbose)
    write_csv_atomic(out_path, ("item", *names),
                     ((item, *row) for item, row in zip(items, probabilities.tolist())))
    if features_path is not None:
        with atomic_path(features_path, suffix=".npy") as tmp:
            np.save(tmp, features.astype(np.float32), allow_pickle=False)
    return {"model": str(model_file), "classes": list(names), "image_size": int(image_size),
            "num_images": len(items), "out": str(out_path),
            "features": None if features_path is None else str(features_path)}


def _load(model_file: Path):
    """A dqlabels model from ``model_file`` (safe mode), or a one-line InputError."""
    try:
        model = load_model(model_file)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a file it cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{model_file}: cannot be loaded as a Keras model ({first[:200]})") \
            from None
    layers = {layer.name for layer in model.layers}
    if not {HEAD_LAYER, FEATURE_LAYER} <= layers:
        raise InputError(f"{model_file}: not a dqlabels model (expected the layers "
                         f"{HEAD_LAYER!r} and {FEATURE_LAYER!r})")
    return model


def run_predict(model_path, images, out_path, *, features_path=None, classes=None,
                batch_size: int = BATCH_SIZE, overwrite: bool = False, verbose="auto") -> str:
    """``dqlabels predict``: :func:`predict_images`, and the line the command prints.
    ``classes``: the class names as one comma-separated string (the command's ``--classes``)
    or a list."""
    if isinstance(classes, str):
        classes = [c.strip() for c in classes.split(",")]
    summary = predict_images(model_path, images, out_path, features_path=features_path,
                             classes=classes, batch_size=batch_size, overwrite=overwrite,
                             verbose=verbose)
    return (f"Wrote predictions of {summary['num_images']:,} images ({summary['image_size']} px, "
            f"classes {', '.join(summary['classes'])}) to {out_path}"
            + (f", features to {features_path}" if features_path else "") + ".")
