"""``dqlabels`` commands. Only option parsing lives here; the work is done by the library.

Heavy imports (pandas, pyarrow, TensorFlow) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(message: str, status: int) -> None:
    click.echo(f"dqlabels: error: {message}", err=True)
    sys.exit(status)


def handle_errors(command):
    """Bad input → one line and exit 2; an unexpected failure → one line and exit 1.

    Set DQLABELS_DEBUG=1 to see the traceback of an unexpected failure.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from dqlabels.errors import InputError

        try:
            return command(*args, **kwargs)
        except InputError as exc:
            _fail(str(exc), 2)
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

    Audit annotations (evaluate), and compare training on hard vs soft labels.
    """


FORMAT_CHOICES = ["long", "wide", "counts", "probs", "dcic"]


@main.command(context_settings=CONTEXT)
@click.argument("annotations", type=click.Path(dir_okay=True, path_type=str))
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default=None,
              help="Input format. Default: detected from the file.")
@click.option("--classes", default=None, metavar="A,B,...",
              help="Comma-separated class names in the order to use (may include classes "
                   "nobody chose). Default: the labels found, sorted.")
@click.option("--duplicates", type=click.Choice(["error", "keep", "last"]), default="error",
              show_default=True, help="What to do with a repeated (item, annotator) pair.")
@click.option("--predictions", type=click.Path(path_type=str), default=None,
              help="CSV/Parquet of predictions (item + one column per class, or item + label) "
                   "to score against the soft labels.")
@click.option("--json", "json_path", type=click.Path(path_type=str), default=None,
              help="Write the full report as JSON to this file.")
@click.option("--labels", "labels_path", type=click.Path(path_type=str), default=None,
              help="Write the hard/soft (and Dawid–Skene) label table as CSV to this file.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=str), default=None,
              help="Write PNG figures into this folder.")
@click.option("--dawid-skene/--no-dawid-skene", default=True, show_default=True,
              help="Fit Dawid–Skene when annotator ids are known.")
@click.option("--ds-max-iter", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most Dawid–Skene EM iterations.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace output files that already exist.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="Do not print the summary.")
@handle_errors
def evaluate(annotations, fmt, classes, duplicates, predictions, json_path, labels_path,
             plots_dir, dawid_skene, ds_max_iter, overwrite, quiet):
    """Audit ANNOTATIONS: hard vs soft labels, ties, ambiguity, agreement, annotators.

    ANNOTATIONS is a CSV, TSV, Parquet, .npy or DCIC annotations.json file in long, wide,
    counts or probs format. Exit status 0 on success, 2 on bad input.
    """
    from dqlabels.audit import run_evaluate

    summary = run_evaluate(
        annotations, format=fmt, classes=classes, duplicates=duplicates,
        predictions=predictions, json_path=json_path, labels_path=labels_path,
        plots_dir=plots_dir, dawid_skene=dawid_skene, ds_max_iter=ds_max_iter,
        overwrite=overwrite,
    )
    if not quiet:
        click.echo(summary)


@main.command(context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(path_type=str))
@click.option("--num-images", type=int, default=15_000, show_default=True,
              help="Number of images.")
@click.option("--image-size", type=int, default=64, show_default=True,
              help="Side of the square images in pixels (at least 32).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of every random choice: same seed, same pixels and labels.")
@click.option("--annotators", type=int, default=0, show_default=True,
              help="Also write N simulated annotations per image, drawn from its soft label "
                   "(simulated_annotations.csv, long format).")
@click.option("--preview", "preview_path", type=click.Path(path_type=str), default=None,
              help="Also write a PNG grid of sample images with their soft labels.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for rendering and PNG encoding. Default: all cores.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace OUT_DIR (and the preview file) if they exist.")
@handle_errors
def generate(out_dir, num_images, image_size, seed, annotators, preview_path, workers, overwrite):
    """Generate the paper's synthetic dataset (coloured circles and ellipses) into OUT_DIR.

    40% of the images are pure, 60% interpolate colour, shape or both; annotations.csv holds
    their exact soft labels. OUT_DIR must not exist or be empty, unless --overwrite.
    """
    import time

    from dqlabels._io import check_output_file
    from dqlabels.synthetic import check_generate_options, generate_dataset

    check_generate_options(out_dir, num_images, image_size, annotators, overwrite)
    if preview_path is not None:
        Path(preview_path).absolute().parent.mkdir(parents=True, exist_ok=True)
        check_output_file(preview_path, overwrite=overwrite)
    start = time.perf_counter()
    with click.progressbar(length=max(num_images, 0), label="Generating images",
                           file=sys.stderr, show_pos=True) as bar:
        path = generate_dataset(out_dir, num_images=num_images, image_size=image_size, seed=seed,
                                annotators=annotators, overwrite=overwrite, workers=workers,
                                progress=bar.update)
    click.echo(f"Wrote {num_images:,} images of {image_size}×{image_size} px to {path} "
               f"in {time.perf_counter() - start:.1f} s.")
    if preview_path is not None:
        from dqlabels.datasets import load_dataset, write_preview

        write_preview(load_dataset(path), preview_path, seed=seed)
        click.echo(f"Wrote a preview to {preview_path}.")


@main.command("check-dataset", context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--decode/--no-decode", default=True, show_default=True,
              help="Decode every image (finds corrupt files; takes a few seconds).")
@click.option("--preview", "preview_path", type=click.Path(path_type=str), default=None,
              help="Write a PNG grid of sample images with their soft labels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the preview.")
@click.option("--overwrite", is_flag=True, default=False, help="Replace the preview file.")
@handle_errors
def check_dataset(dataset, decode, preview_path, seed, overwrite):
    """Check a dataset folder (dqlabels or DCIC layout): annotations, image paths, images."""
    from dqlabels._io import check_output_file
    from dqlabels.datasets import load_dataset, verify_images, write_preview

    if preview_path is not None:
        check_output_file(preview_path, overwrite=overwrite)
    data = load_dataset(dataset)
    if decode:
        verify_images(data)
    soft = data.soft_labels
    click.echo(f"Dataset {data.root} ({data.layout} layout): {data.num_items:,} images, "
               f"{len(data.classes)} classes, annotations {data.annotations.format}"
               + (", every image decodes" if decode else ""))
    for k, name in enumerate(data.classes):
        click.echo(f"  {name:<24} hard {float((data.hard_labels == k).mean()):.3f}   soft "
                   f"{float(soft[:, k].mean()):.3f}")
    if preview_path is not None:
        write_preview(data, preview_path, seed=seed)
        click.echo(f"Wrote a preview to {preview_path}.")


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--split", "index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Split number k (the random split uses seed k; DCIC: rotation slice k).")
@click.option("--kind", type=click.Choice(["random", "dcic"]), default="random",
              show_default=True, help="Stratified random 60/20/20, or the DCIC fold rotation.")
@click.option("--out", "out_path", type=click.Path(path_type=str), required=True,
              help="CSV file to write (columns item, split).")
@click.option("--overwrite", is_flag=True, default=False, help="Replace OUT if it exists.")
@handle_errors
def split(dataset, index, kind, out_path, overwrite):
    """Write train/val/test split K of DATASET as CSV."""
    from dqlabels._io import check_output_file
    from dqlabels.datasets import SPLITS, load_dataset, make_split, save_split

    check_output_file(out_path, overwrite=overwrite)
    data = load_dataset(dataset, check_images=False)
    assignment = make_split(data, index, kind)
    save_split(out_path, data.items, assignment)
    counts = ", ".join(f"{name} {int((assignment == name).sum()):,}" for name in SPLITS)
    click.echo(f"Wrote split {index} ({kind}) of {data.num_items:,} items to {out_path}: {counts}.")


def _train_options(command):
    """The options of `dqlabels train` (shared with the study's per-run settings)."""
    options = [
        click.option("--model", type=click.Choice(["densenet121", "resnet50v2"]),
                     default="densenet121", show_default=True, help="Keras Applications backbone."),
        click.option("--weights", default="none", show_default=True,
                     help="none, imagenet (from the Keras cache) or a .keras/.weights.h5 file."),
        click.option("--image-size", type=int, default=None,
                     help="Input side in pixels (≥ 32). Default: the dataset's, else 224."),
        click.option("--epochs", type=click.IntRange(min=1), default=60, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True),
        click.option("--learning-rate", type=float, default=0.1, show_default=True),
        click.option("--momentum", type=float, default=0.9, show_default=True),
        click.option("--weight-decay", type=float, default=5e-4, show_default=True,
                     help="Decoupled, through the optimiser (w ← w − lr·λ·w)."),
        click.option("--schedule", type=click.Choice(["cosine", "cosine-restarts"]),
                     default="cosine", show_default=True, help="Per-step learning-rate schedule."),
        click.option("--bn-momentum", type=float, default=None,
                     help="BatchNormalization moving-average momentum. Default: Keras' 0.99; "
                          "short runs need less (e.g. 0.9)."),
        click.option("--first-cycle-epochs", type=click.IntRange(min=1), default=20,
                     show_default=True, help="cosine-restarts: length of the first cycle."),
        click.option("--t-mul", type=float, default=2.0, show_default=True,
                     help="cosine-restarts: each cycle this many times longer."),
        click.option("--augment/--no-augment", default=True, show_default=True,
                     help="Random flips and 90° rotations (never colour)."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of initialisation, shuffling and augmentation."),
        click.option("--deterministic/--no-deterministic", default=True, show_default=True,
                     help="TensorFlow's deterministic ops: bit-identical reruns and resumes."),
        click.option("--mixed-precision", is_flag=True, default=False,
                     help="float16 compute (GPUs)."),
        click.option("--xla", is_flag=True, default=False, help="XLA-compile the train step."),
        click.option("--strategy", type=click.Choice(["default", "mirrored"]), default="default",
                     show_default=True, help="mirrored: all local GPUs (MirroredStrategy)."),
        click.option("--cache", type=click.Choice(["auto", "memory", "none"]), default="auto",
                     show_default=True, help="Keep decoded images in memory (auto: when they fit)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--soft/--hard", "soft", default=None,
              help="Train on soft labels or on one-hot majority votes (required).")
@click.option("--split", "split", type=click.IntRange(min=0), default=0, show_default=True,
              help="Split number (random: seed; DCIC: rotation slice 0–4).")
@click.option("--split-kind", type=click.Choice(["random", "dcic"]), default="random",
              show_default=True)
@click.option("--split-file", type=click.Path(path_type=str), default=None,
              help="Use this split CSV (item, split) instead.")
@click.option("--out", "out_dir", type=click.Path(path_type=str), required=True,
              help="Run folder (created; a killed run resumes from it).")
@_train_options
@click.option("--tensorboard", is_flag=True, default=False, help="Also write TensorBoard logs.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Start again in a run folder that holds a run.")
@handle_errors
def train(dataset, soft, split, split_kind, split_file, out_dir, overwrite, **options):
    """Train a Keras Applications network on DATASET's soft or hard labels.

    Writes model.keras, predictions.csv, features.npy, scores.json (test split vs soft labels),
    history.csv and config.json to --out. Rerun the same command to resume a killed run.
    """
    from dqlabels.errors import InputError

    if soft is None:
        raise InputError("choose the targets: --soft or --hard")
    # Before TensorFlow loads: its C++ start-up lines (a failed cuInit on machines without a
    # GPU among them) are noise on a command line; Python-level errors still surface.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from dqlabels.training import TrainConfig, TrainingFailed
    from dqlabels.training import train as run_training

    config = TrainConfig(label_mode="soft" if soft else "hard", split=split,
                         split_kind=split_kind, split_file=split_file, **options)
    verbose = 1 if sys.stderr.isatty() else 2
    try:
        scores = run_training(dataset, out_dir, config, overwrite=overwrite, verbose=verbose)
    except TrainingFailed as exc:
        _fail(str(exc), 1)
    click.echo(f"{config.label_mode} labels, split {split}: test macro accuracy "
               f"{scores['macro_accuracy']:.4f}, KL {scores['kl']:.4f} ({out_dir})")


@main.command(context_settings=CONTEXT)
@click.option("--preset", type=click.Choice(["quick", "paper"]), default="quick",
              show_default=True,
              help="quick: a reduced synthetic study for a 2-core CPU (~15 min); paper: the "
                   "paper's settings, for a GPU.")
@click.option("--dataset", type=click.Path(path_type=str), default=None,
              help="A dataset folder (dqlabels or DCIC layout). Default: generate the synthetic "
                   "data into OUT/data.")
@click.option("--out", "out_dir", type=click.Path(path_type=str), default="study",
              show_default=True, help="Study folder (a killed study continues from it).")
@click.option("--splits", type=click.IntRange(min=1), default=None,
              help="Number of splits. Default: the preset's (3).")
@click.option("--split-kind", type=click.Choice(["random", "dcic"]), default=None,
              help="random (stratified 60/20/20) or the DCIC fold rotation.")
@click.option("--model", type=click.Choice(["densenet121", "resnet50v2"]), default=None)
@click.option("--weights", default=None, help="none, imagenet or a weights file.")
@click.option("--image-size", type=int, default=None)
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--learning-rate", type=float, default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--schedule", type=click.Choice(["cosine", "cosine-restarts"]), default=None)
@click.option("--bn-momentum", type=float, default=None)
@click.option("--tsne-max-iter", type=click.IntRange(min=250), default=5000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, default=False,
              help="Start again in a study folder made with other settings.")
@handle_errors
def reproduce(preset, dataset, out_dir, splits, split_kind, tsne_max_iter, seed, overwrite,
              **overrides):
    """Reproduce the paper: train on hard and on soft labels per split, compare, plot.

    Writes results.md/.csv/.json (macro accuracy and KL, mean ± std over splits, beside the
    paper's Table 1) and tsne.png (hard and soft side by side) into --out. Options left unset
    take the preset's value. Finished runs are reused: rerun the command to continue.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from dqlabels.study import reproduce as run_study
    from dqlabels.training import TrainingFailed

    overrides = {k: v for k, v in overrides.items() if v is not None}
    if split_kind is not None:
        overrides["split_kind"] = split_kind

    def log(message):
        click.echo(message, err=True)

    import contextlib

    try:
        # Keras writes its progress to stdout: send it to stderr, keep stdout for the table.
        with contextlib.redirect_stdout(sys.stderr):
            results = run_study(out_dir, preset, dataset, overrides, splits, seed,
                                tsne_max_iter, overwrite, log=log,
                                verbose=1 if sys.stderr.isatty() else 2)
    except TrainingFailed as exc:
        _fail(str(exc), 1)
    from dqlabels.study import results_markdown

    table = results_markdown(results).split("## Per split")[0].strip()
    click.echo(table)
    click.echo(f"\nResults in {out_dir}/results.md, .csv, .json; figure {out_dir}/tsne.png")


@main.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option("--perplexity", type=float, default=30.0, show_default=True)
@click.option("--max-iter", type=click.IntRange(min=250), default=5000, show_default=True,
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

    png, csv_path = tsne_run(run_dir, out_png, out_csv, perplexity, max_iter, seed, overwrite)
    click.echo(f"Wrote {png} and {csv_path}.")


if __name__ == "__main__":
    main()
