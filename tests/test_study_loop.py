"""The synthetic study's loop (dqlabels.studies.study.reproduce) with the training replaced by a
stand-in that writes what a finished run writes: which runs it asks for and in what order, what
it logs, what it reuses, the image limit and the files, without training a network (the slow
tests train for real)."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dqlabels import InputError
from dqlabels.data.datasets import load_dataset, pixel_estimate_scores
from dqlabels.data.synthetic import generate_dataset
from dqlabels.studies import study

SCORES = {("hard", 0): (0.80, 0.40), ("soft", 0): (0.90, 0.05),
          ("hard", 1): (0.84, 0.44), ("soft", 1): (0.92, 0.07)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("loop") / "d", num_images=12, image_size=32,
                            seed=2)


@pytest.fixture
def trained(monkeypatch):
    """The stand-in for training: records each call; a run's split puts item k·3 … k·3 + 2 in
    test and the rest in train; its scores are SCORES's."""
    import dqlabels.learning.training

    calls = []

    def train(data_dir, run_dir, config, verbose, job, callbacks):
        calls.append({"data": Path(data_dir), "run": Path(run_dir), "mode": config.label_mode,
                      "split": config.split, "epochs": config.epochs, "seed": config.seed,
                      "callbacks": callbacks, "verbose": verbose, "job": job})
        if not (run_dir / "scores.json").exists():  # trained here: a first epoch of 2 s
            callbacks[0].report(2.0, config.epochs - 1)
        data = load_dataset(data_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        test = set(range(3 * config.split, 3 * config.split + 3))
        (run_dir / "split.csv").write_text("item,split\n" + "".join(
            f"{item},{'test' if i in test else 'train'}\n" for i, item in enumerate(data.items)))
        acc, kl = SCORES[(config.label_mode, config.split)]
        scores = {"macro_accuracy": acc, "kl": kl, "epochs_completed": config.epochs - 1}
        if (config.label_mode, config.split) == ("soft", 1):
            del scores["epochs_completed"]  # a run that does not say: all its epochs
        (run_dir / "scores.json").write_text(json.dumps(scores))
        return scores

    def figure(out_dir, data, tsne, part="split"):
        calls.append({"figure": tsne, "of": data.root})
        (out_dir / "tsne.png").write_bytes(b"png")
        return out_dir / "tsne.png"

    monkeypatch.setattr(dqlabels.learning.training, "train", train)
    monkeypatch.setattr(study, "write_tsne_figure", figure)
    return calls


def test_the_loop_runs_every_split_and_mode_in_order_and_writes_the_results(tmp_path, dataset,
                                                                            trained, monkeypatch):
    out, lines = tmp_path / "s", []
    extra = object()
    clock = iter([1000.0, 1012.345])  # the study's wall clock: started, finished
    monkeypatch.setattr(study, "time", SimpleNamespace(time=lambda: next(clock),
                                                       perf_counter=time.perf_counter))
    results = study.reproduce(out, "quick", dataset=dataset, splits=2, seed=7,
                              overrides={"epochs": 3}, log=lines.append, verbose=0,
                              tsne_max_iter=300, callbacks=lambda mode, k: [f"{mode}{k}", extra])
    runs = [c for c in trained if "run" in c]
    assert [(c["mode"], c["split"]) for c in runs] == [("hard", 0), ("soft", 0), ("hard", 1),
                                                       ("soft", 1)]
    assert [c["run"] for c in runs] == [out / "runs" / f"{m}-split{k}" for m, k in
                                        (("hard", 0), ("soft", 0), ("hard", 1), ("soft", 1))]
    assert all(c["data"] == dataset and c["epochs"] == 3 and c["seed"] == 7 for c in runs)
    assert all(c["verbose"] == 0 and c["job"] is None for c in runs)
    assert [c["callbacks"][1:] for c in runs] == [["hard0", extra], ["soft0", extra],
                                                   ["hard1", extra], ["soft1", extra]]
    assert type(runs[0]["callbacks"][0]).__name__ == "EpochTimer"
    assert trained[-1] == {"figure": {"perplexity": 30.0, "max_iter": 300, "seed": 7,
                                      "split": 0}, "of": Path(dataset)}
    started = [line for line in lines if line.startswith("[run")]
    assert started == [f"[run {n + 1}/4] {m} labels, split {k} → {out / 'runs' / f'{m}-split{k}'}"
                       for n, (m, k) in enumerate((("hard", 0), ("soft", 0), ("hard", 1),
                                                   ("soft", 1)))]
    # After each run's first epoch of 2 s, the time left: its other 2 epochs (4 s), then the
    # runs to come at 1.1 · 2 s · 3 epochs = 6.6 s each until two have been timed, then at the
    # second's time (the stand-in's milliseconds).
    estimates = [line for line in lines if line.startswith("  about ")]
    assert estimates == [
        f"  about {left} left in the study (2 s per epoch; this run 4 s, {later} more run(s), "
        f"then the t-SNE)" for left, later in (("24 s", 3), ("17 s", 2), ("4 s", 1), ("4 s", 0))]
    assert lines[-1] == "Computing t-SNE of split 0 (hard and soft) ..."
    assert len(lines) == 9
    assert results["runs"] == [{"split": k, "mode": m, "run": f"runs/{m}-split{k}",
                                "epochs_completed": 3 if (m, k) == ("soft", 1) else 2,
                                "macro_accuracy": SCORES[(m, k)][0], "kl": SCORES[(m, k)][1]}
                               for m, k in (("hard", 0), ("soft", 0), ("hard", 1), ("soft", 1))]
    assert results["seconds"] == 12.3
    assert results["summary"]["soft"]["kl"]["mean"] == pytest.approx(0.06)
    data = load_dataset(dataset)
    for k in (0, 1):
        expected = pixel_estimate_scores(data, np.arange(3 * k, 3 * k + 3))
        assert results["image_limit"]["splits"][str(k)] == {
            m: pytest.approx(expected[m]) for m in ("macro_accuracy", "kl")}
    assert results["figure"] == "tsne.png"
    assert json.loads((out / "study.json").read_text()) == results["settings"]
    assert results["settings"]["dataset"] == str(Path(dataset).resolve())
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    assert (out / "results.md").read_text() == study.results_markdown(results)
    assert (out / "results.csv").read_text().count("\n") == 1 + 4 + 2 + 2 + 1 + 4

    lines.clear()
    monkeypatch.setattr(study, "time", time)
    again = study.reproduce(out, "quick", dataset=dataset, splits=2, seed=7,
                            overrides={"epochs": 3}, log=lines.append, tsne_max_iter=300)
    assert [line for line in lines if line.startswith("[run")] == [
        f"[run {n + 1}/4] {m} labels, split {k} (finished before: reused)"
        for n, (m, k) in enumerate((("hard", 0), ("soft", 0), ("hard", 1), ("soft", 1)))]
    assert again["runs"] == results["runs"]
    # Split 1 to train again: the two reused runs are not timed, so the estimate is still
    # this run's 4 s and one run at 6.6 s.
    for mode in ("hard", "soft"):
        (out / "runs" / f"{mode}-split1" / "scores.json").unlink()
    lines.clear()
    study.reproduce(out, "quick", dataset=dataset, splits=2, seed=7, overrides={"epochs": 3},
                    log=lines.append, tsne_max_iter=300)
    assert [line for line in lines if line.startswith("  about ")][0] == (
        "  about 11 s left in the study (2 s per epoch; this run 4 s, 1 more run(s), then the "
        "t-SNE)")


def test_the_loop_refuses_before_any_run(tmp_path, dataset, trained):
    with pytest.raises(InputError) as refused:
        study.reproduce(tmp_path / "s", "quick", dataset=dataset, splits=0)
    assert str(refused.value) == "Expected splits >= 1. Received: splits=0"
    study.reproduce(tmp_path / "s", dataset=dataset, splits=1, overrides={"epochs": 2})
    recorded = json.loads((tmp_path / "s" / "study.json").read_text())
    assert recorded["train"]["seed"] == 0 and recorded["tsne"]["max_iter"] == 5000
    assert recorded["preset"] == "quick" and trained[0]["verbose"] == "auto"
    with pytest.raises(InputError) as refused:
        study.reproduce(tmp_path / "s", "quick", dataset=dataset, splits=1,
                        overrides={"epochs": 3})
    assert str(refused.value).startswith(f"{tmp_path / 's'}: holds a study made with other "
                                         f"settings (train differ)")
    assert len([c for c in trained if "run" in c]) == 2  # one study of one split, once
    study.reproduce(tmp_path / "s", "paper", dataset=dataset, splits=1, overwrite=True,
                    overrides={"epochs": 3, "weights": "none", "image_size": 32})
    assert json.loads((tmp_path / "s" / "study.json").read_text())["preset"] == "paper"
    hard = tmp_path / "hard"
    hard.mkdir()
    (hard / "images").symlink_to(Path(dataset) / "images")
    data = load_dataset(dataset)
    (hard / "annotations.csv").write_text("item,label\n" + "".join(
        f"{item},{data.classes[i % 2]}\n" for i, item in enumerate(data.items)))
    with pytest.raises(InputError) as refused:
        study.reproduce(tmp_path / "s2", "quick", dataset=hard, splits=1)
    assert str(refused.value) == (f"{hard}: has no soft labels (every item has a single or "
                                  f"unanimous label), so hard and soft training would be the same")


def test_study_data_generates_once_into_the_study_folder(tmp_path):
    """With the settings' size, seed and placement; a folder a killed generation left behind
    (no dataset.json yet) is generated again."""
    lines = []
    settings = {"generate": {"num_images": 8, "image_size": 40, "seed": 3, "placement": "free"}}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "images").mkdir()  # a generation killed before it finished
    given = study.study_data(tmp_path, settings, tmp_path / "mine", lines.append)
    assert given == tmp_path / "mine" and lines == []  # a dataset given is used as it is
    made = study.study_data(tmp_path, settings, None, lines.append)
    assert made == tmp_path / "data" and load_dataset(made).num_items == 8
    assert lines == [f"Generating 8 synthetic images (40 px) into {tmp_path / 'data'}"]
    reference = generate_dataset(tmp_path / "reference", 8, 40, seed=3, placement="free")
    np.testing.assert_array_equal(load_dataset(made).soft_labels,
                                  load_dataset(reference).soft_labels)
    for name in ("metadata.csv", "images/00003.png"):  # where the shapes are, pixel for pixel
        assert (made / name).read_bytes() == (reference / name).read_bytes()
    assert study.study_data(tmp_path, settings, None, lines.append) == made
    assert len(lines) == 1  # found there: not generated again


def test_study_settings_by_hand(tmp_path):
    settings = study.study_settings("quick", seed=4, splits=2, tsne_max_iter=300,
                                    overrides={"epochs": 5})
    assert settings["preset"] == "quick" and settings["dataset"] is None
    assert settings["generate"] == {"num_images": 3000, "image_size": 32, "seed": 4,
                                    "placement": "inside"}
    assert settings["splits"] == 2
    assert settings["train"]["seed"] == 4 and settings["train"]["epochs"] == 5
    assert settings["train"]["batch_size"] == 128  # the preset's, not overridden
    assert settings["tsne"] == {"perplexity": 30.0, "max_iter": 300, "seed": 4, "split": 0}
    given = study.study_settings("paper", dataset=tmp_path)
    assert given["dataset"] == str(tmp_path.resolve()) and given["generate"] is None
    assert given["splits"] == 3 and given["train"]["seed"] == 0
    assert study.study_settings()["preset"] == "quick"
    with pytest.raises(InputError) as refused:
        study.study_settings("huge")
    assert str(refused.value).startswith("Expected preset to be one of ")
