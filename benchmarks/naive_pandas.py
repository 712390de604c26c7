"""What a user writes by hand: pandas read_csv, value counts per item, majority and soft labels.

Used as the baseline of bench_core.py; run alone: python benchmarks/naive_pandas.py FILE.csv
"""

import sys

import pandas as pd


def main(path):
    frame = pd.read_csv(path)
    frame = frame.dropna(subset=["label"])
    counts = frame.groupby("item")["label"].value_counts().unstack(fill_value=0)
    hard = counts.idxmax(axis=1)
    soft = counts.div(counts.sum(axis=1), axis=0)
    print(len(counts), hard.iloc[0], float(soft.iloc[0].max()))


if __name__ == "__main__":
    main(sys.argv[1])
