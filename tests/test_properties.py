"""Property tests: invariances a user relies on, over random annotation sets."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dqlabels import from_long, majority_vote, soft_labels

annotation_sets = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 4), st.integers(0, 3)),  # item, annotator, class
    min_size=1, max_size=60,
)
CLASS_NAMES = ["ant", "bee", "cat", "dog"]


def _build(rows, names=CLASS_NAMES):
    items = [f"i{r[0]}" for r in rows]
    annotators = [f"a{r[1]}" for r in rows]
    labels = [names[r[2]] for r in rows]
    return from_long(items, labels, annotators, duplicates="keep")


@settings(max_examples=150, deadline=None)
@given(annotation_sets)
def test_soft_rows_sum_to_one(rows):
    soft = soft_labels(_build(rows))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert np.all(soft >= 0)


@settings(max_examples=150, deadline=None)
@given(annotation_sets, st.randoms(use_true_random=False))
def test_row_order_does_not_matter(rows, random):
    shuffled = list(rows)
    random.shuffle(shuffled)
    a, b = _build(rows), _build(shuffled)
    assert list(a.items) == list(b.items) and a.classes == b.classes
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(majority_vote(a).labels_, majority_vote(b).labels_)


@settings(max_examples=150, deadline=None)
@given(annotation_sets, st.permutations(range(4)))
def test_consistent_class_renaming(rows, perm):
    renamed = [f"class_{chr(ord('a') + p)}" for p in perm]  # ant→class_x ... a permutation
    a = _build(rows)
    b = _build(rows, renamed)
    mapping = dict(zip(CLASS_NAMES, renamed))
    for j, name in enumerate(a.classes):
        np.testing.assert_array_equal(a.counts[:, j], b.counts[:, b.classes.index(mapping[name])])
    np.testing.assert_allclose(
        soft_labels(a), soft_labels(b)[:, [b.classes.index(mapping[n]) for n in a.classes]])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=30),
       st.integers(0, 2**32 - 1))
def test_majority_is_one_of_the_tied_maxima(counts, seed):
    counts = np.array(counts)
    for ties in ("lowest", "random"):
        vote = majority_vote(counts, ties=ties, seed=seed)
        chosen = counts[np.arange(len(counts)), vote.labels_]
        np.testing.assert_array_equal(chosen, counts.max(axis=1))
        np.testing.assert_array_equal(vote.tied_, (counts == counts.max(1, keepdims=True)).sum(1) > 1)
    lowest = majority_vote(counts).labels_
    np.testing.assert_array_equal(lowest, [int(np.flatnonzero(r == r.max())[0]) for r in counts])
