"""The synthetic labels read back from the pixels alone (:func:`estimate_soft_labels`): how
well the images of :mod:`dqlabels.data.synthetic` determine their soft labels, the *image limit* of
the study tables and of ``dqlabels check-dataset``."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dqlabels.data.synthetic import ELLIPSE_RATIO
from dqlabels.errors import InputError

# A pixel is part of the shape when its brightest channel exceeds half the range (every shape's
# brightest channel is 255; resampled edges are in between).
LIT_THRESHOLD = 127
ESTIMATE_CHUNK = 1024


def estimate_soft_labels(images) -> np.ndarray:
    """Estimate the soft labels of synthetic images from their pixels alone (num × 6).

    The reader of the pixels that the networks are compared with ("image limit"):

    - colour: the channel sums of the shape's pixels, normalised to sum 1, are the colour
      weights (a mix (1 − t)·A + t·B keeps the ratio (1 − t) : t whatever it is rescaled by);
    - shape: the axis ratio r = √(λ₂/λ₁) from the eigenvalues of the second central moments of
      the lit mask (an ellipse with semi-axes a ≥ b has variances a²/4 and b²/4), and the weight
      on ellipse s = (1 − r)/(1 − 0.5), clipped to [0, 1];
    - the soft label is their outer product, in :data:`CLASSES` order.

    Vectorised over whole chunks of images (no Python per pixel). An image with no lit pixel gets
    the uniform distribution. Exact only when the shape lies inside the frame: a shape cut by the
    frame shows neither its axis ratio nor, when it fills the frame, anything of its shape.

    Args:
        images: uint8 array, ``(num, height, width, 3)`` or one ``(height, width, 3)`` image.

    Returns:
        float64 array ``(num, 6)``, rows summing to 1.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"Expected images of shape (num, height, width, 3). "
                         f"Received: shape {images.shape}")
    return np.concatenate([_estimate_chunk(images[i:i + ESTIMATE_CHUNK])
                           for i in range(0, max(len(images), 1), ESTIMATE_CHUNK)])


def _estimate_chunk(images: np.ndarray) -> np.ndarray:
    n, height, width, _ = images.shape
    lit = (images.max(axis=3) > LIT_THRESHOLD).astype(np.float32)
    colour = np.einsum("nhwc,nhw->nc", images.astype(np.float32), lit)[:, ::-1]  # B, G, R
    colour_total = colour.sum(axis=1, keepdims=True)
    colour = np.divide(colour, colour_total, out=np.full_like(colour, 1 / 3),
                       where=colour_total > 0).astype(np.float64)

    ys = np.arange(height, dtype=np.float64)
    xs = np.arange(width, dtype=np.float64)
    rows, columns = lit.sum(axis=2), lit.sum(axis=1)  # (n, h), (n, w) profiles
    count = rows.sum(axis=1)
    safe = np.maximum(count, 1.0)
    mean_y, mean_x = rows @ ys / safe, columns @ xs / safe
    var_y = rows @ (ys * ys) / safe - mean_y**2
    var_x = columns @ (xs * xs) / safe - mean_x**2
    cov_xy = np.einsum("nhw,h,w->n", lit, ys, xs) / safe - mean_x * mean_y
    half_sum = (var_x + var_y) / 2
    spread = np.sqrt(((var_x - var_y) / 2) ** 2 + cov_xy**2)
    major, minor = half_sum + spread, np.maximum(half_sum - spread, 0.0)
    ratio = np.sqrt(np.divide(minor, major, out=np.ones_like(major), where=major > 0))
    ellipse = np.clip((1.0 - ratio) / (1.0 - ELLIPSE_RATIO), 0.0, 1.0)
    shape = np.stack([1.0 - ellipse, ellipse], axis=1)
    soft = (colour[:, :, None] * shape[:, None, :]).reshape(n, 6)
    soft[count == 0] = 1.0 / 6
    return soft


def estimate_soft_labels_from_files(paths, progress=None) -> np.ndarray:
    """:func:`estimate_soft_labels` of image files (decoded chunk by chunk; any one size)."""

    paths = list(paths)
    chunks = []
    for start in range(0, len(paths), ESTIMATE_CHUNK):
        batch = []
        for path in paths[start:start + ESTIMATE_CHUNK]:
            with Image.open(path) as image:
                batch.append(np.asarray(image.convert("RGB")))
        try:
            chunks.append(estimate_soft_labels(np.stack(batch)))
        except ValueError:  # images of several sizes: one at a time
            chunks.append(np.concatenate([estimate_soft_labels(b) for b in batch]))
        if progress:
            progress(len(batch))
    return np.concatenate(chunks) if chunks else np.zeros((0, 6))
