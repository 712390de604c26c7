"""``dqlabels generate``: the paper's synthetic dataset into a folder, optionally with simulated
annotators and a preview grid (:func:`run_generate`)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from dqlabels._io import check_output_file
from dqlabels.data.simulated_crowd import parse_noise
from dqlabels.data.synthetic import SimulatedCrowd, check_generate_options, generate_dataset


def run_generate(out_dir, *, num_images: int, image_size: int, seed: int = 0,
                 annotators: int = 0, annotator_pool: int | None = None,
                 annotator_noise: str = "", annotator_bias: float = 0.0,
                 placement: str = "inside", preview_path=None, workers: int | None = None,
                 overwrite: bool = False, progress_bar=None) -> str:
    """Check every option and output, then generate; returns the lines the command prints.
    ``progress_bar(length)``: a context manager whose value has ``update(n)`` (the command
    line's bar), entered only once the checks pass."""
    crowd = SimulatedCrowd(annotators, annotator_pool, parse_noise(annotator_noise),
                           annotator_bias)
    check_generate_options(out_dir, num_images, image_size, crowd, overwrite)
    if preview_path is not None:
        Path(preview_path).absolute().parent.mkdir(parents=True, exist_ok=True)
        check_output_file(preview_path, overwrite=overwrite)
    start = time.perf_counter()
    bar = progress_bar(max(num_images, 0)) if progress_bar else contextlib.nullcontext()
    with bar as shown:
        path = generate_dataset(out_dir, num_images=num_images, image_size=image_size, seed=seed,
                                annotators=crowd, overwrite=overwrite, workers=workers,
                                progress=None if shown is None else shown.update,
                                placement=placement)
    lines = [f"Wrote {num_images:,} images of {image_size}×{image_size} px to {path} "
             f"in {time.perf_counter() - start:.1f} s."]
    if preview_path is not None:
        from dqlabels.data.datasets import load_dataset
        from dqlabels.figures import write_preview

        write_preview(load_dataset(path), preview_path, seed=seed)
        lines.append(f"Wrote a preview to {preview_path}.")
    return "\n".join(lines)
