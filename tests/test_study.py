"""The study: colour mapping, t-SNE, a tiny end-to-end reproduction, and the MiceBone code
path."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dqlabels import InputError
from dqlabels.data.synthetic import CLASSES
from dqlabels.studies.tsne import effective_perplexity, embed, point_colours
from dqlabels_cli.main import main


def _soft(**mass):
    row = np.zeros(6)
    for name, value in mass.items():
        row[CLASSES.index(name)] = value
    return row[None, :]


def test_synthetic_colour_panel():
    assert point_colours(_soft(red_circle=1.0), CLASSES)["colour interpolation"].tolist() == [[1, 0, 0]]
    yellow = point_colours(_soft(red_circle=0.5, green_ellipse=0.5), CLASSES)["colour interpolation"]
    assert yellow.tolist() == [[1.0, 1.0, 0.0]]
    cyanish = point_colours(_soft(blue_circle=0.75, green_circle=0.25), CLASSES)["colour interpolation"]
    np.testing.assert_allclose(cyanish, [[0.0, 1 / 3, 1.0]])


def test_synthetic_shape_panel_is_mass_on_ellipse():
    values = point_colours(np.vstack([_soft(red_circle=1.0), _soft(blue_ellipse=1.0),
                                      _soft(green_circle=0.7, green_ellipse=0.3)]),
                           CLASSES)["shape interpolation"]
    np.testing.assert_allclose(values, [0.0, 1.0, 0.3])


def test_three_classes_soft_label_as_rgb_and_many_classes_mix():
    colours = point_colours(np.array([[1.0, 0, 0], [0.5, 0.5, 0], [0, 0, 1.0]]), ["a", "b", "c"])
    np.testing.assert_allclose(colours["soft label as RGB"], [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    mixed = point_colours(np.array([[0.5, 0.5, 0, 0]]), list("abcd"))
    ((name, values),) = mixed.items()
    import matplotlib

    palette = np.asarray(matplotlib.colormaps["tab10"].colors)
    np.testing.assert_allclose(values, [(palette[0] + palette[1]) / 2])


def test_tsne_on_small_random_features():
    features = np.random.default_rng(0).normal(size=(40, 8))
    a = embed(features, max_iter=300, seed=1)
    b = embed(features, max_iter=300, seed=1)
    assert a.shape == (40, 2) and np.array_equal(a, b)
    assert effective_perplexity(30, 40) == 13.0
    with pytest.raises(InputError, match="at least 4 feature vectors"):
        embed(features[:3])


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    """The quick preset's network (densenet-tiny) on 48 images, two splits, one epoch."""
    from dqlabels.data.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "data", num_images=48, image_size=32, seed=5)
    out = tmp_path / "study"
    args = ["reproduce", "--preset", "quick", "--dataset", str(data), "--out", str(out),
            "--splits", "2", "--epochs", "1", "--batch-size", "16", "--tsne-max-iter", "250"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + result.stderr
    assert "[run 4/4] soft labels, split 1" in result.stderr
    assert result.stderr.count("left in the study") == 4  # after each run's first epoch
    assert "image limit (pixel-moment estimate)" in result.output
    for name in ("study.json", "results.md", "results.csv", "results.json", "tsne.png", "tsne.csv"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    # Every table number equals the per-run scores it summarises.
    for mode in ("hard", "soft"):
        for metric in ("macro_accuracy", "kl"):
            values = [json.loads((out / "runs" / f"{mode}-split{k}" / "scores.json").read_text())[metric]
                      for k in (0, 1)]
            entry = results["summary"][mode][metric]
            assert entry["mean"] == pytest.approx(sum(values) / 2)
            assert entry["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
            assert f"{entry['mean']:.4f} ± {entry['std']:.4f}" in (out / "results.md").read_text()
    table = pd.read_csv(out / "results.csv")
    assert len(table[table.kind == "run"]) == 4
    assert table[(table.kind == "paper Synthetic") & (table["mode"] == "soft")]["kl"].item() == 0.0394
    # The image limit: the pixel-moment estimate on each split's test images, scored like the
    # networks, recomputed here from the split files and the PNGs.
    from dqlabels.data.pixel_estimate import estimate_soft_labels_from_files
    from dqlabels.labels.scores import kl_divergence, macro_accuracy

    soft = pd.read_csv(data / "annotations.csv").set_index("item")
    for k in (0, 1):
        split = pd.read_csv(out / "runs" / f"soft-split{k}" / "split.csv")
        items = split.loc[split["split"] == "test", "item"].tolist()
        truth = soft.loc[items].to_numpy()
        estimate = estimate_soft_labels_from_files([data / item for item in items])
        limit = results["image_limit"]["splits"][str(k)]
        assert limit["macro_accuracy"] == pytest.approx(macro_accuracy(truth, estimate))
        assert limit["kl"] == pytest.approx(kl_divergence(truth, estimate))
        row = table[(table.kind == "image limit") & (table["split"] == k)]
        assert row["kl"].item() == pytest.approx(limit["kl"])
    assert results["image_limit"]["kl"]["mean"] == pytest.approx(
        np.mean([results["image_limit"]["splits"][k]["kl"] for k in ("0", "1")]))
    coordinates = pd.read_csv(out / "tsne.csv")
    assert set(coordinates["mode"]) == {"hard", "soft"}
    assert (out / "tsne.png").read_bytes()[:4] == b"\x89PNG"
    assert results["settings"]["train"]["epochs"] == 1

    # Restarted with the same command: every run is reused.
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and again.stderr.count("reused") == 4
    # Other settings in the same folder are refused.
    other = CliRunner().invoke(main, [*args[:-2], "--tsne-max-iter", "300"])
    assert other.exit_code == 2 and "other settings" in other.stderr


@pytest.mark.slow
def test_study_on_a_dcic_layout_dataset(tmp_path):
    """The MiceBone recipe's code path: DCIC folds, the paper preset, cosine with restarts,
    weight decay 1e-3 (on the tiny DenseNet; building ResNet50V2 is tested in test_models)."""
    from PIL import Image

    root = tmp_path / "Mini"
    rng = np.random.default_rng(0)
    sets = [[], [], []]
    for fold in range(1, 6):
        for j in range(8):
            name = f"fold{fold}/img{j}.png"
            (root / f"fold{fold}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(root / name)
            for annotator in range(3):
                label = ["directed", "undirected", "other"][(j + annotator * (j % 2)) % 3]
                sets[annotator].append({"image_path": name, "class_label": label})
    (root / "annotations.json").write_text(json.dumps([{"annotations": s} for s in sets]))
    out = tmp_path / "study"
    result = CliRunner().invoke(main, [
        "reproduce", "--preset", "paper", "--dataset", str(root), "--out", str(out),
        "--splits", "1", "--split-kind", "dcic", "--model", "densenet-tiny", "--weights", "none",
        "--schedule", "cosine-restarts", "--weight-decay", "1e-3", "--image-size", "32",
        "--epochs", "1", "--batch-size", "8", "--tsne-max-iter", "250"])
    assert result.exit_code == 0, result.output + result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["image_limit"] is None and "image limit" not in (out / "results.md").read_text()
    assert results["settings"]["train"]["model"] == "densenet-tiny"
    assert results["settings"]["train"]["weight_decay"] == 1e-3
    assert results["settings"]["train"]["schedule"] == "cosine-restarts"
    split = pd.read_csv(out / "runs" / "soft-split0" / "split.csv")
    assert set(split[split.split == "test"]["item"].str[:5]) == {"fold2"}
    # one split: the sample std is undefined, not 0
    assert results["summary"]["soft"]["kl"]["std"] is None
    table = pd.read_csv(out / "results.csv")
    assert table[table.kind == "mean"]["kl_std"].isna().all()
    kl = results["summary"]["soft"]["kl"]["mean"]
    assert f"{kl:.4f} |" in (out / "results.md").read_text() and "± " not in (
        (out / "results.md").read_text().splitlines()[6])


def test_refusals(tmp_path):
    from dqlabels.data.synthetic import generate_dataset

    runner = CliRunner()
    result = runner.invoke(main, ["reproduce", "--preset", "huge", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "'huge' is not one of 'quick', 'paper'" in result.stderr
    hard_only = tmp_path / "hard"
    hard_only.mkdir()
    images = generate_dataset(tmp_path / "img", num_images=10, image_size=32, seed=1)
    (hard_only / "images").symlink_to(images / "images")
    rows = "".join(f"images/{i:05d}.png,{i % 2}\n" for i in range(10))
    (hard_only / "annotations.csv").write_text("item,label\n" + rows)
    result = runner.invoke(main, ["reproduce", "--dataset", str(hard_only), "--out",
                                  str(tmp_path / "s2")])
    assert result.exit_code == 2 and "has no soft labels" in result.stderr


def test_presets_hold_the_values_the_readme_states():
    """The preset table of docs/reproduce.md, value by value."""
    from dqlabels.studies.study import study_settings

    quick = study_settings("quick")
    assert quick["generate"]["num_images"] == 3000 and quick["generate"]["image_size"] == 32
    assert quick["generate"]["placement"] == "inside" and quick["splits"] == 3
    assert {k: quick["train"][k] for k in ("model", "weights", "image_size", "epochs",
                                           "batch_size", "learning_rate", "schedule",
                                           "weight_decay", "bn_momentum", "precise_bn")} == {
        "model": "densenet-tiny", "weights": "none", "image_size": 32, "epochs": 40,
        "batch_size": 128, "learning_rate": 0.1, "schedule": "cosine", "weight_decay": 5e-4,
        "bn_momentum": 0.9, "precise_bn": True}
    paper = study_settings("paper")
    assert paper["generate"]["num_images"] == 15000 and paper["generate"]["image_size"] == 64
    assert paper["splits"] == 3
    assert {k: paper["train"][k] for k in ("model", "weights", "image_size", "epochs",
                                           "batch_size", "learning_rate", "schedule",
                                           "weight_decay", "momentum", "precise_bn")} == {
        "model": "densenet121", "weights": "imagenet", "image_size": 224, "epochs": 60,
        "batch_size": 128, "learning_rate": 0.1, "schedule": "cosine", "weight_decay": 5e-4,
        "momentum": 0.9, "precise_bn": True}


@pytest.mark.slow
def test_a_study_killed_mid_run_continues_where_it_stopped(tmp_path):
    """Interrupted in its second run after that run's first epoch: started again, the first run
    is reused as it is and the second continues from its checkpoint (one epoch left)."""
    import keras

    from dqlabels.data.synthetic import generate_dataset
    from dqlabels.studies.study import reproduce

    data = generate_dataset(tmp_path / "data", num_images=48, image_size=32, seed=5)
    out = tmp_path / "study"

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # after the run's checkpoint callback
            raise KeyboardInterrupt

    def callbacks(mode, split):
        return [Interrupt()] if mode == "soft" else []

    settings = dict(dataset=data, overrides={"epochs": 2, "batch_size": 16}, splits=1,
                    tsne_max_iter=250, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        reproduce(out, "quick", callbacks=callbacks, log=lambda message: None, **settings)
    hard_scores = (out / "runs" / "hard-split0" / "scores.json").read_bytes()
    hard_model = (out / "runs" / "hard-split0" / "model.keras").stat().st_mtime_ns
    assert not (out / "runs" / "soft-split0" / "scores.json").exists()
    lines = []
    results = reproduce(out, "quick", log=lines.append, **settings)
    assert any("hard labels, split 0 (finished before: reused)" in line for line in lines)
    assert (out / "runs" / "hard-split0" / "scores.json").read_bytes() == hard_scores
    assert (out / "runs" / "hard-split0" / "model.keras").stat().st_mtime_ns == hard_model
    soft = json.loads((out / "runs" / "soft-split0" / "config.json").read_text())
    assert soft["status"] == "complete" and soft["epochs_trained_last_session"] == 1
    assert len(results["runs"]) == 2
