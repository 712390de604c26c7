"""``dqlabels`` commands. Only option parsing lives here; the work is done by the library.

Heavy imports (pandas, pyarrow, TensorFlow) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import functools
import os
import sys

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


@click.group(context_settings=CONTEXT)
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


if __name__ == "__main__":
    main()
