"""The Keras callbacks of a training run (Keras' own where they do the job).

- :class:`StopOnNaN`: Keras' ``TerminateOnNaN`` that remembers where the loss broke;
- :class:`EpochCheckpoint`: after each epoch, the history row and the checkpoint;
- :class:`Deadline`: stop before an epoch that would not finish in time (the GPU check);
- :class:`EpochTimer`: report the steady time of an epoch once (a study's time estimate).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras

from dqlabels.learning.run_folder import CHECKPOINT, append_history, save_checkpoint


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras' TerminateOnNaN that also remembers where: ``failed_at`` = (epoch, batch)."""

    def __init__(self):
        super().__init__()
        self.failed_at = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.failed_at is None:
            self.failed_at = (self.epoch, batch)
        super().on_batch_end(batch, logs)


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: the log row, then the checkpoint (which holds the epoch count), each
    written atomically, so a kill at any moment leaves a consistent state to resume from. An
    epoch whose loss became NaN writes nothing: the last good epoch is kept."""

    def __init__(self, out_dir: Path, schedule, nan_guard: StopOnNaN):
        super().__init__()
        self.out_dir = Path(out_dir)
        self.schedule = schedule
        self.nan_guard = nan_guard

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_guard.failed_at is not None:  # keep the last good epoch
            return
        step = max(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) - 1, 0)
        append_history(self.out_dir / "history.csv", epoch, float(self.schedule(step)),
                       logs or {})
        save_checkpoint(self.model, self.out_dir / CHECKPOINT, epoch + 1)


class Deadline(keras.callbacks.Callback):
    """Stops training at the end of the first epoch that ends after ``time.time() >= at``, or
    before an epoch that would not finish by then (judged by the slowest epoch so far)."""

    def __init__(self, at: float):
        super().__init__()
        self.at = at
        self.longest = 0.0
        self.stopped_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.longest = max(self.longest, time.time() - self.began)
        if time.time() + self.longest > self.at:
            self.stopped_at = epoch + 1
            self.model.stop_training = True


class EpochTimer(keras.callbacks.Callback):
    """Calls ``report(epoch_seconds, epochs_left)`` once, after the first epoch of ``fit``.

    ``epoch_seconds`` is the steady time of an epoch, validation included: the first batch,
    where Keras traces the training step (once per process), is left out and the other batches
    stand in for it.
    """

    def __init__(self, report):
        super().__init__()
        self.report = report
        self.first_batch_end = None
        self.batches = 0
        self.reported = False

    def on_train_batch_end(self, batch, logs=None):
        if self.first_batch_end is None:
            self.first_batch_end = time.perf_counter()
        else:
            self.batches += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.reported:
            return
        self.reported = True
        now = time.perf_counter()
        steps = self.params.get("steps") or self.batches + 1
        if self.batches:
            seconds = (now - self.first_batch_end) * steps / self.batches
        else:
            seconds = now - self.epoch_began
        self.report(seconds, self.params["epochs"] - epoch - 1)
