"""``dqlabels`` commands. Only option parsing lives here; the work is done by the library.

Choices and defaults come from :mod:`dqlabels.config`, the one place they are written. Heavy
imports (pandas, pyarrow, TensorFlow) happen inside the commands, so ``--help`` is instant.
Library errors name the Python parameter (``image_size``); :func:`handle_errors` shows them with
the command's own flag (``--image-size``).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

import click

from dqlabels import config

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
}


def _fail(message: str, status: int) -> None:
    click.echo(f"dqlabels: error: {message}", err=True)
    sys.exit(status)


def run() -> None:
    """The ``dqlabels`` program: :func:`main`, then exit with its status.

    Once TensorFlow is loaded, the interpreter's teardown is skipped: TensorFlow's threads can
    abort the process while C++ statics are destroyed ("terminate called without an active
    exception", seen with TensorFlow and pyarrow both loaded), which would turn a clean exit
    status into SIGABRT. Every output is already written (atomically) by then.
    """
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "tensorflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def _flag_names(ctx: click.Context | None) -> dict[str, str]:
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
    """A library message with its parameter names spelled as this command's flags:
    ``Expected image_size >= 32. Received: image_size=16`` becomes ``Expected --image-size >=
    32. Received: --image-size 16``, ``pass overwrite=True`` becomes ``pass --overwrite``, and a
    parameter name with an underscore (``learning_rate``) becomes its flag wherever it stands.
    Names the command does not have stay as they are."""
    names = _flag_names(ctx)
    if not names:
        return message

    def assignment(match):
        name, value = match.group(1), match.group(2).strip("'\"")
        if name not in names:
            return match.group(0)
        return names[name] if value == "True" else f"{names[name]} {value}"

    message = re.sub(r"\b([a-z][a-z0-9_]*)=([^\s,;)]+)", assignment, message)
    message = re.sub(r"\b(Expected|expected) ([a-z][a-z0-9_]*)\b",
                     lambda m: f"{m.group(1)} {names.get(m.group(2), m.group(2))}", message)
    return re.sub(r"(?<![\w/.-])([a-z][a-z0-9]*_[a-z0-9_]+)(?![\w/.-])",
                  lambda m: names.get(m.group(1), m.group(1)), message)


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
            _fail(cli_message(str(exc), click.get_current_context(silent=True)), 2)
        except TrainingFailed as exc:
            _fail(cli_message(str(exc), click.get_current_context(silent=True)), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except MemoryError:
            _fail("out of memory", 1)
        except OSError as exc:
            if os.environ.get("DQLABELS_DEBUG"):
                raise
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), 1)
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback by default
            if os.environ.get("DQLABELS_DEBUG"):
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (set DQLABELS_DEBUG=1 for details)", 1)

    return wrapper


class OneLineErrors(click.Group):
    """Usage errors (unknown option, bad choice, missing argument) as one line, exit 2."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
                click.echo(exc.ctx.get_help())  # plain `dqlabels`: show the help
                sys.exit(0)
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(exc.format_message().replace("\n", " ") + hint, 2)
        except click.ClickException as exc:
            _fail(exc.format_message().replace("\n", " "), exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=OneLineErrors, context_settings=CONTEXT)
@click.version_option(package_name="dqlabels")
def main():
    """dqlabels: see what your human labels really say.

    Audit a campaign (evaluate), plan its next round (plan), and compare training on hard vs
    soft labels (train, reproduce).
    """


def _quiet_tensorflow() -> None:
    """Load TensorFlow without its C++ start-up lines (absl's, CUDA's, oneDNN's): noise on a
    command line. A TF_CPP_MIN_LOG_LEVEL the user set wins; Python-level errors still surface."""
    from dqlabels._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def _reading_options(command):
    """The options that say how to read an annotation file (evaluate's and plan's)."""
    options = [
        click.option("--format", "format", type=click.Choice(config.FORMATS), default=None,
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
    ]
    for decorator in reversed(options):
        command = decorator(command)
    return command


def _gold_columns(command):
    """The options that name a gold file's columns (evaluate's and plan's)."""
    command = click.option("--gold-label-column", default=None, metavar="NAME",
                           help="The gold file's label column. Default: gold, gold_label, "
                                "true_label, label, … (or the one other column).")(command)
    return click.option("--gold-item-column", default=None, metavar="NAME",
                        help="The gold file's item column. Default: item, task, image, id, "
                             "….")(command)


@main.command(context_settings=CONTEXT)
@click.argument("annotations", type=click.Path(dir_okay=True, path_type=str))
@_reading_options
@click.option("--gold", type=click.Path(path_type=str), default=None,
              help="CSV/TSV/Parquet of known answers (item, label): accuracy on gold of every "
                   "annotator and aggregate; Dawid–Skene fixes these items. Toloka's GOLDEN "
                   "columns are read without it.")
@_gold_columns
@click.option("--predictions", type=click.Path(path_type=str), default=None,
              help="CSV/Parquet of predictions (item + one column per class, or item + label) "
                   "to score against the soft labels.")
@click.option("--json", "json_path", type=click.Path(path_type=str), default=None,
              help="Write the full report as JSON to this file.")
@click.option("--labels", "labels_path", type=click.Path(path_type=str), default=None,
              help="Write the hard/soft (and Dawid–Skene) label table as CSV to this file.")
@click.option("--annotators", "annotators_path", type=click.Path(path_type=str), default=None,
              help="Write the annotator table as CSV (quality, agreements), least reliable first.")
@click.option("--html", "html_path", type=click.Path(path_type=str), default=None,
              help="Write the audit as one self-contained HTML page to share.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=str), default=None,
              help="Write PNG figures into this folder.")
@click.option("--dawid-skene/--no-dawid-skene", default=True, show_default=True,
              help="Fit Dawid–Skene when annotator ids are known.")
@click.option("--ds-max-iter", type=click.IntRange(min=1), default=config.DS_MAX_ITER,
              show_default=True, help="Most Dawid–Skene EM iterations.")
@click.option("--crowdtruth/--no-crowdtruth", default=None,
              help="CrowdTruth 2.0 item, annotator and class quality when annotator ids are "
                   f"known. Default: up to {config.CROWDTRUTH_MAX_PAIRS:,} ordered pairs of "
                   "annotations on the same item (90 million for 10 million annotations, 10 "
                   "per item); --crowdtruth at any size.")
@click.option("--rank-by", type=click.Choice(config.RANKINGS), default=config.RANKINGS[0],
              show_default=True,
              help="The per-annotator estimate that orders the annotator table and the least "
                   "reliable list. auto: Dawid–Skene accuracy when fitted (it ranked simulated "
                   "and real workers best), else CrowdTruth quality, else agreement.")
@click.option("--plan-budget", "--plan", "plan_budget", type=click.IntRange(min=0), default=None,
              metavar="N", help="Also plan the next round: where N more annotations help most "
                                "('dqlabels plan --budget N'; --plan is the older spelling).")
@click.option("--plan-objective", type=click.Choice(config.PLAN_OBJECTIVES),
              default=config.PLAN_OBJECTIVES[0], show_default=True,
              help="soft: pin down each item's distribution; hard: settle the majority vote "
                   "('dqlabels plan --objective').")
@click.option("--plan-out", type=click.Path(path_type=str), default=None,
              help="Write the plan's CSV here, as 'dqlabels plan --out' does (item, "
                   "annotations, loss_now, loss_after, expected_gain, reason).")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace output files that already exist.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="Do not print the summary.")
@handle_errors
def evaluate(annotations, quiet, **options):
    """Audit ANNOTATIONS: hard vs soft labels, ties, ambiguity, agreement, annotators
    (CrowdTruth quality when annotator ids are known).

    ANNOTATIONS is a CSV, TSV, Parquet, .npy or DCIC annotations.json file in long, wide,
    counts or probs format, or an export of Label Studio (JSON), Mechanical Turk (batch
    results CSV), Toloka (results TSV) or Prodigy (db-out JSONL). Exit status 0 on success, 2 on
    bad input.
    """
    from dqlabels.evaluate import EvaluateConfig, run_evaluate

    summary = run_evaluate(annotations, EvaluateConfig(**options))
    if not quiet:
        click.echo(summary)


@main.command(context_settings=CONTEXT)
@click.argument("annotations", type=click.Path(dir_okay=True, path_type=str))
@click.option("--budget", type=click.IntRange(min=0), required=True,
              help="How many more annotations to ask for.")
@_reading_options
@click.option("--predictions", type=click.Path(path_type=str), default=None,
              help="A model's predictions (item + one column per class, as 'dqlabels predict' "
                   "writes them): each item's prior, weighted by how well they agree with the "
                   "annotations so far.")
@click.option("--gold", type=click.Path(path_type=str), default=None,
              help="Known answers (item, label): those items get nothing.")
@_gold_columns
@click.option("--objective", type=click.Choice(config.PLAN_OBJECTIVES),
              default=config.PLAN_OBJECTIVES[0], show_default=True,
              help="soft: pin down each item's label distribution; hard: settle the majority "
                   "vote.")
@click.option("--strength", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Prior strength in pseudo-annotations. Default: fitted by marginal "
                   "likelihood when items have two or more annotations, else 1 (5 with "
                   "--predictions).")
@click.option("--out", "out_path", type=click.Path(path_type=str), default="next_round.csv",
              show_default=True, help="CSV of the plan: item, annotations, reason.")
@click.option("--json", "json_path", type=click.Path(path_type=str), default=None,
              help="Also write the plan and the posterior's facts as JSON.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace output files that already exist.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="Do not print the summary.")
@handle_errors
def plan(annotations, quiet, **options):
    """Plan the next annotation round of ANNOTATIONS: which items need more annotations, how
    many each, and why. Items already certain get none.

    Each item's label distribution gets a Dirichlet posterior (prior from the class balance or
    from --predictions); the next annotations go where they lower its spread most (--objective
    soft) or settle the majority vote (hard). Writes --out (next_round.csv).
    """
    from dqlabels.next_round import PlanConfig, run_plan

    summary = run_plan(annotations, PlanConfig(**options))
    if not quiet:
        click.echo(summary)


@main.command(context_settings=CONTEXT)
@click.argument("model", type=click.Path(path_type=str))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "out_path", type=click.Path(path_type=str), default="predictions.csv",
              show_default=True,
              help="Predictions CSV: item and one probability column per class.")
@click.option("--features", "features_path", type=click.Path(path_type=str), default=None,
              help="Also write the GAP features (.npy, one row per CSV row).")
@click.option("--classes", default=None, metavar="A,B,...",
              help="Class names, for a .keras file without its run's config.json beside it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace output files that already exist.")
@handle_errors
def predict(model, images, out_path, features_path, classes, batch_size, overwrite):
    """Predict IMAGES with MODEL (a training run's folder or a .keras file): a CSV that
    'dqlabels evaluate --predictions' and 'dqlabels plan --predictions' read.

    IMAGES are image files, folders (searched recursively) or dataset folders (their items keep
    the annotation file's ids).
    """
    import contextlib

    _quiet_tensorflow()
    from dqlabels.predict import predict_images

    names = None if classes is None else [c.strip() for c in classes.split(",")]
    with contextlib.redirect_stdout(sys.stderr):  # Keras' progress bar
        summary = predict_images(model, images, out_path, features_path=features_path,
                                 classes=names, batch_size=batch_size, overwrite=overwrite,
                                 verbose=1 if sys.stderr.isatty() else 2)
    click.echo(f"Wrote predictions of {summary['num_images']:,} images "
               f"({summary['image_size']} px, classes {', '.join(summary['classes'])}) to "
               f"{out_path}" + (f", features to {features_path}" if features_path else "") + ".")


@main.command(context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(path_type=str))
@click.option("--num-images", type=int, default=config.GENERATE_NUM_IMAGES, show_default=True,
              help="Number of images.")
@click.option("--image-size", type=int, default=config.GENERATE_IMAGE_SIZE, show_default=True,
              help=f"Side of the square images in pixels (at least {config.MIN_IMAGE_SIZE}).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of every random choice: same seed, same pixels and labels.")
@click.option("--annotators", type=int, default=0, show_default=True,
              help="Also write N simulated annotations per image, drawn from its soft label "
                   "(simulated_annotations.csv, long format).")
@click.option("--annotator-pool", type=int, default=None,
              help="Draw each image's N annotators from a pool of this many (default: the same "
                   "N annotators label every image).")
@click.option("--annotator-noise", default="0,0", show_default=True, metavar="LO,HI",
              help="Each simulated annotator answers uniformly at random with probability "
                   "ε ~ U(LO, HI), recorded in annotators.csv (noise; the soft label is "
                   "ambiguity).")
@click.option("--annotator-bias", type=float, default=0.0, show_default=True, metavar="SHARE",
              help="Share of the annotators who err systematically: swap two classes, favour "
                   "one, or flip to the next (recorded with each one's true accuracy in "
                   "annotators.csv).")
@click.option("--placement", type=click.Choice(config.PLACEMENTS), default=config.PLACEMENTS[0],
              show_default=True,
              help="inside: every shape lies inside the frame, so the pixels determine the label; "
                   "free: shapes may be cut by the frame (generator version 1's images).")
@click.option("--preview", "preview_path", type=click.Path(path_type=str), default=None,
              help="Also write a PNG grid of sample images with their soft labels.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for rendering and PNG encoding. Default: all cores.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace OUT_DIR (and the preview file) if they exist.")
@handle_errors
def generate(out_dir, num_images, image_size, seed, annotators, annotator_pool, annotator_noise,
             annotator_bias, placement, preview_path, workers, overwrite):
    """Generate the paper's synthetic dataset (coloured circles and ellipses) into OUT_DIR.

    40% of the images are pure, 60% interpolate colour, shape or both; annotations.csv holds
    their exact soft labels. OUT_DIR must not exist or be empty, unless --overwrite.
    """
    import time

    from dqlabels._io import check_output_file
    from dqlabels.simulated_crowd import parse_noise
    from dqlabels.synthetic import SimulatedCrowd, check_generate_options, generate_dataset

    crowd = SimulatedCrowd(annotators, annotator_pool, parse_noise(annotator_noise),
                           annotator_bias)
    check_generate_options(out_dir, num_images, image_size, crowd, overwrite)
    if preview_path is not None:
        Path(preview_path).absolute().parent.mkdir(parents=True, exist_ok=True)
        check_output_file(preview_path, overwrite=overwrite)
    start = time.perf_counter()
    with click.progressbar(length=max(num_images, 0), label="Generating images",
                           file=sys.stderr, show_pos=True) as bar:
        path = generate_dataset(out_dir, num_images=num_images, image_size=image_size, seed=seed,
                                annotators=crowd, overwrite=overwrite, workers=workers,
                                progress=bar.update, placement=placement)
    click.echo(f"Wrote {num_images:,} images of {image_size}×{image_size} px to {path} "
               f"in {time.perf_counter() - start:.1f} s.")
    if preview_path is not None:
        from dqlabels.datasets import load_dataset
        from dqlabels.figures import write_preview

        write_preview(load_dataset(path), preview_path, seed=seed)
        click.echo(f"Wrote a preview to {preview_path}.")


@main.command("check-dataset", context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--decode/--no-decode", default=True, show_default=True,
              help="Decode every image (finds corrupt files; for synthetic data also reads the "
                   "labels back from the pixels; takes a few seconds).")
@click.option("--preview", "preview_path", type=click.Path(path_type=str), default=None,
              help="Write a PNG grid of sample images with their soft labels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the preview.")
@click.option("--overwrite", is_flag=True, default=False, help="Replace the preview file.")
@handle_errors
def check_dataset(dataset, decode, preview_path, seed, overwrite):
    """Check a dataset folder (dqlabels or DCIC layout): annotations, image paths, images.

    For a synthetic folder, also how well the pixels determine the labels: the pixel-moment
    estimate's macro accuracy and KL against the stored soft labels.
    """
    from dqlabels._io import check_output_file
    from dqlabels.datasets import (
        dataset_summary,
        format_dataset_summary,
        load_dataset,
        verify_images,
    )
    from dqlabels.figures import write_preview

    if preview_path is not None:
        check_output_file(preview_path, overwrite=overwrite)
    data = load_dataset(dataset)
    if decode:
        verify_images(data)
    click.echo(format_dataset_summary(dataset_summary(data, pixel_estimate=decode),
                                      decoded=decode))
    if preview_path is not None:
        write_preview(data, preview_path, seed=seed)
        click.echo(f"Wrote a preview to {preview_path}.")


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--split", "index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Split number k (the random split uses seed k; DCIC: rotation slice k).")
@click.option("--kind", type=click.Choice(config.SPLIT_KINDS), default=config.SPLIT_KINDS[0],
              show_default=True, help="Stratified random 60/20/20, or the DCIC fold rotation.")
@click.option("--out", "out_path", type=click.Path(path_type=str), required=True,
              help="CSV file to write (columns item, split).")
@click.option("--overwrite", is_flag=True, default=False, help="Replace OUT if it exists.")
@handle_errors
def split(dataset, index, kind, out_path, overwrite):
    """Write train/val/test split K of DATASET as CSV."""
    from dqlabels._io import check_output_file
    from dqlabels.datasets import load_dataset, make_split, save_split, split_counts

    check_output_file(out_path, overwrite=overwrite)
    data = load_dataset(dataset, check_images=False)
    assignment = make_split(data, index, kind)
    save_split(out_path, data.items, assignment)
    counts = ", ".join(f"{name} {count:,}" for name, count in split_counts(assignment).items())
    click.echo(f"Wrote split {index} ({kind}) of {data.num_items:,} items to {out_path}: {counts}.")


def _train_options(preset: bool = False):
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
        option("--model", default_name="model", type=click.Choice(config.MODELS),
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


def _job_options(command):
    """Where a process stands in a data-parallel job (``--strategy data-parallel``); unset, they
    come from the environment (:mod:`dqlabels.distributed`)."""
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


def _data_parallel_job(strategy, coordinator, num_processes, process_id):
    """The job of a ``--strategy data-parallel`` command (``None`` otherwise), with Keras on
    JAX: a user who did not choose a backend gets JAX, one who chose another gets told."""
    from dqlabels.errors import InputError

    given = [n for n, v in (("--coordinator", coordinator), ("--num-processes", num_processes),
                            ("--process-id", process_id)) if v is not None]
    if strategy != "data-parallel":
        if given:
            raise InputError(f"{given[0]} is for --strategy data-parallel")
        return None
    from dqlabels import distributed

    job = distributed.Job.from_settings(coordinator, num_processes, process_id)
    job.check_port()
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    _quiet_tensorflow()
    distributed.jax_backend_ready()
    return job


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--soft/--hard", "soft", default=None,
              help="Train on soft labels or on one-hot majority votes (required).")
@click.option("--split", "split", type=click.IntRange(min=0), default=0, show_default=True,
              help="Split number (random: seed; DCIC: rotation slice 0–4).")
@click.option("--split-kind", type=click.Choice(config.SPLIT_KINDS),
              default=config.TRAIN_DEFAULTS["split_kind"], show_default=True)
@click.option("--split-file", type=click.Path(path_type=str), default=None,
              help="Use this split CSV (item, split) instead.")
@click.option("--targets", type=click.Path(path_type=str), default=None,
              help="Train on the labels of this annotation file (same items; any format) "
                   "instead of the dataset's; validation and test still use the dataset's.")
@click.option("--out", "out_dir", type=click.Path(path_type=str), required=True,
              help="Run folder (created; a killed run resumes from it).")
@_train_options()
@click.option("--seed", type=int, default=config.TRAIN_DEFAULTS["seed"], show_default=True,
              help="Seed of initialisation, shuffling and augmentation.")
@click.option("--tensorboard", is_flag=True, default=False, help="Also write TensorBoard logs.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Start again in a run folder that holds a run.")
@_job_options
@handle_errors
def train(dataset, soft, split, split_kind, split_file, targets, out_dir, overwrite, coordinator,
          num_processes, process_id, **options):
    """Train a network on DATASET's soft or hard labels.

    Writes model.keras, predictions.csv, features.npy, scores.json (test split vs soft labels),
    history.csv and config.json to --out. Rerun the same command to resume a killed run.
    """
    from dqlabels.config import TrainConfig
    from dqlabels.errors import InputError
    from dqlabels.run_folder import finished_scores, open_run

    if soft is None:
        raise InputError("choose the targets: --soft or --hard")
    config_ = TrainConfig(label_mode="soft" if soft else "hard", split=split,
                          split_kind=split_kind, split_file=split_file, targets=targets, **options)
    job = _data_parallel_job(config_.strategy, coordinator, num_processes, process_id)
    # Before TensorFlow starts: another run's folder is refused, a finished run is reused (a
    # new folder goes straight to training, which opens it). In a job, process 0 decides that
    # for every process, once they have joined.
    scores = None
    held = job is None and not overwrite and (Path(out_dir) / "config.json").exists()
    if held and open_run(dataset, out_dir, config_)[3] == "done":
        scores = finished_scores(out_dir)
    if scores is None:
        _quiet_tensorflow()
        from dqlabels.training import train as run_training

        verbose = 1 if sys.stderr.isatty() else 2
        scores = run_training(dataset, out_dir, config_, overwrite=overwrite, verbose=verbose,
                              job=job)
    if _is_follower(job):
        return  # process 0 reports
    click.echo(f"{config_.label_mode} labels, split {split}: test macro accuracy "
               f"{scores['macro_accuracy']:.4f}, KL {scores['kl']:.4f} ({out_dir})")


@main.command(context_settings=CONTEXT)
@click.option("--preset", type=click.Choice(config.PRESET_NAMES), default=config.PRESET_NAMES[0],
              show_default=True,
              help="quick: a reduced synthetic study for a 2-core CPU (~15 min); paper: the "
                   "paper's settings, for a GPU; budget: hard vs soft across annotation budgets "
                   "(1, 3, 10, exact) and training-set sizes (1,000 and 3,000 images), with the "
                   "quick settings; cifar10h: real images by K-fold cross-validation (--dataset "
                   "../shared/data/cifar10h; 3 of 10 folds, ResNet-9 at a quarter width, ~80 min "
                   "on 2 cores); cifar10h-paper: all 10 folds, the full ResNet-9, for a GPU.")
@click.option("--dataset", type=click.Path(path_type=str), default=None,
              help="A dataset folder (dqlabels or DCIC layout). Default: generate the synthetic "
                   "data into OUT/data.")
@click.option("--out", "out_dir", type=click.Path(path_type=str), default="study",
              show_default=True, help="Study folder (a killed study continues from it).")
@click.option("--splits", default=None, metavar="N[,N…]",
              help="Number of splits. Budget study: one per training-set size, smallest first, "
                   "or one for all. cifar10h: the folds to run (the first N of --folds). "
                   "Default: the preset's (3; budget: 5,2; cifar10h: 3 of 10).")
@click.option("--folds", type=click.IntRange(min=2), default=None,
              help="cifar10h presets: K of the K-fold cross-validation. Default: 10.")
@click.option("--hard-labels", type=click.Choice(config.HARD_LABEL_SOURCES), default="original",
              show_default=True,
              help="cifar10h presets: hard targets from the folder's original labels (Peterson "
                   "et al.'s protocol) or the annotation majority.")
@click.option("--split-kind", type=click.Choice(config.SPLIT_KINDS), default=None,
              help="random (stratified 60/20/20) or the DCIC fold rotation.")
@click.option("--annotations-per-image", "budgets", default=None, metavar="N,…[,exact|all]",
              help="A budget study: train on hard and soft labels made from N annotations per "
                   "image (exact: the exact labels; all: every answer of a real dataset's image, "
                   "drawn without replacement). Default for --preset budget: 1,3,10,exact. With "
                   "--preset cifar10h the runs take that preset's training settings.")
@click.option("--num-images", "sizes", default=None, metavar="N,…",
              help="Budget study: the training-set sizes, as numbers of images (nested random "
                   "subsets). Default for --preset budget: 1000,3000.")
@click.option("--shrunk/--no-shrunk", default=False, show_default=True,
              help="Budget study: a third arm trained on the shrunk soft labels of each budget's "
                   "answers (the posterior mean of 'dqlabels plan'), paired with the raw mean.")
@click.option("--annotator-pool", type=click.IntRange(min=1), default=None,
              help="Budget study: annotators drawn from a pool of this many (default: the same "
                   "N annotators on every image).")
@click.option("--annotator-noise", default="0,0", show_default=True, metavar="LO,HI",
              help="Budget study: each simulated annotator answers at random with probability "
                   "ε ~ U(LO, HI).")
@click.option("--annotator-bias", type=float, default=0.0, show_default=True, metavar="SHARE",
              help="Budget study: share of the simulated annotators who err systematically.")
@_train_options(preset=True)
@click.option("--tsne-max-iter", type=click.IntRange(min=config.TSNE_MIN_ITER),
              default=config.TSNE_MAX_ITER, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the generator, the initialisation, the shuffles and the t-SNE.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Start again in a study folder made with other settings.")
@_job_options
@handle_errors
def reproduce(preset, dataset, out_dir, splits, folds, hard_labels, budgets, sizes, shrunk,
              annotator_pool, annotator_noise, annotator_bias, tsne_max_iter, seed, overwrite,
              coordinator, num_processes, process_id, **overrides):
    """Reproduce the paper: train on hard and on soft labels per split, compare, plot.

    Writes results.md/.csv/.json (macro accuracy and KL, mean ± std over splits, beside the
    paper's Table 1, and for synthetic data the image limit) and tsne.png (hard and soft side by
    side) into --out. With --preset budget, --annotations-per-image or --num-images, the study
    across annotation budgets and training-set sizes instead: budget.md/.csv/.json and
    budget.png. Options left unset take the preset's value. Finished runs are reused: rerun the
    command to continue.
    """
    import contextlib

    from dqlabels.errors import InputError

    job = _data_parallel_job(overrides.get("strategy"), coordinator, num_processes, process_id)
    _quiet_tensorflow()
    overrides = {k: v for k, v in overrides.items() if v is not None}

    def log(message):
        click.echo(message, err=True)

    verbose = 1 if sys.stderr.isatty() else 2
    if preset == "budget" or budgets is not None or sizes is not None:
        if job is not None:
            raise InputError("the budget study runs one process per run; --strategy "
                             "data-parallel is for dqlabels train and the paper's study")
        from dqlabels.budget import budget_markdown, reproduce_budgets
        from dqlabels.simulated_crowd import SimulatedCrowd, parse_noise

        crowd = SimulatedCrowd(1, annotator_pool, parse_noise(annotator_noise), annotator_bias)
        with contextlib.redirect_stdout(sys.stderr):
            results = reproduce_budgets(out_dir, dataset=dataset, overrides=overrides,
                                        budgets=budgets, sizes=sizes, splits=splits, seed=seed,
                                        crowd=crowd, shrunk=shrunk,
                                        train_preset=preset if preset.startswith("cifar10h")
                                        else "quick", overwrite=overwrite, log=log,
                                        verbose=verbose)
        click.echo(budget_markdown(results).strip())
        click.echo(f"\nResults in {out_dir}/budget.md, .csv, .json; figure {out_dir}/budget.png")
        return
    from dqlabels.study import PRESETS, results_table
    from dqlabels.study import reproduce as run_study

    if splits is not None and not splits.strip().isdigit():
        raise InputError(f"Expected --splits as one whole number for a study (several are for "
                         f"a budget study, one per --num-images). Received: --splits {splits}")
    splits = None if splits is None else int(splits)
    if PRESETS[preset].get("protocol") == "kfold":
        from dqlabels.real_study import reproduce_kfold
        from dqlabels.real_study import results_table as kfold_table

        if job is not None:
            raise InputError("the cifar10h presets run one process per run; --strategy "
                             "data-parallel is for dqlabels train and the paper's study")
        with contextlib.redirect_stdout(sys.stderr):
            results = reproduce_kfold(out_dir, preset, dataset=dataset, overrides=overrides,
                                      folds=folds, runs=splits, hard_labels=hard_labels,
                                      seed=seed, tsne_max_iter=tsne_max_iter,
                                      overwrite=overwrite, log=log, verbose=verbose)
        click.echo(kfold_table(results).strip())
        click.echo(f"\nResults in {out_dir}/results.md, .csv, .json; figures {out_dir}/folds.png "
                   f"and {out_dir}/tsne.png")
        return

    # Keras writes its progress to stdout: send it to stderr, keep stdout for the table.
    with contextlib.redirect_stdout(sys.stderr):
        results = run_study(out_dir, preset, dataset=dataset, overrides=overrides,
                            splits=splits, seed=seed, tsne_max_iter=tsne_max_iter,
                            overwrite=overwrite, log=log, verbose=verbose, job=job)
    if _is_follower(job):
        return  # process 0 reports
    click.echo(results_table(results).strip())
    click.echo(f"\nResults in {out_dir}/results.md, .csv, .json; figure {out_dir}/tsne.png")


def _is_follower(job) -> bool:
    """A process of a data-parallel job other than process 0 (which reports)."""
    if job is None:
        return False
    from dqlabels.distributed import process_index

    return process_index() != 0


@main.command(context_settings={**CONTEXT, "ignore_unknown_options": True,
                                "allow_interspersed_args": False})
@click.option("--processes", type=click.IntRange(min=1), required=True,
              help="How many processes to start on this host.")
@click.option("--log-dir", type=click.Path(path_type=str), default=None,
              help="Where the output of processes 1+ goes. Default: a new temporary folder.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@handle_errors
def launch(processes, log_dir, command):
    """Run `train …` or `reproduce …` as PROCESSES processes of one data-parallel job here.

    Example: dqlabels launch --processes 2 -- train data --soft --out run. Each process runs
    the command with --strategy data-parallel on the JAX backend (gloo collectives on CPU),
    joined through a free port on localhost. Process 0 writes the outputs and its output is
    shown; if one process fails, all stop. Rerun the same command to resume. Needs
    pip install "dqlabels[jax]".
    """
    from dqlabels.launch import launch as run_launch

    def echo(message):
        click.echo(message, err=True)

    status = run_launch(list(command), processes, log_dir=log_dir, echo=echo)
    sys.exit(status)


@main.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option("--perplexity", type=float, default=config.TSNE_PERPLEXITY, show_default=True)
@click.option("--max-iter", type=click.IntRange(min=config.TSNE_MIN_ITER),
              default=config.TSNE_MAX_ITER, show_default=True,
              help="Iterations, including scikit-learn's 250 early-exaggeration steps.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_png", type=click.Path(path_type=str), default=None,
              help="Figure file. Default: RUN_DIR/tsne.png.")
@click.option("--csv", "out_csv", type=click.Path(path_type=str), default=None,
              help="Coordinates file. Default: RUN_DIR/tsne.csv.")
@click.option("--overwrite", is_flag=True, default=False, help="Replace existing outputs.")
@handle_errors
def tsne(run_dir, perplexity, max_iter, seed, out_png, out_csv, overwrite):
    """t-SNE of a training run's test-set GAP features, coloured by the soft labels."""
    from dqlabels.tsne import tsne_run

    png, csv_path = tsne_run(run_dir, out_png=out_png, out_csv=out_csv, perplexity=perplexity,
                             max_iter=max_iter, seed=seed, overwrite=overwrite)
    click.echo(f"Wrote {png} and {csv_path}.")


for _name, _text in SHORT_HELP.items():
    main.commands[_name].short_help = _text


if __name__ == "__main__":
    run()

