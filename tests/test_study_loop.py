"""The synthetic study's loop (dqlabels.studies.study.reproduce) with the training replaced by a
stand-in that writes what a finished run writes: which runs it asks for and in what order, what
it logs, what it reuses, the image limit and the files, without training a network (the slow
tests train for real)."""

import json
from pathlib import Path

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
                      "callbacks": callbacks})
        data = load_dataset(data_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        test = set(range(3 * config.split, 3 * config.split + 3))
        (run_dir / "split.csv").write_text("item,split\n" + "".join(
            f"{item},{'test' if i in test else 'train'}\n" for i, item in enumerate(data.items)))
        acc, kl = SCORES[(config.label_mode, config.split)]
        scores = {"macro_accuracy": acc, "kl": kl, "epochs_completed": config.epochs}
        (run_dir / "scores.json").write_text(json.dumps(scores))
        return scores

    def figure(out_dir, data, tsne, part="split"):
        calls.append({"figure": tsne})
        (out_dir / "tsne.png").write_bytes(b"png")
        return out_dir / "tsne.png"

    monkeypatch.setattr(dqlabels.learning.training, "train", train)
    monkeypatch.setattr(study, "write_tsne_figure", figure)
    return calls


def test_the_loop_runs_every_split_and_mode_in_order_and_writes_the_results(tmp_path, dataset,
                                                                            trained):
    out, lines = tmp_path / "s", []
    extra = object()
    results = study.reproduce(out, "quick", dataset=dataset, splits=2, seed=7,
                              overrides={"epochs": 3}, log=lines.append,
                              callbacks=lambda mode, k: [f"{mode}{k}", extra])
    runs = [c for c in trained if "run" in c]
    assert [(c["mode"], c["split"]) for c in runs] == [("hard", 0), ("soft", 0), ("hard", 1),
                                                       ("soft", 1)]
    assert [c["run"] for c in runs] == [out / "runs" / f"{m}-split{k}" for m, k in
                                        (("hard", 0), ("soft", 0), ("hard", 1), ("soft", 1))]
    assert all(c["data"] == dataset and c["epochs"] == 3 and c["seed"] == 7 for c in runs)
    assert [c["callbacks"][1:] for c in runs] == [["hard0", extra], ["soft0", extra],
                                                   ["hard1", extra], ["soft1", extra]]
    assert type(runs[0]["callbacks"][0]).__name__ == "EpochTimer"
    assert trained[-1] == {"figure": {"perplexity": 30.0, "max_iter": 5000, "seed": 7,
                                      "split": 0}}
    assert lines == [f"[run {n + 1}/4] {m} labels, split {k} → {out / 'runs' / f'{m}-split{k}'}"
                     for n, (m, k) in enumerate((("hard", 0), ("soft", 0), ("hard", 1),
                                                 ("soft", 1)))] + \
        ["Computing t-SNE of split 0 (hard and soft) ..."]
    assert results["runs"] == [{"split": k, "mode": m, "run": f"runs/{m}-split{k}",
                                "epochs_completed": 3, "macro_accuracy": SCORES[(m, k)][0],
                                "kl": SCORES[(m, k)][1]}
                               for m, k in (("hard", 0), ("soft", 0), ("hard", 1), ("soft", 1))]
    assert results["summary"]["soft"]["kl"]["mean"] == pytest.approx(0.06)
    data = load_dataset(dataset)
    for k in (0, 1):
        expected = pixel_estimate_scores(data, np.arange(3 * k, 3 * k + 3))
        assert results["image_limit"]["splits"][str(k)] == {
            m: pytest.approx(expected[m]) for m in ("macro_accuracy", "kl")}
    assert results["figure"] == "tsne.png" and results["seconds"] >= 0
    assert json.loads((out / "study.json").read_text()) == results["settings"]
    assert results["settings"]["dataset"] == str(Path(dataset).resolve())
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    assert (out / "results.md").read_text() == study.results_markdown(results)
    assert (out / "results.csv").read_text().count("\n") == 1 + 4 + 2 + 2 + 1 + 4

    lines.clear()
    again = study.reproduce(out, "quick", dataset=dataset, splits=2, seed=7,
                            overrides={"epochs": 3}, log=lines.append)
    assert lines[:4] == [f"[run {n + 1}/4] {m} labels, split {k} (finished before: reused)"
                         for n, (m, k) in enumerate((("hard", 0), ("soft", 0), ("hard", 1),
                                                     ("soft", 1)))]
    assert again["runs"] == results["runs"]


def test_the_loop_refuses_before_any_run(tmp_path, dataset, trained):
    with pytest.raises(InputError) as refused:
        study.reproduce(tmp_path / "s", "quick", dataset=dataset, splits=0)
    assert str(refused.value) == "Expected splits >= 1. Received: splits=0"
    study.reproduce(tmp_path / "s", "quick", dataset=dataset, splits=1,
                    overrides={"epochs": 2})
    with pytest.raises(InputError) as refused:
        study.reproduce(tmp_path / "s", "quick", dataset=dataset, splits=1,
                        overrides={"epochs": 3})
    assert str(refused.value).startswith(f"{tmp_path / 's'}: holds a study made with other "
                                         f"settings (train differ)")
    assert len([c for c in trained if "run" in c]) == 2  # one study of one split, once


def test_study_data_generates_once_into_the_study_folder(tmp_path):
    lines = []
    settings = {"generate": {"num_images": 8, "image_size": 32, "seed": 3,
                             "placement": "inside"}}
    given = study.study_data(tmp_path, settings, tmp_path / "mine", lines.append)
    assert given == tmp_path / "mine" and lines == []  # a dataset given is used as it is
    made = study.study_data(tmp_path, settings, None, lines.append)
    assert made == tmp_path / "data" and load_dataset(made).num_items == 8
    assert lines == [f"Generating 8 synthetic images (32 px) into {tmp_path / 'data'}"]
    reference = generate_dataset(tmp_path / "reference", 8, 32, seed=3, placement="inside")
    np.testing.assert_array_equal(load_dataset(made).soft_labels,
                                  load_dataset(reference).soft_labels)
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
