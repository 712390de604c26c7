"""Labels and scores from annotations: majority vote and soft labels, Dawid–Skene, CrowdTruth,
the numpy scores, gold answers, annotator ranking, and the Dirichlet posterior with the next
round's plan. Imports the root and :mod:`dqlabels.readers`."""
