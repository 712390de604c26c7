"""The budget study's presets (issue 40): ``--preset cifar10h-budget`` is the real-answer budget
study in one command, and every option given on the command line overrides the preset."""

import pytest
from click.testing import CliRunner

from dqlabels.config import StudyOptions


class _Calls(list):
    """The keyword arguments of each call, the study folder as ``out_dir``; ``results`` is
    what the fake study returns."""

    results: dict


@pytest.fixture
def asked(monkeypatch):
    """What ``run_study`` asks ``reproduce_budgets`` for, with no training."""
    from dqlabels.studies import budget, budget_results

    calls = _Calls()
    calls.results = {}
    monkeypatch.setattr(budget, "reproduce_budgets",
                        lambda out_dir, **kwargs: calls.append({"out_dir": out_dir, **kwargs})
                        or calls.results)
    monkeypatch.setattr(budget_results, "budget_markdown",
                        lambda results: "table\n" if results is calls.results else "other\n")
    return calls


def _ask(asked, preset, **values):
    from dqlabels.studies.budget import run_study

    assert run_study("unused", preset, StudyOptions(**values)).startswith("table")
    kwargs = asked.pop()
    return {key: kwargs[key] for key in ("budgets", "sizes", "splits", "shrunk", "train_preset")}


def test_the_cifar10h_budget_preset_is_the_real_answer_study(asked):
    assert _ask(asked, "cifar10h-budget") == {
        "budgets": (1, 3, 5, "exact"), "sizes": (10_000,), "splits": (3,), "shrunk": (1, 3),
        "train_preset": "cifar10h"}
    # Budgets of one's own keep the preset's shrunk arm where it applies.
    assert _ask(asked, "cifar10h-budget", budgets="1,5")["shrunk"] == (1,)
    assert _ask(asked, "cifar10h-budget", budgets="5,all")["shrunk"] is False
    assert _ask(asked, "cifar10h-budget", budgets="5", shrunk=True)["shrunk"] is True
    assert _ask(asked, "cifar10h-budget", shrunk=False, budgets="1,3")["shrunk"] is False
    # Sizes of one's own leave the splits to the study's rule (3 per size), not the preset's.
    assert _ask(asked, "cifar10h-budget", sizes="2000,4000")["splits"] is None
    assert _ask(asked, "cifar10h-budget", splits="2")["splits"] == "2"


def test_the_other_presets_keep_the_budget_presets_defaults(asked):
    assert _ask(asked, "budget") == {
        "budgets": (1, 3, 10, "exact"), "sizes": (1000, 3000), "splits": (5, 2),
        "shrunk": False, "train_preset": "quick"}
    # Budgets asked of a photograph preset: its training, the budget preset's sizes.
    assert _ask(asked, "cifar10h", budgets="1,3", shrunk=True) == {
        "budgets": "1,3", "sizes": (1000, 3000), "splits": (5, 2), "shrunk": True,
        "train_preset": "cifar10h"}
    assert _ask(asked, "quick", sizes="500")["train_preset"] == "quick"


def test_the_command_line_leaves_shrunk_to_the_preset_unless_given(monkeypatch):
    from dqlabels.commands import reproduce
    from dqlabels_cli.main import main

    seen = []
    monkeypatch.setattr(reproduce, "run_reproduce",
                        lambda out_dir, preset, **values: seen.append(values["shrunk"]))
    runner = CliRunner()
    for flags in ([], ["--shrunk"], ["--no-shrunk"]):
        result = runner.invoke(main, ["reproduce", "--preset", "cifar10h-budget", *flags])
        assert result.exit_code == 0, result.output
    assert seen == [None, True, False]


def test_run_study_passes_the_folder_the_crowd_and_the_common_options(asked, tmp_path):
    from dqlabels.data.simulated_crowd import SimulatedCrowd
    from dqlabels.studies.budget import run_study

    options = StudyOptions(dataset="data", seed=4, overwrite=True, crowd=(7, "0.1,0.3", 0.25),
                           overrides={"epochs": 2})
    text = run_study(tmp_path, "budget", options)
    call = asked.pop()
    assert call["out_dir"] == tmp_path
    assert call["crowd"] == SimulatedCrowd(1, 7, (0.1, 0.3), 0.25)
    assert (call["dataset"], call["seed"], call["overwrite"], call["overrides"]) == \
        ("data", 4, True, {"epochs": 2})
    assert text == f"table\n\nResults in {tmp_path}/budget.md, .csv, .json; figure " \
                   f"{tmp_path}/budget.png"
    # Sizes given replace the preset's; real photographs add their figure to the last line.
    asked.results["photographs"] = {"table": {}}
    text = run_study(tmp_path, "cifar10h-budget", StudyOptions(sizes="2000"))
    assert asked.pop()["sizes"] == "2000"
    assert text.endswith(f"; figures {tmp_path}/budget.png and {tmp_path}/budget-photos.png")


def test_budgets_sizes_and_splits_are_parsed_and_refused_as_written():
    from dqlabels import InputError
    from dqlabels.studies.budget import parse_budgets, parse_sizes, parse_splits

    assert parse_budgets("3,1") == (1, 3)  # no exact labels unless asked
    assert parse_budgets([5, 1]) == (1, 5) and parse_budgets("all") == ("exact",)
    refusals = {
        "1,all,exact": "Expected annotations_per_image without repeats. Received: "
                       "annotations_per_image=1,all,exact",
        "exact,exact": "Expected annotations_per_image without repeats. Received: "
                       "annotations_per_image=exact,exact",
        "1, two": "Expected annotations_per_image as whole numbers >= 1, 'exact' or 'all'. "
                  "Received: annotations_per_image=1,two",
    }
    for text, message in refusals.items():
        with pytest.raises(InputError) as refused:
            parse_budgets(text)
        assert str(refused.value) == message
    assert parse_sizes([3000, 1000]) == (1000, 3000) and parse_sizes("10") == (10,)
    for text in ("9", "10,10"):
        with pytest.raises(InputError) as refused:
            parse_sizes(text)
        assert str(refused.value) == ("Expected num_images as distinct whole numbers >= 10. "
                                      f"Received: num_images={text}")
    with pytest.raises(InputError) as refused:
        parse_splits("5, two")
    assert str(refused.value) == ("Expected splits as whole numbers >= 1, one or one per size. "
                                  "Received: splits=5,two")


def test_budget_settings_by_hand(tmp_path):
    from dataclasses import asdict, replace

    from dqlabels.config import PRESETS
    from dqlabels.data.simulated_crowd import SimulatedCrowd
    from dqlabels.studies.budget import budget_settings

    settings = budget_settings(dataset=tmp_path, budgets="3,1,all", sizes="200,100", splits="2",
                               seed=3, crowd=SimulatedCrowd(1, 5, (0.1, 0.2), 0.5), shrunk=True,
                               train_preset="cifar10h", overrides={"epochs": 2})
    train = asdict(replace(PRESETS["cifar10h"].settings["train"], seed=3, epochs=2))
    assert settings == {
        "kind": "budget", "dataset": str(tmp_path.resolve()), "generate": None,
        "budgets": [1, 3, "exact"], "sizes": [100, 200], "splits": [2, 2],
        "crowd": {"pool": 5, "noise": [0.1, 0.2], "bias": 0.5}, "seed": 3, "train": train,
        "shrunk": True, "train_preset": "cifar10h"}
    # Generated data at the largest size; the defaults (no shrunk arm, the quick training) are
    # left out, so that older study folders keep their settings.
    settings = budget_settings(sizes="40,60", budgets="1,3", seed=2)
    assert settings["dataset"] is None and settings["generate"] == {
        "num_images": 60, "image_size": 32, "seed": 2, "placement": "inside"}
    assert "shrunk" not in settings and "train_preset" not in settings
    assert settings["crowd"] == {"pool": None, "noise": [0.0, 0.0], "bias": 0.0}
    assert settings["splits"] == [5, 2]  # the budget preset's, one per size
    assert budget_settings(sizes="40", budgets="1")["splits"] == [3]
    assert settings["train"] == asdict(replace(PRESETS["quick"].settings["train"], seed=2))
    for splits in ("0", "5,0"):
        with pytest.raises(Exception, match="splits"):
            budget_settings(sizes="40,60", splits=splits)


def test_simulated_answers_follow_the_soft_labels_the_noise_and_the_seed():
    """The synthetic branch of the answer draws, without training: one-hot images answered
    exactly by noise-free annotators; [0.5, 0.5, 0] images half and half, never class 2; with
    ε = 0.3 an annotator answers uniformly at random 30% of the time, so class 2 comes up
    0.3 / 3 = 10% of the time (binomial sd over 6,000 answers: 0.004)."""
    from types import SimpleNamespace

    import numpy as np

    from dqlabels.studies.budget import _answers

    quiet = {"pool": None, "noise": [0.0, 0.0], "bias": 0.0}
    one_hot = np.tile(np.eye(3), (100, 1))
    answers = _answers(SimpleNamespace(soft_labels=one_hot), 4, True, quiet, [1, 100])
    assert answers.shape == (300, 4)
    assert (answers == np.argmax(one_hot, axis=1)[:, None]).all()
    half = SimpleNamespace(soft_labels=np.tile([0.5, 0.5, 0.0], (2000, 1)))
    first = _answers(half, 3, True, quiet, [1, 100])
    assert abs(np.mean(first == 0) - 0.5) < 0.03 and not np.any(first == 2)
    assert (_answers(half, 3, True, quiet, [1, 100]) == first).all()  # the seed decides
    assert np.any(_answers(half, 3, True, quiet, [1, 101]) != first)  # another split's draws
    noisy = {"pool": 5, "noise": [0.3, 0.3], "bias": 0.0}
    drawn = _answers(half, 3, True, noisy, [1, 100])
    assert drawn.shape == (2000, 3) and abs(np.mean(drawn == 2) - 0.1) < 0.02


def test_the_shrunk_arm_trains_at_every_budget_or_at_those_listed():
    from dqlabels import InputError
    from dqlabels.config import TrainConfig
    from dqlabels.studies.budget import _budget_clock, budget_settings

    def runs(shrunk):
        settings = budget_settings(budgets="1,3,5,all", sizes="100", splits="2", shrunk=shrunk)
        return settings.get("shrunk"), len(_budget_clock(settings, TrainConfig(), print).steps)

    # Per split: budget 1 once (hard = soft), 3 and 5 hard and soft, the exact labels hard and
    # soft: 7 runs; the shrunk arm adds one per budget it trains at, never at the exact labels.
    assert runs(False) == (None, 2 * 7)
    assert runs(True) == (True, 2 * (7 + 3))
    assert runs((3, 1)) == ([1, 3], 2 * (7 + 2))
    for bad in ((1, 10), ("exact",)):
        with pytest.raises(InputError) as refused:
            budget_settings(budgets="1,3,5,all", sizes="100", shrunk=bad)
        assert str(refused.value) == (
            "Expected the shrunk arm's budgets among the annotation budgets (1,3,5). "
            f"Received: shrunk={','.join(map(str, bad))}")


def test_budget_settings_defaults_and_boundaries():
    from dqlabels import InputError
    from dqlabels.data.simulated_crowd import SimulatedCrowd
    from dqlabels.studies.budget import budget_settings

    settings = budget_settings(budgets="1")
    assert settings["seed"] == 0 and settings["sizes"] == [1000, 3000]
    assert budget_settings(sizes="40", splits="1", budgets="1")["splits"] == [1]
    with pytest.raises(InputError) as refused:
        budget_settings(sizes="40,60", splits="5,2,1")
    assert str(refused.value) == ("Expected splits as one number >= 1, or one per size (2). "
                                  "Received: splits=5,2,1")
    # The simulated crowd answers as many times per image as the largest budget: a pool of 2
    # cannot give 3 different annotators per image; the exact labels alone need one.
    with pytest.raises(InputError, match="annotator_pool >= 3"):
        budget_settings(budgets="1,3", sizes="40", crowd=SimulatedCrowd(1, 2))
    assert budget_settings(budgets="exact", sizes="40", crowd=SimulatedCrowd(1, 1))["budgets"] \
        == ["exact"]
    assert budget_settings(budgets="exact", sizes="40")["crowd"]["pool"] is None
    # The shrunk arm at every numbered budget, listed.
    assert budget_settings(budgets="1,3", sizes="40", shrunk=(3, 1))["shrunk"] == [1, 3]


def test_the_clock_counts_runs_and_estimates_once():
    from dqlabels.config import TrainConfig
    from dqlabels.studies.budget import _budget_clock, budget_settings

    lines = []
    settings = budget_settings(budgets="1,3", sizes="10,100", splits="1")
    clock = _budget_clock(settings, TrainConfig(epochs=5, batch_size=10), lines.append)
    # Per split, budget 1 once and budget 3 hard and soft. Training images: 60% of each size,
    # 6 // 10 = 0 batches (at least 1) and 60 // 10 = 6, for 5 epochs.
    assert clock.steps == [(10, 5)] * 3 + [(100, 30)] * 3
    clock.run("first", reused=True)
    clock.run("second", reused=False)
    clock.first_epoch(2.0, 4)  # 2 s for one of 5 epochs of 5 steps: 2 s per step
    clock.first_epoch(9.0, 3)  # said once
    # Left: runs 2 and 3 (5 steps each) and 4–6 (30 each), 2 s a step plus 8 s each: 240 s.
    assert lines == ["[run 1/6] first (reused)", "[run 2/6] second",
                     "  about 4 min left for the 5 runs still to train (2.00 s per training "
                     "step on this machine)"]
    # The first run trained: every run is still to train. 60 // 7 = 8 batches a epoch, 40
    # steps a run; 20.4 s an epoch is 20.4 · 5 / 40 = 2.55 s a step: 2.55 · 120 + 3 · 8 = 330 s.
    lines.clear()
    settings = budget_settings(budgets="1,3", sizes="100", splits="1")
    clock = _budget_clock(settings, TrainConfig(epochs=5, batch_size=7), lines.append)
    assert clock.steps == [(100, 40)] * 3
    clock.run("a", reused=False)
    clock.first_epoch(20.4, 4)
    assert lines[1] == ("  about 6 min left for the 3 runs still to train (2.55 s per training "
                        "step on this machine)")


def test_a_resumed_study_estimates_only_the_runs_still_to_train(tmp_path):
    """A study continued in its folder: the finished runs (a scores.json) cost nothing in the
    estimate. Before, a study with 24 of 27 runs finished said "about 115 min left for the 26
    runs still to train" while 3 trained."""
    from dqlabels.config import TrainConfig
    from dqlabels.studies.budget import _budget_clock, budget_settings

    settings = budget_settings(budgets="1,3", sizes="100", splits="1")
    for finished in ("b1/soft-split0", "b3/hard-split0"):
        (tmp_path / "runs" / "n100" / finished).mkdir(parents=True)
        (tmp_path / "runs" / "n100" / finished / "scores.json").write_text("{}")
    (tmp_path / "runs" / "n100" / "b3" / "soft-split0").mkdir(parents=True)  # begun, unfinished
    lines = []
    clock = _budget_clock(settings, TrainConfig(epochs=5, batch_size=7), lines.append, tmp_path)
    assert clock.steps == [(100, 0), (100, 0), (100, 40)]  # 60 // 7 = 8 batches, 5 epochs
    clock.run("a", reused=True)
    clock.run("b", reused=True)
    clock.run("c", reused=False)
    clock.first_epoch(20.4, 4)  # 2.55 s a step: 2.55 · 40 + 8 = 110 s, 2 min
    assert lines == ["[run 1/3] a (reused)", "[run 2/3] b (reused)", "[run 3/3] c",
                     "  about 2 min left for the 1 run still to train (2.55 s per training "
                     "step on this machine)"]


def test_simulated_annotators_keep_their_profiles_across_splits():
    """Annotator j of the crowd (no pool: the same annotators on every image) answers at random
    with its own ε_j, drawn from the study's seed: on one-hot images it errs at ε_j · 2/3 in
    every split; with a share of biased annotators, some err systematically."""
    from types import SimpleNamespace

    import numpy as np

    from dqlabels.data.simulated_crowd import SimulatedCrowd, annotator_profiles
    from dqlabels.studies.budget import _answers

    images = SimpleNamespace(soft_labels=np.tile(np.eye(3), (1000, 1)))
    truth = np.argmax(images.soft_labels, axis=1)[:, None]
    crowd = {"pool": None, "noise": [0.0, 0.9], "bias": 0.0}
    noise = annotator_profiles(SimulatedCrowd(4, None, (0.0, 0.9), 0.0), 3, 1)["noise"]
    for split in (100, 101):
        answers = _answers(images, 4, True, crowd, [1, split])
        assert answers.dtype.kind == "i"
        assert np.abs((answers != truth).mean(axis=0) - noise * 2 / 3).max() < 0.03
    biased = _answers(images, 4, True, {"pool": None, "noise": [0.0, 0.0], "bias": 1.0}, [1, 100])
    assert np.any(biased != truth)
