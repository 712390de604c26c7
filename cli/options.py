"""What the commands share: the context settings, the one-line error handling (a library
message with its parameter names spelled as the command's flags) and the option groups that
several commands take."""

from __future__ import annotations

import functools
import os
import sys

import click

from dqlabels import config, registry

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Each command's line in ``dqlabels --help`` (click would cut the docstring's first sentence).
SHORT_HELP = {
    "evaluate": "Audit an annotation campaign: labels, agreement, annotators, gold.",
    "plan": "Plan the next annotation round: which items, how many, what it buys.",
    "predict": "Predict images with a trained run or a .keras model.",
    "generate": "Generate the paper's synthetic dataset.",
    "check-dataset": "Check a dataset folder before training.",
    "split": "Write one train/val/test split of a dataset as CSV.",
    "train": "Train a network on a dataset's hard or soft labels.",
    "reproduce": "Reproduce the paper's study: hard vs soft labels, table and t-SNE.",
    "tsne": "t-SNE of a training run's features, as a figure and a CSV.",
    "launch": "Run train or reproduce as several processes (JAX backend).",
    "datasets": "Get public datasets with human answers (CIFAR-10H, CIFAR-10N) as folders.",
}


class RegistryChoice(click.Choice):
    """A choice among a registry's names as they are when the command runs
    (:data:`dqlabels.registry.BACKBONES`, :data:`~dqlabels.config.PRESETS`, or a function that
    lists them, :func:`dqlabels.registry.formats`): one registered after this module was
    imported is offered too."""

    def __init__(self, registry):
        self._registry = registry
        super().__init__(self.choices)

    @property
    def choices(self):
        return tuple(self._registry() if callable(self._registry) else self._registry)

    @choices.setter
    def choices(self, value):
        pass  # the registry is the list


def fail(message: str, status: int) -> None:
    click.echo(f"dqlabels: error: {message}", err=True)
    sys.exit(status)


def flag_names(ctx: click.Context | None) -> dict[str, str]:
    """Python parameter name → how the command line spells it (``--image-size``, ``DATASET``)."""
    names = {}
    for param in (ctx.command.params if ctx is not None else ()):
        if isinstance(param, click.Option):
            spelled = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            for key in (param.name, spelled.lstrip("-").replace("-", "_")):
                names.setdefault(key, spelled)
        elif param.name:
            names.setdefault(param.name, param.human_readable_name)
    return names


def cli_message(message: str, ctx: click.Context | None = None) -> str:
    """A library message with its parameter names spelled as this command's flags
    (:func:`dqlabels.commandline.command_message`)."""
    from dqlabels.commandline import command_message

    return command_message(message, flag_names(ctx))


def handle_errors(command):
    """Bad input → one line and exit 2; an unexpected failure → one line and exit 1.

    Set DQLABELS_DEBUG=1 to see the traceback of an unexpected failure.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from dqlabels.errors import InputError, TrainingFailed

        try:
            return command(*args, **kwargs)
        except InputError as exc:
            fail(cli_message(str(exc), click.get_current_context(silent=True)), 2)
        except TrainingFailed as exc:
            fail(cli_message(str(exc), click.get_current_context(silent=True)), 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except MemoryError:
            fail("out of memory", 1)
        except OSError as exc:
            if os.environ.get("DQLABELS_DEBUG"):
                raise
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), 1)
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback by default
            if os.environ.get("DQLABELS_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (set DQLABELS_DEBUG=1 for details)", 1)

    return wrapper


def quiet_tensorflow() -> None:
    """Load TensorFlow without its C++ start-up lines (absl's, CUDA's, oneDNN's): noise on a
    command line. A TF_CPP_MIN_LOG_LEVEL the user set wins; Python-level errors still surface."""
    from dqlabels.learning.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def reading_options(command):
    """The options that say how to read an annotation file (evaluate's and plan's)."""
    options = [
        click.option("--format", "format", type=RegistryChoice(registry.formats), default=None,
                     help="Input format. Default: detected from the file."),
        click.option("--classes", default=None, metavar="A,B,...",
                     help="Comma-separated class names in the order to use (may include "
                          "classes nobody chose). Default: the labels found, sorted."),
        click.option("--duplicates", type=click.Choice(config.DUPLICATE_RULES),
                     default=config.DUPLICATE_RULES[0], show_default=True,
                     help="What to do with a repeated (item, annotator) pair."),
        click.option("--item-column", default=None, metavar="NAME",
                     help="The column (or export field) that holds the item. Default: one "
                          "called item, task, image, id, question, unit_id, … (any case, _ - "
                          "and spaces ignored)."),
        click.option("--annotator-column", default=None, metavar="NAME",
                     help="The column that holds the annotator. Default: annotator, worker, "
                          "rater, user, worker_id, … if any."),
        click.option("--label-column", default=None, metavar="NAME",
                     help="The column that holds the label. Default: label, class, answer, "
                          "response, judgment, …."),
        click.option("--fold-case", is_flag=True, default=False,
                     help="Merge class names that differ only by case (Cat, cat) into their "
                          "most used spelling. Default: keep them apart and say so."),
    ]
    for decorator in reversed(options):
        command = decorator(command)
    return command


def gold_columns(command):
    """The options that name a gold file's columns (evaluate's and plan's)."""
    command = click.option("--gold-label-column", default=None, metavar="NAME",
                           help="The gold file's label column. Default: gold, gold_label, "
                                "true_label, label, … (or the one other column).")(command)
    return click.option("--gold-item-column", default=None, metavar="NAME",
                        help="The gold file's item column. Default: item, task, image, id, "
                             "….")(command)


def train_options(preset: bool = False):
    """The training options, shared by `dqlabels train` (defaults: the paper's, from
    :class:`dqlabels.config.TrainConfig`) and `dqlabels reproduce` (``preset=True``: every
    default is None, meaning the preset's value)."""
    defaults = config.TRAIN_DEFAULTS

    def option(*flags, default_name, **kwargs):
        default = None if preset else defaults[default_name]
        kwargs.setdefault("show_default", not preset and default is not None)
        if preset:
            kwargs["help"] = (kwargs.get("help", "") + " Default: the preset's.").strip()
        return click.option(*flags, default=default, **kwargs)

    options = [
        option("--model", default_name="model", type=RegistryChoice(registry.BACKBONES),
               help="Backbone: Keras Applications DenseNet121 or ResNet50V2, densenet-tiny "
                    "(DenseNet with one layer per dense block: the quick study's network), or "
                    "resnet9 / resnet9-quarter (the DAWNBench CIFAR ResNet-9 for small "
                    "photographs from scratch, at its width or a quarter of it)."),
        option("--weights", default_name="weights",
               help="none, imagenet (Keras' download or cache) or a .keras/.weights.h5 file."),
        option("--image-size", default_name="image_size", type=int,
               help=f"Input side in pixels (≥ {config.MIN_IMAGE_SIZE}). Default: the dataset's, "
                    f"else 224."),
        option("--epochs", default_name="epochs", type=click.IntRange(min=1)),
        option("--batch-size", default_name="batch_size", type=click.IntRange(min=1)),
        option("--learning-rate", default_name="learning_rate", type=float),
        option("--momentum", default_name="momentum", type=float),
        option("--weight-decay", default_name="weight_decay", type=float,
               help="Decoupled, through the optimiser (w ← w − lr·λ·w)."),
        option("--schedule", default_name="schedule", type=click.Choice(config.SCHEDULES),
               help="Per-step learning-rate schedule."),
        option("--bn-momentum", default_name="bn_momentum", type=float,
               help="BatchNormalization moving-average momentum. Default: Keras' 0.99; short "
                    "runs need less (e.g. 0.9)."),
        option("--precise-bn/--no-precise-bn", default_name="precise_bn",
               help="After training, recompute the BatchNorm statistics over training images "
                    "with the weights frozen (stable inference-mode scores)."),
        option("--first-cycle-epochs", default_name="first_cycle_epochs",
               type=click.IntRange(min=1), help="cosine-restarts: length of the first cycle."),
        option("--t-mul", default_name="t_mul", type=float,
               help="cosine-restarts: each cycle this many times longer."),
        option("--augment", default_name="augment", type=click.Choice(config.AUGMENTS),
               help="natural: reflect-pad 4 px, random crop, horizontal flip (photographs); "
                    "symmetric: flips and 90° rotations (the synthetic shapes); none. auto: "
                    "dataset.json's \"augment\", else symmetric for synthetic and DCIC data, "
                    "natural otherwise. Never colour."),
        option("--nesterov/--no-nesterov", default_name="nesterov",
               help="Nesterov momentum."),
        option("--deterministic/--no-deterministic", default_name="deterministic",
               help="TensorFlow's deterministic ops: bit-identical reruns and resumes."),
        option("--mixed-precision/--no-mixed-precision", default_name="mixed_precision",
               help="float16 compute (GPUs)."),
        option("--xla/--no-xla", default_name="xla",
               help="XLA-compile the train step (TensorFlow, with --no-deterministic; JAX "
                    "always compiles)."),
        option("--strategy", default_name="strategy", type=click.Choice(config.STRATEGIES),
               help="mirrored: all local GPUs (TensorFlow's MirroredStrategy); "
                    "data-parallel: every device of every process (JAX; see dqlabels launch)."),
        option("--cache", default_name="cache", type=click.Choice(config.CACHE_CHOICES),
               help="Keep decoded images in memory (auto: when they fit)."),
    ]

    def decorate(command):
        for decorator in reversed(options):
            command = decorator(command)
        return command

    return decorate


def job_options(command):
    """Where a process stands in a data-parallel job (``--strategy data-parallel``); unset, they
    come from the environment (:mod:`dqlabels.learning.distributed`)."""
    options = [
        click.option("--coordinator", default=None, metavar="HOST:PORT",
                     help="data-parallel: process 0's address (all processes give the same)."),
        click.option("--num-processes", type=int, default=None,
                     help="data-parallel: how many processes the job has."),
        click.option("--process-id", type=int, default=None,
                     help="data-parallel: this process's id, 0 to N-1 (0 writes the outputs)."),
    ]
    for decorator in reversed(options):
        command = decorator(command)
    return command


def data_parallel_job(strategy, coordinator, num_processes, process_id):
    """The job of a ``--strategy data-parallel`` command (``None`` otherwise), with Keras on
    JAX: a user who did not choose a backend gets JAX, one who chose another gets told."""
    from dqlabels.errors import InputError

    given = [n for n, v in (("--coordinator", coordinator), ("--num-processes", num_processes),
                            ("--process-id", process_id)) if v is not None]
    if strategy != "data-parallel":
        if given:
            raise InputError(f"{given[0]} is for --strategy data-parallel")
        return None
    from dqlabels.learning import distributed

    job = distributed.Job.from_settings(coordinator, num_processes, process_id)
    job.check_port()
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    quiet_tensorflow()
    distributed.jax_backend_ready()
    return job
