"""The budget study's presets (issue 40): ``--preset cifar10h-budget`` is the real-answer budget
study in one command, and every option given on the command line overrides the preset."""

import pytest
from click.testing import CliRunner

from dqlabels.config import StudyOptions


@pytest.fixture
def asked(monkeypatch):
    """What ``run_study`` asks ``reproduce_budgets`` for, with no training."""
    from dqlabels.studies import budget, budget_results

    calls = []
    monkeypatch.setattr(budget, "reproduce_budgets",
                        lambda out_dir, **kwargs: calls.append(kwargs) or {})
    monkeypatch.setattr(budget_results, "budget_markdown", lambda results: "table")
    return calls


def _ask(asked, preset, **values):
    from dqlabels.studies.budget import run_study

    assert run_study("unused", preset, StudyOptions(**values)).startswith("table")
    kwargs = asked.pop()
    return {key: kwargs[key] for key in ("budgets", "sizes", "splits", "shrunk", "train_preset")}


def test_the_cifar10h_budget_preset_is_the_real_answer_study(asked):
    assert _ask(asked, "cifar10h-budget") == {
        "budgets": (1, 3, 5, "exact"), "sizes": (10_000,), "splits": (3,), "shrunk": True,
        "train_preset": "cifar10h"}
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
