"""The dataset commands: ``dqlabels generate``, ``check-dataset`` and ``split``."""

from __future__ import annotations

import sys

import click

from dqlabels import config
from dqlabels_cli.options import (
    CONTEXT,
    handle_errors,
)


@click.command(context_settings=CONTEXT)
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
@click.option("--annotator-noise", default=config.noise_text(config.ANNOTATOR_NOISE), show_default=True, metavar="LO,HI",
              help="Each simulated annotator answers uniformly at random with probability "
                   "ε ~ U(LO, HI), recorded in annotators.csv (noise; the soft label is "
                   "ambiguity).")
@click.option("--annotator-bias", type=float, default=config.ANNOTATOR_BIAS, show_default=True, metavar="SHARE",
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
    from dqlabels.commands.generate import run_generate

    def progress_bar(length):
        return click.progressbar(length=length, label="Generating images", file=sys.stderr,
                                 show_pos=True)

    click.echo(run_generate(out_dir, num_images=num_images, image_size=image_size, seed=seed,
                            annotators=annotators, annotator_pool=annotator_pool,
                            annotator_noise=annotator_noise, annotator_bias=annotator_bias,
                            placement=placement, preview_path=preview_path, workers=workers,
                            overwrite=overwrite, progress_bar=progress_bar))


@click.command("check-dataset", context_settings=CONTEXT)
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
    from dqlabels.commands.check_dataset import run_check_dataset

    click.echo(run_check_dataset(dataset, decode=decode, preview_path=preview_path, seed=seed,
                                 overwrite=overwrite))


@click.command(context_settings=CONTEXT)
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
    from dqlabels.commands.split import run_split

    click.echo(run_split(dataset, out_path, index=index, kind=kind, overwrite=overwrite))


@click.group(context_settings=CONTEXT)
def datasets():
    """Public datasets with human answers, through TensorFlow Datasets ('datasets list',
    'datasets get NAME DIR'). Needs pip install 'dqlabels[datasets]'."""


@datasets.command("list", context_settings=CONTEXT)
@handle_errors
def datasets_list():
    """The datasets 'datasets get' builds."""
    from dqlabels.commands.datasets import run_datasets_list

    click.echo(run_datasets_list())


@datasets.command("get", context_settings=CONTEXT)
@click.argument("name")
@click.argument("out_dir", type=click.Path(path_type=str))
@click.option("--data-dir", type=click.Path(path_type=str), default=None,
              help="TensorFlow Datasets' cache (default: ~/tensorflow_datasets).")
@click.option("--manual-dir", type=click.Path(path_type=str), default=None,
              help="Where files downloaded by hand are (default: DATA_DIR/downloads/manual).")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace OUT_DIR if it holds something else.")
@handle_errors
def datasets_get(name, out_dir, data_dir, manual_dir, overwrite):
    """Write the public dataset NAME (see 'datasets list') as a dataset folder OUT_DIR:
    images/*.png, annotations.csv (item, annotator, label, reaction_time), original_labels.csv,
    dataset.json. A finished folder is left as it is; an interrupted build starts again."""
    from dqlabels.commands.datasets import run_datasets_get

    def progress(count):
        click.echo(f"  {count:,} images", err=True)

    click.echo(run_datasets_get(name, out_dir, data_dir=data_dir, manual_dir=manual_dir,
                                overwrite=overwrite, progress=progress))
