"""The next round (dqlabels plan): the Dirichlet arithmetic against Monte Carlo, the prior's
strength against a known truth, plan against uniform allocation on a simulated campaign, and
the command's outputs and refusals."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dqlabels import InputError, from_counts, from_long
from dqlabels.data.simulated_crowd import SimulatedCrowd, annotator_profiles, draw_answers
from dqlabels.data.synthetic import sample_parameters, soft_labels_of
from dqlabels.labels.plan import (
    _expected_kl,
    _top_chance,
    _value,
    plan_next_round,
    posterior,
)
from dqlabels_cli.main import main


def test_expected_kl_and_top_chance_match_monte_carlo():
    rng = np.random.default_rng(0)
    alpha = np.array([[2.0, 0.5, 1.5], [0.3, 0.3, 4.0], [3.0, 3.0, 0.2]])
    p = np.stack([rng.dirichlet(a, 400_000) for a in alpha])  # items × draws × classes
    mean = alpha / alpha.sum(axis=1, keepdims=True)
    kl = (p * (np.log(p + 1e-300) - np.log(mean[:, None, :]))).sum(axis=2).mean(axis=1)
    np.testing.assert_allclose(_expected_kl(alpha), kl, rtol=0.01)
    # The top class's chance of being the true majority; for two classes the pairwise formula
    # is exact.
    two = np.array([[3.0, 1.0], [1.5, 1.5], [10.0, 7.0]])
    q = np.stack([rng.dirichlet(a, 400_000) for a in two])
    np.testing.assert_allclose(_top_chance(two), (q[:, :, 0] >= q[:, :, 1]).mean(axis=1),
                               atol=0.003)


def test_value_is_the_expected_change_over_the_next_answer():
    """Against a by-hand lookahead: each answer y with probability m_y, the posterior gaining
    one count of y."""
    alpha = np.array([[1.2, 0.2, 0.6]])
    mean = alpha[0] / alpha.sum()
    for objective, loss in (("soft", _expected_kl), ("hard", lambda a: 1 - _top_chance(a))):
        after = sum(mean[y] * loss(alpha + np.eye(3)[y]) for y in range(3))
        assert _value(alpha, objective)[0] == pytest.approx((loss(alpha) - after)[0], rel=1e-12)


def test_prior_strength_is_fitted_to_a_known_concentration():
    """Items drawn from Dir(4 · m), 6 annotations each: the marginal-likelihood fit finds a
    strength near 4; with one annotation per item nothing can be fitted (the default)."""
    rng = np.random.default_rng(1)
    m = np.array([0.5, 0.3, 0.2])
    p = rng.dirichlet(4 * m, 3000)
    counts = np.stack([rng.multinomial(6, row) for row in p])
    post = posterior(from_counts(counts), prior="balance")
    assert post.strength_fitted and 3.2 < post.strength < 4.8
    single = from_counts(np.eye(3, dtype=int)[rng.integers(0, 3, 50)])
    assert posterior(single).strength == pytest.approx(1 / 9)  # label smoothing 0.1
    assert not posterior(single).strength_fitted


def _simulate(arm, objective, soft, rounds, seed=3):
    """Rounds of 10% of the items' worth of annotations, every answer drawn up front so that
    both arms see the same answers (common random numbers)."""
    n, k = soft.shape
    response = annotator_profiles(SimulatedCrowd(1, 20), k, seed)["response"]
    rng = np.random.default_rng(seed)
    stream = draw_answers(np.repeat(soft, 40, axis=0),
                          response[rng.integers(0, 20, n * 40)], rng).reshape(n, 40)
    counts = np.zeros((n, k), dtype=int)
    taken = np.zeros(n, dtype=int)

    def add(items):
        for i in items:  # a few hundred per round
            counts[i, stream[i, taken[i]]] += 1
            taken[i] += 1

    add(range(n))
    for _ in range(rounds):
        if arm == "uniform":
            order = np.lexsort((np.arange(n), counts.sum(axis=1)))[: n // 10]
            add(order)
        else:
            plan = plan_next_round(from_counts(counts), n // 10, objective=objective)
            add(np.repeat(np.arange(n), plan.requested))
    return counts


def test_plan_beats_uniform_on_the_hard_objective_and_is_not_worse_on_the_soft_one():
    """400 generated images, one noise-free annotation each, then 20 rounds of 40 annotations
    (3 per item in the end), planned or round-robin: the planned majority labels are more
    accurate against the exact argmax, and the planned soft labels are as close in KL."""
    soft = soft_labels_of(sample_parameters(400, seed=9))
    truth = np.argmax(soft, axis=1)
    results = {}
    for arm, objective in (("uniform", None), ("plan", "hard"), ("plan", "soft")):
        counts = _simulate(arm, objective, soft, rounds=20)
        assert counts.sum() == 400 * 3
        estimate = posterior(from_counts(counts)).mean
        kl = np.mean(np.sum(np.where(soft > 0, soft * np.log(np.where(soft > 0, soft, 1)
                                                             / estimate), 0), axis=1))
        results[arm, objective] = (np.mean(np.argmax(estimate, 1) == truth), kl)
    assert results["plan", "hard"][0] > results["uniform", None][0] + 0.01
    assert results["plan", "soft"][1] <= results["uniform", None][1] * 1.01


def test_certain_and_gold_items_get_nothing():
    counts = np.array([[200, 0, 0], [0, 150, 0], [1, 1, 0], [0, 0, 1], [2, 1, 1]])
    ann = from_counts(counts, items=["a", "b", "c", "d", "e"])
    for objective in ("soft", "hard"):
        plan = plan_next_round(ann, budget=100, objective=objective, prior="balance")
        requested = dict(zip(plan.items, plan.requested.tolist()))
        assert requested["a"] == requested["b"] == 0 and plan.certain[:2].all()
        assert requested["c"] > 0 and requested["d"] > 0
        assert plan.unspent == 100 - plan.requested.sum() and plan.unspent > 0
    gold = plan_next_round(ann, 10, gold=np.array([-1, -1, 0, -1, -1]), prior="balance")
    # A gold item gets nothing, and is counted as gold, not as certain.
    assert gold.requested[2] == 0 and gold.gold[2] and not gold.certain[2]
    summary = gold.summary()
    assert summary["num_gold"] == 1 and summary["num_certain"] == 2
    assert summary["num_uncertain"] == 2


def test_plan_is_pure_and_keeps_the_items_order():
    ann = from_long(["z", "a", "a", "m"], ["x", "y", "x", "y"])
    first = plan_next_round(ann, 3)
    second = plan_next_round(ann, 3)
    assert list(first.items) == ["a", "m", "z"] == list(ann.items)
    assert first.requested.tolist() == second.requested.tolist()
    with pytest.raises(InputError, match="Expected objective to be one of soft, hard"):
        plan_next_round(ann, 3, objective="vibes")
    with pytest.raises(InputError, match="Expected budget >= 0"):
        plan_next_round(ann, -1)


def test_predictions_are_the_prior_weighted_by_agreement():
    """Predictions that agree with the annotations weigh more in the prior than ones that
    contradict them."""
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 300)
    counts = np.eye(3, dtype=int)[truth] + np.eye(3, dtype=int)[truth]
    good = np.full((300, 3), 0.05)
    good[np.arange(300), truth] = 0.9
    bad = np.full((300, 3), 0.05)
    bad[np.arange(300), (truth + 1) % 3] = 0.9
    ann = from_counts(counts)
    assert posterior(ann, good).prediction_weight > 0.9
    assert posterior(ann, bad).prediction_weight < 0.1


def _campaign(tmp_path):
    """13 items of patterned answers: one Dirichlet over them all fits them with a finite
    strength; one component per class would call every item certain (the tests below pass
    --prior balance, the plan's arithmetic being what they test)."""
    path = tmp_path / "campaign.csv"
    rows = ["item,annotator,label"] + [f"q{i},w{w},{'yes' if (i + w) % 3 else 'no'}"
                                       for i in range(12) for w in range(2 + i % 3)]
    rows += [f"sure,w{w},yes" for w in range(60)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_plan_command_writes_the_next_round(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _campaign(tmp_path)
    result = CliRunner().invoke(main, ["plan", str(path), "--prior", "balance", "--budget", "10", "--json",
                                       "plan.json"])
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(tmp_path / "next_round.csv")
    assert list(table.columns) == ["item", "annotations", "loss_now", "loss_after",
                                   "expected_gain", "reason"]
    assert table["annotations"].sum() == 10 and "sure" not in set(table["item"])
    # Sorted by the number a program sorts on: the expected gain, largest first.
    assert table["expected_gain"].is_monotonic_decreasing
    np.testing.assert_allclose(table["loss_now"] - table["loss_after"], table["expected_gain"],
                               atol=2e-6)
    report = json.loads((tmp_path / "plan.json").read_text())
    assert report["budget"] == 10 and report["num_certain"] >= 1
    assert "Wrote next_round.csv" in result.output
    again = CliRunner().invoke(main, ["plan", str(path), "--prior", "balance", "--budget", "5"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert pd.read_csv(tmp_path / "next_round.csv")["annotations"].sum() == 10  # untouched


def test_plan_refusals_leave_no_output(tmp_path):
    probs = tmp_path / "probs.csv"
    probs.write_text("item,a,b\nx,0.5,0.5\ny,0.9,0.1\n")
    out = tmp_path / "next.csv"
    for args, fragment in (
            ([str(probs), "--budget", "3"], "planning needs annotation counts"),
            ([str(_campaign(tmp_path)), "--budget", "3", "--predictions",
              str(tmp_path / "missing.csv")], "missing.csv: no such file"),
            ([str(_campaign(tmp_path)), "--budget", "3", "--objective", "vibes"],
             "'vibes' is not one of 'soft', 'hard'")):
        result = CliRunner().invoke(main, ["plan", *args, "--out", str(out)])
        assert result.exit_code == 2, result.output + result.stderr
        assert result.stderr.count("\n") == 1 and fragment in result.stderr
        assert not out.exists()


def test_evaluate_plan_section_and_posterior_columns(tmp_path):
    path = _campaign(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--prior", "balance", "--plan-budget", "6", "--json",
                                       str(tmp_path / "r.json"), "--labels",
                                       str(tmp_path / "l.csv"), "--html",
                                       str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.stderr
    assert "Next round (soft objective, budget 6; prior: class balance)" in result.output
    assert "by annotations per item so far → mean expected KL (items): 2 → " in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    # the groups' sizes: q0..q11 have 2 + i % 3 annotations (four each), "sure" 60
    assert report["next_round"]["items_by_annotations"] == {"2": 4, "3": 4, "4": 4, "60": 1}
    assert " (4), 3 → " in result.output and " (1)" in result.output
    assert sum(e["annotations"] for e in report["next_round"]["next_round"]) == 6
    assert set(report["posterior"]["spread_by_annotations"]) == {"2", "3", "4", "60"}
    labels = pd.read_csv(tmp_path / "l.csv").set_index("item")
    assert {"posterior_spread", "shrunk_no", "shrunk_yes"} <= set(labels.columns)
    assert labels.loc["sure", "posterior_spread"] < labels.loc["q0", "posterior_spread"]
    np.testing.assert_allclose(labels[["shrunk_no", "shrunk_yes"]].sum(axis=1), 1.0, atol=1e-5)
    assert "Next round" in (tmp_path / "r.html").read_text()


def test_plan_never_imports_tensorflow(tmp_path):
    from conftest import ml_modules_after_command

    path = _campaign(tmp_path)
    loaded = ml_modules_after_command(["plan", path, "--budget", "4", "--out",
                                       tmp_path / "n.csv", "--quiet"])
    assert loaded == [] and (tmp_path / "n.csv").exists()


# ----------------------------------------------------------------------------------------------
# What the plan says (issue 26): gold apart from certain, one meaning of "spread", what it buys


def _all_gold(tmp_path):
    path = _campaign(tmp_path)
    table = pd.read_csv(path)
    gold = table.groupby("item")["label"].agg(lambda s: s.mode()[0]).reset_index()
    gold.columns = ["Frage", "Wahrheit"]  # names no alias matches: the options name them
    gold.to_csv(tmp_path / "gold.csv", index=False)
    return path, tmp_path / "gold.csv"


def test_gold_items_are_gold_not_certain_and_dawid_skene_says_it_repeats_them(tmp_path):
    path, gold = _all_gold(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--gold", str(gold),
                                       "--gold-item-column", "frage", "--gold-label-column",
                                       "Wahrheit", "--plan-budget", "20"])
    assert result.exit_code == 0, result.stderr
    out = result.output
    assert "0 items uncertain, 0 certain" in out
    assert "13 items with gold answers get none" in out
    assert "20 left unspent (every other item is certain or has a gold answer)" in out
    assert "every item has a gold answer: Dawid–Skene's labels are the gold answers" in out
    assert "1 iterations" not in out


def test_spread_means_the_posterior_spread_everywhere(tmp_path):
    path = _campaign(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--prior", "balance", "--plan-budget", "6", "--labels",
                                       str(tmp_path / "l.csv"), "--json", str(tmp_path / "r.json"),
                                       "--plan-out", str(tmp_path / "n.csv")])
    assert result.exit_code == 0, result.stderr
    labels = pd.read_csv(tmp_path / "l.csv").set_index("item")
    plan = pd.read_csv(tmp_path / "n.csv")
    for _, row in plan.iterrows():
        stated = float(row["reason"].split("posterior spread ")[1].split()[0])
        assert stated == pytest.approx(labels.loc[row["item"], "posterior_spread"], abs=0.005)
    report = json.loads((tmp_path / "r.json").read_text())["next_round"]
    assert report["tolerance"] == 0.1 and report["tolerance_measure"] == "posterior_spread"
    assert "(posterior spread below 0.1)" in result.output


def test_evaluate_and_plan_write_the_same_plan(tmp_path):
    path = _campaign(tmp_path)
    for args in (["evaluate", str(path), "--prior", "balance", "--plan-budget", "7", "--plan-out",
                  str(tmp_path / "a.csv")],
                 ["plan", str(path), "--prior", "balance", "--budget", "7", "--out", str(tmp_path / "b.csv")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.stderr
        assert "asks for 7 annotations on" in result.output
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    refused = CliRunner().invoke(main, ["evaluate", str(path), "--plan-out",
                                        str(tmp_path / "c.csv")])
    assert refused.exit_code == 2 and "--plan-out needs --plan-budget N" in refused.stderr


def test_hard_objective_speaks_of_the_majority_not_the_spread(tmp_path):
    path = _campaign(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--prior", "balance", "--plan-budget", "6",
                                       "--plan-objective", "hard", "--json",
                                       str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    assert "expected: agreement with the annotators' long-run majority" in result.output
    assert "mean chance not the majority" in result.output
    assert "mean expected KL" not in result.output
    expected = json.loads((tmp_path / "r.json").read_text())["next_round"]["expected"]
    assert expected["majority_agreement_after"] >= expected["majority_agreement_now"]


def test_expected_loss_after_one_and_two_answers_by_hand():
    """Many identical items [1, 1, 0] get one (then two) answers each: the mean of the stated
    loss after is the exact expectation, summed by hand over the answers' predictive chances."""
    counts = np.tile([1, 1, 0], (400, 1))
    for budget, per_item in ((400, 1), (800, 2)):
        plan = plan_next_round(from_counts(counts), budget, strength=3.0, prior="balance")
        assert (plan.requested == per_item).all()
        alpha = plan.posterior.alpha[0]
        exact = 0.0
        for first in range(3):
            p_first = alpha[first] / alpha.sum()
            if per_item == 1:
                exact += p_first * _expected_kl((alpha + np.eye(3)[first])[None])[0]
                continue
            after_first = alpha + np.eye(3)[first]
            for second in range(3):
                p_second = after_first[second] / after_first.sum()
                exact += p_first * p_second * _expected_kl(
                    (after_first + np.eye(3)[second])[None])[0]
        # The two answers are symmetric here, so the draws' mean is exact: a tight tolerance
        # (the expected counts in place of the answers would be 0.3–0.5% off).
        assert plan.loss_after.mean() == pytest.approx(exact, rel=1e-4)
        assert plan.expected()["mean_kl_after"] == pytest.approx(exact, rel=1e-4)


def test_stated_gain_matches_the_achieved_gain_on_a_replayed_campaign():
    """The replay check in small: true distributions drawn from a Dirichlet, 2 answers per item,
    a plan of one more answer for a third of the items; the new answers drawn from the truth.
    The stated drop of the mean KL lies within the 95% interval of the achieved drop."""
    rng = np.random.default_rng(11)
    truth = rng.dirichlet(2.0 * np.array([0.5, 0.3, 0.2]), 3000)
    counts = np.stack([rng.multinomial(2, p) for p in truth])
    ann = from_counts(counts)
    plan = plan_next_round(ann, 1000, prior="balance")  # the truth's own model: one Dirichlet
    alpha = plan.posterior.alpha
    new = np.stack([rng.multinomial(n, p) for n, p in zip(plan.requested, truth)])

    def kl(mean):
        return (truth * (np.log(np.maximum(truth, 1e-300)) - np.log(mean))).sum(axis=1)

    before = kl(alpha / alpha.sum(axis=1, keepdims=True))
    after = kl((alpha + new) / (alpha + new).sum(axis=1, keepdims=True))
    achieved = before - after
    half = 1.96 * achieved.std(ddof=1) / np.sqrt(achieved.size)
    stated = plan.expected()["mean_kl_now"] - plan.expected()["mean_kl_after"]
    assert achieved.mean() - half <= stated <= achieved.mean() + half


# ----------------------------------------------------------------------------------------------
# Pinned promises (issue 30): each test fails on a plausible one-line bug


def test_prior_mean_is_the_stated_mixture_of_prediction_and_balance():
    """(1 − w)·balance + w·prediction, w the reported weight of the predictions; predictions that
    agree with the annotators get w near 1, so the prior mean sits near them."""
    counts = np.array([[3, 0, 0], [0, 2, 1], [1, 0, 2], [2, 1, 0]])
    predictions = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7],
                            [0.7, 0.2, 0.1]])
    post = posterior(from_counts(counts), predictions)
    balance = counts.sum(axis=0) / counts.sum()  # 6, 3, 3 of 12
    w = post.prediction_weight
    assert w > 0.5
    np.testing.assert_allclose(post.prior_mean, w * predictions + (1 - w) * balance, atol=1e-8)


def test_a_budget_smaller_than_a_pass_goes_to_the_most_valuable_items():
    """Four items with two annotations each; a budget of 2 goes to the two whose next answer is
    worth most, by the lookahead worked out here (each answer y with probability m_y)."""
    counts = np.array([[2, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 2, 0]])
    plan = plan_next_round(from_counts(counts), budget=2, strength=2.0, prior="balance")
    alpha = plan.posterior.alpha
    worth = []
    for a in alpha:
        mean = a / a.sum()
        after = sum(mean[y] * _expected_kl((a + np.eye(3)[y])[None])[0] for y in range(3))
        worth.append(_expected_kl(a[None])[0] - after)
    best = set(np.argsort(worth)[-2:].tolist())
    assert set(np.flatnonzero(plan.requested).tolist()) == best
    assert plan.requested.sum() == 2


def test_a_nearly_settled_item_stops_once_certain():
    """Each pass adds the planned answer's expected counts (the posterior mean) to the item: the
    mean stays, the total grows by one. By hand: the item [9, 1] with strength 1 and the class
    balance of the campaign reaches a posterior spread below 0.1 after k passes (8)."""
    counts = np.array([[9, 1], [1, 1], [1, 1]])
    plan = plan_next_round(from_counts(counts), budget=200, strength=1.0, prior="balance")
    balance = counts.sum(axis=0) / counts.sum()
    alpha = 1.0 * balance + counts[0]
    mean, total = alpha / alpha.sum(), alpha.sum()
    k = 0
    while np.sqrt((1 - (mean ** 2).sum()) / (total + k + 1)) >= 0.1:
        k += 1
    assert 0 < k < 20  # the cap per round is 20: without the update the item would get 20
    assert plan.requested[0] == k


def test_the_soft_tolerance_is_a_posterior_spread_of_0_1():
    """By hand, strength 2 and the balance [0.5, 0.5]: the item [40, 0] has the posterior
    Dir(41, 1), spread sqrt((1 − (41² + 1)/42²)/43) = 0.0327: certain; [8, 0] has Dir(9, 1),
    spread sqrt((1 − 82/100)/11) = 0.128: not certain (its variance, 0.016, is below 0.1)."""
    counts = np.array([[40, 0], [8, 0], [0, 48]])
    plan = plan_next_round(from_counts(counts), 10, strength=2.0, prior="balance")
    spread = np.sqrt((1 - (41 ** 2 + 1) / 42 ** 2) / 43), np.sqrt((1 - 82 / 100) / 11)
    np.testing.assert_allclose(plan.posterior.spread[:2], spread, rtol=1e-9)
    assert plan.certain.tolist() == [True, False, True]
    assert plan.requested[1] > 0 and plan.requested[0] == 0


def test_the_strength_fit_on_distinct_count_vectors_equals_the_per_item_fit():
    """Random campaigns (varying annotations per item, 3 to 6 classes): the fit on the distinct
    count vectors with their multiplicities finds the per-item fit's optimum (within the
    optimiser's tolerance)."""
    from dqlabels.labels.posterior import _fit_strength

    rng = np.random.default_rng(21)
    for k in (3, 4, 6):
        p = rng.dirichlet(np.full(k, 0.8), 3000)
        per_item = rng.integers(1, 8, 3000)
        counts = np.stack([rng.multinomial(n, row) for n, row in zip(per_item, p)]).astype(float)
        balance = counts.sum(axis=0) / counts.sum()
        grouped = _fit_strength(counts, balance)
        each = _fit_strength(counts, np.tile(balance, (len(counts), 1)))
        assert grouped == pytest.approx(each, rel=1e-5)


def test_the_bounded_minimum_is_scipys_to_the_last_bit():
    """``dqlabels.minimize.bounded_minimum`` replaces ``scipy.optimize.minimize_scalar(...,
    method="bounded")`` so that the audit need not import scipy.optimize: on smooth, flat,
    monotone, multi-modal and edge-hugging functions, and on the strength likelihood of random
    campaigns, it returns SciPy's very number (the same points evaluated in the same order)."""
    from scipy.optimize import minimize_scalar

    from dqlabels.labels.posterior import _fit_strength
    from dqlabels.minimize import bounded_minimum

    rng = np.random.default_rng(5)
    functions = [lambda x: (x - 0.3) ** 2, lambda x: x, lambda x: -x, lambda x: 1.0,
                 lambda x: np.sin(5 * x) + 0.1 * x, lambda x: abs(x - 0.999999),
                 lambda x: np.exp(-x) * np.cos(3 * x), lambda x: (x - 1e-9) ** 4]
    for centre in rng.uniform(-3, 3, 20):
        functions.append(lambda x, c=centre: np.log1p((x - c) ** 2) + 0.01 * np.sin(40 * x))
    for bounds in ((0.0, 1.0), (-3.0, 3.0), (np.log(0.05), np.log(1000.0)), (2.0, 2.0)):
        for f in functions:
            expected = minimize_scalar(f, bounds=bounds, method="bounded").x
            assert bounded_minimum(f, *bounds) == expected
    for k in (2, 5):  # the audit's own use: the prior strength of random campaigns
        p = rng.dirichlet(np.full(k, 0.5), 500)
        counts = np.stack([rng.multinomial(n, row) for n, row in
                           zip(rng.integers(1, 9, 500), p)]).astype(float)
        balance = counts.sum(axis=0) / counts.sum()
        found = []
        import dqlabels.labels.posterior as plan_module

        original = plan_module.bounded_minimum
        try:
            plan_module.bounded_minimum = lambda f, lo, hi, seen=found: seen.append(
                (f, lo, hi)) or 0.0
            _fit_strength(counts, balance)
        finally:
            plan_module.bounded_minimum = original
        f, lo, hi = found[0]
        assert bounded_minimum(f, lo, hi) == minimize_scalar(f, bounds=(lo, hi),
                                                             method="bounded").x
    with pytest.raises(ValueError, match="lower bound"):
        bounded_minimum(lambda x: x, 1.0, 0.0)


def test_distinct_rows_are_numpys_unique_rows_with_their_counts():
    """Whichever way the rows are counted (a table of the few possible keys, a sort of the
    packed keys, numpy's row-wise unique), the distinct rows are numpy's, with their
    multiplicities and the input's type; packed rows come in the order of their keys (the last
    column first), the order the strength fit sums them in whichever way they were counted."""
    from dqlabels.labels.posterior import distinct_rows

    rng = np.random.default_rng(8)
    for rows, k, high, dtype in ((5000, 5, 6, float), (300, 3, 40, int), (2000, 8, 30, float),
                                 (500, 12, 1000, int), (1, 4, 3, float), (50, 2, 1, int)):
        counts = rng.integers(0, high, (rows, k)).astype(dtype)
        found, times = distinct_rows(counts)
        expected, expected_times = np.unique(counts, axis=0, return_counts=True)
        assert found.dtype == counts.dtype
        assert dict(zip(map(tuple, found.tolist()), times.tolist())) == \
            dict(zip(map(tuple, expected.tolist()), expected_times.astype(float).tolist()))
        if k * np.log2(high) < 62:
            assert np.lexsort(found.T).tolist() == list(range(len(found)))


def test_posterior_mean_and_spread_computed_once_and_read_only():
    """The audit's summary, its labels file and the plan read the same arrays; none of them can
    change what the others read."""
    from dqlabels.labels.plan import posterior

    post = posterior(from_counts(np.array([[3, 1], [2, 2], [0, 4]])))
    assert post.mean is post.mean and post.spread is post.spread
    with pytest.raises(ValueError):
        post.mean[0, 0] = 1.0
    with pytest.raises(ValueError):
        post.spread[0] = 1.0
    alpha = post.alpha
    assert np.allclose(post.mean, alpha / alpha.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("objective", ["soft", "hard"])
def test_the_expected_loss_after_a_round_is_the_same_drawn_in_blocks(monkeypatch, objective):
    """The posterior-predictive draws are made a block of items at a time (memory stays a
    block's); the numbers are those of one call over every item, to the last bit."""
    from dqlabels.labels import plan as plan_module

    rng = np.random.default_rng(5)
    counts = rng.integers(0, 4, size=(40, 3))
    counts[counts.sum(axis=1) == 0, 0] = 1
    post = plan_module.posterior(from_counts(counts))
    requested = rng.integers(0, 3, size=40)
    loss = plan_module._loss(post.alpha, objective)
    whole = plan_module._expected_after(post.alpha, requested, objective, loss)
    monkeypatch.setattr(plan_module, "GAIN_BLOCK_ITEMS", 3)
    blocks = plan_module._expected_after(post.alpha, requested, objective, loss)
    assert np.array_equal(whole[0], blocks[0]) and np.array_equal(whole[1], blocks[1])
    assert not np.array_equal(whole[0], loss)  # something was drawn


# ----------------------------------------------------------------------------------------------
# The plan states only what is so (issue 36): the cap named, the CSV mentioned only when
# written, agreement with the majority apart from gold, the even spread beside every gain


def _uniform_campaign(tmp_path, items=12):
    """Items of two answers each, split, yes-yes and no-no in turn: every item uncertain."""
    path = tmp_path / "mixed.csv"
    answers = [("yes", "no"), ("yes", "yes"), ("no", "no")]
    path.write_text("item,annotator,label\n" + "".join(
        f"i{i:02d},w{a},{label}\n" for i in range(items) for a, label in
        enumerate(answers[i % 3])))
    return path


def test_the_cap_per_item_is_named_when_it_leaves_budget_unspent(tmp_path):
    path = _uniform_campaign(tmp_path)  # 12 items: the strength is fitted (2.00)
    result = CliRunner().invoke(main, ["plan", str(path), "--budget", "60", "--max-per-item",
                                       "4", "--out", str(tmp_path / "n.csv")])
    assert result.exit_code == 0, result.stderr
    assert "asks for 48 annotations on 12 items; 12 left unspent: the uncertain items already " \
           "get the most one round gives an item (4; --max-per-item raises it)" in result.output
    assert "every other item is certain" not in result.output
    assert pd.read_csv(tmp_path / "n.csv")["annotations"].tolist() == [4] * 12


def test_a_plan_equal_to_the_even_spread_says_it_gains_no_more(tmp_path):
    """Twelve uncertain items of two answers each and a budget of 12: one pass gives each item
    one, as the even spread does, and the same draws make the same expected loss."""
    path = _uniform_campaign(tmp_path)
    result = CliRunner().invoke(main, ["plan", str(path), "--budget", "12", "--out",
                                       str(tmp_path / "n.csv"), "--json", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.stderr
    expected = json.loads((tmp_path / "p.json").read_text())["expected"]
    # one more answer for each of 12 identical items either way: the same draws, the same loss
    assert expected["mean_kl_after"] == expected["mean_kl_after_even"] < expected["mean_kl_now"]
    assert "the same budget spread evenly: mean KL" in result.output
    assert "this plan is expected to gain no more than spreading the budget evenly" in \
        result.output


def test_budget_zero_says_there_is_nothing_to_plan(tmp_path):
    path = _uniform_campaign(tmp_path)
    result = CliRunner().invoke(main, ["plan", str(path), "--budget", "0", "--out",
                                       str(tmp_path / "n.csv")])
    assert result.exit_code == 0, result.stderr
    assert "budget 0: nothing to plan" in result.output and "asks for" not in result.output


def test_the_csv_is_mentioned_only_when_written(tmp_path):
    path = _uniform_campaign(tmp_path, items=45)  # 15 split items are the uncertain ones
    shown = CliRunner().invoke(main, ["evaluate", str(path), "--plan-budget", "30"]).output
    assert "asks for 30 annotations on 15 items" in shown
    assert "… and 5 more items (--plan-out FILE writes them all" in shown
    assert "CSV" not in shown.split("Next round")[1]
    written = CliRunner().invoke(main, ["plan", str(path), "--budget", "30", "--out",
                                        str(tmp_path / "n.csv")]).output
    assert f"… and 5 more items ({tmp_path / 'n.csv'} lists them all" in written


def test_evaluate_and_plan_plan_alike_with_the_class_conditional_prior(tmp_path):
    """Both mix the prior's components by Dawid–Skene's class posteriors (annotator ids are
    known): the same CSV."""
    path = _uniform_campaign(tmp_path, items=45)
    for args in (["evaluate", str(path), "--plan-budget", "30", "--plan-out",
                  str(tmp_path / "a.csv")],
                 ["plan", str(path), "--budget", "30", "--out", str(tmp_path / "b.csv")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.stderr
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_the_hard_objective_names_agreement_with_the_majority_apart_from_gold(tmp_path):
    path = _uniform_campaign(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--plan-budget", "6",
                                       "--plan-objective", "hard", "--json",
                                       str(tmp_path / "r.json")])
    assert "expected: agreement with the annotators' long-run majority" in result.output
    assert "not accuracy on gold" in result.output and "majority accuracy" not in result.output
    expected = json.loads((tmp_path / "r.json").read_text())["next_round"]["expected"]
    assert "majority_accuracy_now" not in expected
    assert expected["majority_agreement_now"] == pytest.approx(1 - expected["mean_loss_now"])


def test_the_even_spread_gives_the_rest_to_the_fewest_annotations_first():
    from dqlabels.labels.plan import even_spread

    gold = np.array([False, True, False, False, False])
    counts = np.array([5, 1, 2, 2, 4])
    # 4 open items; 10 // 4 = 2 each, 2 more: the items with 2 annotations (rows 2 and 3)
    assert even_spread(10, gold, counts).tolist() == [2, 0, 3, 3, 2]
    assert even_spread(0, gold, counts).tolist() == [0, 0, 0, 0, 0]
    assert even_spread(3, np.ones(5, bool), counts).tolist() == [0] * 5
