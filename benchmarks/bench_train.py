"""Benchmark of the training input: the tf.data pipeline alone, and a DenseNet121 epoch fed by
the real pipeline versus fed by one constant in-memory batch (the compute floor), same run.

Target (issue 4): the real pipeline costs at most 5% over the floor. Runs unchanged on a GPU
machine (it uses whatever devices TensorFlow sees; pass --batch-size to fill a large GPU).

Usage: python benchmarks/bench_train.py [--num-images 2560] [--image-size 32] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=2560)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="timed: all but the first")
    args = parser.parse_args()

    import keras
    import tensorflow as tf
    from _data import machine
    from PIL import Image

    from dqlabels.config import TrainConfig
    from dqlabels.data.datasets import load_dataset
    from dqlabels.data.synthetic import generate_dataset
    from dqlabels.learning.models import build_model
    from dqlabels.learning.optimiser import compile_model
    from dqlabels.learning.tfdata import make_training_dataset, steps_per_epoch

    devices = [d.name for d in tf.config.list_logical_devices() if d.device_type != "CPU"]
    print(f"machine: {machine()}; TensorFlow {tf.__version__}; accelerators: {devices or 'none'}")
    scratch = Path(tempfile.mkdtemp(prefix="dqlabels-bench-train-"))
    root = generate_dataset(scratch / "data", num_images=args.num_images,
                            image_size=args.image_size, seed=0)
    data = load_dataset(root)
    soft = data.soft_labels.astype(np.float32)
    size, batch = args.image_size, args.batch_size
    steps = steps_per_epoch(data.num_items, batch)

    def pipeline(epochs):
        return make_training_dataset(data.paths, soft, size, batch, seed=0, epochs=epochs,
                                     cache="memory")

    # 1. The pipeline alone: first epoch decodes and fills the cache, the second is served
    #    from it (what training sees from epoch 2 on).
    timings = []
    start = time.perf_counter()
    for i, _ in enumerate(pipeline(2)):
        if i == steps - 1:
            timings.append(time.perf_counter() - start)
            start = time.perf_counter()
    timings.append(time.perf_counter() - start)
    print(f"pipeline alone: epoch 1 (decode + cache) {data.num_items / timings[0]:,.0f} images/s, "
          f"epoch 2 (cached) {data.num_items / timings[1]:,.0f} images/s")

    class EpochTimer(keras.callbacks.Callback):
        """Epoch times, and the time of each step after the first epoch (from the end of one
        step to the end of the next, so a step that waits for its batch counts the wait)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if self.epoch_index > 0:
                self.steps.append(now - self.last)
            self.last = now

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)
            self.epoch_index += 1

    def fit(dataset):
        keras.utils.set_random_seed(0)
        model = build_model("densenet121", len(data.classes), size)
        compile_model(model, TrainConfig(epochs=args.epochs, batch_size=batch), steps,
                      len(data.classes))
        timer = EpochTimer()
        timer.times, timer.steps, timer.epoch_index = [], [], 0
        model.fit(dataset, epochs=args.epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
        return float(np.mean(timer.times[1:])), float(np.median(timer.steps))

    # 2. The compute floor: one constant batch already in memory, repeated.
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in data.paths[:batch]])
    constant = tf.data.Dataset.from_tensors((x, soft[:batch])).repeat(steps * args.epochs)
    # Floor, pipeline, floor again: the machine's speed drifts, so the pipeline is compared
    # with the faster of the two floors bracketing it. The median step time is the measure
    # (robust to the other tenants of a shared machine); epoch means are shown too.
    floors = [fit(constant)]
    real_epoch, real_step = fit(pipeline(args.epochs))
    floors.append(fit(constant))
    floor_epoch = min(f[0] for f in floors)
    floor_step = min(f[1] for f in floors)
    print(f"DenseNet121 at {size}×{size}, batch {batch}, {steps} steps per epoch "
          f"(epochs 2–{args.epochs}):")
    print(f"  constant in-memory batch (floor): median step {floors[0][1]:.3f} and "
          f"{floors[1][1]:.3f} s; epoch {floors[0][0]:.2f} and {floors[1][0]:.2f} s")
    print(f"  real pipeline:                    median step {real_step:.3f} s; epoch "
          f"{real_epoch:.2f} s")
    print(f"  ratio: median step {real_step / floor_step:.3f}×, epoch {real_epoch / floor_epoch:.3f}×")
    print(f"{'PASS' if real_step <= 1.05 * floor_step else 'MISS'}  real pipeline within 5% of "
          f"the floor (median step)")


if __name__ == "__main__":
    main()
