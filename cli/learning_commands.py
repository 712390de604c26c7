"""The commands that train or use a network: ``dqlabels predict``, ``train``, ``reproduce``,
``launch`` and ``tsne``."""

from __future__ import annotations

import sys

import click

from dqlabels import config
from dqlabels_cli.options import (
    CONTEXT,
    RegistryChoice,
    data_parallel_job,
    handle_errors,
    job_options,
    quiet_tensorflow,
    train_options,
)


@click.command(context_settings=CONTEXT)
@click.argument("model", type=click.Path(path_type=str))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "out_path", type=click.Path(path_type=str), default=config.PREDICTIONS_OUT,
              show_default=True,
              help="Predictions CSV: item and one probability column per class.")
@click.option("--features", "features_path", type=click.Path(path_type=str), default=None,
              help="Also write the GAP features (.npy, one row per CSV row).")
@click.option("--classes", default=None, metavar="A,B,...",
              help="Class names, for a .keras file without its run's config.json beside it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=config.PREDICT_BATCH_SIZE,
              show_default=True)
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

    quiet_tensorflow()
    from dqlabels.commands.predict import run_predict

    with contextlib.redirect_stdout(sys.stderr):  # Keras' progress bar
        line = run_predict(model, images, out_path, features_path=features_path,
                           classes=classes, batch_size=batch_size, overwrite=overwrite,
                           verbose=1 if sys.stderr.isatty() else 2)
    click.echo(line)


@click.command(context_settings=CONTEXT)
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
@train_options()
@click.option("--seed", type=int, default=config.TRAIN_DEFAULTS["seed"], show_default=True,
              help="Seed of initialisation, shuffling and augmentation.")
@click.option("--tensorboard", is_flag=True, default=False, help="Also write TensorBoard logs.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Start again in a run folder that holds a run.")
@job_options
@handle_errors
def train(dataset, soft, split, split_kind, split_file, targets, out_dir, overwrite, coordinator,
          num_processes, process_id, **options):
    """Train a network on DATASET's soft or hard labels.

    Writes model.keras, predictions.csv, features.npy, scores.json (test split vs soft labels),
    history.csv and config.json to --out. Rerun the same command to resume a killed run.
    """
    from dqlabels.commands.train import run_train
    from dqlabels.config import TrainConfig
    from dqlabels.errors import InputError

    if soft is None:
        raise InputError("choose the targets: --soft or --hard")
    config_ = TrainConfig(label_mode="soft" if soft else "hard", split=split,
                          split_kind=split_kind, split_file=split_file, targets=targets, **options)
    job = data_parallel_job(config_.strategy, coordinator, num_processes, process_id)
    line = run_train(dataset, out_dir, config_, overwrite=overwrite, job=job,
                     verbose=1 if sys.stderr.isatty() else 2, before_training=quiet_tensorflow)
    if line is not None:
        click.echo(line)


@click.command(context_settings=CONTEXT)
@click.option("--preset", type=RegistryChoice(config.PRESETS),
              default=next(iter(config.PRESETS)), show_default=True,
              help="; ".join(f"{name}: {preset.about}" for name, preset in config.PRESETS.items())
              + " (docs/reproduce.md).")
@click.option("--dataset", type=click.Path(path_type=str), default=None,
              help="A dataset folder (dqlabels or DCIC layout). Default: generate the synthetic "
                   "data into OUT/data.")
@click.option("--out", "out_dir", type=click.Path(path_type=str), default=config.STUDY_OUT,
              show_default=True, help="Study folder (a killed study continues from it).")
@click.option("--splits", default=None, metavar="N[,N…]",
              help="Number of splits. Budget study: one per training-set size, smallest first, "
                   "or one for all. cifar10h: the folds to run (the first N of --folds). "
                   "Default: the preset's (3; budget: 5,2; cifar10h: 3 of 10; cifar10h-budget: "
                   "3).")
@click.option("--folds", type=click.IntRange(min=2), default=None,
              help="cifar10h presets: K of the K-fold cross-validation. Default: 10.")
@click.option("--hard-labels", type=click.Choice(config.HARD_LABEL_SOURCES), default=config.HARD_LABEL_SOURCES[0],
              show_default=True,
              help="cifar10h presets: hard targets from the folder's original labels (Peterson "
                   "et al.'s protocol) or the annotation majority.")
@click.option("--split-kind", type=click.Choice(config.SPLIT_KINDS), default=None,
              help="random (stratified 60/20/20) or the DCIC fold rotation.")
@click.option("--annotations-per-image", "budgets", default=None, metavar="N,…[,exact|all]",
              help="A budget study: train on hard and soft labels made from N annotations per "
                   "image (exact: the exact labels; all: every answer of a real dataset's image, "
                   "drawn without replacement). Default for --preset budget: 1,3,10,exact; "
                   "cifar10h-budget: 1,3,5,all. With --preset cifar10h the runs take that "
                   "preset's training settings.")
@click.option("--num-images", "sizes", default=None, metavar="N,…",
              help="Budget study: the training-set sizes, as numbers of images (nested random "
                   "subsets). Default for --preset budget: 1000,3000; "
                   "cifar10h-budget: 10000.")
@click.option("--shrunk/--no-shrunk", default=None,
              help="Budget study: a third arm trained on the shrunk soft labels of each budget's "
                   "answers (the posterior mean of 'dqlabels plan'), paired with the raw mean. "
                   "Default: the preset's (cifar10h-budget: at 1 and 3 answers; else off).")
@click.option("--annotator-pool", type=click.IntRange(min=1), default=None,
              help="Budget study: annotators drawn from a pool of this many (default: the same "
                   "N annotators on every image).")
@click.option("--annotator-noise", default=config.noise_text(config.ANNOTATOR_NOISE), show_default=True, metavar="LO,HI",
              help="Budget study: each simulated annotator answers at random with probability "
                   "ε ~ U(LO, HI).")
@click.option("--annotator-bias", type=float, default=config.ANNOTATOR_BIAS, show_default=True, metavar="SHARE",
              help="Budget study: share of the simulated annotators who err systematically.")
@train_options(preset=True)
@click.option("--tsne-max-iter", type=click.IntRange(min=config.TSNE_MIN_ITER),
              default=config.TSNE_MAX_ITER, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the generator, the initialisation, the shuffles and the t-SNE.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Start again in a study folder made with other settings.")
@job_options
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
    from dqlabels.commands.reproduce import run_reproduce

    job = data_parallel_job(overrides.get("strategy"), coordinator, num_processes, process_id)
    quiet_tensorflow()
    text = run_reproduce(out_dir, preset, dataset=dataset, overrides=overrides, splits=splits,
                         folds=folds, hard_labels=hard_labels, budgets=budgets, sizes=sizes,
                         shrunk=shrunk, crowd=(annotator_pool, annotator_noise, annotator_bias),
                         tsne_max_iter=tsne_max_iter, seed=seed, overwrite=overwrite, job=job,
                         log=lambda message: click.echo(message, err=True),
                         verbose=1 if sys.stderr.isatty() else 2)
    if text is not None:
        click.echo(text)


@click.command(context_settings={**CONTEXT, "ignore_unknown_options": True,
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
    from dqlabels.commands.launch import launch as run_launch

    def echo(message):
        click.echo(message, err=True)

    status = run_launch(list(command), processes, log_dir=log_dir, echo=echo)
    sys.exit(status)


@click.command(context_settings=CONTEXT)
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
    from dqlabels.commands.tsne import run_tsne

    click.echo(run_tsne(run_dir, out_png=out_png, out_csv=out_csv, perplexity=perplexity,
                        max_iter=max_iter, seed=seed, overwrite=overwrite))
