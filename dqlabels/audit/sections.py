"""The audit's report as typed sections, frozen once built (:class:`AuditReport`).

:func:`dqlabels.audit.report.audit` computes each section once; the text summary, the HTML page, the
figures and the annotator table read their fields, and :meth:`AuditReport.to_json` gives the
JSON report (docs/conventions.md §5 keys and more), key for key as ``dqlabels evaluate --json`` writes it. The
summaries other modules own (accuracy on gold, :mod:`dqlabels.labels.gold`; the prediction
scores, :mod:`dqlabels.labels.scores`; the posterior and the next round,
:mod:`dqlabels.labels.plan`) are kept as the read-only mappings those modules make.

An ``AuditReport`` still reads as the JSON mapping (``report["num_items"]``, ``dict(report)``)
for code written against the report dict.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from dqlabels.labels.ranking import MIN_LISTED_ANNOTATIONS

# A field with this metadata is left out of the JSON when it is None (not computed).
OPTIONAL = {"optional": True}

# The annotator scores that exist only when their model or answers exist, by group.
DAWID_SKENE_SCORES = ("ds_accuracy",)
CROWDTRUTH_SCORES = ("quality", "annotator_agreement", "item_agreement")
GOLD_SCORES = ("gold_accuracy", "gold_answers", "gold_interval")


def finite(value):
    """A number as the report writes it: None where undefined (None, NaN or infinite)."""
    return None if value is None or not math.isfinite(value) else value


def frozen(value):
    """A JSON-like value made read-only: mappings as read-only mappings, lists as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value


def to_json(value):
    """A section, or a value in one, as plain JSON data (dicts, lists, numbers, text)."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


class _Section:
    """A frozen dataclass whose JSON is its fields in order, optional ones left out when None."""

    def to_json(self) -> dict:
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not (f.metadata.get("optional") and getattr(self, f.name) is None)}


@dataclass(frozen=True)
class AmbiguousItem(_Section):
    """One of the most ambiguous items: its entropy (nats) and soft label by class."""

    item: str
    entropy: float
    soft: Mapping[str, float]


@dataclass(frozen=True)
class LowQualityItem(_Section):
    """One of the items of lowest quality, with its annotations by class (None for
    probabilities)."""

    item: str
    quality: float
    annotations: Mapping[str, int] | None


@dataclass(frozen=True)
class CampaignSummary(_Section):
    """What was read and what the annotations say before any model: size, what was left out,
    ties, unanimity, entropy, agreement (κ, α and unanimity are None for probabilities and
    where agreement is not measurable: one annotator, or one annotation per item), class mass
    (hard, soft and, with CrowdTruth, weighted), the most ambiguous items (and how many more
    items share the last one's entropy), how the file was read (``reading``: format, whether
    guessed, separator, encoding, columns) and what the reader said aloud (``notes``)."""

    source: str
    format: str
    num_items: int
    num_classes: int
    classes: tuple[str, ...]
    num_annotations: int | None
    num_annotators: int | None
    num_dropped: int
    num_empty_items: int
    skipped: Mapping[str, int]
    annotations_per_item: Mapping[str, float] | None
    num_ties: int
    num_unanimous: int | None
    mean_entropy: float
    entropy_quantiles: Mapping[str, float]
    mean_top_probability: float
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    class_mass: Mapping[str, Mapping[str, float]]
    most_ambiguous: tuple[AmbiguousItem, ...]
    num_more_ambiguous_tied: int = 0
    reading: Mapping = field(default_factory=lambda: MappingProxyType({}))
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrowdTruthRun(_Section):
    """Whether the CrowdTruth metrics were computed: their rounds and definition, or why not."""

    available: bool
    rounds: int | None = field(default=None, metadata=OPTIONAL)
    converged: bool | None = field(default=None, metadata=OPTIONAL)
    definition: str | None = field(default=None, metadata=OPTIONAL)
    reason: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class QualitySummary(_Section):
    """Item quality (CrowdTruth's, else the unweighted pair agreement) and, with the CrowdTruth
    metrics, the class quality."""

    class_quality: Mapping[str, float] | None = field(metadata=OPTIONAL)
    crowdtruth: CrowdTruthRun
    mean_item_quality: float | None
    lowest_item_quality: tuple[LowQualityItem, ...]


@dataclass(frozen=True)
class AnnotatorScores:
    """One annotator's numbers; a score is None where undefined or not computed (the table's
    ``computed`` says which were)."""

    annotator: str
    num_annotations: int
    agreement: float | None
    ds_accuracy: float | None = None
    quality: float | None = None
    annotator_agreement: float | None = None
    item_agreement: float | None = None
    gold_accuracy: float | None = None
    gold_answers: int | None = None
    gold_interval: tuple[float, float] | None = None
    below_chance: bool | None = None

    @property
    def few_answers(self) -> bool:
        """Fewer annotations than :data:`~dqlabels.labels.ranking.MIN_LISTED_ANNOTATIONS`:
        too few to rank on, listed apart (after the ranked annotators) wherever annotators
        are shown."""
        return self.num_annotations < MIN_LISTED_ANNOTATIONS

    def score(self, name: str):
        """The score called ``name`` (a :data:`~dqlabels.labels.ranking.RANKING_KEYS` value)."""
        return getattr(self, name)

    def to_json(self, computed: tuple[str, ...] = ()) -> dict:
        """The JSON entry: the scores in ``computed`` (None where undefined), and the
        below-chance flag where Dawid–Skene scored the annotator."""
        entry = {"annotator": self.annotator, "num_annotations": self.num_annotations,
                 "few_answers": self.few_answers, "agreement": self.agreement}
        for name in (*DAWID_SKENE_SCORES, *CROWDTRUTH_SCORES, *GOLD_SCORES):
            if name in computed:
                entry[name] = to_json(getattr(self, name))
        if self.below_chance is not None:
            entry["below_chance"] = self.below_chance
        return entry


@dataclass(frozen=True)
class AnnotatorTable:
    """Every annotator's scores (``per_annotator``, in the campaign's annotator order) and the
    ranking: ``ranked_by`` (the score they are ordered by), ``ranked`` (least reliable first,
    annotators with too few answers to rank on (``few_answers``) after the others, annotators
    without that score last, ties by name: sorted once, here), and who answers below chance by
    Dawid–Skene."""

    agreement_definition: str
    mean_agreement: float | None
    ranked_by: str
    ranking_definition: str
    below_chance: tuple[str, ...]
    per_annotator: tuple[AnnotatorScores, ...]
    computed: tuple[str, ...]

    @cached_property
    def ranked(self) -> tuple[AnnotatorScores, ...]:
        key = self.ranked_by
        return tuple(sorted(self.per_annotator, key=lambda e: (
            e.few_answers, e.score(key) is None, e.score(key) or 0.0, e.annotator)))

    def to_json(self) -> dict:
        return {"agreement_definition": self.agreement_definition,
                "mean_agreement": self.mean_agreement, "ranked_by": self.ranked_by,
                "ranking_definition": self.ranking_definition,
                "below_chance": list(self.below_chance),
                "per_annotator": [e.to_json(self.computed) for e in self.per_annotator]}


@dataclass(frozen=True)
class Disagreement(_Section):
    """An item where an annotator's label differs from the consensus."""

    item: str
    label: str
    consensus: str


@dataclass(frozen=True)
class DisagreeingAnnotator:
    """One of the least reliable annotators: its ranking ``score``, how often it differs from
    the consensus, and a few examples."""

    annotator: str
    score: float
    num_disagreements: int
    examples: tuple[Disagreement, ...]

    def to_json(self, key: str) -> dict:
        return {"annotator": self.annotator, key: self.score,
                "num_disagreements": self.num_disagreements,
                "examples": [x.to_json() for x in self.examples]}


@dataclass(frozen=True)
class Disagreements:
    """The least reliable annotators (those with at least ``min_annotations``; ``num_left_out``
    had fewer) with their disagreements with the ``consensus``."""

    ranked_by: str
    consensus: str
    annotators: tuple[DisagreeingAnnotator, ...]
    min_annotations: int
    num_left_out: int

    def to_json(self) -> dict:
        return {"ranked_by": self.ranked_by, "consensus": self.consensus,
                "annotators": [a.to_json(self.ranked_by) for a in self.annotators],
                "min_annotations": self.min_annotations, "num_left_out": self.num_left_out}


@dataclass(frozen=True)
class DawidSkeneSummary(_Section):
    """Dawid–Skene's run: iterations, likelihood, class priors, disagreements with the vote."""

    iterations: int
    converged: bool
    log_likelihood: float
    class_priors: Mapping[str, float]
    num_disagree_with_majority: int
    note: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class AuditReport(Mapping):
    """The audit's report: typed sections, frozen, built once by :func:`~dqlabels.audit.report.audit`.

    ``campaign`` and ``quality`` always; the others None where they do not apply
    (``annotators`` and ``disagreements`` without annotator ids, ``dawid_skene`` when not
    fitted, ``gold`` without gold answers, ``scores`` without predictions, ``posterior`` for
    probabilities, ``next_round`` without a budget). :meth:`to_json` is the JSON report, whose
    keys this object also reads as (``report["num_items"]``).
    """

    campaign: CampaignSummary
    quality: QualitySummary
    agreement_note: str | None = None
    annotators: AnnotatorTable | None = None
    disagreements: Disagreements | None = None
    dawid_skene: DawidSkeneSummary | None = None
    gold: Mapping | None = None
    scores: Mapping | None = None
    num_scored_items: int | None = None
    posterior: Mapping | None = None
    next_round: Mapping | None = None

    def to_json(self) -> dict:
        """The JSON report: the campaign's and the quality's keys, then each section present."""
        out = {**self.campaign.to_json(), **self.quality.to_json()}
        for key, value in (("agreement_note", self.agreement_note),
                           ("annotators", self.annotators),
                           ("annotator_disagreements", self.disagreements),
                           ("dawid_skene", self.dawid_skene), ("gold", self.gold),
                           ("scores", self.scores), ("num_scored_items", self.num_scored_items),
                           ("posterior", self.posterior), ("next_round", self.next_round)):
            if value is not None:
                out[key] = to_json(value)
        return out

    @cached_property
    def _json(self) -> Mapping:
        return MappingProxyType(self.to_json())

    def __getitem__(self, key):
        return self._json[key]

    def __iter__(self):
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)
