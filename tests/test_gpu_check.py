"""The GPU check (benchmarks/gpu_check.py) on the CPU: its dry run runs every step (the
mixed-precision numerics of the soft-label loss, the float32 training throughput, the study) with
tiny settings. Mixed precision and XLA are the same throughput code with two switches; a CPU
compiles XLA too slowly for the test suite, so here the switches are checked on the compiled
model instead."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import CIFAR10H, REPO, needs


@pytest.mark.slow
def test_dry_run_runs_every_step_with_tiny_settings(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert [r["precision"] for r in report["throughput"]] == ["float32"]  # the GPU adds 2
    for result in report["throughput"]:  # the dry run's tiny settings: what keeps it short
        assert result["floor_images_per_s"] > 0 and result["pipeline_images_per_s"] > 0
        assert result["steps"] == 3 and result["batch_size"] == 16
        assert np.isfinite(result["losses"]).all()
    # float16 compute with a float32 softmax head: the soft-label loss matches float32.
    numerics = report["numerics"]
    assert numerics["mixed_output_dtype"] == "float32"
    assert numerics["mixed_loss"] == pytest.approx(numerics["float32_loss"], rel=2e-3)
    assert report["fastest_precision"] == "float32"
    assert report["chosen_precision"] == "float32"  # no GPU: float16 is only emulated
    assert "no GPU: the study trains in float32" in report["notes"]
    summary = report["study"]["summary"]
    assert np.isfinite(summary["hard"]["kl"]["mean"]) and np.isfinite(summary["soft"]["kl"]["mean"])
    assert report["study"]["image_limit"] is not None
    assert any("from scratch" in note for note in report["notes"])
    for name in ("study/results.md", "study/results.json", "study/tsne.png"):
        assert (out / name).exists(), name
    # The paper-scale CIFAR-10H preset's first fold (here on 100 of its images, one epoch).
    needs(CIFAR10H.exists(), "../shared/data/cifar10h")
    real = report["cifar10h"]
    assert real["settings"]["preset"] == "cifar10h-paper" and real["settings"]["runs"] == 1
    assert [r["mode"] for r in real["runs"]] == ["hard", "soft"]
    assert np.isfinite(real["summary"]["soft"]["cross_entropy"]["mean"])
    assert real["paired"]["accuracy"]["verdict"] == "not tested (1 fold)"
    assert (out / "cifar10h" / "results.md").exists()


def test_the_xla_and_mixed_precision_switches_reach_the_compiled_model():
    import keras

    from dqlabels.config import TrainConfig
    from dqlabels.learning.models import build_model
    from dqlabels.learning.optimiser import compile_model

    for xla in (False, True):
        model = build_model("densenet-tiny", 3, 32)
        passed = {}

        def recording(keras_compile=model.compile, passed=passed, **kwargs):
            passed.update(kwargs)
            return keras_compile(**kwargs)

        model.compile = recording
        compile_model(model, TrainConfig(xla=xla), steps=2, num_classes=3)
        # TensorFlow's switch (on JAX every step is compiled). Keras itself turns it off once
        # TensorFlow's deterministic ops are on, so dqlabels train refuses --xla without
        # --no-deterministic (tests/test_training.py).
        assert passed["jit_compile"] is xla
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("densenet-tiny", 3, 32)
        assert model.compute_dtype == "float16" and model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
