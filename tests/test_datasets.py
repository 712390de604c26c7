"""Dataset folders (dqlabels and DCIC layouts), path safety, image checks and splits."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dqlabels import InputError
from dqlabels.data.datasets import (
    SPLITS,
    dcic_split,
    load_dataset,
    make_split,
    random_split,
    read_split,
    save_split,
    verify_images,
)
from dqlabels_cli.main import main


def _png(path, colour=(255, 0, 0), size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


@pytest.fixture
def dcic(tmp_path):
    """A tiny DCIC-layout dataset: five folds, two images each, annotations.json."""
    root = tmp_path / "Tiny"
    images = [f"fold{k}/img{j}.png" for k in range(1, 6) for j in range(2)]
    for name in images:
        _png(root / name)
    # Two annotation sets (two annotators); paths written with the dataset's own name in front.
    labels_a = ["a", "b", "a", "c", "b", "b", "a", "a", "c", "c"]
    labels_b = ["a", "a", None, "c", "b", "a", "a", "b", "c", "a"]
    data = [{"annotations": [{"image_path": f"Tiny/{n}", "class_label": lab}
                             for n, lab in zip(images, labels)]}
            for labels in (labels_a, labels_b)]
    (root / "annotations.json").write_text(json.dumps(data))
    return root, images, labels_a, labels_b


def test_dcic_layout_loads_with_the_right_soft_labels(dcic):
    root, images, labels_a, labels_b = dcic
    data = load_dataset(root)
    assert data.layout == "dcic" and data.classes == ("a", "b", "c")
    assert data.num_items == 10
    index = {item: i for i, item in enumerate(data.items)}
    soft = data.soft_labels
    # fold1/img1: a and b → (0.5, 0.5, 0); fold2/img0: a and a missing label → (1, 0, 0)
    assert soft[index["Tiny/fold1/img1.png"]].tolist() == [0.5, 0.5, 0.0]
    assert soft[index["Tiny/fold2/img0.png"]].tolist() == [1.0, 0.0, 0.0]
    assert soft[index["Tiny/fold5/img1.png"]].tolist() == [0.5, 0.0, 0.5]
    assert data.annotations.num_dropped == 1
    # Paths written as Tiny/foldN/... resolve from the fold inside the folder.
    assert all(str(root / "fold") in p for p in data.paths)
    assert data.folds.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_dcic_fold_rotation(dcic):
    data = load_dataset(dcic[0])
    split = make_split(data, 0, kind="dcic")
    folds = data.folds
    assert set(split[folds == 1]) == {"val"} and set(split[folds == 2]) == {"test"}
    assert set(split[np.isin(folds, [3, 4, 5])]) == {"train"}
    split4 = dcic_split(folds, 4)  # val = fold 5, test = fold 1
    assert set(split4[folds == 5]) == {"val"} and set(split4[folds == 1]) == {"test"}


def test_generated_dataset_round_trip(tmp_path):
    from dqlabels.data.synthetic import generate_dataset

    root = generate_dataset(tmp_path / "s", num_images=30, image_size=32, seed=2)
    data = load_dataset(root)
    assert data.layout == "dqlabels" and data.annotations.format == "probs"
    assert data.info["generator"]["seed"] == 2
    verify_images(data)
    np.testing.assert_allclose(data.soft_labels.sum(1), 1.0)


def _folder(tmp_path, rows, images=()):
    root = tmp_path / "ds"
    for name in images:
        _png(root / name)
    root.mkdir(exist_ok=True)
    (root / "annotations.csv").write_text("item,label\n" + "".join(f"{i},{c}\n" for i, c in rows))
    return root


def test_missing_images_are_named(tmp_path):
    root = _folder(tmp_path, [("images/a.png", "x"), ("images/b.png", "y")], ["images/a.png"])
    with pytest.raises(InputError, match=r"1 image\(s\) named there do not exist.*'images/b.png'"):
        load_dataset(root)


@pytest.mark.parametrize("escape", ["../outside.png", "/etc/passwd", "images/../../outside.png"])
def test_paths_that_leave_the_folder_are_refused(tmp_path, escape):
    _png(tmp_path / "outside.png")
    root = _folder(tmp_path, [(escape, "x")])
    with pytest.raises(InputError, match="leaves the dataset folder"):
        load_dataset(root)


def test_undecodable_image_is_named(tmp_path):
    root = _folder(tmp_path, [("images/a.png", "x"), ("images/b.png", "y")], ["images/a.png"])
    (root / "images" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    data = load_dataset(root)
    with pytest.raises(InputError, match=r"b\.png: image cannot be decoded"):
        verify_images(data)
    result = CliRunner().invoke(main, ["check-dataset", str(root)])
    assert result.exit_code == 2 and "b.png: image cannot be decoded" in result.stderr


def test_check_dataset_refusals(tmp_path):
    runner = CliRunner()
    for target, fragment in [(tmp_path / "nope", "no such dataset folder"),
                             (tmp_path, "no annotation file")]:
        result = runner.invoke(main, ["check-dataset", str(target)])
        assert result.exit_code == 2 and fragment in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_random_split_is_disjoint_covering_stratified_and_seeded():
    labels = np.repeat(np.arange(4), [100, 50, 30, 7])
    split = random_split(labels, seed=0)
    assert set(split) == set(SPLITS) and split.size == labels.size  # one split per item
    for k, n in enumerate([100, 50, 30, 7]):
        got = [int(np.sum(split[labels == k] == s)) for s in SPLITS]
        expected = [round(0.6 * n), round(0.8 * n) - round(0.6 * n), n - round(0.8 * n)]
        assert got == expected
    assert random_split(labels, seed=0).tolist() == split.tolist()
    assert random_split(labels, seed=1).tolist() != split.tolist()


def test_split_save_and_read_back(tmp_path, dcic):
    data = load_dataset(dcic[0])
    split = make_split(data, 3)
    save_split(tmp_path / "split.csv", data.items, split)
    assert read_split(tmp_path / "split.csv", data).tolist() == split.tolist()
    (tmp_path / "bad.csv").write_text("item,split\nTiny/fold1/img0.png,holdout\n")
    with pytest.raises(InputError, match="line 2: split 'holdout'"):
        read_split(tmp_path / "bad.csv", data)


def test_split_command(tmp_path, dcic):
    out = tmp_path / "s.csv"
    result = CliRunner().invoke(main, ["split", str(dcic[0]), "--kind", "dcic", "--split", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    text = out.read_text().splitlines()
    assert text[0] == "item,split" and "Tiny/fold2/img0.png,val" in text


def test_kfold_split_is_stratified_seeded_and_covers_every_item_once():
    from dqlabels.data.datasets import SPLITS, kfold_split

    labels = np.repeat([0, 1, 2], [50, 30, 20])
    folds = [kfold_split(labels, k, 5, seed=3, val_size=4) for k in range(5)]
    tested = np.stack([f == "test" for f in folds])
    assert (tested.sum(axis=0) == 1).all()  # every item held out exactly once
    for f in folds:  # each fold holds each class's share: 10, 6 and 4 items
        assert np.bincount(labels[f == "test"], minlength=3).tolist() == [10, 6, 4]
        assert [int((f == s).sum()) for s in SPLITS] == [76, 4, 20]
    assert (kfold_split(labels, 2, 5, seed=3, val_size=4) == folds[2]).all()
    assert not (kfold_split(labels, 2, 5, seed=4, val_size=4) == folds[2]).all()


def test_augmentation_follows_the_dataset(tmp_path):
    """dataset.json's "augment" wins; else symmetric for the synthetic shapes (and DCIC
    folders), natural for photographs."""
    import json

    from dqlabels.data.datasets import dataset_augment, load_dataset

    root = tmp_path / "photos"
    (root / "images").mkdir(parents=True)
    for name in ("a", "b"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / f"{name}.png")
    (root / "annotations.csv").write_text("item,cat,dog\nimages/a.png,2,1\nimages/b.png,0,3\n")
    (root / "dataset.json").write_text(json.dumps({"name": "photos",
                                                   "annotations_format": "counts"}))
    assert dataset_augment(load_dataset(root)) == "natural"
    (root / "dataset.json").write_text(json.dumps({"name": "photos", "augment": "none",
                                                   "annotations_format": "counts"}))
    assert dataset_augment(load_dataset(root)) == "none"
    (root / "dataset.json").write_text(json.dumps({"name": "photos", "augment": "rotate",
                                                   "annotations_format": "counts"}))
    with pytest.raises(InputError, match="augment is 'rotate', expected one of natural"):
        dataset_augment(load_dataset(root))
