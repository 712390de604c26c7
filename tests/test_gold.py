"""Gold answers: reading them, accuracy on gold with Wilson intervals, gold-aware Dawid–Skene
against a plain-loop reference, held-out scoring, and what evaluate shows."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_aggregation import _reference_dawid_skene

from conftest import REPO
from dqlabels import DawidSkene, InputError, from_long, read_annotations
from dqlabels.labels.gold import accuracy_on_gold, held_out_labels, read_gold, wilson_interval
from dqlabels_cli.main import main

EXPORTS = REPO / "tests" / "fixtures" / "exports"
CAMPAIGN = EXPORTS / "question_worker_answer.csv"
GOLD = EXPORTS / "gold_for_question_worker_answer.csv"


def test_wilson_interval_matches_published_values():
    # 8 of 10: the textbook Wilson interval [0.4902, 0.9433]; 0 of 5: [0, 0.4345].
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson_interval(0, 5)
    assert (low, round(high, 4)) == (0.0, 0.4345)
    lows, highs = wilson_interval(np.array([8, 0]), np.array([10, 0]))
    assert round(lows[0], 4) == 0.4902 and np.isnan(lows[1]) and np.isnan(highs[1])


def test_read_gold_aligns_and_refuses_what_it_cannot_place(write):
    ann = read_annotations(CAMPAIGN)
    assert read_gold(GOLD, ann).tolist() == [1, -1, 0, -1]  # q1 yes, q3 no (classes no, yes)
    with pytest.raises(InputError, match=r"2 gold item\(s\) not among the annotated items: 'q9' "
                                         r"\(line 3\), 'q7' \(line 4\)"):
        read_gold(write("g.csv", "item,label\nq1,yes\nq9,no\nq7,yes\n"), ann)
    with pytest.raises(InputError, match=r"line 3: gold label\(s\) 'maybe' not among the classes "
                                         r"\(no, yes\)"):
        read_gold(write("g.csv", "question,gold\nq1,yes\nq2,maybe\n"), ann)
    # Both lines of a conflicting repeat are named.
    with pytest.raises(InputError, match="line 2: item 'q1' has the gold label 'yes', and line 3 "
                                         "gives it 'no'"):
        read_gold(write("g.csv", "item,label\nq1,yes\nq1,no\n"), ann)
    with pytest.raises(InputError, match="line 2: missing value in column 'label'"):
        read_gold(write("g.csv", "item,label\nq1,\n"), ann)


def test_per_annotator_and_aggregate_accuracy_on_gold(tmp_path):
    """By hand: q1 (gold yes): w1 yes, w2 yes, w3 no; q3 (gold no): w1 yes, w2 no, w3 yes.
    So w1 1 of 2, w2 2 of 2, w3 0 of 2; the majority vote says yes on both: 1 of 2."""
    result = CliRunner().invoke(main, [
        "evaluate", str(CAMPAIGN), "--gold", str(GOLD), "--json", str(tmp_path / "r.json"),
        "--annotators", str(tmp_path / "a.csv"), "--labels", str(tmp_path / "l.csv"),
        "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    per = {e["annotator"]: e for e in report["annotators"]["per_annotator"]}
    assert {a: (e["gold_accuracy"], e["gold_answers"]) for a, e in per.items()} == {
        "w1": (0.5, 2), "w2": (1.0, 2), "w3": (0.0, 2)}
    assert per["w2"]["gold_interval"] == pytest.approx(list(wilson_interval(2, 2)))
    gold = report["gold"]
    assert gold["num_items"] == 2 and gold["num_annotations_on_gold"] == 6
    assert gold["aggregates"]["majority_vote"]["accuracy"] == 0.5
    assert set(gold["aggregates"]) == {"majority_vote", "dawid_skene", "crowdtruth_weighted"}
    assert "held_out" in gold["aggregates"]["dawid_skene"]
    table = pd.read_csv(tmp_path / "a.csv").set_index("annotator")
    assert table.loc["w3", "gold_accuracy"] == 0.0 and table.loc["w3", "gold_answers"] == 2
    assert table.loc["w2", "gold_low"] == pytest.approx(wilson_interval(2, 2)[0])
    labels = pd.read_csv(tmp_path / "l.csv", keep_default_na=False).set_index("item")
    assert labels["gold_label"].to_dict() == {"q1": "yes", "q2": "", "q3": "no", "q4": ""}
    page = (tmp_path / "r.html").read_text()
    assert "Gold answers (2 items)" in page and "accuracy on gold" in page
    assert "Gold answers: 2 items" in result.output


def test_gold_file_errors_exit_2_without_output(tmp_path):
    bad = tmp_path / "gold.csv"
    bad.write_text("item,label\nq1,yes\nnope,no\n")
    result = CliRunner().invoke(main, ["evaluate", str(CAMPAIGN), "--gold", str(bad), "--json",
                                       str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "'nope' (line 3)" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_export_gold_and_a_gold_file_must_agree(tmp_path):
    ann = read_annotations(EXPORTS / "toloka_results.tsv")
    g = ann.items.tolist().index("https://example.com/img/g.jpg")
    other = np.full(ann.num_items, -1)
    other[g] = 0  # cat, where the export's GOLDEN column says dog
    with pytest.raises(InputError, match="has the answer 'cat', but .* gives 'dog'"):
        ann.with_gold(other)
    other[g] = 1
    assert ann.with_gold(other).gold.tolist() == ann.gold.tolist()


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_gold_aware_dawid_skene_matches_a_plain_loop_reference(engine):
    rng = np.random.default_rng(5)
    n_items, k, accuracy = 80, 3, [0.9, 0.65, 0.5, 0.35]
    truth = rng.integers(0, k, n_items)
    items, annots, labels = [], [], []
    for i in range(n_items):
        for a, acc in enumerate(accuracy):
            if rng.random() < 0.85:
                items.append(i), annots.append(a)
                labels.append(int(truth[i] if rng.random() < acc else rng.integers(0, k)))
    ann = from_long([f"{i:03d}" for i in items], labels, [f"a{a}" for a in annots])
    assert ann.num_items == n_items
    gold = np.where(rng.random(n_items) < 0.25, truth, -1)
    model = DawidSkene(max_iter=6, tol=-np.inf, engine=engine).fit(ann, gold)
    post, _, _ = _reference_dawid_skene(items, annots, labels, n_items, 4, k, 6, 0.01, gold=gold)
    assert model.n_iter_ == 6
    np.testing.assert_allclose(model.probas_, post, atol=1e-10)
    # The reported priors come from one more M-step on those posteriors.
    expected_prior = post.sum(0) + 0.01
    np.testing.assert_allclose(model.class_priors_, expected_prior / expected_prior.sum(),
                               atol=1e-12)
    np.testing.assert_array_equal(model.labels_[gold >= 0], gold[gold >= 0])
    plain = DawidSkene(max_iter=6, tol=-np.inf, engine=engine).fit(ann)
    assert not np.allclose(plain.probas_, model.probas_)  # the gold mattered


def test_dawid_skene_refuses_gold_that_does_not_fit():
    ann = from_long(["a", "b"], ["x", "y"], ["u", "u"])
    with pytest.raises(InputError, match="Expected gold as 2 integer class indices"):
        DawidSkene().fit(ann, [0, 1, 1])
    with pytest.raises(InputError, match=r"gold class indices in -1\.\.1"):
        DawidSkene().fit(ann, [0, 5])


def test_held_out_labels_never_see_the_answer_they_are_scored_on():
    """A 'model' that returns the gold it is given (and class 0 elsewhere) would score 1.0 on
    the items whose answers it saw; held out, each gold item gets class 0."""
    ann = from_long(list("abcdef"), list("xyyxyy"), list("uuuuuu")).with_gold([1, 1, 1, 0, 1, -1])
    calls = []

    def fit(hidden):
        calls.append(hidden.copy())
        return np.where(hidden >= 0, hidden, 0)

    labels = held_out_labels(ann, fit, folds=5)
    assert labels.tolist() == [0, 0, 0, 0, 0, -1] and len(calls) == 5
    assert accuracy_on_gold(labels, ann.gold)["accuracy"] == pytest.approx(1 / 5)
    for hidden in calls:  # each fit hides exactly one fold of the five gold items
        assert np.count_nonzero(hidden >= 0) == 4


def test_held_out_dawid_skene_accuracy_of_the_fixture(tmp_path):
    """By hand: two gold items, so two folds of one. Held out, q1 (answers yes, yes, no) is
    labelled yes: right. Held out, q3 (w1 yes, w2 no, w3 yes) is labelled yes, w1 and w3
    outvoting w2 (q1's gold, yes, makes w1 and w2 look right and w3 wrong; w1 agrees with the
    others everywhere else): wrong, its gold is no. So 1 of 2; a fit that saw all the gold would
    reproduce it (1.0)."""
    result = CliRunner().invoke(main, ["evaluate", str(CAMPAIGN), "--gold", str(GOLD), "--json",
                                       str(tmp_path / "r.json"), "--quiet"])
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    held_out = report["gold"]["aggregates"]["dawid_skene"]
    assert held_out["accuracy"] == 0.5 and held_out["num_items"] == 2


def test_a_gold_class_index_one_past_the_last_is_refused_in_one_line():
    ann = from_long(["a", "b"], ["x", "y"], ["u", "u"])
    with pytest.raises(InputError, match=r"gold class indices in -1\.\.1"):
        DawidSkene().fit(ann, [0, 2])  # K = 2: index 2 does not exist


def test_both_engines_agree_with_gold_on_likelihood_and_stopping():
    rng = np.random.default_rng(8)
    truth = rng.integers(0, 3, 300)
    items = np.repeat(np.arange(300), 5)
    labels = np.where(rng.random(1500) < 0.7, np.repeat(truth, 5), rng.integers(0, 3, 1500))
    annotators = rng.integers(0, 12, 1500)
    ann = from_long([f"{i:03d}" for i in items], labels, [f"w{a}" for a in annotators],
                    duplicates="keep")
    gold = np.where(rng.random(300) < 0.3, truth, -1)
    fits = {engine: DawidSkene(engine=engine).fit(ann, gold) for engine in ("numpy", "numba")}
    assert fits["numpy"].n_iter_ == fits["numba"].n_iter_
    assert fits["numpy"].log_likelihood_ == pytest.approx(fits["numba"].log_likelihood_,
                                                          rel=1e-9)
    np.testing.assert_allclose(fits["numpy"].probas_, fits["numba"].probas_, atol=1e-9)
