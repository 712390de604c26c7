"""``dqlabels train`` as one library call (:func:`run_train`): a finished run is reused and
another run's folder refused before TensorFlow starts; otherwise the run trains
(:func:`dqlabels.learning.training.train`)."""

from __future__ import annotations

from pathlib import Path

from dqlabels.config import TrainConfig
from dqlabels.learning.run_folder import finished_scores, open_run


def run_train(dataset, out_dir, config: TrainConfig, *, overwrite: bool = False, job=None,
              verbose="auto", before_training=None) -> str | None:
    """Train (or reuse) one run; returns the line ``dqlabels train`` prints, or None in a
    data-parallel job's processes other than 0 (which report). ``before_training`` is called
    just before TensorFlow is loaded (the command line quiets its start-up there)."""
    scores = None
    # In a job, process 0 decides about the folder for every process, once they have joined.
    held = job is None and not overwrite and (Path(out_dir) / "config.json").exists()
    if held and open_run(dataset, out_dir, config)[3] == "done":
        scores = finished_scores(out_dir)
    if scores is None:
        if before_training is not None:
            before_training()
        from dqlabels.learning.training import train

        scores = train(dataset, out_dir, config, overwrite=overwrite, verbose=verbose, job=job)
    if job is not None:
        from dqlabels.learning.distributed import process_index

        if process_index() != 0:
            return None
    return (f"{config.label_mode} labels, split {config.split}: test macro accuracy "
            f"{scores['macro_accuracy']:.4f}, KL {scores['kl']:.4f} ({out_dir})")
