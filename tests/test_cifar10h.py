"""Facts about the real CIFAR-10H counts, stated in its README and computed independently."""

import numpy as np
import pytest

from conftest import CIFAR10H, needs
from dqlabels import read_annotations, soft_labels
from dqlabels.labels import scores
from dqlabels.labels.aggregation import majority_vote


@pytest.fixture(scope="module")
def cifar():
    needs(CIFAR10H.exists(), "../shared/data/cifar10h")
    return read_annotations(CIFAR10H, format="counts")


def test_reads_as_counts(cifar):
    assert cifar.format == "counts"
    assert cifar.counts.shape == (10_000, 10)
    assert cifar.items[0] == "test_00000"


def test_row_sums_and_total(cifar):
    totals = cifar.counts.sum(axis=1)
    assert totals.min() >= 47 and totals.max() <= 63
    assert cifar.num_annotations == 511_000


def test_soft_label_is_counts_over_row_sum(cifar):
    np.testing.assert_allclose(soft_labels(cifar), cifar.counts / cifar.counts.sum(1, keepdims=True))


def test_ties_and_unanimity(cifar):
    assert majority_vote(cifar).num_ties_ == 3
    assert int(scores.unanimous_items(cifar.counts).sum()) == 4_393


def test_class_order_follows_the_file_when_given(cifar):
    import csv

    with open(CIFAR10H) as f:
        header = next(csv.reader(f))[1:]
    given = read_annotations(CIFAR10H, classes=header)
    assert given.classes == tuple(header)
