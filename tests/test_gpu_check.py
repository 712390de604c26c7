"""The GPU check (benchmarks/gpu_check.py) and what it relies on, on the CPU: mixed-precision
numerics of the soft-label loss, an XLA-compiled training step, and the script's dry run."""

import json
import subprocess
import sys

import keras  # noqa: F401 - a required dependency: imported, never skipped
import numpy as np
import pytest

from conftest import REPO

POLICY = """
import json, sys
import numpy as np, keras
from dqlabels.models import build_model
from dqlabels.config import TrainConfig
from dqlabels.training import compile_model
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (16, 32, 32, 3)).astype("uint8")
y = rng.dirichlet(np.ones(4), 16).astype("float32")  # soft targets
keras.utils.set_random_seed(1)
reference = build_model("densenet-tiny", 4, 32)
weights = reference.get_weights()
loss = keras.losses.CategoricalCrossentropy()
out = {"float32": float(loss(y, reference(x, training=False)))}
keras.mixed_precision.set_global_policy("mixed_float16")
mixed = build_model("densenet-tiny", 4, 32)
mixed.set_weights(weights)
probabilities = mixed(x, training=False)
out["dtype"] = keras.backend.standardize_dtype(probabilities.dtype)
out["mixed"] = float(loss(y, probabilities))
out["train_losses"] = []
for xla in (False, True):  # a plain and an XLA-compiled training step
    model = build_model("densenet-tiny", 4, 32)
    model.set_weights(weights)
    compile_model(model, TrainConfig(mixed_precision=True, xla=xla, epochs=1, batch_size=16),
                  steps=1, num_classes=4)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    out["train_losses"] += [float(v) for v in history.history["loss"]]
print(json.dumps(out))
"""


def test_mixed_precision_soft_label_loss():
    """float16 compute, float32 softmax head: the soft-label cross-entropy matches float32 and
    training steps, plain and XLA-compiled, give finite losses."""
    proc = subprocess.run([sys.executable, "-c", POLICY], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["dtype"] == "float32"
    assert out["mixed"] == pytest.approx(out["float32"], rel=2e-3)
    assert len(out["train_losses"]) == 4 and all(np.isfinite(out["train_losses"]))


@pytest.mark.slow
def test_dry_run_runs_every_step_with_tiny_settings(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert [r["precision"] for r in report["throughput"]] == ["float32", "mixed", "mixed+xla"]
    for result in report["throughput"]:  # the dry run's tiny settings: what keeps it short
        assert result["floor_images_per_s"] > 0 and result["pipeline_images_per_s"] > 0
        assert result["steps"] == 3 and result["batch_size"] == 16
    assert report["chosen_precision"] in ("float32", "mixed", "mixed+xla")
    summary = report["study"]["summary"]
    assert np.isfinite(summary["hard"]["kl"]["mean"]) and np.isfinite(summary["soft"]["kl"]["mean"])
    assert report["study"]["image_limit"] is not None
    assert any("from scratch" in note for note in report["notes"])
    for name in ("study/results.md", "study/results.json", "study/tsne.png"):
        assert (out / name).exists(), name
