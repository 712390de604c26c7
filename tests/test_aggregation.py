import re

import numpy as np
import pytest

from dqlabels import DawidSkene, InputError, from_long, majority_vote, soft_labels


def test_soft_labels_by_hand():
    assert soft_labels([[3, 1, 0], [0, 0, 2]]).tolist() == [[0.75, 0.25, 0.0], [0.0, 0.0, 1.0]]


def test_majority_ties_go_to_lowest_index():
    vote = majority_vote([[1, 3, 3], [2, 0, 1], [0, 0, 4], [5, 5, 5]])
    assert vote.labels_.tolist() == [1, 0, 2, 0]
    assert vote.tied_.tolist() == [True, False, False, True]
    assert vote.num_ties_ == 2


def test_majority_float_rows_tie_despite_rounding():
    vote = majority_vote(np.array([[0.1 + 0.2, 0.3, 0.4 - 0.4]]))
    assert vote.tied_.tolist() == [True] and vote.labels_.tolist() == [0]


def test_random_ties_are_seeded_and_stay_among_the_tied():
    counts = np.tile([[0, 2, 1, 2]], (400, 1))
    a = majority_vote(counts, ties="random", seed=3).labels_
    b = majority_vote(counts, ties="random", seed=3).labels_
    c = majority_vote(counts, ties="random", seed=4).labels_
    assert a.tolist() == b.tolist()
    assert set(a.tolist()) == {1, 3}
    assert a.tolist() != c.tolist()


def test_unknown_tie_rule():
    with pytest.raises(InputError, match="Expected ties to be 'lowest' or 'random'"):
        majority_vote([[1, 1]], ties="first")


def _reference_dawid_skene(items, annotators, labels, n_items, n_annot, k, n_iter, s, gold=None):
    """Textbook EM written with plain loops, independent of the vectorised code. With ``gold``
    (per item, -1: unknown), gold items' posteriors are fixed to their answers before the first
    M-step and after every E-step."""
    counts = np.zeros((n_items, k))
    for i, l in zip(items, labels):
        counts[i, l] += 1
    post = counts / counts.sum(1, keepdims=True)

    def fix_gold(post):
        for i in range(n_items):
            if gold is not None and gold[i] >= 0:
                post[i] = np.eye(k)[gold[i]]
        return post

    post = fix_gold(post)
    for _ in range(n_iter):
        conf = np.full((n_annot, k, k), s)
        for i, a, l in zip(items, annotators, labels):
            for t in range(k):
                conf[a, t, l] += post[i, t]
        conf /= conf.sum(axis=2, keepdims=True)
        prior = post.sum(0) + s
        prior /= prior.sum()
        logp = np.tile(np.log(prior), (n_items, 1))
        for i, a, l in zip(items, annotators, labels):
            for t in range(k):
                logp[i, t] += np.log(conf[a, t, l])
        post = np.exp(logp - logp.max(1, keepdims=True))
        post = fix_gold(post / post.sum(1, keepdims=True))
    return post, conf, prior


def _simulated(seed=0, n_items=60, k=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    accuracy = [0.95, 0.6, 0.5, 0.45]
    items, annots, labels = [], [], []
    for i in range(n_items):
        for a, acc in enumerate(accuracy):
            if rng.random() < 0.8:
                label = truth[i] if rng.random() < acc else rng.integers(0, k)
                items.append(i), annots.append(a), labels.append(int(label))
    return truth, np.array(items), np.array(annots), np.array(labels)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_dawid_skene_matches_reference_implementation(engine):
    truth, items, annots, labels = _simulated()
    ann = from_long([f"{i:03d}" for i in items], labels, [f"a{a}" for a in annots])
    model = DawidSkene(max_iter=7, tol=-np.inf, smoothing=0.01, engine=engine).fit(ann)
    assert model.n_iter_ == 7
    assert ann.num_items == items.max() + 1  # every item annotated: codes equal item numbers
    post, _, _ = _reference_dawid_skene(items, annots, labels, ann.num_items, 4, 3, 7, 0.01)
    np.testing.assert_allclose(model.probas_, post, atol=1e-10)
    # The reported confusion matrices come from one more M-step on those posteriors.
    assert model.confusion_matrices_.shape == (4, 3, 3)
    expected_conf = np.full((4, 3, 3), 0.01)
    for i, a, l in zip(items, annots, labels):
        expected_conf[a, :, l] += model.probas_[i]
    expected_conf /= expected_conf.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(model.confusion_matrices_, expected_conf, atol=1e-12)


def test_dawid_skene_finds_the_reliable_annotator():
    truth, items, annots, labels = _simulated(seed=1, n_items=300)
    ann = from_long(items, labels, annots)
    model = DawidSkene().fit(ann)
    assert model.converged_
    assert np.argmax(model.annotator_accuracy_) == 0
    assert model.annotator_accuracy_[0] > 0.9
    truth = truth[ann.items.astype(int)]  # items nobody annotated are not in ann
    ds_acc = np.mean(model.labels_ == truth)
    mv_acc = np.mean(majority_vote(ann).labels_ == truth)
    assert ds_acc > mv_acc
    np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0)


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_both_engines_give_the_same_fit(num_classes, monkeypatch):
    """Rows in shuffled order (the compiled engine sorts by item), an annotator who labels an
    item twice (listed twice, counted twice by the sparse indicator), items with one
    annotation, and the work split in bands over threads."""
    import dqlabels._parallel as parallel

    monkeypatch.setattr(parallel, "PARALLEL_CELLS", 1)  # bands on every core
    rng = np.random.default_rng(num_classes)
    truth, items, annots, labels = _simulated(seed=num_classes, n_items=500, k=num_classes)
    items, annots, labels = (np.concatenate([column, column[:40]])
                             for column in (items, annots, labels))  # repeated pairs
    labels[-40:] = rng.integers(0, num_classes, 40)
    items, annots, labels = (np.append(column, extra) for column, extra in
                             zip((items, annots, labels), (1000, 3, 0)))  # a lone annotation
    order = rng.permutation(len(items))
    ann = from_long(items[order], labels[order], annots[order], duplicates="keep")
    assert ann.has_repeated_pairs
    fits = {engine: DawidSkene(max_iter=30, engine=engine).fit(ann)
            for engine in ("numpy", "numba")}
    numpy_fit, numba_fit = fits["numpy"], fits["numba"]
    assert numba_fit.n_iter_ == numpy_fit.n_iter_ and numba_fit.converged_ == numpy_fit.converged_
    for name in ("probas_", "class_priors_", "confusion_matrices_", "annotator_accuracy_"):
        np.testing.assert_allclose(getattr(numba_fit, name), getattr(numpy_fit, name),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(numba_fit.log_likelihood_, numpy_fit.log_likelihood_, rtol=1e-12)
    np.testing.assert_array_equal(numba_fit.labels_, numpy_fit.labels_)


def test_auto_engine_compiles_from_the_configured_size(monkeypatch):
    import dqlabels.labels.dawid_skene as aggregation

    used = []
    for name in ("_numpy_engine", "_compiled_engine"):
        original = getattr(aggregation, name)
        monkeypatch.setattr(aggregation, name, lambda *args, _f=original, _n=name:
                            used.append(_n) or _f(*args))
    _, items, annots, labels = _simulated(n_items=50)
    ann = from_long(items, labels, annots)
    monkeypatch.setattr(aggregation, "DS_COMPILED_MIN_ANNOTATIONS", len(items) + 1)
    DawidSkene().fit(ann)
    monkeypatch.setattr(aggregation, "DS_COMPILED_MIN_ANNOTATIONS", len(items))
    DawidSkene().fit(ann)
    monkeypatch.setattr(aggregation, "DS_COMPILED_MAX_CLASSES", ann.num_classes - 1)
    DawidSkene().fit(ann)  # too many classes for the compiled loop
    DawidSkene(engine="numba").fit(ann)  # unless asked for
    assert used == ["_numpy_engine", "_compiled_engine", "_numpy_engine", "_compiled_engine"]
    with pytest.raises(InputError, match="engine=.*'gpu'"):
        DawidSkene(engine="gpu").fit(ann)


def test_compiled_exp_is_within_an_ulp_of_numpy():
    from dqlabels._kernels import exp_nonpositive

    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(3.0, 100_000), -rng.uniform(0, 708, 100_000),
                        [0.0, -0.0, -1e-300, -np.log(2) / 2, -np.log(2), -700.5, -708.0]])
    values = x.copy()
    exp_nonpositive(values, len(values))
    expected = np.exp(x)
    assert np.all(np.abs(values - expected) <= np.spacing(expected))
    assert values[-7:-5].tolist() == [1.0, 1.0]
    # Below -708 (and NaN) the result is clamped to e^-708, a normal double; only the first
    # `count` values are touched.
    clamped = np.array([-709.0, -1e6, np.nan, -1.0])
    exp_nonpositive(clamped, 3)
    np.testing.assert_allclose(clamped[:3], np.exp(-708.0), rtol=1e-15)
    assert clamped[3] == -1.0


def test_dawid_skene_needs_annotators():
    with pytest.raises(InputError, match="needs annotator ids"):
        DawidSkene().fit(from_long(["a"], ["x"]))


def test_large_matrices_use_row_blocks_with_the_same_results():
    # 300,000 × 10 cells is above the threshold where work is split over threads.
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 4, (300_000, 10))
    counts[::97] = 0
    vote = majority_vote(counts)
    first_max = [int(np.flatnonzero(r == r.max())[0]) for r in counts[:2000]]
    assert vote.labels_[:2000].tolist() == first_max
    np.testing.assert_array_equal(vote.labels_, np.argmax(counts, axis=1))
    np.testing.assert_array_equal(vote.tied_, (counts == counts.max(1, keepdims=True)).sum(1) > 1)
    totals = counts.sum(1, keepdims=True)
    expected = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    np.testing.assert_allclose(soft_labels(counts), expected)


def test_kernels_compile_without_a_writable_cache(monkeypatch):
    """Where numba can write no cache (read-only package, no home), it refuses cache=True at
    decoration time; the kernels are then compiled per process instead of failing to import."""
    import dqlabels._kernels as compiled

    calls = []

    def fake_njit(**options):
        calls.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return lambda function: ("compiled", function)

    monkeypatch.setattr(compiled, "njit", fake_njit)
    assert compiled._jit(nogil=True)(len) == ("compiled", len)
    assert calls == [{"cache": True, "nogil": True}, {"nogil": True}]


def test_float_rows_half_a_billionth_apart_are_not_tied():
    """The float tie bound is 1e-12 relative: 0.5 ± 1e-9 is a clear winner (a bound of 1e-4
    would call it a tie and give it to the lowest index)."""
    vote = majority_vote(np.array([[0.5 - 1e-9, 0.5 + 1e-9], [0.5 + 1e-9, 0.5 - 1e-9]]))
    assert vote.labels_.tolist() == [1, 0] and vote.tied_.tolist() == [False, False]


def test_ties_go_to_the_lowest_index_beyond_255_classes():
    """More than 255 classes take another code path (the uint8 tie count cannot hold them)."""
    counts = np.zeros((2, 300), dtype=np.int64)
    counts[0, [7, 120, 299]] = 4   # a three-way tie
    counts[1, [3, 280]] = [1, 2]
    vote = majority_vote(counts)
    assert vote.labels_.tolist() == [7, 280] and vote.tied_.tolist() == [True, False]


def _loop_dawid_skene_trace(items, annotators, labels, n_items, n_annot, k, max_iter,
                            smoothing=0.01, tol=1e-6, posterior_tol=1e-4):
    """Plain-loop EM with the documented stopping rules: stop after the first iteration whose
    log-likelihood improves on the previous one by less than tol per annotation, or in which
    no posterior moves by more than posterior_tol. Returns (iterations, converged, trace)."""
    post = np.zeros((n_items, k))
    for i, l in zip(items, labels):
        post[i, l] += 1
    post /= post.sum(1, keepdims=True)
    previous, trace = -np.inf, []
    for iteration in range(1, max_iter + 1):
        conf = np.full((n_annot, k, k), smoothing)
        for i, a, l in zip(items, annotators, labels):
            conf[a, :, l] += post[i]
        conf /= conf.sum(axis=2, keepdims=True)
        prior = post.sum(0) + smoothing
        prior /= prior.sum()
        logp = np.tile(np.log(prior), (n_items, 1))
        for i, a, l in zip(items, annotators, labels):
            logp[i] += np.log(conf[a, :, l])
        log_likelihood = float(np.sum(np.log(np.exp(logp).sum(1))))
        new = np.exp(logp)
        new /= new.sum(1, keepdims=True)
        moved = float(np.abs(new - post).max())
        post = new
        trace.append((log_likelihood, moved))
        if log_likelihood - previous < tol * len(items) or moved < posterior_tol:
            return iteration, True, trace
        previous = log_likelihood
    return max_iter, False, trace


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize(("accuracy", "seed", "stops_at"), [(0.97, 0, 3), (0.8, 1, 35)])
def test_dawid_skene_stops_where_the_documented_rules_say(accuracy, seed, stops_at, engine):
    """Default tolerances and pseudo-count; 40 items × 4 annotators of one accuracy. On the
    reliable campaign the posteriors stop moving (iteration 3) while the log-likelihood still
    improves (the likelihood rule alone stops at 4); on the noisier one the likelihood rule
    stops at 35 (unscaled by the 160 annotations it would stop at 47). Dropping either rule or
    the scaling changes n_iter_."""
    rng = np.random.default_rng(seed)
    n, annotators, k = 40, 4, 3
    items = np.repeat(np.arange(n), annotators)
    annots = np.tile(np.arange(annotators), n)
    truth = rng.integers(0, k, n)
    labels = np.where(rng.random(n * annotators) < accuracy, truth[items],
                      rng.integers(0, k, n * annotators))
    ann = from_long([f"{i:03d}" for i in items], labels, [f"a{a}" for a in annots],
                    classes=["0", "1", "2"])
    expected, converged, trace = _loop_dawid_skene_trace(items, annots, labels, n, annotators,
                                                         k, max_iter=200)
    assert (expected, converged) == (stops_at, True)  # the reference itself, as described
    model = DawidSkene(max_iter=200, engine=engine).fit(ann)
    assert (model.n_iter_, model.converged_) == (expected, converged), trace
    assert model.log_likelihood_ == pytest.approx(trace[-1][0], rel=1e-9)


def test_every_aggregator_has_one_shape():
    """fit returns self, fit_predict the labels_, and every one has probas_ (its class
    probabilities, rows summing to 1); labels agree with the short forms."""
    from dqlabels.labels.aggregation import Aggregator, MajorityVote
    from dqlabels.labels.crowdtruth import CrowdTruth

    ann = from_long(list("aaabbbccc"), list("xxyyyyxyx"), ["u1", "u2", "u3"] * 3)
    for aggregator in (MajorityVote(), DawidSkene(), CrowdTruth()):
        assert isinstance(aggregator, Aggregator)
        assert aggregator.fit(ann) is aggregator
        labels = aggregator.fit_predict(ann)
        assert labels.shape == (3,) and labels.tolist() == aggregator.labels_.tolist()
        np.testing.assert_allclose(aggregator.probas_.sum(axis=1), 1.0)
        assert aggregator.fit(ann, gold=None) is aggregator  # data only through fit
    assert MajorityVote().fit_predict(ann).tolist() == majority_vote(ann).labels_.tolist() == [0, 1, 0]


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: DawidSkene(max_iter=0), "Expected max_iter >= 1. Received: max_iter=0"),
    (lambda: DawidSkene(max_iter=2.5), "Expected max_iter to be an integer"),
    (lambda: DawidSkene(tol="small"), "Expected tol to be a number. Received: tol='small'"),
    (lambda: DawidSkene(smoothing=0), "Expected smoothing > 0. Received: smoothing=0"),
    (lambda: DawidSkene(posterior_tol=float("nan")), "Expected posterior_tol to be a number"),
    (lambda: DawidSkene(engine="gpu"), "Expected engine to be one of auto, numpy, numba"),
    (lambda: __import__("dqlabels.labels.crowdtruth").labels.crowdtruth.CrowdTruth(tol=-1),
     "Expected tol >= 0. Received: tol=-1"),
    (lambda: __import__("dqlabels.labels.crowdtruth").labels.crowdtruth.CrowdTruth(max_iter=0),
     "Expected max_iter >= 1"),
    (lambda: __import__("dqlabels").MajorityVote(ties="first"),
     "Expected ties to be 'lowest' or 'random'. Received: ties='first'"),
    (lambda: __import__("dqlabels").MajorityVote(seed=-3), "Expected seed >= 0"),
])
def test_a_bad_constructor_argument_is_an_input_error_naming_it(make, fragment):
    ann = from_long(["a", "a"], ["x", "y"], ["u1", "u2"])
    with pytest.raises(InputError, match=re.escape(fragment)):
        make().fit(ann)
