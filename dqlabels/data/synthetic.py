"""The paper's synthetic dataset, made from scratch (docs/conventions.md §6).

Six classes, ``blue_circle, blue_ellipse, green_circle, green_ellipse, red_circle,
red_ellipse``: one filled shape with hard edges on a black background, at a random centre, size
and rotation. 40% of the images are pure (exactly one class); 60% interpolate colour, shape, or
both (one third each):

- colour: between two of red, green and blue, weight t ~ U(0, 1); the colour is
  (1 − t)·A + t·B rescaled so that its largest channel is 255 (red–green at t = 0.5 is yellow);
  the colour distribution is (1 − t) on A, t on B;
- shape: weight s ~ U(0, 1) between circle (axis ratio 1) and ellipse (axis ratio 0.5);
  the axis ratio is 1 − s·(1 − 0.5); the shape distribution is (1 − s) circle, s ellipse.

The soft label is the outer product of the colour and shape distributions: exact, no noise,
only ambiguity.

Placement (generator version 2):

- ``inside`` (the default): the whole shape lies inside the frame (it may touch it). The
  semi-major axis is drawn from U(0.3, 0.55) of the side, shrunk until the rotated shape's
  bounding box fits the frame, and the centre is drawn uniformly where the box fits. The pixels
  then determine the soft label: :func:`estimate_soft_labels` recovers it from the image alone.
- ``free``: version 1's images: semi-major axis U(0.3, 0.8), centre anywhere in the frame, so
  most shapes are cut by the frame, as in the original dataset's sample images. A cut shape no
  longer shows its axis ratio, and a label the image cannot show is noise.

Both placements use the same random draws, so the same seed gives the same classes, colours and
labels; only sizes and positions differ.

Everything random is drawn up front from ``numpy.random.default_rng(seed)`` in a fixed order,
so the same seed gives the same pixels, labels and (with the same Pillow and zlib) PNG bytes,
whatever the number of worker processes. Angles go through Python's ``math`` and are rounded to
1e-12, so that a last-bit difference between vectorised sine implementations cannot move a
boundary pixel on another machine.

Examples:
    >>> from dqlabels.data.synthetic import sample_parameters, render, soft_labels_of
    >>> params = sample_parameters(4, seed=0)
    >>> render(params, 32).shape, soft_labels_of(params).shape
    ((4, 32, 32, 3), (4, 6))
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dqlabels._io import check_output_folder, remove_entries, write_csv_atomic
from dqlabels.config import (
    GENERATE_IMAGE_SIZE,
    GENERATE_NUM_IMAGES,
    MIN_IMAGE_SIZE,
    PLACEMENTS,
    check_choice,
)
from dqlabels.data.simulated_crowd import SimulatedCrowd, simulate_annotations
from dqlabels.errors import InputError

CLASSES = ("blue_circle", "blue_ellipse", "green_circle", "green_ellipse", "red_circle",
           "red_ellipse")
DCIC_NAMES = ("bc", "be", "gc", "ge", "rc", "re")
COLOURS = ("blue", "green", "red")
RGB = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], dtype=np.float64)  # in COLOURS order
ELLIPSE_RATIO = 0.5
PURE_FRACTION = 0.4
# Semi-major axis as a fraction of the image side, per placement; tuned so that channel means and
# stds match the original data (see the calibration table in docs/generate.md).
RADIUS_RANGES = {"inside": (0.3, 0.55), "free": (0.3, 0.8)}
# inside: the rotated shape's bounding box reaches at most this far from the centre (in units
# of the side): 0.5 lets a shape touch the frame, never cross it.
MAX_HALF_EXTENT = 0.5
GENERATOR_VERSION = 2
KINDS = ("pure", "colour", "shape", "colour+shape")


@dataclass(frozen=True)
class Parameters:
    """Per-image generator parameters (arrays of length ``num_images``).

    Attributes:
        kind: 0 pure, 1 colour interpolation, 2 shape interpolation, 3 both.
        colour_a, colour_b: indices into :data:`COLOURS` (equal for a pure colour).
        t: colour weight on ``colour_b``; s: shape weight on ellipse.
        centre_x, centre_y, radius: in units of the image side.
        cos, sin: of the rotation angle.
    """

    kind: np.ndarray
    colour_a: np.ndarray
    colour_b: np.ndarray
    t: np.ndarray
    s: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    radius: np.ndarray
    cos: np.ndarray
    sin: np.ndarray

    def __len__(self) -> int:
        return int(self.kind.size)

    def take(self, index) -> Parameters:
        return Parameters(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    @property
    def axis_ratio(self) -> np.ndarray:
        return 1.0 - self.s * (1.0 - ELLIPSE_RATIO)


def sample_parameters(num_images: int, seed: int = 0, placement: str = "inside") -> Parameters:
    """Draw the parameters of ``num_images`` images; exactly round(40%) of them are pure.

    ``placement`` is ``"inside"`` (every shape lies inside the frame) or ``"free"`` (version 1:
    shapes may be cut by the frame). The random draws are the same for both.
    """
    if num_images < 1:
        raise InputError(f"Expected num_images >= 1. Received: num_images={num_images}")
    check_placement(placement)
    rng = np.random.default_rng(seed)
    num_pure = int(round(PURE_FRACTION * num_images))
    kind = np.concatenate([np.zeros(num_pure, np.int64),
                           rng.integers(1, 4, num_images - num_pure)])
    kind = kind[rng.permutation(num_images)]
    colour_a = rng.integers(0, 3, num_images)
    colour_b = (colour_a + rng.integers(1, 3, num_images)) % 3  # any other colour: a cycle
    t = rng.random(num_images)
    s = rng.random(num_images)
    pure_shape = rng.integers(0, 2, num_images).astype(np.float64)  # circle or ellipse
    centre_x, centre_y = rng.random(num_images), rng.random(num_images)
    radius = rng.uniform(*RADIUS_RANGES[placement], num_images)
    angle = rng.uniform(0.0, math.pi, num_images)

    interpolates_colour = (kind == 1) | (kind == 3)
    interpolates_shape = (kind == 2) | (kind == 3)
    colour_b = np.where(interpolates_colour, colour_b, colour_a)
    t = np.where(interpolates_colour, t, 0.0)
    s = np.where(interpolates_shape, s, pure_shape)
    cos = np.array([round(math.cos(a), 12) for a in angle.tolist()])
    sin = np.array([round(math.sin(a), 12) for a in angle.tolist()])
    if placement == "inside":
        radius, centre_x, centre_y = _fit_inside(radius, 1.0 - s * (1.0 - ELLIPSE_RATIO), cos,
                                                 sin, centre_x, centre_y)
    return Parameters(kind, colour_a, colour_b, t, s, centre_x, centre_y, radius, cos, sin)


def _fit_inside(radius, axis_ratio, cos, sin, unit_x, unit_y):
    """Shrink each shape until its rotated bounding box fits the frame, then place its centre
    uniformly (``unit_x``, ``unit_y`` in [0, 1)) where the box fits."""
    minor = radius * axis_ratio
    # Half-width and half-height of a rotated ellipse's bounding box.
    half_x = np.sqrt((radius * cos) ** 2 + (minor * sin) ** 2)
    half_y = np.sqrt((radius * sin) ** 2 + (minor * cos) ** 2)
    scale = np.minimum(1.0, MAX_HALF_EXTENT / np.maximum(half_x, half_y))
    half_x, half_y = half_x * scale, half_y * scale
    return (radius * scale, half_x + unit_x * (1.0 - 2.0 * half_x),
            half_y + unit_y * (1.0 - 2.0 * half_y))


def check_placement(placement: str) -> None:
    check_choice("placement", placement, PLACEMENTS)


def soft_labels_of(params: Parameters) -> np.ndarray:
    """Exact soft labels (num_images × 6, in :data:`CLASSES` order)."""
    n = len(params)
    colour = np.zeros((n, 3))
    rows = np.arange(n)
    np.add.at(colour, (rows, params.colour_a), 1.0 - params.t)
    np.add.at(colour, (rows, params.colour_b), params.t)
    shape = np.stack([1.0 - params.s, params.s], axis=1)
    return (colour[:, :, None] * shape[:, None, :]).reshape(n, 6)


def colours_of(params: Parameters) -> np.ndarray:
    """RGB colour of each shape (num_images × 3, uint8): the weighted mix, max channel 255."""
    mix = (1.0 - params.t)[:, None] * RGB[params.colour_a] + params.t[:, None] * RGB[params.colour_b]
    mix *= 255.0 / mix.max(axis=1, keepdims=True)
    return np.rint(mix).astype(np.uint8)


def render(params: Parameters, image_size: int) -> np.ndarray:
    """Render images (num_images × size × size × 3, uint8), hard edges, no anti-aliasing.

    A pixel is filled when its centre lies inside the rotated ellipse: with (dx, dy) from the
    shape's centre, u = dx·cos + dy·sin and v = −dx·sin + dy·cos, inside means
    (u/a)² + (v/b)² ≤ 1, which expands to A·dx² + B·dx·dy + C·dy² ≤ 1.
    """
    rgbx = render_rgbx(params, image_size)
    return rgbx.view(np.uint8).reshape(*rgbx.shape, 4)[..., :3]


def render_rgbx(params: Parameters, image_size: int) -> np.ndarray:
    """Render as little-endian uint32 pixels whose bytes are R, G, B, 0 (num × size × size).

    Scanline rasterisation: for each row, A·dx² + (B·dy)·dx + (C·dy² − 1) ≤ 0 is a quadratic
    in dx whose two roots bound the filled span, so the geometry costs O(size) per image and
    each pixel only two integer comparisons. Colouring the mask by one 32-bit multiply is an
    order of magnitude faster than broadcasting over a trailing axis of 3, and Pillow reads the
    buffer directly with rawmode ``RGBX``.
    """
    size = int(image_size)
    a = params.radius * size
    b = a * params.axis_ratio
    inv_a2, inv_b2 = 1.0 / (a * a), 1.0 / (b * b)
    coef_a = (params.cos**2 * inv_a2 + params.sin**2 * inv_b2)[:, None]
    coef_b = (2.0 * params.cos * params.sin * (inv_a2 - inv_b2))[:, None]
    coef_c = (params.sin**2 * inv_a2 + params.cos**2 * inv_b2)[:, None]
    centre_x = (params.centre_x * size)[:, None]
    dy = (np.arange(size, dtype=np.float64) + 0.5)[None, :] - (params.centre_y * size)[:, None]
    linear = coef_b * dy
    discriminant = linear * linear - 4.0 * coef_a * (coef_c * dy * dy - 1.0)
    root = np.sqrt(np.maximum(discriminant, 0.0))
    # Pixel j is inside when its centre j + 0.5 lies between the roots (in image coordinates).
    first = np.ceil((-linear - root) / (2.0 * coef_a) + centre_x - 0.5)
    last = np.floor((-linear + root) / (2.0 * coef_a) + centre_x - 0.5)
    empty = discriminant < 0
    first = np.where(empty, size, np.clip(first, 0, size)).astype(np.int16)
    last = np.where(empty, -1, np.clip(last, -1, size - 1)).astype(np.int16)
    columns = np.arange(size, dtype=np.int16)
    inside = (columns >= first[:, :, None]) & (columns <= last[:, :, None])
    colour = colours_of(params).astype("<u4")
    packed = colour[:, 0] | (colour[:, 1] << 8) | (colour[:, 2] << 16)
    return np.multiply(inside.view(np.uint8), packed[:, None, None], dtype="<u4")


# ----------------------------------------------------------------------------------------------
# Writing a dataset folder


def image_names(num_images: int) -> list[str]:
    width = max(5, len(str(num_images - 1)))
    return [f"images/{i:0{width}d}.png" for i in range(num_images)]


def _encode_chunk(job) -> int:
    """Worker: render, PNG-encode and write one contiguous chunk of images."""
    from PIL import Image

    params, image_size, root, names, compress_level = job
    size = (int(image_size), int(image_size))
    for pixels, name in zip(render_rgbx(params, image_size), names):
        image = Image.frombytes("RGB", size, pixels.tobytes(), "raw", "RGBX")
        image.save(Path(root) / name, format="PNG", compress_level=compress_level)
    return len(names)


COMPRESS_LEVEL = 6
CHUNK_IMAGES = 250


def write_images(params: Parameters, image_size: int, root: Path, names: list[str],
                 workers: int | None = None, progress=None, meanwhile=None) -> None:
    """Render and write every image, chunks spread over ``workers`` processes.

    ``meanwhile``, if given, is called in this process while the workers run (the generator
    writes its tables then, so they cost no extra time).
    """
    chunks = [(params.take(slice(i, i + CHUNK_IMAGES)), image_size, str(root),
               names[i:i + CHUNK_IMAGES], COMPRESS_LEVEL)
              for i in range(0, len(names), CHUNK_IMAGES)]
    workers = _workers(workers, len(chunks))
    if workers == 1:
        if meanwhile:
            meanwhile()
        for job in chunks:
            done = _encode_chunk(job)
            if progress:
                progress(done)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        futures = [pool.submit(_encode_chunk, job) for job in chunks]
        if meanwhile:
            meanwhile()
        for future in futures:
            done = future.result()
            if progress:
                progress(done)


def _workers(workers, num_chunks) -> int:
    from dqlabels._parallel import num_workers

    return max(1, min(workers or num_workers(), num_chunks))


def generate_dataset(
    out_dir: str | os.PathLike,
    num_images: int = GENERATE_NUM_IMAGES,
    image_size: int = GENERATE_IMAGE_SIZE,
    seed: int = 0,
    annotators: int | SimulatedCrowd = 0,
    *,
    overwrite: bool = False,
    workers: int | None = None,
    progress=None,
    placement: str = "inside",
) -> Path:
    """Generate the synthetic dataset into the dataset folder ``out_dir`` (docs/conventions.md §7).

    Writes ``images/NNNNN.png``, ``annotations.csv`` (exact soft labels, probs format),
    ``metadata.csv`` (the generator parameters of each image), ``dataset.json`` and, with
    simulated annotators, ``simulated_annotations.csv`` (long format, one row per simulated
    annotation) and ``annotators.csv`` (each annotator's noise rate). Everything is written into a temporary folder beside ``out_dir`` and renamed
    at the end, so an interrupted run leaves no half-written dataset.

    Args:
        out_dir: the folder to create (missing parent folders are created too); refused when
            it exists and is not empty, unless ``overwrite``.
        num_images, image_size, seed: what to make (image_size ≥ 32).
        annotators: simulated annotations per image (0: none), or a :class:`SimulatedCrowd`
            (a pool of annotators, each with its own rate of random answers).
        placement: ``"inside"`` (every shape inside the frame, the default) or ``"free"``
            (shapes may be cut by the frame, as generator version 1 made them).
        workers: processes for rendering and PNG encoding (default: all cores).
        progress: called with the number of images finished after each chunk.

    Returns:
        The dataset folder.
    """
    out_dir = Path(out_dir)
    crowd = annotators if isinstance(annotators, SimulatedCrowd) else SimulatedCrowd(annotators)
    check_generate_options(out_dir, num_images, image_size, crowd, overwrite)
    check_placement(placement)
    params = sample_parameters(num_images, seed, placement)
    soft = soft_labels_of(params)
    names = image_names(num_images)

    parent = out_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create a folder in {str(parent)!r} "
                         f"({exc.strerror})") from None
    try:
        (tmp / "images").mkdir()
        write_images(params, image_size, tmp, names, workers, progress,
                     meanwhile=lambda: _write_tables(tmp, names, params, soft, crowd, seed))
        info = _dataset_info(num_images, image_size, seed, crowd, placement)
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if out_dir.exists():
            if out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            else:  # overwrite was asked for (checked above)
                remove_entries(out_dir.parent, [out_dir.name])
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _dataset_info(num_images: int, image_size: int, seed: int, crowd: SimulatedCrowd,
                  placement: str) -> dict:
    """The generated folder's ``dataset.json``."""
    return {
        "name": "dqlabels-synthetic",
        "description": "Coloured circles and ellipses with colour and shape interpolations "
                       "(Grossmann, Schmarje & Koch, 'Beyond Hard Labels'), generated by "
                       "dqlabels.",
        "classes": list(CLASSES),
        "dcic_class_names": list(DCIC_NAMES),
        "num_images": num_images,
        "image_size": image_size,
        "annotations": "annotations.csv",
        "annotations_format": "probs",
        "simulated_annotations": "simulated_annotations.csv" if crowd.per_image else None,
        "num_simulated_annotators": crowd.per_image,
        "simulated_crowd": None if not crowd.per_image else {
            "per_image": crowd.per_image, "pool": crowd.pool or crowd.per_image,
            "noise_range": list(crowd.noise), "bias": crowd.bias,
            "annotators": "annotators.csv"},
        "generator": {
            "name": "dqlabels.data.synthetic",
            "version": GENERATOR_VERSION,
            "seed": seed,
            "pure_fraction": PURE_FRACTION,
            "ellipse_ratio": ELLIPSE_RATIO,
            "placement": placement,
            "radius_range": list(RADIUS_RANGES[placement]),
            "png_compress_level": COMPRESS_LEVEL,
        },
        "licence": "Generated data; free to use without restriction (CC0 1.0).",
    }


def check_generate_options(out_dir, num_images, image_size, annotators=0, overwrite=False) -> None:
    """Raise InputError for options :func:`generate_dataset` would refuse (before any work)."""
    out_dir = Path(out_dir)
    crowd = annotators if isinstance(annotators, SimulatedCrowd) else SimulatedCrowd(annotators)
    if num_images < 1:
        raise InputError(f"Expected num_images >= 1. Received: num_images={num_images}")
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(f"Expected image_size >= {MIN_IMAGE_SIZE} (the networks' minimum "
                         f"input). Received: image_size={image_size}")
    crowd.check()
    check_output_folder(out_dir, overwrite=overwrite)


def _write_csv(path: Path, header: list[str], columns: list) -> None:
    """Write columns as CSV with the project's one CSV writer. Floats are written as their
    shortest round-tripping text (``repr``), identical on every machine."""
    values = [c.tolist() if isinstance(c, np.ndarray) else list(c) for c in columns]
    write_csv_atomic(path, header, zip(*values))


def _write_tables(root: Path, names, params: Parameters, soft, crowd: SimulatedCrowd,
                  seed) -> None:
    _write_csv(root / "annotations.csv", ["item", *CLASSES], [names, *soft.T])
    kinds = np.asarray(KINDS, dtype=object)
    colours = np.asarray(COLOURS, dtype=object)
    _write_csv(root / "metadata.csv",
               ["item", "kind", "colour_a", "colour_b", "t", "s", "axis_ratio", "centre_x",
                "centre_y", "radius", "cos", "sin"],
               [names, kinds[params.kind], colours[params.colour_a], colours[params.colour_b],
                params.t, params.s, params.axis_ratio, params.centre_x, params.centre_y,
                params.radius, params.cos, params.sin])
    if crowd.per_image:
        labels, annotators, profiles = simulate_annotations(soft, crowd, seed)
        width = len(str(crowd.size - 1))
        annotator_ids = np.asarray([f"sim{a:0{width}d}" for a in range(crowd.size)], dtype=object)
        _write_csv(root / "simulated_annotations.csv", ["item", "annotator", "label"],
                   [np.repeat(np.asarray(names, dtype=object), crowd.per_image),
                    annotator_ids[annotators.reshape(-1)],
                    np.asarray(CLASSES, dtype=object)[labels.reshape(-1)]])
        bias_classes = [" ".join(CLASSES[k] for k in classes)
                        for classes in profiles["bias_classes"]]
        _write_csv(root / "annotators.csv",
                   ["annotator", "noise", "bias", "bias_classes", "bias_strength", "accuracy"],
                   [annotator_ids, profiles["noise"], profiles["bias"], bias_classes,
                    profiles["bias_strength"], profiles["accuracy"]])
