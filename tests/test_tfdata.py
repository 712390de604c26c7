"""The tf.data pipeline: decoding, resizing, label-preserving augmentation, determinism."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dqlabels import InputError
from dqlabels.learning.tfdata import (  # noqa: E402
    augment,
    make_evaluation_dataset,
    make_training_dataset,
    steps_per_epoch,
)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths, arrays = [], []
    for i in range(10):
        array = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        path = root / f"{i}.png"
        Image.fromarray(array).save(path)
        paths.append(str(path))
        arrays.append(array)
    return paths, np.stack(arrays), np.eye(5, dtype=np.float32)[np.arange(10) % 5]


def _collect(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def test_evaluation_pipeline_keeps_order_and_pixels(images):
    paths, arrays, targets = images
    for cache in ("none", "memory"):
        x, y = _collect(make_evaluation_dataset(paths, targets, image_size=40, batch_size=4,
                                                cache=cache))
        assert x.dtype == np.uint8 and x.shape == (10, 40, 40, 3)
        np.testing.assert_array_equal(x, arrays)       # same size: not resampled
        np.testing.assert_array_equal(y, targets)
    small, _ = _collect(make_evaluation_dataset(paths, targets, image_size=32, batch_size=4))
    assert small.shape == (10, 32, 32, 3)


def test_augmentation_only_flips_and_rotates():
    image = tf.constant(np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3))
    variants = set()
    for k in range(40):
        out = augment(image, tf.constant([7, k], tf.int64)).numpy()
        assert sorted(out.reshape(-1).tolist()) == sorted(image.numpy().reshape(-1).tolist())
        base = image.numpy()
        dihedral = [np.rot90(b, r) for b in (base, base[:, ::-1]) for r in range(4)]
        assert any(np.array_equal(out, d) for d in dihedral)
        variants.add(out.tobytes())
    assert len(variants) > 4


def test_training_epochs_are_seeded_and_resume_exactly(images):
    paths, _, targets = images
    full = make_training_dataset(paths, targets, 40, 4, seed=3, epochs=3)
    batches = [x.numpy() for x, _ in full]
    assert len(batches) == 3 * steps_per_epoch(10, 4)
    again = [x.numpy() for x, _ in make_training_dataset(paths, targets, 40, 4, seed=3, epochs=3)]
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    resumed = [x.numpy() for x, _ in make_training_dataset(paths, targets, 40, 4, seed=3,
                                                           epochs=3, initial_epoch=1)]
    assert all(np.array_equal(a, b) for a, b in zip(batches[3:], resumed))
    other = [x.numpy() for x, _ in make_training_dataset(paths, targets, 40, 4, seed=4, epochs=3)]
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


def test_every_image_once_per_epoch_with_its_target(images):
    paths, arrays, targets = images
    for cache in ("memory", "none"):
        x, y = _collect(make_training_dataset(paths, targets, 40, 3, augment_images=False,
                                              seed=0, epochs=1, cache=cache))
        order = [int(np.flatnonzero([np.array_equal(img, a) for a in arrays])[0]) for img in x]
        assert sorted(order) == list(range(10))
        np.testing.assert_array_equal(y, targets[order])


def test_evaluation_padding_for_replicas_has_zero_weight(images):
    paths, arrays, targets = images
    batches = list(make_evaluation_dataset(paths, targets, 40, 4, pad_to_multiple=4))
    x = np.concatenate([b[0].numpy() for b in batches])
    w = np.concatenate([b[2].numpy() for b in batches])
    assert x.shape[0] == 12 and w.tolist() == [1.0] * 10 + [0.0, 0.0]
    np.testing.assert_array_equal(x[:10], arrays)
    np.testing.assert_array_equal(x[10:], arrays[[0, 0]])


def test_bad_cache_and_targets_are_refused(images):
    from dqlabels import InputError

    paths, _, targets = images
    with pytest.raises(InputError, match="Expected cache to be one of auto, memory, none"):
        make_training_dataset(paths, targets, 40, 4, cache="disk")
    with pytest.raises(ValueError, match="Expected targets of shape"):
        make_evaluation_dataset(paths, targets[:3], 40, 4)


def _dihedral(image):
    """The 8 flips and rotations of a square image."""
    out = []
    for k in range(4):
        rotated = np.rot90(image, k)
        out += [rotated, rotated[:, ::-1]]
    return out


def test_augmentation_per_dataset_kind():
    """natural: a 32-px window of the image reflect-padded by 4 px, maybe mirrored left-right,
    never rotated or flipped upside down; symmetric: one of the square's 8 symmetries; none: the
    image itself. Checked against windows and symmetries built here with numpy."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    windows = [padded[r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
    allowed = [w for window in windows for w in (window, window[:, ::-1])]
    shifted = mirrored = 0
    for s in range(40):
        seed = tf.constant([s, 7], tf.int64)
        natural = augment(tf.constant(image), seed, "natural").numpy()
        assert natural.shape == (32, 32, 3)
        assert any(np.array_equal(natural, w) for w in allowed)
        upside_down = [np.rot90(image, 2), image[::-1]]
        assert not any(np.array_equal(natural, w) for w in upside_down)
        shifted += not any(np.array_equal(natural, w) for w in (image, image[:, ::-1]))
        mirrored += any(np.array_equal(natural, w[:, ::-1]) for w in windows)
        symmetric = augment(tf.constant(image), seed, "symmetric").numpy()
        assert any(np.array_equal(symmetric, w) for w in _dihedral(image))
        assert np.array_equal(augment(tf.constant(image), seed, "none").numpy(), image)
    assert shifted > 20 and 5 < mirrored < 35  # crops move, and half or so are mirrored


def test_training_dataset_applies_the_named_augmentation(images):
    from dqlabels import InputError

    paths, arrays, targets = images
    x, _ = _collect(make_training_dataset(paths, targets, 40, 5, augment_images="none",
                                          seed=0, epochs=1))
    assert all(any(np.array_equal(img, a) for a in arrays) for img in x)
    with pytest.raises(InputError, match="Expected augment_images to be one of natural"):
        make_training_dataset(paths, targets, 40, 5, augment_images="rotate")


def test_the_same_image_is_augmented_anew_each_epoch(images):
    """Crops and flips are seeded by (seed + epoch, image): over two epochs most of the ten
    images come out differently (each identical by chance with p ≈ 1/162)."""
    paths, _, _ = images
    targets = np.eye(10, dtype=np.float32)  # one class per image: the target names the image
    batches = _collect(make_training_dataset(paths, targets, 32, 10, epochs=2, seed=3,
                                             augment_images="natural"))
    x, y = batches
    epoch = [dict(zip(np.argmax(y[e * 10:(e + 1) * 10], axis=1), x[e * 10:(e + 1) * 10]))
             for e in (0, 1)]
    differ = sum(not np.array_equal(epoch[0][i], epoch[1][i]) for i in range(10))
    assert differ >= 8


def test_symmetric_augmentation_draws_the_eight_dihedral_images_evenly():
    """Four rotations times a flip or not: over 400 seeds each of the 8 images comes up with
    share 1/8 (binomial sd 0.017); none missing (no rotation left out), none doubled (a fifth
    rotation would give the unrotated images 2/10 each)."""
    base = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    dihedral = [np.rot90(b, r).tobytes() for b in (base, base[:, ::-1]) for r in range(4)]
    image = tf.constant(base)
    counts = np.zeros(8)
    for k in range(400):
        out = augment(image, tf.constant([3, k], tf.int64)).numpy().tobytes()
        counts[dihedral.index(out)] += 1
    assert np.abs(counts / 400 - 1 / 8).max() < 0.06, counts


def test_the_cache_fits_in_a_quarter_of_the_free_memory(monkeypatch):
    """Decoded images take n · s · s · 3 bytes; they are cached when that is at most a quarter
    of the free memory (free pages × page size), or of 4 GiB where the system cannot say."""
    import os

    from dqlabels.learning.tfdata import fits_in_memory

    sizes = {"SC_AVPHYS_PAGES": 300, "SC_PAGE_SIZE": 4096}  # 1,228,800 bytes: 307,200 a quarter
    monkeypatch.setattr(os, "sysconf", lambda name: sizes[name])
    assert fits_in_memory(100, 32) and not fits_in_memory(101, 32)  # 100 · 3,072 = 307,200
    assert fits_in_memory(25, 64) and not fits_in_memory(26, 64)  # 25 · 12,288 = 307,200

    def unknown(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", unknown)
    assert fits_in_memory(349_525, 32) and not fits_in_memory(349_526, 32)  # 1 GiB / 3,072


def test_any_decodable_file_becomes_rgb_at_the_asked_size(tmp_path):
    """Grey and RGBA PNGs come back as 3 channels (grey repeated, alpha dropped), an animated
    GIF as its first frame, and a black image resized stays black (no value lifted to 1)."""
    from dqlabels.learning.tfdata import decode_image

    grey = np.full((8, 8), 77, dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (40, 40), (0, 0, 0)).save(tmp_path / "black.png")

    out = decode_image(str(tmp_path / "grey.png"), 8).numpy()
    assert out.shape == (8, 8, 3) and (out == 77).all()
    out = decode_image(str(tmp_path / "rgba.png"), 8).numpy()
    assert out.shape == (8, 8, 3) and (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()
    out = decode_image(str(tmp_path / "two.gif"), 8).numpy()
    assert out.shape == (8, 8, 3) and (out[..., 0] > 200).all() and (out[..., 2] < 50).all()
    out = decode_image(str(tmp_path / "black.png"), 32).numpy()
    assert out.shape == (32, 32, 3) and (out == 0).all()


def test_the_cache_is_kept_when_asked_or_when_it_fits(monkeypatch):
    import dqlabels.learning.tfdata as tfdata

    fits = {"answer": True}
    monkeypatch.setattr(tfdata, "fits_in_memory", lambda n, size: fits["answer"])
    assert [tfdata.uses_cache(c, 10, 32) for c in ("memory", "auto", "none")] == \
        [True, True, False]
    fits["answer"] = False
    assert [tfdata.uses_cache(c, 10, 32) for c in ("memory", "auto", "none")] == \
        [True, False, False]


def test_a_sharded_training_dataset_drops_its_last_partial_batch(images):
    paths, _, targets = images
    with pytest.raises(ValueError) as refused:
        make_training_dataset(paths, targets, image_size=40, batch_size=4, shard=(0, 2),
                              drop_remainder=False)
    assert str(refused.value) == ("a sharded training dataset needs drop_remainder=True: every "
                                  "process feeds an equal part of every global batch")


def test_a_downscaled_image_is_averaged_not_sampled(tmp_path):
    """A 40-px image with one white column in every four, resized to 10 px: antialiasing
    averages each output pixel over its four columns (255 / 4 = 63.75 → 64 away from the
    borders); plain bilinear sampling would read between two black columns and give 0."""
    from dqlabels.learning.tfdata import decode_image

    stripes = np.zeros((40, 40, 3), dtype=np.uint8)
    stripes[:, 0::4] = 255
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    out = decode_image(str(tmp_path / "stripes.png"), 10).numpy()
    assert out.shape == (10, 10, 3) and (out[:, 1:9] == 64).all()


def test_steps_per_epoch_by_hand():
    assert [steps_per_epoch(10, 4), steps_per_epoch(8, 4), steps_per_epoch(1, 4)] == [3, 2, 1]
    assert [steps_per_epoch(10, 4, drop_remainder=True), steps_per_epoch(8, 4, True),
            steps_per_epoch(3, 4, True)] == [2, 2, 1]  # never fewer than one step


def test_each_part_holds_its_rows_of_every_batch():
    """Part i of count holds rows i·b/count … (i+1)·b/count − 1 of every batch of b, worked
    out here by hand; a last, smaller batch is split the same way, or left out."""
    from dqlabels.learning.tfdata import _take_part

    def part(n, batch, index, count, full_only=False):
        data = tf.data.Dataset.range(n)
        return [int(v) for v in _take_part(data, n, batch, index, count, full_only)]

    # 14 rows in batches of 8 (0–7, 8–13): halves of 4, then of 3.
    assert part(14, 8, 0, 2) == [0, 1, 2, 3, 8, 9, 10]
    assert part(14, 8, 1, 2) == [4, 5, 6, 7, 11, 12, 13]
    assert part(14, 8, 1, 2, full_only=True) == [4, 5, 6, 7]
    assert part(14, 8, 0, 2, full_only=True) == [0, 1, 2, 3]  # not row 8, the next batch's
    # 15 rows in batches of 6 (0–5, 6–11, 12–14): thirds of 2, then of 1.
    assert part(15, 6, 0, 3) == [0, 1, 6, 7, 12]
    assert part(15, 6, 2, 3) == [4, 5, 10, 11, 14]
    assert part(15, 6, 2, 3, full_only=True) == [4, 5, 10, 11]
    assert part(5, 4, 0, 1) == [0, 1, 2, 3, 4]  # one part: everything


def test_evaluation_parts_in_order_and_their_refusals(images):
    """Ten images in batches of 4 split in two: rows 0–1, 4–5, 8 and 2–3, 6–7, 9; padded to 12
    (weights 1 then 0), 0–1, 4–5, 8–9 and 2–3, 6–7, 10–11 (the padding: image 0 again)."""
    paths, arrays, targets = images
    for cache in ("none", "memory"):
        for index, rows in ((0, [0, 1, 4, 5, 8]), (1, [2, 3, 6, 7, 9])):
            batches = list(make_evaluation_dataset(paths, targets, 40, 4, shard=(index, 2),
                                                   cache=cache, pad_to_multiple=2))
            assert [len(b) for b in batches] == [2, 2, 2]  # (images, targets): no weights
            assert [len(b[0]) for b in batches] == [2, 2, 1]
            x, y = _collect(batches)
            np.testing.assert_array_equal(x, arrays[rows])
            np.testing.assert_array_equal(y, targets[rows])
    batches = list(make_evaluation_dataset(paths, targets, 40, 4, shard=(1, 2),
                                           pad_to_multiple=4))
    x, w = (np.concatenate([b[k].numpy() for b in batches]) for k in (0, 2))
    np.testing.assert_array_equal(x, arrays[[2, 3, 6, 7, 0, 0]])
    assert w.tolist() == [1, 1, 1, 1, 0, 0]
    refusals = [({"shard": (0, 2), "pad_to_multiple": 3},
                 "pad_to_multiple (3) must be a multiple of the 2 shards"),
                ({"shard": (2, 2)}, "shard (2, 2): needs 0 <= index < count and a batch size "
                                    "(4) that count divides"),
                ({"shard": (-1, 2)}, "shard (-1, 2): needs 0 <= index < count and a batch "
                                     "size (4) that count divides"),
                ({"shard": (0, 3)}, "shard (0, 3): needs 0 <= index < count and a batch size "
                                    "(4) that count divides")]
    for options, message in refusals:
        with pytest.raises(ValueError) as refused:
            make_evaluation_dataset(paths, targets, 40, 4, **options)
        assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        make_evaluation_dataset(paths, targets[:, 0], 40, 4)
    assert str(refused.value) == ("Expected targets of shape (num_images, num_classes) for 10 "
                                  "paths. Received: shape (10,)")


def test_paths_may_be_path_objects_and_targets_any_float(images):
    from pathlib import Path

    paths, arrays, targets = images
    for make in (make_evaluation_dataset, make_training_dataset):
        x, y = _collect(make([Path(p) for p in paths], targets.astype(np.float64), 40, 10,
                             **({} if make is make_evaluation_dataset else
                                {"augment_images": "none"})))
        assert y.dtype == np.float32 and x.shape == (10, 40, 40, 3)


def test_a_training_dataset_is_the_same_each_time_it_is_read(images):
    """Iterated twice (Keras may), the same batches: each epoch's shuffle is fixed by its
    seed, not redrawn per iteration; True and False mean symmetric and no augmentation."""
    paths, _, targets = images
    dataset = make_training_dataset(paths, targets, 40, 4, seed=5, epochs=2)
    first, second = ([x.numpy() for x, _ in dataset] for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    for flag, mode in ((True, "symmetric"), (False, "none")):
        ours = _collect(make_training_dataset(paths, targets, 40, 4, augment_images=flag))
        named = _collect(make_training_dataset(paths, targets, 40, 4, augment_images=mode))
        np.testing.assert_array_equal(ours[0], named[0])


@pytest.mark.parametrize("num_images", [9, 10])
def test_shards_of_training_batches_are_the_global_batches(images, num_images):
    """Two processes' parts of every global batch of 4, put side by side, are the batches one
    process gets (the last partial batch dropped: 9 or 10 images make 2 batches an epoch)."""
    paths, _, targets = images
    options = dict(image_size=40, batch_size=4, epochs=2, seed=1, drop_remainder=True)
    whole = list(make_training_dataset(paths[:num_images], targets[:num_images], **options))
    parts = [list(make_training_dataset(paths[:num_images], targets[:num_images], **options,
                                        shard=(i, 2))) for i in range(2)]
    assert [len(x) for x, _ in whole] == [4, 4, 4, 4]
    for k, (x, y) in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([p[k][0] for p in parts]), x)
        np.testing.assert_array_equal(np.concatenate([p[k][1] for p in parts]), y)
    assert all(len(p) == len(whole) for p in parts)


def test_evaluation_of_an_odd_count_pads_only_when_asked(images):
    """Nine images: no padding by default (two columns, nine rows); padded to 12 for four
    replicas with image 0 and its target again, weights 1 then 0 in float32."""
    paths, arrays, targets = images
    batches = list(make_evaluation_dataset(paths[:9], targets[:9], 40, 4))
    assert all(len(b) == 2 for b in batches) and sum(len(b[0]) for b in batches) == 9
    batches = list(make_evaluation_dataset(paths[:9], targets[:9], 40, 4, pad_to_multiple=4))
    x, y, w = (np.concatenate([b[k].numpy() for b in batches]) for k in range(3))
    np.testing.assert_array_equal(x, arrays[[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0]])
    np.testing.assert_array_equal(y, targets[[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0]])
    assert w.dtype == np.float32 and w.tolist() == [1] * 9 + [0] * 3
    with pytest.raises(InputError) as refused:
        make_evaluation_dataset(paths, targets, 40, 4, cache="disk")
    assert str(refused.value).startswith("Expected cache to be one of auto, memory, none.")
