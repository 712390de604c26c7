"""``dqlabels tsne``: a t-SNE of a training run's test-set features (:func:`run_tsne`)."""

from __future__ import annotations

from dqlabels.studies.tsne import tsne_run


def run_tsne(run_dir, *, out_png=None, out_csv=None, perplexity: float, max_iter: int,
             seed: int = 0, overwrite: bool = False) -> str:
    """Embed and draw (:func:`dqlabels.studies.tsne.tsne_run`); returns the line the command
    prints."""
    png, csv_path = tsne_run(run_dir, out_png=out_png, out_csv=out_csv, perplexity=perplexity,
                             max_iter=max_iter, seed=seed, overwrite=overwrite)
    return f"Wrote {png} and {csv_path}."
