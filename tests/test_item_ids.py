"""Item ids with a comma, a double quote and a line break survive every file dqlabels writes
and reads back: the audit's label table and JSON, a training run's split, predictions and
features, and the t-SNE coordinates (all through one quoted CSV writer)."""

import csv
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from dqlabels_cli.main import main

HOSTILE = ['a,b', 'say "hi"', "two\nlines", 'all, "three"\nof them', "plain"]


def _write_rows(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_audit_outputs_keep_hostile_item_ids(tmp_path):
    rows = [(item, f"u{a}", ["cat", "dog"][(i + a) % 2 if a < 2 else 0])
            for i, item in enumerate(HOSTILE) for a in range(3)]
    _write_rows(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "ann.csv"), "--labels",
                                       str(tmp_path / "labels.csv"), "--json",
                                       str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.stderr
    labels = pd.read_csv(tmp_path / "labels.csv", keep_default_na=False)
    assert sorted(labels["item"]) == sorted(HOSTILE)
    report = json.loads((tmp_path / "report.json").read_text())
    assert {entry["item"] for entry in report["most_ambiguous"]} <= set(HOSTILE)


@pytest.mark.slow
def test_training_and_tsne_outputs_keep_hostile_item_ids(tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(30):
        name = f"images/{HOSTILE[i % len(HOSTILE)]} {i}.png"
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / name)
        items.append(name)
    probs = [(item, 0.7, 0.3) if i % 2 else (item, 0.2, 0.8) for i, item in enumerate(items)]
    _write_rows(root / "annotations.csv", ["item", "cat", "dog"], probs)

    run = tmp_path / "run"
    trained = CliRunner().invoke(main, ["train", str(root), "--soft", "--out", str(run),
                                        "--model", "densenet-tiny", "--epochs", "1",
                                        "--batch-size", "8"])
    assert trained.exit_code == 0, trained.stderr[-3000:]
    split = pd.read_csv(run / "split.csv", keep_default_na=False)
    assert sorted(split["item"]) == sorted(items)
    test_items = sorted(split.loc[split["split"] == "test", "item"])
    for name in ("predictions.csv", "features_items.csv"):
        assert sorted(pd.read_csv(run / name, keep_default_na=False)["item"]) == test_items, name

    result = CliRunner().invoke(main, ["tsne", str(run), "--max-iter", "250"])
    assert result.exit_code == 0, result.stderr
    assert sorted(pd.read_csv(run / "tsne.csv", keep_default_na=False)["item"]) == test_items
