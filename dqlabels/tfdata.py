"""The tf.data input pipeline (SPEC §9): the one module that uses ``tf.*`` directly.

decode → resize → cache (when it fits) → shuffle over the whole training split →
label-preserving augmentation (flips and 90° rotations, never colour: colour is the label on the
synthetic data) → batch → prefetch, with ``AUTOTUNE`` maps.

Every random choice is a function of ``(seed, epoch)``: the shuffle of epoch e uses the op
seed ``seed · 1000 + e`` (with the global seed the run sets) and the augmentation of an image uses stateless ops seeded by
``(seed + e, image index)``. A run resumed at epoch e therefore sees exactly the batches an
uninterrupted run would have seen from epoch e on.

Example:
    >>> from dqlabels.tfdata import make_dataset  # doctest: +SKIP
    >>> train = make_dataset(paths, soft_targets, image_size=64, batch_size=128,  # doctest: +SKIP
    ...                      training=True, epochs=60, seed=0)
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from dqlabels.config import CACHE_CHOICES

AUTOTUNE = tf.data.AUTOTUNE
# Memory caching is used when the decoded images take at most this share of available memory.
CACHE_SHARE = 0.25


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


def augment(image, seed):
    """One of the 8 flips/rotations of the square, chosen by a stateless ``seed`` (shape [2])."""
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


def make_dataset(
    paths,
    targets,
    image_size: int,
    batch_size: int,
    training: bool = False,
    augment_images: bool = True,
    seed: int = 0,
    epochs: int = 1,
    initial_epoch: int = 0,
    cache: str = "auto",
    drop_remainder: bool = False,
    pad_to_multiple: int = 1,
) -> tf.data.Dataset:
    """A batched dataset of (uint8 images, float32 targets).

    Args:
        paths: image file paths.
        targets: ``(num_images, num_classes)`` soft or one-hot targets.
        image_size: side of the square images fed to the model.
        batch_size: global batch size.
        training: shuffle (over all images) and augment, and yield the batches of epochs
            ``initial_epoch .. epochs − 1`` one after the other; otherwise one pass in order.
        augment_images: apply the flips and rotations when training.
        seed: seed of the shuffles and augmentations.
        epochs, initial_epoch: the epochs to yield when training.
        cache: ``"memory"``, ``"none"`` or ``"auto"`` (memory when it fits).
        drop_remainder: drop each epoch's last partial training batch (several replicas need
            batches they can split evenly).
        pad_to_multiple: evaluation only: repeat the first image with sample weight 0 until the
            count is a multiple of this (the number of replicas), so that every replica gets
            part of the last batch; yields (images, targets, weights) and the padded rows'
            predictions are to be dropped.
    """
    if cache not in CACHE_CHOICES:
        raise ValueError(f"Expected cache to be one of {CACHE_CHOICES}. Received: {cache!r}")
    paths = np.asarray(paths, dtype=str)
    targets = np.asarray(targets, dtype=np.float32)
    num_images = len(paths)
    use_cache = cache == "memory" or (cache == "auto" and fits_in_memory(num_images, image_size))
    indices = tf.data.Dataset.range(num_images)
    items = tf.data.Dataset.zip((indices, tf.data.Dataset.from_tensor_slices((paths, targets))))

    def load(index, pair):
        path, target = pair
        return index, decode_image(path, image_size), target

    if not training:
        padding = (-num_images) % max(int(pad_to_multiple), 1)
        if padding:
            paths = np.concatenate([paths, np.repeat(paths[:1], padding)])
            targets = np.concatenate([targets, np.repeat(targets[:1], padding, axis=0)])
            weights = np.r_[np.ones(num_images), np.zeros(padding)].astype(np.float32)
            items = tf.data.Dataset.zip((tf.data.Dataset.range(len(paths)),
                                         tf.data.Dataset.from_tensor_slices((paths, targets))))
            weighted = tf.data.Dataset.zip((items.map(load, num_parallel_calls=AUTOTUNE,
                                                      deterministic=True),
                                            tf.data.Dataset.from_tensor_slices(weights)))
            images = weighted.map(lambda loaded, weight: (loaded[1], loaded[2], weight))
            return images.batch(batch_size).prefetch(AUTOTUNE)
        images = items.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
        images = images.map(lambda index, image, target: (image, target))
        return images.batch(batch_size).prefetch(AUTOTUNE)

    decoded = items.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    if use_cache:
        decoded = decoded.cache()  # filled on the first pass, shared by every epoch below

    def one_epoch(epoch: int):
        # Python-int seeds: TensorFlow refuses tensor seeds once a global seed is set.
        if use_cache:
            shuffled = decoded.shuffle(num_images, seed=seed * 1000 + epoch,
                                       reshuffle_each_iteration=False)
        else:  # shuffle the file names, decode afterwards
            shuffled = items.shuffle(num_images, seed=seed * 1000 + epoch,
                                     reshuffle_each_iteration=False)
            shuffled = shuffled.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
        epoch_seed = tf.constant(seed + epoch, tf.int64)

        def finish(index, image, target):
            if augment_images:
                image = augment(image, tf.stack([epoch_seed, index]))
            return image, target

        finished = shuffled.map(finish, num_parallel_calls=AUTOTUNE, deterministic=True)
        return finished.batch(batch_size, drop_remainder=drop_remainder)

    dataset = one_epoch(int(initial_epoch))
    for epoch in range(int(initial_epoch) + 1, int(epochs)):
        dataset = dataset.concatenate(one_epoch(epoch))
    return dataset.prefetch(AUTOTUNE)


def steps_per_epoch(num_images: int, batch_size: int, drop_remainder: bool = False) -> int:
    if drop_remainder:
        return max(1, num_images // batch_size)
    return int(np.ceil(num_images / batch_size))
