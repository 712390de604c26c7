"""t-SNE of the learned feature space (docs/conventions.md §11), coloured by the soft labels.

scikit-learn's TSNE with the paper's settings: perplexity 30, 5,000 iterations, PCA
initialisation, a fixed seed. scikit-learn's ``max_iter`` includes its 250 early-exaggeration
steps, and its early stopping is switched off (``n_iter_without_progress=max_iter``,
``min_grad_norm=0``) so that every iteration runs.

Colours (:func:`point_colours`): for the synthetic dataset two panels — colour interpolation
(point colour = the soft label's mass on red, green and blue, as RGB) and shape interpolation
(a colormap over the mass on ellipse); for a 3-class dataset the soft label itself as RGB; for
more classes a mix of a class palette weighted by the soft label. RGB mixes are rescaled so that
their largest channel is 1, as the generator mixes colours: a 50/50 red–green point is yellow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dqlabels._io import check_output_file, read_csv_column, write_csv_atomic
from dqlabels.config import TSNE_MAX_ITER as MAX_ITER
from dqlabels.config import TSNE_MIN_ITER
from dqlabels.config import TSNE_PERPLEXITY as PERPLEXITY
from dqlabels.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from dqlabels.errors import InputError
from dqlabels.readers.tables import NpyRefused, load_npy


def embed(features: np.ndarray, perplexity: float = PERPLEXITY, max_iter: int = MAX_ITER,
          seed: int = 0) -> np.ndarray:
    """2-D t-SNE coordinates of ``features`` (n × d).

    The perplexity must be below the number of points; with fewer than ``3·perplexity + 1``
    points it is lowered to ``(n − 1) / 3`` (and the caller can read the value used from
    :func:`effective_perplexity`).
    """
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 4:
        raise InputError(f"t-SNE needs at least 4 feature vectors; got shape {features.shape}")
    if features.shape[1] < 2:  # the PCA initialisation needs two dimensions to start from
        raise InputError(f"t-SNE needs features of at least 2 dimensions; got shape "
                         f"{features.shape}")
    if max_iter < TSNE_MIN_ITER:
        raise InputError(f"Expected max_iter >= {TSNE_MIN_ITER} (scikit-learn's exaggeration "
                         f"phase). Received: max_iter={max_iter}")
    tsne = TSNE(n_components=2, perplexity=effective_perplexity(perplexity, features.shape[0]),
                max_iter=int(max_iter), init="pca", random_state=seed,
                n_iter_without_progress=int(max_iter), min_grad_norm=0.0)
    return tsne.fit_transform(features)


def effective_perplexity(perplexity: float, num_points: int) -> float:
    return float(min(perplexity, (num_points - 1) / 3))


def has_synthetic_classes(classes) -> bool:
    """Whether ``classes`` are the synthetic dataset's six (its two colour panels apply)."""
    return tuple(classes) == SYNTHETIC_CLASSES


def _to_unit_max(rgb: np.ndarray) -> np.ndarray:
    top = rgb.max(axis=1, keepdims=True)
    return np.divide(rgb, top, out=np.zeros_like(rgb), where=top > 0)


def point_colours(soft: np.ndarray, classes) -> dict[str, np.ndarray]:
    """Panel title → per-point colours (n × 3 RGB in [0, 1], or n values for a colormap)."""
    soft = np.asarray(soft, dtype=np.float64)
    classes = list(classes)
    if has_synthetic_classes(classes):
        mass = {colour: soft[:, [classes.index(f"{colour}_circle"), classes.index(f"{colour}_ellipse")]].sum(1)
                for colour in ("red", "green", "blue")}
        rgb = np.stack([mass["red"], mass["green"], mass["blue"]], axis=1)
        ellipse = soft[:, [i for i, c in enumerate(classes) if c.endswith("_ellipse")]].sum(1)
        return {"colour interpolation": _to_unit_max(rgb), "shape interpolation": ellipse}
    if len(classes) == 3:
        return {"soft label as RGB": _to_unit_max(soft)}
    import matplotlib

    palette = np.asarray(matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"].colors)
    palette = palette[np.arange(len(classes)) % len(palette)]
    return {"soft label (class palette mix)": soft @ palette}


def run_features(run_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Features, item ids, soft labels and classes of a finished training run."""
    from dqlabels.data.datasets import load_dataset

    run_dir = Path(run_dir)
    needed = [run_dir / n for n in ("features.npy", "features_items.csv", "config.json")]
    missing = [p.name for p in needed if not p.exists()]
    if missing:
        raise InputError(f"{run_dir}: not a finished dqlabels run (missing {', '.join(missing)})")
    try:
        features = load_npy(run_dir / "features.npy")
    except NpyRefused as refused:  # never unpickled: an object array refused
        what = {"objects": "holds Python objects", "archive": "is an .npz archive of arrays"
                }.get(refused.kind, f"is not a readable .npy file ({refused.detail})")
        raise InputError(f"{run_dir}: features.npy {what}; expected the features a dqlabels "
                         f"run saves") from None
    items = read_csv_column(run_dir / "features_items.csv", "item")
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    dataset = load_dataset(config["identity"]["dataset"], check_images=False)
    index = {item: i for i, item in enumerate(dataset.items)}
    unknown = [item for item in items if item not in index]
    if unknown or len(items) != features.shape[0]:
        raise InputError(f"{run_dir}: features do not match the dataset's items")
    soft = dataset.soft_labels[[index[item] for item in items]]
    return features, np.asarray(items, dtype=object), soft, dataset.classes


def embed_runs(run_dirs: dict, out_png, out_csv, title: str, *, panel_titles: dict | None = None,
               perplexity=PERPLEXITY, max_iter=MAX_ITER, seed=0) -> Path:
    """The t-SNE of each run's test features (``{name: run_dir}``), one row of panels per run
    (titled by ``panel_titles[name]``, default the name): the coordinates to ``out_csv``
    (``item, x, y``; with a leading ``mode`` column, the run's name, when there are several
    runs) and the figure to ``out_png``."""
    from dqlabels.figures import tsne_figure

    panels, rows = {}, []
    for name, run_dir in run_dirs.items():
        features, items, soft, classes = run_features(run_dir)
        coordinates = embed(features, perplexity, max_iter, seed)
        panels[(panel_titles or {}).get(name, name)] = (coordinates,
                                                        point_colours(soft, classes))
        rows += [(*(() if len(run_dirs) == 1 else (name,)), item, x, y)
                 for item, (x, y) in zip(items, coordinates.tolist())]
    header = ("item", "x", "y") if len(run_dirs) == 1 else ("mode", "item", "x", "y")
    write_csv_atomic(out_csv, header, rows)
    return tsne_figure(out_png, panels, title)


def tsne_run(run_dir, *, out_png=None, out_csv=None, perplexity=PERPLEXITY, max_iter=MAX_ITER,
             seed=0, overwrite=False) -> tuple[Path, Path]:
    """``dqlabels tsne RUN_DIR``: coordinates (CSV: item, x, y) and the figure (PNG)."""
    run_dir = Path(run_dir)
    out_png = Path(out_png or run_dir / "tsne.png")
    out_csv = Path(out_csv or run_dir / "tsne.csv")
    for path in (out_png, out_csv):
        check_output_file(path, overwrite=overwrite)
    num_items = len(read_csv_column(run_dir / "features_items.csv", "item")) if \
        (run_dir / "features_items.csv").exists() else 0
    embed_runs({"": run_dir}, out_png, out_csv,
               f"t-SNE of the GAP features: {run_dir.name} (perplexity "
               f"{effective_perplexity(perplexity, max(num_items, 1)):g}, {max_iter} iterations)",
               perplexity=perplexity, max_iter=max_iter, seed=seed)
    return out_png, out_csv
