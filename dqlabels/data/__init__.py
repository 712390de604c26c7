"""Datasets: the synthetic generator and its pixel estimate, simulated annotators, and dataset
folders with their splits. Imports the root, :mod:`dqlabels.readers` and :mod:`dqlabels.labels`."""
