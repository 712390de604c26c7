"""The sockets: a new backbone, importer, aggregator or study is one file (here: a function in
the test) plus one registration, and everything that lists them reads the registry (the command
line's choices, the configuration's checks, the docs' tables)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import dqlabels
from conftest import REPO
from dqlabels import config, registry


def _fresh(code: str):
    """A registry as a fresh process sees it (registrations made by other tests left out)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    return json.loads(out)


def _table_rows(page: str, header: str) -> list[list[str]]:
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    table = text.split(header, 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in table.splitlines()[1:] if not line.startswith("|---")]


def test_the_docs_table_of_backbones_is_the_registry():
    registered = _fresh("import json; from dqlabels.config import BACKBONES; print(json.dumps("
                        "[[f'`{b.name}`', b.preprocess, 'yes' if b.imagenet else 'no', b.about]"
                        " for b in BACKBONES.values()]))")
    rows = _table_rows("train.md", "| `--model` | preprocessing | ImageNet weights | what it is |")
    assert rows == registered


@pytest.fixture
def registered_backbone():
    keras = pytest.importorskip("keras")

    def two_convolutions(input_shape, weights="none"):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="c1")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(8, 3, name="c2")(x), name="toy")

    backbone = registry.register_backbone(registry.Backbone("toy-cnn", two_convolutions,
                                                        preprocess="tf", about="a test's"))
    yield backbone
    del registry.BACKBONES["toy-cnn"]


def test_a_registered_backbone_is_built_trained_and_checked(registered_backbone):
    from dqlabels.errors import InputError
    from dqlabels.learning.models import build_model, feature_model

    config.TrainConfig(model="toy-cnn").check()  # accepted by the configuration
    model = build_model("toy-cnn", num_classes=3, image_size=32)
    assert model.output_shape == (None, 3) and feature_model(model).output_shape == (None, 8)
    # its preprocessing is the registered one: "tf" mode, x/127.5 − 1
    assert model.get_layer("preprocess").scale == pytest.approx(1 / 127.5)
    with pytest.raises(InputError, match="no ImageNet weights for model='toy-cnn'"):
        build_model("toy-cnn", num_classes=3, image_size=32, weights="imagenet")
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    assert np.allclose(model.predict(x, verbose=0).sum(axis=1), 1, atol=1e-5)


def test_a_backbone_name_is_registered_once_with_a_known_preprocessing():
    with pytest.raises(ValueError, match="a backbone named 'resnet9' is registered already"):
        registry.register_backbone(registry.Backbone("resnet9", print))
    with pytest.raises(ValueError, match="Expected preprocess to be 'torch' or 'tf'. Received: "
                                         "preprocess='caffe'"):
        registry.register_backbone(registry.Backbone("odd", print, preprocess="caffe"))
    assert "odd" not in registry.BACKBONES
    backbone = registry.register_backbone(registry.Backbone("plain", print, preprocess="tf"))
    try:
        assert registry.BACKBONES["plain"] is backbone
        config.TrainConfig(model="plain").check()  # the configuration reads the registry
    finally:
        del registry.BACKBONES["plain"]
    with pytest.raises(dqlabels.InputError, match="model"):
        config.TrainConfig(model="plain").check()


def test_importers_and_aggregators_are_registered_once():
    with pytest.raises(ValueError, match="a format named 'long' is registered already"):
        registry.register_importer(registry.Importer("long", "table", print))
    with pytest.raises(ValueError, match="a format named 'mturk' is registered already"):
        registry.register_importer(registry.Importer("mturk", "table", print))
    with pytest.raises(ValueError, match="Expected kind to be 'json' or 'table'. Received: "
                                         "kind='xml'"):
        registry.register_importer(registry.Importer("xml-tool", "xml", print))
    assert registry.formats() == ("long", "wide", "counts", "probs", "dcic", "label-studio",
                                  "mturk", "toloka", "prodigy")
    plain = registry.register_importer(registry.Importer("plain-table", "table", print))
    try:
        assert registry.IMPORTERS["plain-table"] is plain
        assert registry.formats()[-1] == "plain-table"  # after those registered before it
    finally:
        del registry.IMPORTERS["plain-table"]
    with pytest.raises(ValueError, match="an aggregator named 'crowdtruth' is registered"):
        registry.register_aggregator("crowdtruth", object)
    assert registry.resolve("dqlabels.labels.scores:entropy") is \
        __import__("dqlabels.labels.scores", fromlist=["entropy"]).entropy
    assert registry.resolve(print) is print


def test_the_command_line_offers_every_registered_backbone():
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    text = CliRunner().invoke(main, ["train", "--help"]).output
    offered = re.search(r"--model \[([^\]]+)\]", text.replace("\n", " "))
    assert offered is not None
    assert [n.strip() for n in offered.group(1).split("|")] == list(registry.BACKBONES)


def test_the_docs_table_of_presets_is_the_registry():
    registered = _fresh("import json; from dqlabels.config import PRESETS; print(json.dumps("
                        "{n: [p.study, getattr(p.settings.get('train'), 'model', None), "
                        "p.settings.get('train_preset')] for n, p in PRESETS.items()}))")
    rows = _table_rows("reproduce.md", "| preset | data | network | training | splits |")
    assert sorted(row[0].strip("`") for row in rows) == sorted(registered)
    for row in rows:  # each row names the network its preset trains (or whose training)
        study, model, train_preset = registered[row[0].strip("`")]
        assert model is None and f"as `{train_preset}`" in row[2] or f"`{model}`" in row[2] or \
            model == "densenet121" and "DenseNet121" in row[2], row


@pytest.fixture
def registered_study():
    calls = []

    def run_study(out_dir, preset, options):
        calls.append((str(out_dir), preset, options.seed, options.splits, options.overrides))
        return f"a toy study of {options.splits} splits at lr {options.overrides['learning_rate']}"

    study = config.register_study(config.Study("toy", run_study, about="a test's"))
    preset = config.register_preset(config.Preset("toy-preset", "toy", {"splits": 2}))
    yield calls
    del config.PRESETS[preset.name], config.STUDIES[study.name]


def test_a_registered_study_runs_from_the_command_line(registered_study, tmp_path):
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    result = CliRunner().invoke(main, ["reproduce", "--preset", "toy-preset", "--out",
                                       str(tmp_path / "toy"), "--splits", "4", "--seed", "3",
                                       "--learning-rate", "0.05"])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.output.strip() == "a toy study of 4 splits at lr 0.05"
    # the options reach it as given; training options left unset are not passed
    assert registered_study == [(str(tmp_path / "toy"), "toy-preset", 3, "4",
                                 {"learning_rate": 0.05})]
    # a data-parallel job is refused for a study that does not say it can span one
    from dqlabels.commands.reproduce import run_reproduce
    from dqlabels.errors import InputError

    with pytest.raises(InputError, match="the toy study runs one process per run"):
        run_reproduce(tmp_path / "t2", "toy-preset", job=object())
    with pytest.raises(ValueError, match="no study named 'missing'"):
        config.register_preset(config.Preset("orphan", "missing", {}))


@pytest.fixture
def registered_aggregator():
    from dqlabels.labels.aggregation import Aggregator, argmax_lowest

    class Laplace(Aggregator):
        """Add-one smoothed vote shares: (counts + 1) / (n + K)."""

        column_prefix = "laplace"

        def _fit(self, annotations):
            counts = np.asarray(annotations.counts, dtype=np.float64)
            self.probas_ = (counts + 1) / (counts.sum(axis=1, keepdims=True) + counts.shape[1])
            self.labels_ = argmax_lowest(self.probas_)

    registry.register_aggregator("add-one", Laplace)  # docs/api.md registers "laplace"
    yield Laplace
    del registry.AGGREGATORS["add-one"]


def test_a_registered_aggregator_joins_the_audit_and_its_labels_file(registered_aggregator,
                                                                       tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from dqlabels.audit.report import audit, labels_columns
    from dqlabels_cli.main import main

    path = tmp_path / "a.csv"
    path.write_text("item,annotator,label\na,u1,cat\na,u2,cat\na,u3,dog\nb,u1,dog\n")
    result = CliRunner().invoke(main, ["evaluate", str(path), "--aggregator", "add-one",
                                       "--labels", str(tmp_path / "l.csv")])
    assert result.exit_code == 0, result.output + result.stderr
    table = pd.read_csv(tmp_path / "l.csv", dtype={"item": str}).set_index("item")
    # by hand: a = (2 + 1, 1 + 1) / 5, b = (0 + 1, 1 + 1) / 3
    assert table["laplace_label"].tolist() == ["cat", "dog"]
    np.testing.assert_allclose(table["laplace_cat"], [3 / 5, 1 / 3], rtol=1e-5)  # 6 digits
    np.testing.assert_allclose(table["laplace_dog"], [2 / 5, 2 / 3], rtol=1e-5)
    assert list(table.columns)[-3:] == ["laplace_label", "laplace_cat", "laplace_dog"]
    # in the API, an unfitted aggregator is fitted by the audit
    result = audit(dqlabels.read_annotations(path), models=[registered_aggregator()])
    assert labels_columns(result)["laplace_label"].tolist() == ["cat", "dog"]
    with pytest.raises(ValueError, match="registered already"):
        registry.register_aggregator("add-one", registered_aggregator)
    bad = CliRunner().invoke(main, ["evaluate", str(path), "--aggregator", "nope"])
    assert bad.exit_code == 2 and "'nope' is not one of" in bad.stderr


def test_every_aggregator_has_labels_and_class_probabilities_under_one_name():
    from dqlabels.labels.aggregation import registered_aggregator

    ann = dqlabels.from_long(["a", "a", "a", "b", "b"], ["x", "x", "y", "y", "y"],
                             ["u1", "u2", "u3", "u1", "u2"])
    for name in registry.AGGREGATORS:
        model = registered_aggregator(name).fit(ann)
        assert model.labels_.tolist() == [0, 1], name
        assert model.probas_.shape == (2, 2) and np.allclose(model.probas_.sum(axis=1), 1), name
        assert model.probas_[0, 0] > 0.5 and model.probas_[1, 1] > 0.5, name


def test_the_docs_list_every_registered_format():
    registered = _fresh("import json; from dqlabels.registry import formats; "
                        "print(json.dumps(list(formats())))")
    text = (REPO / "docs" / "evaluate.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- \*\*([a-z-]+)\*\*:", text.split("## Accepted inputs", 1)[1],
                        flags=re.M)
    assert listed == registered


@pytest.fixture
def registered_importers():
    import pyarrow as pa

    from dqlabels.readers.importers import LongTable
    from dqlabels.readers.tables import Location

    def read_json(path, records, layout, **columns):
        rows = [(r["doc"], r["rater"], r["tag"]) for r in records["votes"]]
        return LongTable(item=pa.array([r[0] for r in rows]), label=pa.array([r[2] for r in rows]),
                         annotator=pa.array([r[1] for r in rows]),
                         where=Location(str(path), "vote", None), columns=("doc", "rater"),
                         format="toy-json")

    def read_table(path, table, where, **columns):
        return LongTable(item=table.column("toy_item"), label=table.column("toy_answer"),
                         annotator=None, where=where, columns=("toy_item", None),
                         format="toy-table")

    registry.register_importer(registry.Importer(
        "toy-json", "json", read_json, lambda records, layout: isinstance(records, dict)
        and "votes" in records))
    registry.register_importer(registry.Importer(
        "toy-table", "table", read_table, lambda names: "toy_item" in names))
    yield
    del registry.IMPORTERS["toy-json"], registry.IMPORTERS["toy-table"]


def test_registered_importers_are_guessed_and_named(registered_importers, tmp_path):
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    votes = {"votes": [{"doc": "d1", "rater": "r1", "tag": "spam"},
                       {"doc": "d1", "rater": "r2", "tag": "ham"},
                       {"doc": "d2", "rater": "r1", "tag": "ham"}]}
    path = tmp_path / "votes.json"
    path.write_text(json.dumps(votes))
    ann = dqlabels.read_annotations(path)  # guessed by its detector
    assert ann.format == "toy-json" and list(ann.items) == ["d1", "d2"]
    assert ann.counts.tolist() == [[1, 1], [1, 0]] and list(ann.classes) == ["ham", "spam"]
    table = tmp_path / "t.csv"
    table.write_text("toy_item,toy_answer\nx,no\nx,yes\ny,yes\n")
    assert dqlabels.read_annotations(table).format == "toy-table"
    result = CliRunner().invoke(main, ["evaluate", str(table), "--format", "toy-table"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "items 2   classes 2   annotations 3" in result.output
    # an ordinary JSON file is still DCIC's, and a table format on JSON is refused
    with pytest.raises(dqlabels.InputError, match="is read as format dcic, label-studio, "
                                                  "prodigy or toy-json"):
        dqlabels.read_annotations(path, format="toy-table")


def test_reproduce_picks_the_study_its_options_ask_for(registered_study, monkeypatch, capsys,
                                                       tmp_path):
    from dqlabels.commands.reproduce import run_reproduce
    from dqlabels.errors import InputError

    ran = []

    def study(name):
        def run(out_dir, preset, options):
            print(f"{name} progress")  # a study's own printing goes to standard error
            ran.append((name, preset))
            return name
        return config.Study(name, run)

    monkeypatch.setitem(config.STUDIES, "paper", study("paper"))
    monkeypatch.setitem(config.STUDIES, "budget", study("budget"))
    assert run_reproduce(tmp_path / "a") == "paper"  # the default preset, quick, is the paper's
    assert run_reproduce(tmp_path / "b", "toy-preset", budgets="1,3") == "budget"
    assert run_reproduce(tmp_path / "c", "toy-preset", sizes="100") == "budget"
    assert run_reproduce(tmp_path / "d", "budget") == "budget"
    assert ran == [("paper", "quick"), ("budget", "toy-preset"), ("budget", "toy-preset"),
                   ("budget", "budget")]
    out, err = capsys.readouterr()
    assert out == "" and err.count("progress") == 4
    with pytest.raises(InputError, match="Expected preset to be one of quick, paper, budget, "):
        run_reproduce(tmp_path / "e", "fast")
