"""The studies of the paper: hard vs soft labels on synthetic data, annotation budgets, real
photographs by K-fold, the t-SNE figure, and the verdicts paired comparisons support. The top
of the library."""
