"""The sockets: a new backbone, importer, aggregator or study is one file (here: a function in
the test) plus one registration, and everything that lists them reads the registry (the command
line's choices, the configuration's checks, the docs' tables)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from dqlabels import config


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

    backbone = config.register_backbone(config.Backbone("toy-cnn", two_convolutions,
                                                        preprocess="tf", about="a test's"))
    yield backbone
    del config.BACKBONES["toy-cnn"]


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
    with pytest.raises(ValueError, match="registered already"):
        config.register_backbone(registered_backbone)
    with pytest.raises(ValueError, match="preprocess"):
        config.register_backbone(config.Backbone("odd", print, preprocess="caffe"))
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    assert np.allclose(model.predict(x, verbose=0).sum(axis=1), 1, atol=1e-5)


def test_the_command_line_offers_every_registered_backbone():
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    text = CliRunner().invoke(main, ["train", "--help"]).output
    offered = re.search(r"--model \[([^\]]+)\]", text.replace("\n", " "))
    assert offered is not None
    assert [n.strip() for n in offered.group(1).split("|")] == list(config.BACKBONES)
