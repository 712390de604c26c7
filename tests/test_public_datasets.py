"""dqlabels datasets get/list: public datasets with human answers through TensorFlow Datasets,
offline. TensorFlow Datasets' own mocking (tfds.testing.mock_data) serves examples built here,
so every expected answer is worked out by hand or from ../shared/data/cifar10h; nothing
downloads. The folder reads back, audits and trains; the one-line errors hold."""

import csv
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import SHARED, needs
from dqlabels import read_annotations
from dqlabels.data import public
from dqlabels.errors import InputError
from dqlabels_cli.main import main

tfds = pytest.importorskip("tensorflow_datasets")
tf = pytest.importorskip("tensorflow")

SHARED_ITEMS = 24  # images of the shared CIFAR-10H folder the mocked source is built from


def _mocked(examples):
    """A context in which TensorFlow Datasets serves ``examples`` (a list of feature dicts)."""

    def as_dataset(self, *args, **kwargs):
        return tf.data.Dataset.from_generator(
            lambda: iter(examples), output_signature=self.info.features.get_tensor_spec())

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


@pytest.fixture
def online(monkeypatch):
    """The network check passes (mock_data stands in for the download)."""
    monkeypatch.setattr(public, "reachable", lambda host, seconds=3.0, port=443: True)


@pytest.fixture(scope="module")
def shared_examples():
    """CIFAR-10H examples as TensorFlow Datasets gives them, built from the shared folder's
    first images: each image's counts expanded into answers by annotators numbered per image
    (so an annotator's count is known), reaction times 1000 + the answer's position."""
    folder = SHARED / "data" / "cifar10h"
    needs(folder.exists(), "../shared/data/cifar10h")
    classes = json.loads((folder / "dataset.json").read_text())["classes"]
    with open(folder / "cifar10h-counts.csv", newline="") as f:
        counts = [[int(v) for v in row[1:]] for row in list(csv.reader(f))[1:SHARED_ITEMS + 1]]
    with open(folder / "cifar10-test-labels.csv", newline="") as f:
        original = [row["label"] for row in csv.DictReader(f)][:SHARED_ITEMS]
    examples = []
    for i, row in enumerate(counts):
        labels = np.repeat(np.arange(10), row)
        image = np.asarray(Image.open(folder / f"images/test_{i:05d}.jpg").convert("RGB"))
        examples.append({
            "id": f"test_{i:05d}", "image": image, "label": classes.index(original[i]),
            "soft_label": (np.asarray(row) / sum(row)).astype(np.float32),
            "human_labels": labels, "trial_indices": np.arange(len(labels), dtype=np.int32),
            "annotator_ids": (np.arange(len(labels)) + 100 * i).astype(np.int32),
            "reaction_times": (1000 + np.arange(len(labels))).astype(np.float32)})
    return folder, counts, examples


def test_a_cifar10h_folder_has_the_shared_counts_reads_back_and_audits(shared_examples, online,
                                                                      tmp_path):
    from dqlabels.data.datasets import load_dataset

    shared, counts, examples = shared_examples
    with _mocked(examples):
        folder, built = public.get_dataset("cifar10h", tmp_path / "c10h",
                                           data_dir=tmp_path / "tfds")
    assert built and sorted(p.name for p in folder.iterdir()) == [
        "annotations.csv", "dataset.json", "images", "original_labels.csv"]
    ann = read_annotations(folder / "annotations.csv")
    # the counts of every image equal the shared folder's
    assert ann.format == "long" and ann.num_items == SHARED_ITEMS
    assert ann.counts.tolist() == counts
    assert list(ann.items) == [f"images/test_{i:05d}.png" for i in range(SHARED_ITEMS)]
    # real annotator ids: image i's answers by 100·i, 100·i + 1, …
    with open(folder / "annotations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["item", "annotator", "label", "reaction_time"]
    first = [r for r in rows if r["item"] == "images/test_00001.png"]
    assert [r["annotator"] for r in first] == [str(100 + k) for k in range(sum(counts[1]))]
    assert [float(r["reaction_time"]) for r in first[:2]] == [1000.0, 1001.0]
    # lossless images: the pixels TensorFlow Datasets gave, and the original labels
    png = np.asarray(Image.open(folder / "images/test_00003.png"))
    np.testing.assert_array_equal(png, examples[3]["image"])
    info = json.loads((folder / "dataset.json").read_text())
    assert info["classes"][3] == "cat" and info["augment"] == "natural"
    assert info["hard_labels"] == "original_labels.csv" and info["anchors"]
    assert info["source"].startswith("tfds:cifar10_h ")
    data = load_dataset(folder)
    with open(shared / "cifar10-test-labels.csv", newline="") as f:
        original = [row["label"] for row in csv.DictReader(f)][:SHARED_ITEMS]
    from dqlabels.studies.real_study import hard_labels_of

    hard, path = hard_labels_of(data, "original")  # what the K-fold study trains "hard" on
    assert [data.classes[k] for k in hard] == original and path.name == "original_labels.csv"
    audit = CliRunner().invoke(main, ["evaluate", str(folder / "annotations.csv")])
    assert audit.exit_code == 0, audit.output + audit.stderr
    assert f"items {SHARED_ITEMS}   classes 10   annotations {sum(map(sum, counts)):,}" \
        in audit.output
    assert "Dawid" in audit.output  # annotator ids are known: Dawid–Skene runs


@pytest.mark.slow
def test_the_folder_trains(shared_examples, online, tmp_path):
    from dqlabels.config import TrainConfig
    from dqlabels.learning.training import train

    _, _, examples = shared_examples
    with _mocked(examples):
        folder, _ = public.get_dataset("cifar10h", tmp_path / "c10h", data_dir=tmp_path / "t")
    scores = train(folder, tmp_path / "run", TrainConfig(model="densenet-tiny", epochs=1,
                                                         batch_size=8, precise_bn=False),
                   verbose=0)
    assert np.isfinite(scores["kl"])


def _cifar10n_example(i, workers, labels, original):
    image = np.zeros((32, 32, 3), np.uint8)
    image[0, 0] = i
    example = {"id": f"train_{i:05d}", "image": image, "label": original,
               "worse_label": labels[0], "aggre_label": labels[0]}
    for k, (worker, label) in enumerate(zip(workers, labels), 1):
        example.update({f"random_label{k}": label, f"worker{k}_id": worker,
                        f"worker{k}_time": np.float32(10.5 * k)})
    return example


def test_a_cifar10n_folder_from_its_manual_files(online, tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    for name in public.PUBLIC_DATASETS["cifar10n"].manual_files:
        (manual / name).write_text("placed by hand\n")
    examples = [_cifar10n_example(0, (7, 8, 9), (3, 3, 5), 3),
                _cifar10n_example(1, (7, 12, 9), (0, 8, 0), 0)]
    with _mocked(examples):
        result = CliRunner().invoke(main, ["datasets", "get", "cifar10n", str(tmp_path / "n"),
                                           "--data-dir", str(tmp_path / "tfds"),
                                           "--manual-dir", str(manual)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 images, 6 human answers by 4 annotators" in result.output
    info = json.loads((tmp_path / "n" / "dataset.json").read_text())
    assert info["anchors"] == [] and info["name"] == "cifar10n"  # no published anchors kept
    with open(tmp_path / "n" / "annotations.csv", newline="") as f:
        rows = [tuple(r.values()) for r in csv.DictReader(f)]
    assert rows == [("images/train_00000.png", "7", "cat", "10.5"),
                    ("images/train_00000.png", "8", "cat", "21.0"),
                    ("images/train_00000.png", "9", "dog", "31.5"),
                    ("images/train_00001.png", "7", "airplane", "10.5"),
                    ("images/train_00001.png", "12", "ship", "21.0"),
                    ("images/train_00001.png", "9", "airplane", "31.5")]


def test_missing_manual_files_are_named_with_where_they_go(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "image_order_c10.npy").write_text("x")
    result = CliRunner().invoke(main, ["datasets", "get", "cifar10n", str(tmp_path / "n"),
                                       "--manual-dir", str(manual)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert (f"cifar10n needs side_info_cifar10N.csv, CIFAR-10_human_annotations.csv in "
            f"{manual}") in result.stderr
    assert "github.com/UCSC-REAL/cifar-10-100n" in result.stderr
    assert not (tmp_path / "n").exists()


def test_a_finished_folder_is_left_alone_and_an_interrupted_one_starts_again(online, tmp_path):
    examples = [{"id": f"test_{i:05d}", "image": np.full((32, 32, 3), i, np.uint8), "label": i,
                 "soft_label": np.zeros(10, np.float32), "human_labels": [i, i],
                 "trial_indices": [0, 1], "annotator_ids": [1, 2],
                 "reaction_times": [5.0, 6.0]} for i in range(3)]
    target = tmp_path / "c"
    # an interrupted build: its leftovers beside the folder, nothing at the folder itself
    (tmp_path / "c.partial" / "images").mkdir(parents=True)
    (tmp_path / "c.partial" / "annotations.csv").write_text("half")
    with _mocked(examples):
        assert public.get_dataset("cifar10h", target, data_dir=tmp_path / "t")[1]
    assert not (tmp_path / "c.partial").exists()
    assert read_annotations(target / "annotations.csv").counts.sum() == 6
    stamp = (target / "annotations.csv").stat().st_mtime_ns
    with _mocked(examples):
        again = CliRunner().invoke(main, ["datasets", "get", "cifar10h", str(target)])
    assert again.exit_code == 0 and "finished cifar10h folder: nothing to do" in again.output
    assert (target / "annotations.csv").stat().st_mtime_ns == stamp

    def broken(self, *args, **kwargs):  # the source fails after one example
        def examples_then_error():
            yield examples[0]
            raise OSError("connection reset")
        return tf.data.Dataset.from_generator(
            examples_then_error, output_signature=self.info.features.get_tensor_spec())

    with tfds.testing.mock_data(as_dataset_fn=broken), \
            pytest.raises(InputError, match="reading cifar10_h failed .*connection reset.*was "
                                            "not written"):
        public.get_dataset("cifar10h", tmp_path / "d", data_dir=tmp_path / "t")
    assert not (tmp_path / "d").exists()  # never half-written


def test_an_occupied_folder_is_refused_and_a_wrong_name_listed(online, tmp_path):
    occupied = tmp_path / "mine"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a finished cifar10h folder.*--overwrite"):
        public.get_dataset("cifar10h", occupied)
    assert (occupied / "notes.txt").read_text() == "mine"
    result = CliRunner().invoke(main, ["datasets", "get", "cifar10", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "no public dataset named 'cifar10': 'dqlabels datasets list' shows cifar10h, " \
           "cifar10n" in result.stderr
    listed = CliRunner().invoke(main, ["datasets", "list"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == ["cifar10h", "cifar10n"]


def test_without_the_extra_or_the_network_one_line_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # not installed
    result = CliRunner().invoke(main, ["datasets", "get", "cifar10h", str(tmp_path / "a")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "needs TensorFlow Datasets, which is not installed: pip install " \
           "'dqlabels[datasets]'" in result.stderr
    monkeypatch.delitem(sys.modules, "tensorflow_datasets")
    asked = []
    monkeypatch.setattr(public, "reachable",
                        lambda host, seconds=3.0, port=443: asked.append(host) and False)
    result = CliRunner().invoke(main, ["datasets", "get", "cifar10h", str(tmp_path / "b"),
                                       "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "cannot reach www.cs.toronto.edu, github.com (no network?)" in result.stderr
    assert asked == ["www.cs.toronto.edu", "github.com"]
    assert not (tmp_path / "b").exists()


def test_reproduce_without_a_dataset_says_how_to_get_it(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "--preset", "cifar10h", "--out",
                                       str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "dqlabels datasets get cifar10h DIR" in result.stderr


def _tiny_examples(count):
    return [{"id": f"test_{i:05d}", "image": np.full((32, 32, 3), i % 256, np.uint8),
             "label": i % 10, "soft_label": np.zeros(10, np.float32), "human_labels": [i % 10],
             "trial_indices": [0], "annotator_ids": [5], "reaction_times": [2.0]}
            for i in range(count)]


def test_dataset_json_and_original_labels_exactly_and_progress_per_thousand(online, tmp_path):
    seen = []
    with _mocked(_tiny_examples(2000)):
        folder, _ = public.get_dataset("cifar10h", tmp_path / "c", data_dir=tmp_path / "t",
                                       progress=seen.append)
    assert seen == [1000, 2000]
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    version = info.pop("source")
    assert version == f"tfds:cifar10_h {tfds.builder_cls('cifar10_h').VERSION}"
    anchors = info.pop("anchors")
    assert anchors and anchors[0]["name"] == "Peterson et al. 2019"
    assert info == {
        "name": "cifar10h", "classes": list(public.CIFAR10_CLASSES), "image_size": 32,
        "annotations": "annotations.csv", "annotations_format": "long",
        "annotation_columns": {"item": "item", "annotator": "annotator", "label": "label"},
        "hard_labels": "original_labels.csv", "augment": "natural",
        "licence": "images: CIFAR-10 test set (Krizhevsky 2009); annotations: CIFAR-10H "
                   "(Peterson et al. 2019), CC BY-NC-SA 4.0"}
    text = (folder / "dataset.json").read_text(encoding="utf-8")
    assert text.startswith('{\n "name": "cifar10h",\n "classes": [\n  "airplane",')
    labels = (folder / "original_labels.csv").read_bytes().split(b"\n")
    assert labels[:3] == [b"item,label\r", b"images/test_00000.png,airplane\r",
                          b"images/test_00001.png,automobile\r"]  # csv's own line ends


def test_the_cache_and_manual_folders_reach_tensorflow_datasets(online, monkeypatch, tmp_path):
    calls = {}
    real_builder, real_config = tfds.builder, tfds.download.DownloadConfig

    def builder(name, **kwargs):
        calls["builder"] = (name, kwargs)
        return real_builder(name, **kwargs)

    def download_config(**kwargs):
        calls["config"] = kwargs
        return real_config(**kwargs)

    monkeypatch.setattr(tfds, "builder", builder)
    monkeypatch.setattr(tfds.download, "DownloadConfig", download_config)
    with _mocked(_tiny_examples(2)):
        public.get_dataset("cifar10h", tmp_path / "a", data_dir=tmp_path / "cache",
                           manual_dir=tmp_path / "hand")
    assert calls["builder"] == ("cifar10_h", {"data_dir": str(tmp_path / "cache")})
    assert calls["config"] == {"manual_dir": str(tmp_path / "hand")}
    with _mocked(_tiny_examples(2)):
        public.get_dataset("cifar10h", tmp_path / "b")
    assert calls["builder"] == ("cifar10_h", {"data_dir": None})
    assert calls["config"] == {"manual_dir": None}


def test_the_manual_folder_defaults_to_tensorflow_datasets_own(monkeypatch, tmp_path):
    with pytest.raises(InputError, match=f"in {tmp_path / 'cache' / 'downloads' / 'manual'} "):
        public.get_dataset("cifar10n", tmp_path / "n", data_dir=tmp_path / "cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / "tensorflow_datasets" / "downloads" / "manual"
    with pytest.raises(InputError, match=f"in {expected} "):
        public.get_dataset("cifar10n", tmp_path / "n")


def test_a_failed_download_and_a_replaced_folder(online, monkeypatch, tmp_path):
    def refused(self, *args, **kwargs):
        raise OSError("403 Forbidden\nmore detail")

    with monkeypatch.context() as patched:
        patched.setattr(tfds.core.DatasetBuilder, "download_and_prepare", refused)
        with pytest.raises(InputError, match=r"could not get cifar10_h through TensorFlow "
                                             r"Datasets \(403 Forbidden\); it needs the network"):
            public.get_dataset("cifar10h", tmp_path / "x", data_dir=tmp_path / "t")
    occupied = tmp_path / "old"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("old")
    (occupied / "dataset.json").write_text(json.dumps({"source": "tfds:cifar10_n 1.0.4"}))
    with _mocked(_tiny_examples(3)):  # another dataset's folder is not this one's
        with pytest.raises(InputError, match="not a finished cifar10h folder"):
            public.get_dataset("cifar10h", occupied, data_dir=tmp_path / "t")
        public.get_dataset("cifar10h", occupied, data_dir=tmp_path / "t", overwrite=True,
                           progress=None)
    assert not (occupied / "notes.txt").exists()
    assert read_annotations(occupied / "annotations.csv").num_items == 3


def test_reachable_tries_the_host_once(tmp_path):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert public.reachable("127.0.0.1", port=port)
    finally:
        server.close()
    assert not public.reachable("127.0.0.1", port=port, seconds=1)  # closed now
    assert not public.reachable("host.invalid", seconds=1)


def test_reachable_asks_the_https_port_for_three_seconds(monkeypatch):
    import socket

    calls = []

    class Connection:
        def close(self):
            calls.append("closed")

    monkeypatch.setattr(socket, "create_connection",
                        lambda address, timeout: calls.append((address, timeout)) or Connection())
    assert public.reachable("example.org")
    assert calls == [(("example.org", 443), 3.0), "closed"]


def test_no_examples_and_what_tensorflow_datasets_is_asked(online, monkeypatch, tmp_path):
    asked = {}

    def as_dataset(self, *args, **kwargs):
        asked.update(kwargs)
        return tf.data.Dataset.from_generator(
            lambda: iter([]), output_signature=self.info.features.get_tensor_spec())

    def prepare(self, *args, **kwargs):
        asked["download_config"] = kwargs.get("download_config")

    with tfds.testing.mock_data(as_dataset_fn=as_dataset), monkeypatch.context() as patched:
        patched.setattr(tfds.core.DatasetBuilder, "download_and_prepare", prepare)
        with pytest.raises(InputError, match=r"cifar10_h \(test\) gave no examples"):
            public.get_dataset("cifar10h", tmp_path / "e", data_dir=tmp_path / "t",
                               manual_dir=tmp_path / "hand")
    assert asked["split"] == "test" and asked["shuffle_files"] is False  # the source's order
    assert str(asked["download_config"].manual_dir) == str(tmp_path / "hand")
    assert not (tmp_path / "e").exists()


def test_the_commands_list_every_dataset_and_pass_every_option(monkeypatch, tmp_path):
    from dqlabels.commands import datasets as command

    listed = CliRunner().invoke(main, ["datasets", "list"]).output.splitlines()
    assert listed == [
        "cifar10h   tfds:cifar10_h (test): CIFAR-10's 10,000 test images with CIFAR-10H's ~51 "
        "human answers each (about 2,500 annotators, reaction times)",
        "cifar10n   tfds:cifar10_n (train): CIFAR-10's 50,000 training images with CIFAR-10N's "
        "three human labels each (Amazon Mechanical Turk workers, work times); needs "
        "side_info_cifar10N.csv, CIFAR-10_human_annotations.csv, image_order_c10.npy placed "
        "by hand"]
    calls = []

    def get_dataset(name, out_dir, **options):
        calls.append((name, str(out_dir), options))
        return tmp_path, False

    monkeypatch.setattr(command, "get_dataset", get_dataset)
    result = CliRunner().invoke(main, ["datasets", "get", "cifar10h", "d", "--data-dir", "c",
                                       "--manual-dir", "m", "--overwrite"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    name, out_dir, options = calls[-1]
    assert (name, out_dir, options["data_dir"], options["manual_dir"], options["overwrite"]) == \
        ("cifar10h", "d", "c", "m", True)
    options["progress"](1000)  # the command's progress line, on standard error
    command.run_datasets_get("cifar10n", "e")
    assert calls[-1][2] == {"data_dir": None, "manual_dir": None, "overwrite": False,
                            "progress": None}
