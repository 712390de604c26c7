"""How long does ``dqlabels predict`` take per image? (issue 19)

Two models, untrained (the time does not depend on the weights): ``densenet-tiny`` on 32-px
images (the quick study's network) and DenseNet121 on 64-px images upsampled to 224 px (the
paper preset's). For each, a run-like folder is written (``model.keras`` and ``config.json``),
then :func:`dqlabels.commands.predict.predict_images` runs twice on the same images; the second run's
time (Keras' prediction step already traced, the images read and decoded again) divided by the
number of images is the figure. The first run's extra time is the start-up (loading the model,
tracing).

Usage: python benchmarks/bench_predict.py [--images 512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from dqlabels.learning.quiet import import_tensorflow_quietly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    args = parser.parse_args()
    import_tensorflow_quietly()
    from dqlabels.commands.predict import predict_images
    from dqlabels.data.synthetic import CLASSES, generate_dataset
    from dqlabels.learning.models import build_model

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")
    tmp = Path(tempfile.mkdtemp(prefix="dqlabels-bench-predict-"))
    for model_name, generated, size in (("densenet-tiny", 32, 32), ("densenet121", 64, 224)):
        data = generate_dataset(tmp / f"data{generated}", num_images=args.images,
                                image_size=generated, seed=0, overwrite=True)
        run = tmp / model_name
        run.mkdir()
        build_model(model_name, len(CLASSES), size).save(run / "model.keras")
        (run / "config.json").write_text(json.dumps(
            {"identity": {"classes": list(CLASSES)}, "config": {"image_size": size}}))
        times = []
        for attempt in range(2):
            began = time.perf_counter()
            predict_images(run, [data], tmp / f"{model_name}-{attempt}.csv",
                           overwrite=True)
            times.append(time.perf_counter() - began)
        per_image = times[1] / args.images
        print(f"{model_name:14s} {size:3d} px: {per_image * 1000:7.2f} ms per image "
              f"({args.images / times[1]:6.0f} images/s; first call {times[0]:.1f} s with "
              f"loading and tracing)")


if __name__ == "__main__":
    main()
