"""dqlabels: see what your human labels really say.

Read raw annotations into a counts matrix, build hard and soft labels, audit an annotation
campaign and score predictions against label distributions. The training half (models,
training, the study) lives in modules that import TensorFlow only when you import them;
``import dqlabels`` stays light.

Examples:
    >>> import dqlabels
    >>> ann = dqlabels.from_long(["a", "a", "b"], ["cat", "dog", "dog"])
    >>> dqlabels.soft_labels(ann).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    >>> dqlabels.majority_vote(ann).labels_.tolist()
    [0, 1]
"""

from dqlabels.config import package_version
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import MajorityVote, majority_vote, soft_labels
from dqlabels.labels.dawid_skene import DawidSkene
from dqlabels.labels.scores import (
    accuracy,
    annotator_agreement,
    brier_score,
    cross_entropy,
    entropy,
    expected_calibration_error,
    fleiss_kappa,
    js_divergence,
    kl_divergence,
    krippendorff_alpha,
    macro_accuracy,
    macro_f1,
    prediction_scores,
    total_variation,
)
from dqlabels.readers.annotations import Annotations, from_counts, from_long, read_annotations

__version__ = package_version()  # one source of truth: the package's metadata (pyproject.toml)

__all__ = [
    "Annotations",
    "DawidSkene",
    "InputError",
    "MajorityVote",
    "accuracy",
    "annotator_agreement",
    "brier_score",
    "cross_entropy",
    "entropy",
    "expected_calibration_error",
    "fleiss_kappa",
    "from_counts",
    "from_long",
    "js_divergence",
    "kl_divergence",
    "krippendorff_alpha",
    "macro_accuracy",
    "macro_f1",
    "majority_vote",
    "prediction_scores",
    "read_annotations",
    "soft_labels",
    "total_variation",
]
