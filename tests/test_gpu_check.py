"""The GPU check (benchmarks/gpu_check.py) on the CPU: its dry run runs every step (the
mixed-precision numerics of the soft-label loss, plain and mixed-precision XLA-compiled training steps,
the study) with tiny settings."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO


@pytest.mark.slow
def test_dry_run_runs_every_step_with_tiny_settings(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert [r["precision"] for r in report["throughput"]] == ["float32", "mixed+xla"]
    for result in report["throughput"]:  # the dry run's tiny settings: what keeps it short
        assert result["floor_images_per_s"] > 0 and result["pipeline_images_per_s"] > 0
        assert result["steps"] == 3 and result["batch_size"] == 16
        assert np.isfinite(result["losses"]).all()  # plain, and mixed XLA-compiled steps
    # float16 compute with a float32 softmax head: the soft-label loss matches float32.
    numerics = report["numerics"]
    assert numerics["mixed_output_dtype"] == "float32"
    assert numerics["mixed_loss"] == pytest.approx(numerics["float32_loss"], rel=2e-3)
    assert report["fastest_precision"] in ("float32", "mixed+xla")
    assert report["chosen_precision"] == "float32"  # no GPU: float16 is only emulated
    assert "no GPU: the study trains in float32" in report["notes"]
    summary = report["study"]["summary"]
    assert np.isfinite(summary["hard"]["kl"]["mean"]) and np.isfinite(summary["soft"]["kl"]["mean"])
    assert report["study"]["image_limit"] is not None
    assert any("from scratch" in note for note in report["notes"])
    for name in ("study/results.md", "study/results.json", "study/tsne.png"):
        assert (out / name).exists(), name
