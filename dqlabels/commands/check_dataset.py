"""``dqlabels check-dataset``: a dataset folder's annotations, image paths and images, and for
synthetic data how well the pixels determine the labels (:func:`run_check_dataset`)."""

from __future__ import annotations

from dqlabels._io import check_output_file
from dqlabels.data.datasets import (
    dataset_summary,
    format_dataset_summary,
    load_dataset,
    verify_images,
)


def run_check_dataset(dataset, *, decode: bool = True, preview_path=None, seed: int = 0,
                      overwrite: bool = False) -> str:
    """Check ``dataset`` (decoding every image with ``decode``); returns the summary the
    command prints, and writes the preview grid to ``preview_path`` when given."""
    if preview_path is not None:
        check_output_file(preview_path, overwrite=overwrite)
    data = load_dataset(dataset)
    if decode:
        verify_images(data)
    text = format_dataset_summary(dataset_summary(data, pixel_estimate=decode), decoded=decode)
    if preview_path is not None:
        from dqlabels.figures import write_preview

        write_preview(data, preview_path, seed=seed)
        text += f"\nWrote a preview to {preview_path}."
    return text
