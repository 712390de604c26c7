"""Run the reference implementation of the CrowdTruth 2.0 metrics (the ``crowdtruth`` package)
on a long-format CSV (item, annotator, label) and print its results as JSON.

Runs in its own environment, never in dqlabels' (see crowdtruth_oracle.py, which makes it):

    ORACLE_VENV/bin/python benchmarks/crowdtruth_reference.py annotations.csv
"""

import json
import sys
import tempfile
from pathlib import Path

import crowdtruth
import pandas as pd
from crowdtruth.configuration import DefaultConfig


def main(path):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    classes = sorted(frame["label"].unique())
    rows = pd.DataFrame({
        "judgment": range(len(frame)), "unit": frame["item"], "worker": frame["annotator"],
        "started": "2018-01-01 10:00:00", "submitted": "2018-01-01 10:01:00",
        "text": frame["item"], "label": frame["label"]})

    class Config(DefaultConfig):
        inputColumns = ["text"]
        outputColumns = ["label"]
        customPlatformColumns = ["judgment", "unit", "worker", "started", "submitted"]
        open_ended_task = False
        annotation_vector = classes

        def processJudgments(self, judgments):
            return judgments

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "judgments.csv"
        rows.to_csv(csv, index=False)
        data, config = crowdtruth.load(file=str(csv), config=Config())
    results = crowdtruth.run(data, config)
    units, workers = results["units"], results["workers"]
    print(json.dumps({
        "classes": classes,
        "uqs": units["uqs"].astype(float).to_dict(),
        "uas": {u: {k: float(v) for k, v in s.items()} for u, s in
                units["unit_annotation_score"].items()},
        "wqs": workers["wqs"].astype(float).to_dict(),
        "wwa": workers["wwa"].astype(float).to_dict(),
        "wsa": workers["wsa"].astype(float).to_dict(),
        "aqs": results["annotations"]["aqs"].astype(float).to_dict(),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
