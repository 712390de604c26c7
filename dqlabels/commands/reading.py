"""What ``dqlabels evaluate`` and ``dqlabels plan`` read, in one pipeline: the annotations, the
gold answers of a gold file, and a model's predictions aligned with the items
(:func:`read_campaign`, into a :class:`Campaign`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dqlabels.labels.gold import read_gold
from dqlabels.readers.annotations import Annotations, read_annotations
from dqlabels.readers.predictions import aligned_predictions, read_predictions


@dataclass(frozen=True)
class Campaign:
    """A campaign as read: its ``annotations`` (with the gold file's answers) and the
    ``predictions`` of the items at ``prediction_rows`` (None without a predictions file)."""

    annotations: Annotations
    predictions: np.ndarray | None = None
    prediction_rows: np.ndarray | None = None

    @property
    def prior(self) -> np.ndarray | None:
        """The predictions as one row per item (NaN rows: items without a prediction)."""
        return aligned_predictions(self.predictions, self.prediction_rows,
                                   self.annotations.num_items)


def read_campaign(path, config) -> Campaign:
    """Read ``path`` as ``config`` says: its reading options (:meth:`read_options`), then its
    ``gold`` file (``gold_item_column``, ``gold_label_column``) and its ``predictions`` file,
    each checked against the annotations."""
    annotations = read_annotations(path, **config.read_options())
    if config.gold is not None:
        annotations = annotations.with_gold(read_gold(
            config.gold, annotations, item_column=config.gold_item_column,
            label_column=config.gold_label_column))
    if config.predictions is None:
        return Campaign(annotations)
    return Campaign(annotations, *read_predictions(config.predictions, annotations))
