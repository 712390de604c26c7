"""Every allowed value and default of dqlabels, in one TensorFlow-free module.

The library checks its arguments against these, and the command-line interface reads its
choices and defaults from here (as keras-hub backbones read their presets), so a value is
written once. Importing this module is cheap: no NumPy work, no TensorFlow.

Examples:
    >>> from dqlabels.config import TrainConfig
    >>> config = TrainConfig(label_mode="hard", epochs=2)
    >>> config.check()
    >>> config.learning_rate, config.batch_size
    (0.1, 128)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields, replace
from importlib.metadata import PackageNotFoundError, version

from dqlabels.errors import InputError
from dqlabels.registry import BACKBONES


def package_version() -> str:
    """dqlabels' version, from the installed package's metadata (pyproject.toml); ``0+unknown``
    when imported from a source tree that was never installed."""
    try:
        return version("dqlabels")
    except PackageNotFoundError:
        return "0+unknown"


# Annotation input (docs/conventions.md §2): the formats are dqlabels.registry.formats().
DUPLICATE_RULES = ("error", "keep", "last")

# The audit (docs/conventions.md §5).
DS_MAX_ITER = 50
# The per-annotator estimate that orders the annotators (auto: Dawid–Skene accuracy when
# fitted, else CrowdTruth quality, else leave-one-out agreement; benchmarks/bench_ranking.py).
RANKINGS = ("auto", "dawid-skene", "quality", "agreement", "gold")
# The next round (docs/conventions.md §13): what the next annotations should settle.
PLAN_OBJECTIVES = ("soft", "hard")
# Dawid–Skene's compiled (numba) iteration from this many annotations on (below, numba's start-up
# costs more than it saves) and up to this many classes (beyond, its registers run out and the
# sparse products are faster); the measurements are in benchmarks/README.md.
DS_ENGINES = ("auto", "numpy", "numba")
DS_COMPILED_MIN_ANNOTATIONS = 1_000_000
DS_COMPILED_MAX_CLASSES = 10
# ``dqlabels evaluate`` computes the CrowdTruth metrics by default up to this many ordered pairs
# of annotations on the same item (Σ n(n − 1) over items): their time and memory grow with the
# pairs (benchmarks/README.md, "bench_crowdtruth.py").
CROWDTRUTH_MAX_PAIRS = 50_000_000

# The synthetic dataset (docs/conventions.md §6).
PLACEMENTS = ("inside", "free")
GENERATE_NUM_IMAGES = 15_000
GENERATE_IMAGE_SIZE = 64

# Splits (docs/conventions.md §8).
SPLIT_KINDS = ("random", "dcic")

# Training (docs/conventions.md §9): the backbones are dqlabels.registry.BACKBONES.
MIN_IMAGE_SIZE = 32  # at 32 px the last feature map of both networks is 1×1
LABEL_MODES = ("soft", "hard")
SCHEDULES = ("cosine", "cosine-restarts", "warmup-cosine")
WARMUP_SHARE = 0.2  # warmup-cosine: the share of the steps spent warming up
# Augmentation per dataset (docs/conventions.md §14): natural (reflect-pad 4 px, random crop, horizontal flip)
# for photographs; symmetric (flips and 90° rotations) for the synthetic shapes; none. auto: the
# dataset's own (dataset.json "augment"), else symmetric for synthetic data, natural otherwise.
AUGMENTS = ("auto", "natural", "symmetric", "none")
# mirrored: TensorFlow's MirroredStrategy (the GPUs of one host); data-parallel: Keras'
# DataParallel on JAX (every device of every process of a job; dqlabels.learning.distributed).
STRATEGIES = ("default", "mirrored", "data-parallel")
CACHE_CHOICES = ("auto", "memory", "none")

# The study (docs/conventions.md §10) and t-SNE (docs/conventions.md §11).
# Defaults a command shows in --help and the library takes, written once here.
PLAN_OUT = "next_round.csv"  # dqlabels plan --out
PRIORS = ("classes", "balance")  # the shrunk labels' prior (dqlabels.labels.posterior)
PLAN_MAX_PER_ITEM = 20  # dqlabels plan --max-per-item: annotations one item may get in a round
PREDICTIONS_OUT = "predictions.csv"  # dqlabels predict --out
PREDICT_BATCH_SIZE = 64  # dqlabels predict --batch-size
STUDY_OUT = "study"  # dqlabels reproduce --out
ANNOTATOR_NOISE = (0.0, 0.0)  # simulated annotators: each one's rate of random answers, U(lo, hi)
ANNOTATOR_BIAS = 0.0  # simulated annotators: the share who err systematically
HARD_LABEL_SOURCES = ("original", "majority")  # real-image study: what "hard" means
TSNE_PERPLEXITY = 30.0
TSNE_MAX_ITER = 5000
TSNE_MIN_ITER = 250  # scikit-learn's early-exaggeration steps


@dataclass
class ReadOptions:
    """How to read an annotation file: the options of :func:`dqlabels.read_annotations` (and the
    CLI's ``--format``, ``--classes``, … of ``evaluate`` and ``plan``)."""

    format: str | None = None
    classes: object = None
    duplicates: str = "error"
    item_column: str | None = None
    annotator_column: str | None = None
    label_column: str | None = None
    fold_case: bool = False

    def read_options(self) -> dict:
        """These options as keyword arguments of :func:`dqlabels.read_annotations`."""
        return {f.name: getattr(self, f.name) for f in fields(ReadOptions)}


@dataclass
class TrainConfig:
    """Every setting of a training run; the defaults are the paper's (synthetic data).

    ``image_size=None`` uses the dataset's own image size (``dataset.json``), else 224.
    ``precise_bn`` recomputes the BatchNorm statistics after training (see
    :func:`dqlabels.learning.training.recompute_batchnorm_statistics`). ``targets`` names an annotation
    file whose labels of the dataset's items are the training targets (noisy or subsampled
    labels, say); validation and test are still scored against the dataset's own soft labels.
    """

    label_mode: str = "soft"
    model: str = "densenet121"
    weights: str = "none"
    image_size: int | None = None
    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    bn_momentum: float | None = None
    first_cycle_epochs: int = 20
    t_mul: float = 2.0
    augment: str = "auto"
    nesterov: bool = False
    split: int = 0
    split_kind: str = "random"
    split_file: str | None = None
    targets: str | None = None
    seed: int = 0
    deterministic: bool = True
    mixed_precision: bool = False
    xla: bool = False
    strategy: str = "default"
    cache: str = "auto"
    precise_bn: bool = True
    tensorboard: bool = False

    def check(self) -> None:
        """Raise InputError for a value outside its range, naming the parameter."""
        choices = {"label_mode": LABEL_MODES, "model": tuple(BACKBONES), "schedule": SCHEDULES,
                   "strategy": STRATEGIES, "split_kind": SPLIT_KINDS, "cache": CACHE_CHOICES,
                   "augment": AUGMENTS}
        for name, allowed in choices.items():
            check_choice(name, getattr(self, name), allowed)
        if self.image_size is not None and self.image_size < MIN_IMAGE_SIZE:
            raise InputError(f"Expected image_size >= {MIN_IMAGE_SIZE}. "
                             f"Received: image_size={self.image_size}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "learning_rate": self.learning_rate,
                    "first_cycle_epochs": self.first_cycle_epochs, "t_mul": self.t_mul}
        for name, value in positive.items():
            if not value > 0:
                raise InputError(f"Expected {name} > 0. Received: {name}={value}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"Expected 0 <= momentum < 1. Received: momentum={self.momentum}")
        if self.bn_momentum is not None and not 0 <= self.bn_momentum < 1:
            raise InputError(f"Expected 0 <= bn_momentum < 1. "
                             f"Received: bn_momentum={self.bn_momentum}")
        if self.weight_decay < 0:
            raise InputError(f"Expected weight_decay >= 0. "
                             f"Received: weight_decay={self.weight_decay}")
        if self.split < 0 or (self.split_kind == "dcic" and self.split > 4):
            raise InputError(f"Split {self.split} does not exist: random splits are numbered "
                             f"0, 1, 2, …; the DCIC rotation has slices 0–4")


def noise_text(noise: tuple[float, float]) -> str:
    """A noise range as the command line writes it: ``(0.0, 0.4)`` → ``"0,0.4"``."""
    return ",".join(f"{x:g}" for x in noise)


TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def check_choice(name: str, value, allowed) -> None:
    """Raise InputError unless ``value`` is one of ``allowed`` (the message names ``name``)."""
    if value not in allowed:
        raise InputError(f"Expected {name} to be one of {', '.join(map(str, allowed))}. "
                         f"Received: {name}={value!r}")


def check_number(name: str, value, low=None, high=None, integer: bool = False,
                 low_open: bool = False) -> None:
    """Raise InputError unless ``value`` is a (whole, if ``integer``) number within
    [``low``, ``high``] (``(low, …`` with ``low_open``), naming the parameter. Python's and
    numpy's numbers count; booleans and NaN do not.

    Examples:
        >>> check_number("max_iter", 0, low=1, integer=True)
        Traceback (most recent call last):
        ...
        dqlabels.errors.InputError: Expected max_iter >= 1. Received: max_iter=0
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or math.isnan(value):
        what = "an integer" if integer else "a number"
        raise InputError(f"Expected {name} to be {what}. Received: {name}={value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise InputError(f"Expected {name} {'>' if low_open else '>='} {low}. "
                         f"Received: {name}={value!r}")
    if high is not None and value > high:
        raise InputError(f"Expected {name} <= {high}. Received: {name}={value!r}")


# Studies and their presets (docs/reproduce.md): what ``dqlabels reproduce`` runs.


@dataclass(frozen=True)
class Study:
    """A study ``dqlabels reproduce`` runs.

    Attributes:
        name: the study's name, which presets refer to.
        run: ``run(out_dir, preset, options: StudyOptions) -> str | None``: run (or continue)
            the study and return the text the command prints (None in a data-parallel job's
            processes other than 0); a callable or the ``"module:function"`` naming one,
            imported only when it runs.
        data_parallel: whether one run may span a data-parallel job's processes.
        about: one line for the docs' table of presets.
    """

    name: str
    run: object
    data_parallel: bool = False
    about: str = ""


@dataclass(frozen=True)
class Preset:
    """A named set of a study's settings (``dqlabels reproduce --preset NAME``): ``study``
    names the :class:`Study`, ``settings`` its own (``train``: the :class:`TrainConfig`;
    the rest as the study reads them)."""

    name: str
    study: str
    settings: dict
    about: str = ""


@dataclass
class StudyOptions:
    """Every option of ``dqlabels reproduce`` beside the preset and the folder (None: the
    preset's value): ``dataset``, ``overrides`` (:class:`TrainConfig` fields), ``splits``,
    ``folds``, ``hard_labels``, ``budgets``, ``sizes``, ``shrunk``, ``crowd`` (the simulated
    annotators' pool, noise range text and bias share), ``tsne_max_iter``, ``seed``,
    ``overwrite``, ``job`` (a data-parallel job), ``log`` (progress lines; None: silent) and
    ``verbose`` (Keras')."""

    dataset: object = None
    overrides: dict = field(default_factory=dict)
    splits: object = None
    folds: int | None = None
    hard_labels: str | None = None
    budgets: object = None
    sizes: object = None
    shrunk: bool | None = None
    crowd: tuple = (None, noise_text(ANNOTATOR_NOISE), ANNOTATOR_BIAS)
    tsne_max_iter: int | None = None
    seed: int = 0
    overwrite: bool = False
    job: object = None
    log: object = None
    verbose: object = "auto"

    def one_splits(self) -> int | None:
        """``splits`` as the one whole number a study per split takes (several are for a
        budget study, one per training-set size)."""
        if self.splits is not None and not str(self.splits).strip().isdigit():
            raise InputError(f"Expected splits as one whole number for a study (several are "
                             f"for a budget study, one per num_images). Received: "
                             f"splits={self.splits}")
        return None if self.splits is None else int(self.splits)

    def common(self) -> dict:
        """What every study's ``reproduce`` takes: dataset, overrides, seed, overwrite, log,
        verbose (the log silent when None)."""
        from dqlabels.text import silent

        return dict(dataset=self.dataset, overrides=self.overrides, seed=self.seed,
                    overwrite=self.overwrite, log=self.log or silent, verbose=self.verbose)

    def tsne(self) -> dict:
        """``tsne_max_iter`` where given."""
        return {} if self.tsne_max_iter is None else {"tsne_max_iter": self.tsne_max_iter}


STUDIES: dict[str, Study] = {}
PRESETS: dict[str, Preset] = {}


def register_study(study: Study) -> Study:
    """Add a study (its name must be new); presets name it."""
    if study.name in STUDIES:
        raise ValueError(f"a study named {study.name!r} is registered already")
    STUDIES[study.name] = study
    return study


def register_preset(preset: Preset) -> Preset:
    """Add a preset (its name must be new) of a registered study: ``--preset`` offers it."""
    if preset.name in PRESETS:
        raise ValueError(f"a preset named {preset.name!r} is registered already")
    if preset.study not in STUDIES:
        raise ValueError(f"preset {preset.name!r}: no study named {preset.study!r} (registered: "
                         f"{', '.join(STUDIES)})")
    PRESETS[preset.name] = preset
    return preset


def presets_of(study: str) -> list[str]:
    """The names of the presets of ``study``."""
    return [name for name, preset in PRESETS.items() if preset.study == study]


register_study(Study("paper", "dqlabels.studies.study:run_study", data_parallel=True,
                     about="hard vs soft labels per split, beside the paper's Table 1"))
register_study(Study("kfold", "dqlabels.studies.real_study:run_study",
                     about="hard vs soft labels on real images by K-fold cross-validation"))
register_study(Study("budget", "dqlabels.studies.budget:run_study",
                     about="hard vs soft labels across annotation budgets and training-set sizes"))
_SGD = dict(batch_size=128, weight_decay=5e-4)
register_preset(Preset("quick", "paper", {
    "num_images": 3_000, "generate_size": 32, "splits": 3,
    "train": TrainConfig(model="densenet-tiny", weights="none", image_size=32, epochs=40,
                         learning_rate=0.1, schedule="cosine", bn_momentum=0.9, **_SGD)},
    about="a reduced synthetic study for a 2-core CPU (3,000 generated 32 px images, "
          "densenet-tiny, 3 splits; ~15 min)"))
register_preset(Preset("paper", "paper", {
    "num_images": GENERATE_NUM_IMAGES, "generate_size": GENERATE_IMAGE_SIZE, "splits": 3,
    "train": TrainConfig(model="densenet121", weights="imagenet", image_size=224, epochs=60,
                         learning_rate=0.1, schedule="cosine", **_SGD)},
    about="the paper's settings, for a GPU (15,000 images, DenseNet121 from ImageNet at "
          "224 px)"))
register_preset(Preset("budget", "budget", {
    "budgets": (1, 3, 10, "exact"), "sizes": (1000, 3000), "splits": (5, 2), "generate_size": 32,
    "train_preset": "quick"},
    about="hard vs soft across annotation budgets (1, 3, 10, exact) and training-set sizes "
          "(1,000 and 3,000 images), with the quick settings"))
register_preset(Preset("cifar10h", "kfold", {
    "folds": 10, "runs": 3, "val_size": 250,
    "train": TrainConfig(model="resnet9-quarter", weights="none", image_size=32, epochs=60,
                         learning_rate=0.2, schedule="warmup-cosine", nesterov=True,
                         augment="natural", **_SGD)},
    about="real images by K-fold cross-validation (--dataset ../shared/data/cifar10h; 3 "
          "of 10 folds, ResNet-9 at a quarter width, ~80 min on 2 cores)"))
register_preset(Preset("cifar10h-budget", "budget", {
    "budgets": (1, 3, 5, "exact"), "sizes": (10_000,), "splits": (3,), "shrunk": (1, 3),
    "train_preset": "cifar10h"},
    about="hard and soft labels from 1, 3, 5 and all real answers per image, shrunk at 1 and 3 "
          "(--dataset ../shared/data/cifar10h: 3 random 60/20/20 splits of its 10,000 "
          "images, the cifar10h preset's training; about 2 h 10 min on 2 cores)"))
register_preset(Preset("cifar10h-paper", "kfold", {
    **PRESETS["cifar10h"].settings, "runs": 10,
    "train": replace(PRESETS["cifar10h"].settings["train"], model="resnet9",
                     epochs=150)},
    about="all 10 folds, the full ResNet-9 for 150 epochs, for a GPU"))
