"""The tf.data input pipeline (docs/conventions.md §9): the one module that uses ``tf.*`` for data.

Training (:func:`make_training_dataset`): decode → resize → cache (when it fits) → shuffle over
the whole training split → label-preserving augmentation (flips and 90° rotations, never colour:
colour is the label on the synthetic data) → batch → prefetch, with ``AUTOTUNE`` maps.
Evaluation (:func:`make_evaluation_dataset`): decode → resize → batch → prefetch, in order.

Every random choice is a function of ``(seed, epoch)``: the shuffle of epoch e uses the op seed
``seed · 1000 + e`` (with the global seed the run sets) and the augmentation of an image uses
stateless ops seeded by ``(seed + e, image index)``. A run resumed at epoch e therefore sees
exactly the batches an uninterrupted run would have seen from epoch e on.

Examples:
    >>> import tempfile
    >>> from dqlabels.data.datasets import load_dataset
    >>> from dqlabels.data.synthetic import generate_dataset
    >>> data = load_dataset(generate_dataset(tempfile.mkdtemp() + "/d", num_images=10,
    ...                                      image_size=32))
    >>> train = make_training_dataset(data.paths, data.soft_labels, image_size=32, batch_size=4,
    ...                               epochs=2, seed=0)
    >>> [tuple(images.shape) for images, targets in train]
    [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3), (4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from dqlabels.config import CACHE_CHOICES, check_choice
from dqlabels.errors import InputError

AUTOTUNE = tf.data.AUTOTUNE
# Memory caching is used when the decoded images take at most this share of available memory.
CACHE_SHARE = 0.25
NATURAL_PAD = 4  # pixels of reflection padding before the random crop (natural augmentation)


def decode_image(path, image_size: int):
    """Read, decode (PNG, JPEG, BMP, GIF) and resize to ``image_size`` × ``image_size``,
    returning uint8 RGB. Images already at that size are not resampled."""
    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    size = tf.constant([image_size, image_size])

    def resize():
        resized = tf.image.resize(image, size, method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], size))
    image = tf.cond(same, lambda: tf.cast(image, tf.uint8), resize)
    image.set_shape([image_size, image_size, 3])
    return image


def augment(image, seed, mode: str = "symmetric"):
    """Label-preserving augmentation chosen by a stateless ``seed`` (shape [2]).

    ``symmetric``: one of the 8 flips/rotations of the square (the synthetic shapes: any
    orientation is the same shape). ``natural``: the standard for small photographs, which are
    not rotation-invariant (a ship upside down): reflect-pad 4 px, a random crop back to the
    image's size, a random horizontal flip. ``none``: the image as it is.
    """
    if mode == "none":
        return image
    if mode == "natural":
        size = image.shape[0]
        padded = tf.pad(image, [[NATURAL_PAD, NATURAL_PAD], [NATURAL_PAD, NATURAL_PAD], [0, 0]],
                        mode="REFLECT")
        image = tf.image.stateless_random_crop(padded, [size, size, 3], seed=seed)
        return tf.image.stateless_random_flip_left_right(image, seed=seed + 1)
    k = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=4, dtype=tf.int32)
    image = tf.image.rot90(image, k)
    return tf.image.stateless_random_flip_left_right(image, seed=seed + 1)


def fits_in_memory(num_images: int, image_size: int) -> bool:
    """Whether the decoded images take at most a quarter of the available memory."""
    needed = num_images * image_size * image_size * 3
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = 4 << 30
    return needed <= CACHE_SHARE * available


def uses_cache(cache: str, num_images: int, image_size: int) -> bool:
    """Whether a pipeline keeps its decoded images in memory: always with ``"memory"``, never
    with ``"none"``, with ``"auto"`` when they fit (:func:`fits_in_memory`)."""
    return cache == "memory" or (cache == "auto" and fits_in_memory(num_images, image_size))


def _inputs(paths, targets):
    paths = np.asarray(paths, dtype=str)
    targets = np.asarray(targets, dtype=np.float32)
    if targets.ndim != 2 or len(targets) != len(paths):
        raise ValueError(f"Expected targets of shape (num_images, num_classes) for "
                         f"{len(paths)} paths. Received: shape {targets.shape}")
    return paths, targets


def make_training_dataset(
    paths,
    targets,
    image_size: int,
    batch_size: int,
    *,
    epochs: int = 1,
    initial_epoch: int = 0,
    seed: int = 0,
    augment_images: bool | str = "symmetric",
    cache: str = "auto",
    drop_remainder: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """The batches of epochs ``initial_epoch .. epochs − 1``, one epoch after the other:
    (uint8 images, float32 targets), shuffled over all images each epoch and augmented.

    Args:
        paths: image file paths.
        targets: ``(num_images, num_classes)`` soft or one-hot targets.
        image_size: side of the square images fed to the model.
        batch_size: global batch size.
        epochs, initial_epoch: the epochs to yield (a resumed run starts at its next epoch).
        seed: seed of the shuffles and augmentations.
        augment_images: the augmentation (:func:`augment`): ``"symmetric"``, ``"natural"`` or
            ``"none"`` (True and False: symmetric and none).
        cache: ``"memory"``, ``"none"`` or ``"auto"`` (memory when it fits).
        drop_remainder: drop each epoch's last partial batch.
        shard: ``(index, count)``: yield only part ``index`` of ``count`` equal, contiguous
            parts of every global batch (one process of a data-parallel job), chosen before
            decoding and augmenting; the global batches, their order and every augmentation
            stay the same for any ``count``. Needs ``drop_remainder`` when ``count > 1``.
    """
    check_choice("cache", cache, CACHE_CHOICES)
    mode = {True: "symmetric", False: "none"}.get(augment_images, augment_images)
    check_choice("augment_images", mode, ("natural", "symmetric", "none"))
    paths, targets = _inputs(paths, targets)
    index, count = _check_shard(shard, batch_size)
    if count > 1 and not drop_remainder:
        raise ValueError("a sharded training dataset needs drop_remainder=True: every process "
                         "feeds an equal part of every global batch")
    num_images = len(paths)
    use_cache = uses_cache(cache, num_images, image_size)
    # (index, (path, target)): the index seeds each image's augmentation.
    items = tf.data.Dataset.zip((tf.data.Dataset.range(num_images),
                                 tf.data.Dataset.from_tensor_slices((paths, targets))))

    def load(index, pair):
        path, target = pair
        return index, decode_image(path, image_size), target

    decoded = items.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    if use_cache:
        decoded = decoded.cache()  # filled on the first pass, shared by every epoch below

    def one_epoch(epoch: int):
        # Python-int seeds: TensorFlow refuses tensor seeds once a global seed is set.
        # Without the cache: shuffle the file names, keep this process's part, decode after.
        shuffled = (decoded if use_cache else items).shuffle(
            num_images, seed=seed * 1000 + epoch, reshuffle_each_iteration=False)
        shuffled = _take_part(shuffled, num_images, batch_size, index, count, True)
        if not use_cache:
            shuffled = shuffled.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
        epoch_seed = tf.constant(seed + epoch, tf.int64)

        def finish(index, image, target):
            image = augment(image, tf.stack([epoch_seed, index]), mode)
            return image, target

        finished = shuffled.map(finish, num_parallel_calls=AUTOTUNE, deterministic=True)
        return finished.batch(batch_size // count, drop_remainder=drop_remainder)

    dataset = one_epoch(int(initial_epoch))
    for epoch in range(int(initial_epoch) + 1, int(epochs)):
        dataset = dataset.concatenate(one_epoch(epoch))
    return dataset.prefetch(AUTOTUNE)


def make_evaluation_dataset(
    paths,
    targets,
    image_size: int,
    batch_size: int,
    *,
    cache: str = "none",
    pad_to_multiple: int = 1,
    shard: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """One pass in order: (uint8 images, float32 targets) batches.

    Args:
        paths, targets, image_size, batch_size: as :func:`make_training_dataset`.
        cache: ``"memory"`` keeps the decoded images for a second pass (validation after every
            epoch), ``"auto"`` when they fit, ``"none"`` decodes every pass.
        pad_to_multiple: repeat the first image with sample weight 0 until the count is a
            multiple of this (the number of replicas), so that every replica gets part of the
            last batch; then the dataset yields (images, targets, weights) and the padded rows'
            predictions are to be dropped.
        shard: ``(index, count)``: part ``index`` of every (padded) batch, as in
            :func:`make_training_dataset`; ``pad_to_multiple`` must be a multiple of ``count``.
    """
    check_choice("cache", cache, CACHE_CHOICES)
    paths, targets = _inputs(paths, targets)
    index, count = _check_shard(shard, batch_size)
    if int(pad_to_multiple) % count:
        raise ValueError(f"pad_to_multiple ({pad_to_multiple}) must be a multiple of the "
                         f"{count} shards")
    num_images = len(paths)
    use_cache = uses_cache(cache, num_images, image_size)
    padding = (-num_images) % max(int(pad_to_multiple), 1)
    if padding:
        paths = np.concatenate([paths, np.repeat(paths[:1], padding)])
        targets = np.concatenate([targets, np.repeat(targets[:1], padding, axis=0)])
    weights = np.r_[np.ones(num_images), np.zeros(padding)].astype(np.float32)

    def load(path, target, weight):
        return decode_image(path, image_size), target, weight

    images = tf.data.Dataset.from_tensor_slices((paths, targets, weights))
    images = _take_part(images, len(paths), batch_size, index, count)
    images = images.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    if use_cache:
        images = images.cache()
    if not padding:
        images = images.map(lambda image, target, weight: (image, target))
    return images.batch(batch_size // count).prefetch(AUTOTUNE)


def _check_shard(shard, batch_size: int) -> tuple[int, int]:
    index, count = (int(v) for v in shard)
    if not 0 <= index < count or batch_size % count:
        raise ValueError(f"shard {shard}: needs 0 <= index < count and a batch size "
                         f"({batch_size}) that count divides")
    return index, count


def _take_part(dataset, num_images: int, batch_size: int, index: int, count: int,
               full_batches_only: bool = False):
    """The elements of part ``index`` of ``count`` of every batch of ``batch_size`` that
    ``dataset`` (of ``num_images`` elements) will form, in order. A last, smaller batch is
    split the same way (its size must then be a multiple of ``count``), or left out with
    ``full_batches_only``."""
    if count == 1:
        return dataset
    total = num_images // batch_size * batch_size if full_batches_only else num_images
    last_batch = (total - 1) // batch_size
    last = total - last_batch * batch_size  # the size of the last batch

    def mine(position, element):
        batch = position // batch_size
        part = tf.where(batch == last_batch, tf.constant(last // count, tf.int64),
                        tf.constant(batch_size // count, tf.int64))
        return tf.logical_and(position < total, (position % batch_size) // part == index)

    return dataset.enumerate().filter(mine).map(lambda position, element: element)


def steps_per_epoch(num_images: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches in one training epoch."""
    if drop_remainder:
        return max(1, num_images // batch_size)
    return int(np.ceil(num_images / batch_size))


# ----------------------------------------------------------------------------------------------
# From annotations and images, in one call (dqlabels.keras)

DECODABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # what decode_image reads
TARGETS = ("soft", "hard")


def annotation_dataset(annotations, images, *, targets: str = "soft", batch_size: int = 32,
                       image_size: int | None = None, shuffle: bool = True,
                       augment_images: str = "none", seed: int = 0) -> tf.data.Dataset:
    """One epoch of (uint8 images, float32 targets) batches from annotations and their images,
    for a Keras project's own ``model.fit`` (a dataset to iterate once per epoch: ``fit``
    does that for ``epochs=N``, each epoch reshuffled by TensorFlow's seeded shuffle).

    Args:
        annotations: an :class:`~dqlabels.Annotations` (or a path
            :func:`~dqlabels.read_annotations` reads): its items are the images.
        images: a folder, where each item is a file path relative to it
            (``images/00001.png``, as in a dataset folder) or a file name without its suffix
            (``test_00001`` → ``test_00001.jpg``); or a uint8 array ``(num_items, height,
            width, 3)`` in the order of ``annotations.items``.
        targets: ``"soft"`` (each item's share of annotations per class, docs/conventions.md)
            or ``"hard"`` (the one-hot majority vote, ties to the lowest class index).
        batch_size: images per batch.
        image_size: the side images are resized to (a folder only); default: the first
            image's width (square images).
        shuffle: a new order each epoch, seeded by ``seed``; False keeps the items' order.
        augment_images: ``"none"``, ``"natural"`` or ``"symmetric"`` (:func:`augment`).
        seed: the seed of the shuffle and the augmentations.
    """
    from dqlabels.labels.aggregation import majority_vote, soft_labels
    from dqlabels.readers.annotations import read_annotations

    check_choice("targets", targets, TARGETS)
    check_choice("augment_images", augment_images, ("natural", "symmetric", "none"))
    if isinstance(annotations, (str, os.PathLike)):
        annotations = read_annotations(annotations)
    num_classes = len(annotations.classes)
    values = soft_labels(annotations) if targets == "soft" else \
        np.eye(num_classes)[majority_vote(annotations).labels_]
    values = values.astype(np.float32)
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or len(images) != len(values) or images.shape[-1] != 3:
            raise InputError(f"Expected images of shape ({len(values)}, height, width, 3), one "
                             f"per item in the annotations' order. Received shape {images.shape}")
        data = tf.data.Dataset.from_tensor_slices((images.astype(np.uint8), values))
    else:
        paths = image_paths(annotations.items, images)
        if image_size is None:
            from PIL import Image

            with Image.open(paths[0]) as first:
                image_size = first.size[0]
        data = tf.data.Dataset.from_tensor_slices((np.asarray(paths), values))
    if shuffle:
        data = data.shuffle(len(values), seed=seed, reshuffle_each_iteration=True)
    if not isinstance(images, np.ndarray):
        data = data.map(lambda path, target: (decode_image(path, image_size), target),
                        num_parallel_calls=AUTOTUNE, deterministic=True)
    if augment_images != "none":  # a fresh stateless seed per image and epoch, from ``seed``
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip((data, seeds)).map(
            lambda pair, pair_seed: (augment(pair[0], pair_seed, augment_images), pair[1]),
            num_parallel_calls=AUTOTUNE, deterministic=True)
    return data.batch(batch_size).prefetch(AUTOTUNE)


def image_paths(items, folder) -> list[str]:
    """The image file of each item in ``folder`` (see :func:`annotation_dataset`); an item
    with none is refused, naming it and the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of images")
    found = []
    for item in items:
        candidates = [folder / str(item)] + [folder / f"{item}{s}" for s in DECODABLE_SUFFIXES]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise InputError(f"{folder}: no image for item {item!r} (looked for {item!r} and "
                             f"{item!r} with {', '.join(DECODABLE_SUFFIXES)})")
        found.append(str(path))
    return found
