"""Paper scale on one GPU in ten minutes: throughput, precision and one split of the study.

One command, no network, everything under one output folder (``--out``):

1. the device (TensorFlow's view and ``nvidia-smi``);
2. training throughput of DenseNet121 at 224 px, batch 128, in float32, mixed precision and
   mixed precision with XLA, each fed by the real input pipeline (decode, resize 64 → 224,
   flips/rotations) and, on the same compiled model, by one constant batch already on the
   device (the compute floor): the pipeline's overhead is their ratio, from one run;
3. the study at paper scale for one split, hard and soft labels (15,000 generated images,
   60 epochs, the paper's recipe) in the fastest precision (float32 without a GPU); ImageNet weights when they are in
   the Keras cache, otherwise from scratch (said in the output); results table, t-SNE figure;
4. the real-image study at paper scale (the ``cifar10h-paper`` preset: the full-width ResNet-9
   from scratch, 150 epochs) for its first fold, hard and soft, on ``--cifar10h`` (default
   ``../shared/data/cifar10h``; skipped, and said so, when the folder is not there) in the
   time left: held-out cross-entropy against the human distributions and accuracy, beside
   Peterson et al.'s;
5. ``gpu_check.json``: every number, with what was stopped early and why.

It keeps to its time budget (``--budget`` seconds, default 570): a configuration that would
not fit is skipped, each run's epochs stop before the run's share of the time is used up, and
whatever was measured is written. ``--dry-run`` runs every step on the CPU with tiny settings
(160 32-px images, the tiny DenseNet, one epoch; throughput in float32 and mixed+XLA only) in
about a minute and a half.

    python benchmarks/gpu_check.py --out gpu-check            # on the GPU machine
    python benchmarks/gpu_check.py --out /tmp/dry --dry-run   # anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PAPER = {"num_images": 15_000, "generate_size": 64, "model": "densenet121", "image_size": 224,
         "batch_size": 128, "epochs": 60, "throughput_steps": 20, "warmup_steps": 3,
         "tsne_max_iter": 1000}
DRY = {"num_images": 160, "generate_size": 32, "model": "densenet-tiny", "image_size": 32,
       "batch_size": 16, "epochs": 1, "throughput_steps": 3, "warmup_steps": 1,
       "tsne_max_iter": 250}
PRECISIONS = (("float32", False, False), ("mixed", True, False), ("mixed+xla", True, True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"))
    parser.add_argument("--budget", type=float, default=570.0,
                        help="seconds for everything (default 570: ten minutes with a margin)")
    parser.add_argument("--dry-run", action="store_true", help="tiny settings, on the CPU")
    parser.add_argument("--cifar10h", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" /
                        "cifar10h", help="the CIFAR-10H dataset folder (step 4)")
    parser.add_argument("--jax-line", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jax_line is not None:  # one more line, in a process on the JAX backend
        settings = DRY if args.dry_run else PAPER
        print(json.dumps(throughput(args.jax_line, settings, False, False)))
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.time()
    deadline = started + args.budget
    settings = DRY if args.dry_run else PAPER
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    report = {"dry_run": args.dry_run, "budget_s": args.budget, "settings": settings,
              "notes": []}

    def save():
        report["elapsed_s"] = round(time.time() - started, 1)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")

    def say(message):
        print(f"[{time.time() - started:6.1f} s] {message}", flush=True)

    report["device"] = device_report()
    say(f"device: {report['device']['summary']}")
    save()

    from dqlabels.data.synthetic import generate_dataset

    data_dir = generate_dataset(out / "data", settings["num_images"], settings["generate_size"],
                                seed=0)
    say(f"generated {settings['num_images']:,} images at {settings['generate_size']} px")

    # 2. Numerics of mixed precision on this device, then throughput, fastest precision. The study needs most of the budget: each precision is
    #    measured only while at least 70% of the budget remains for what follows.
    report["numerics"] = numerics(settings)
    say(f"mixed precision: soft-label loss {report['numerics']['mixed_loss']:.5f} vs float32 "
        f"{report['numerics']['float32_loss']:.5f}")
    report["throughput"] = []
    for name, mixed, xla in PRECISIONS:
        if args.dry_run and name != "float32":  # the same code with two switches; a CPU
            continue                            # compiles XLA slowly (tests: the switches)
        if not args.dry_run and time.time() > started + 0.3 * args.budget:
            report["notes"].append(f"throughput of {name} skipped: no time left for it")
            continue
        result = throughput(data_dir, settings, mixed, xla)
        result["precision"] = name
        report["throughput"].append(result)
        say(f"{name}: pipeline {result['pipeline_images_per_s']:.0f} img/s, floor "
            f"{result['floor_images_per_s']:.0f} img/s, overhead {result['overhead']:+.1%}")
        save()
    report["throughput_jax"] = jax_throughput(data_dir, args, started)
    if "pipeline_images_per_s" in report["throughput_jax"]:
        say(f"JAX backend, float32: pipeline "
            f"{report['throughput_jax']['pipeline_images_per_s']:.0f} img/s")
    save()
    fastest = max(report["throughput"], key=lambda r: r["pipeline_images_per_s"])
    report["fastest_precision"] = fastest["precision"]
    chosen = fastest
    if not report["device"]["gpus"]:  # a CPU emulates float16: only a GPU gains from it
        chosen = report["throughput"][0]
        report["notes"].append("no GPU: the study trains in float32")
    report["chosen_precision"] = chosen["precision"]

    # 3. The study, one split, hard and soft, sharing what time is left.
    weights = "imagenet" if imagenet_available(settings["model"]) else "none"
    if weights == "none":
        report["notes"].append(
            f"ImageNet weights for {settings['model']} are not in the Keras cache: trained from "
            f"scratch (the paper fine-tuned a pre-trained DenseNet121)")
    say(f"study: {chosen['precision']}, weights {weights}")
    # The synthetic study leaves a third of what is left to the real-image fold (step 4).
    real = (args.cifar10h / "dataset.json").is_file()
    share = deadline - (deadline - time.time()) / 3 if real else deadline
    report["study"] = study(out / "study", data_dir, settings, chosen, weights, share,
                            report["notes"])
    save()
    say("done: " + json.dumps({m: report["study"]["summary"][m] for m in ("hard", "soft")}))
    if real:
        report["cifar10h"] = cifar10h_fold(out / "cifar10h", args.cifar10h, settings, chosen,
                                           deadline, report["notes"], args.dry_run)
        save()
        say("cifar10h, fold 0: " + json.dumps({m: report["cifar10h"]["summary"][m]
                                               for m in ("hard", "soft")}))
    else:
        report["notes"].append(f"{args.cifar10h}: not there, the real-image fold is skipped")
    for note in report["notes"]:
        say(f"note: {note}")
    return report


def device_report() -> dict:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    details = [tf.config.experimental.get_device_details(g) for g in gpus]
    smi = None
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True).stdout
    names = [d.get("device_name", "GPU") for d in details]
    return {"tensorflow": tf.__version__, "gpus": names, "nvidia_smi": smi,
            "summary": ", ".join(names) if names else "no GPU: CPU only"}


def imagenet_available(model: str) -> bool:
    from dqlabels.learning.models import keras_cache_dir

    files = {"densenet121": "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"}
    return model in files and (keras_cache_dir() / files[model]).is_file()


def throughput(data_dir, settings, mixed: bool, xla: bool) -> dict:
    """Images/s of training steps fed by the real pipeline and by one constant batch on the
    device, on the same compiled model (one trace), measured floor → pipeline → floor."""
    import keras
    import tensorflow as tf

    from dqlabels.config import TrainConfig
    from dqlabels.data.datasets import load_dataset
    from dqlabels.learning.models import build_model
    from dqlabels.learning.optimiser import compile_model
    from dqlabels.learning.tfdata import make_training_dataset

    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    data = load_dataset(data_dir)
    size, batch = settings["image_size"], settings["batch_size"]
    steps, warmup = settings["throughput_steps"], settings["warmup_steps"]
    model = build_model(settings["model"], len(data.classes), size)
    compile_model(model, TrainConfig(xla=xla, mixed_precision=mixed, batch_size=batch,
                                     epochs=1), steps=100, num_classes=len(data.classes))
    # The steady state of training: epoch 1 decodes and fills the cache, later epochs read it.
    # Here an "epoch" is the warm-up's worth of images, so the warm-up fills the cache.
    subset = warmup * batch
    pipeline = make_training_dataset(data.paths[:subset], data.soft_labels[:subset], size, batch,
                                     epochs=2 * steps // warmup + 3, drop_remainder=True,
                                     cache="memory")
    images, targets = next(iter(pipeline))
    floor = tf.data.Dataset.from_tensors((images, targets)).repeat()

    losses = []

    def timed(dataset, n):
        begin = time.perf_counter()
        history = model.fit(dataset, steps_per_epoch=n, epochs=1, verbose=0, shuffle=False)
        losses.append(float(history.history["loss"][-1]))
        return time.perf_counter() - begin

    trace = timed(floor, warmup)  # compiles; the pipeline's cache fills below
    timed(pipeline, warmup)
    floor_s = (timed(floor, steps) + timed(floor, steps)) / 2
    pipeline_s = timed(pipeline, steps)
    keras.mixed_precision.set_global_policy("float32")
    return {"first_steps_s": round(trace, 1), "steps": steps, "batch_size": batch,
            "floor_images_per_s": steps * batch / floor_s,
            "pipeline_images_per_s": steps * batch / pipeline_s,
            "overhead": pipeline_s / floor_s - 1, "losses": losses}


def jax_throughput(data_dir, args, started) -> dict:
    """The float32 throughput line on the JAX backend (every step XLA-compiled), measured in a
    process of its own; skipped in a dry run, without JAX, or without time for it."""
    import importlib.util

    if args.dry_run:
        return {"skipped": "dry run: the JAX line is measured on a GPU"}
    if importlib.util.find_spec("jax") is None:
        return {"skipped": 'JAX is not installed (pip install "dqlabels[jax]" "jax[cuda12]")'}
    if time.time() > started + 0.3 * args.budget:
        return {"skipped": "no time left for it"}
    proc = subprocess.run([sys.executable, __file__, "--jax-line", str(data_dir)],
                          env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True,
                          text=True, timeout=0.2 * args.budget)
    if proc.returncode != 0:
        return {"skipped": "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "precision": "float32"}


def numerics(settings) -> dict:
    """The soft-label cross-entropy of one batch under float32 and under mixed precision
    (float16 compute, float32 softmax head), with the same weights: they must agree."""
    import keras
    import numpy as np

    from dqlabels.learning.models import build_model

    rng = np.random.default_rng(0)
    size = min(settings["image_size"], 64)
    x = rng.integers(0, 256, (16, size, size, 3)).astype("uint8")
    y = rng.dirichlet(np.ones(4), 16).astype("float32")
    keras.utils.set_random_seed(1)
    reference = build_model("densenet-tiny", 4, size)
    loss = keras.losses.CategoricalCrossentropy()
    out = {"float32_loss": float(loss(y, reference(x, training=False)))}
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build_model("densenet-tiny", 4, size)
        mixed.set_weights(reference.get_weights())
        probabilities = mixed(x, training=False)
        out["mixed_output_dtype"] = keras.backend.standardize_dtype(probabilities.dtype)
        out["mixed_loss"] = float(loss(y, probabilities))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out["relative_difference"] = abs(out["mixed_loss"] / out["float32_loss"] - 1)
    return out


def study(out, data_dir, settings, precision, weights, deadline, notes) -> dict:
    from dqlabels.studies.study import reproduce

    margin = 150.0 if settings is PAPER else 20.0  # predictions, t-SNE and writing
    callbacks, stops = sharing_deadline(deadline, margin, runs=2)

    overrides = {"model": settings["model"], "image_size": settings["image_size"],
                 "batch_size": settings["batch_size"], "epochs": settings["epochs"],
                 "weights": weights, "mixed_precision": precision["precision"] != "float32",
                 "xla": precision["precision"] == "mixed+xla", "deterministic": False}
    results = reproduce(out, "paper", dataset=data_dir, overrides=overrides, splits=1,
                        tsne_max_iter=settings["tsne_max_iter"], log=print, verbose=2,
                        callbacks=callbacks)
    for mode, stop in stops:
        if stop.stopped_at is not None:
            notes.append(f"{mode} run stopped after epoch {stop.stopped_at} of "
                         f"{settings['epochs']} to keep to the time budget")
    if settings["tsne_max_iter"] < 5000:
        notes.append(f"t-SNE ran {settings['tsne_max_iter']} iterations (the paper: 5,000) to "
                     f"keep to the time budget")
    return results


def sharing_deadline(deadline: float, margin: float, runs: int):
    """Callbacks for a study's ``runs`` runs that share the time left before ``deadline`` less
    ``margin`` (each run gets an equal share of what is left when it starts), and the list of
    (mode, stop) they fill."""
    from dqlabels.learning.callbacks import Deadline

    left = {"n": runs}
    stops = []

    def callbacks(mode, index):
        share = (deadline - margin - time.time()) / left["n"]
        left["n"] -= 1
        stop = Deadline(time.time() + max(share, 0.0))
        stops.append((mode, stop))
        return [stop]

    return callbacks, stops


def cifar10h_fold(out, folder, settings, precision, deadline, notes, dry_run) -> dict:
    """The first fold of the ``cifar10h-paper`` preset (10 images per class in a dry run),
    hard and soft, sharing the time left."""
    from dqlabels.studies.real_study import reproduce_kfold

    margin = 60.0 if not dry_run else 10.0
    callbacks, stops = sharing_deadline(deadline, margin, runs=2)

    overrides = {"mixed_precision": precision["precision"] != "float32",
                 "xla": precision["precision"] == "mixed+xla", "deterministic": False}
    if dry_run:
        folder = _cifar10h_subset(out.parent / "cifar10h-subset", folder, per_class=10)
        overrides.update(model="resnet9-quarter", epochs=1, batch_size=16)
    results = reproduce_kfold(out, "cifar10h-paper", dataset=folder, overrides=overrides,
                              runs=1, tsne_max_iter=settings["tsne_max_iter"], log=print,
                              verbose=2, callbacks=callbacks)
    for mode, stop in stops:
        if stop.stopped_at is not None:
            notes.append(f"cifar10h {mode} run stopped after epoch {stop.stopped_at} to keep "
                         f"to the time budget")
    return results


def _cifar10h_subset(root: Path, folder: Path, per_class: int) -> Path:
    """A dataset folder of ``per_class`` images per original class of ``folder``."""
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    labels = pd.read_csv(folder / "cifar10-test-labels.csv")
    chosen = labels.groupby("label", group_keys=False).head(per_class)
    counts = pd.read_csv(folder / "annotations.csv").set_index("item").loc[chosen["item"]]
    counts.reset_index().to_csv(root / "annotations.csv", index=False)
    chosen.to_csv(root / "cifar10-test-labels.csv", index=False)
    if not (root / "images").exists():
        (root / "images").symlink_to(folder.resolve() / "images")
    shutil.copy(folder / "dataset.json", root / "dataset.json")
    return root


if __name__ == "__main__":
    main(sys.argv[1:])
