"""Every figure dqlabels draws, in one place: the audit's plots, the t-SNE panels and the
dataset preview. Matplotlib runs headless (Agg) and every PNG is written atomically.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np

from dqlabels._io import atomic_path


def pyplot():
    """Matplotlib's pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 110, tight: bool = True, close: bool = True) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and close it (unless ``close=False``: a
    figure the HTML page shows too)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight" if tight else None)
    if close:
        pyplot().close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# The audit (dqlabels evaluate --plots)


PLOT_FILES = ("entropy.png", "class_mass.png", "annotators.png")


def draw_audit_figures(result) -> dict:
    """The audit's figures, drawn once for the HTML page and the PNG files alike, from an
    :class:`~dqlabels.audit.report.Audit`: ``entropy`` (per-item entropy of the soft label and item
    quality), ``class_mass`` (class shares by hard, soft and weighted label) and, with annotator
    ids, ``annotators`` (the score the annotators are ranked by, over the annotators)."""
    report = result.report
    mass, classes = report.campaign.class_mass, report.campaign.classes
    drawn = {"entropy": ambiguity_histograms(result.entropy, result.quality),
             "class_mass": class_mass_bars(classes, {k: [mass[k][c] for c in classes]
                                                     for k in ("hard", "soft", "weighted")
                                                     if k in mass})}
    if report.annotators is not None:
        key = report.annotators.ranked_by
        values = [a.score(key) for a in report.annotators.per_annotator
                  if a.score(key) is not None]
        drawn["annotators"] = annotator_histogram(values, key)
    return drawn


def write_plots(result, directory, drawn: dict | None = None) -> list[Path]:
    """Write the audit's figures (:func:`draw_audit_figures`, the ones the HTML page shows) as
    ``<name>.png`` into ``directory`` (created if needed); ``drawn`` figures are kept open for
    the page, others drawn here and closed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = drawn if drawn is not None else draw_audit_figures(result)
    return [save_figure(fig, directory / f"{name}.png", close=drawn is None)
            for name, fig in figures.items()]


# ----------------------------------------------------------------------------------------------
# The one-page HTML report (dqlabels evaluate --html): figures as inline PNG


def png_data_uri(fig, dpi: int = 90) -> str:
    """``fig`` as a PNG data URI (matplotlib draws labels as pixels: nothing in it to
    escape)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def class_mass_bars(classes, series: dict):
    """Grouped bars of the share of items per class, one group member per entry of ``series``
    (name → shares in ``classes`` order)."""
    plt = pyplot()
    x = np.arange(len(classes))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.55 * len(classes) + 2.5), 3.2))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, [str(c) for c in classes], rotation=45 if len(classes) > 5 else 0,
                  ha="right" if len(classes) > 5 else "center")
    ax.set_ylabel("share of items")
    ax.legend(fontsize=8, ncols=len(series), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False)
    fig.tight_layout()
    return fig


def ambiguity_histograms(entropy: np.ndarray, quality: np.ndarray | None):
    """Histograms of the items' soft-label entropy and, when given (and defined for some item),
    their quality."""
    plt = pyplot()
    if quality is not None and not np.isfinite(quality).any():
        quality = None  # no item with two annotations
    panels = 2 if quality is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.0), squeeze=False)
    axes[0, 0].hist(entropy, bins=30, color="#2f6fb2")
    axes[0, 0].set_xlabel("entropy of the soft label (nats)")
    axes[0, 0].set_ylabel("items")
    if quality is not None:
        axes[0, 1].hist(quality[np.isfinite(quality)], bins=30, range=(0, 1), color="#55a868")
        axes[0, 1].set_xlabel("item quality")
    fig.tight_layout()
    return fig


def annotator_histogram(values, score: str):
    """Histogram of one score over the annotators."""
    fig, ax = pyplot().subplots(figsize=(5.2, 3.0))
    ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#8172b2")
    ax.set_xlabel(f"annotator {score.replace('_', ' ')}")
    ax.set_ylabel("annotators")
    fig.tight_layout()
    return fig


def reliability_diagram(bins: list[dict]):
    """Accuracy per top-class confidence bin (:func:`dqlabels.labels.scores.reliability_bins`)."""
    fig, ax = pyplot().subplots(figsize=(4.2, 3.6))
    filled = [b for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    ax.bar([(b["low"] + b["high"]) / 2 for b in filled], [b["accuracy"] for b in filled],
           width=1 / len(bins) * 0.9, color="#2f6fb2", alpha=0.8, label="accuracy")
    ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o",
            color="#b2452f", ms=4, label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-class confidence")
    ax.set_ylabel("accuracy vs argmax of the soft label")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# t-SNE (dqlabels tsne, dqlabels reproduce)


def draw_panels(axes, coordinates: np.ndarray, colours: dict, title_prefix: str = "") -> None:
    """Scatter ``coordinates`` once per colour panel onto ``axes``."""
    for ax, (title, values) in zip(axes, colours.items()):
        if values.ndim == 1:
            points = ax.scatter(coordinates[:, 0], coordinates[:, 1], c=values, cmap="viridis",
                                vmin=0, vmax=1, s=5, linewidths=0)
            ax.figure.colorbar(points, ax=ax, fraction=0.046, pad=0.02, label="mass on ellipse")
            ax.set_facecolor("#d9d9d9")  # both ends of viridis stay visible
        else:
            ax.scatter(coordinates[:, 0], coordinates[:, 1], c=np.clip(values, 0, 1), s=5,
                       linewidths=0)
            ax.set_facecolor("#202020")  # pure colours, as in the images: on black
        ax.set_title(f"{title_prefix}{title}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])


def tsne_figure(path, rows: dict, title: str) -> Path:
    """One row of panels per entry of ``rows`` (title prefix → (coordinates, colours from
    :func:`dqlabels.studies.tsne.point_colours`)), written as PNG."""
    plt = pyplot()
    columns = len(next(iter(rows.values()))[1])
    fig, axes = plt.subplots(len(rows), columns, figsize=(4.6 * columns, 4.0 * len(rows) + 0.2),
                             squeeze=False)
    for axes_row, (prefix, (coordinates, colours)) in zip(axes, rows.items()):
        draw_panels(axes_row, coordinates, colours, title_prefix=prefix)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------------------
# A look at a dataset (dqlabels generate/check-dataset --preview)


def write_preview(dataset, path: str | os.PathLike, num_images: int = 24,
                  seed: int = 0) -> Path:
    """Write a grid of sample images, each titled with its soft label, as PNG (atomically).

    Samples are drawn with ``seed``, preferring ambiguous images so that interpolations show.
    """
    from PIL import Image

    plt = pyplot()
    soft = dataset.soft_labels
    rng = np.random.default_rng(seed)
    num_images = min(num_images, dataset.num_items)
    ambiguous = np.flatnonzero(soft.max(axis=1) < 1)
    pure = np.flatnonzero(soft.max(axis=1) >= 1)
    take_ambiguous = min(ambiguous.size, num_images - min(pure.size, num_images // 3))
    chosen = np.concatenate([rng.choice(ambiguous, take_ambiguous, replace=False),
                             rng.choice(pure, num_images - take_ambiguous, replace=False)])
    chosen = np.sort(chosen)
    cols = min(6, num_images)
    rows = int(np.ceil(num_images / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, index in zip(axes.ravel(), chosen):
        with Image.open(dataset.paths[index]) as image:
            ax.imshow(np.asarray(image.convert("RGB")), interpolation="nearest")
        top = np.argsort(-soft[index], kind="stable")[:3]
        ax.set_title("\n".join(f"{dataset.classes[k]} {soft[index, k]:.2f}" for k in top
                               if soft[index, k] > 0), fontsize=7)
    fig.suptitle(f"{dataset.info.get('name', dataset.root.name)}: samples with their soft labels",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90, tight=False)
