"""The earlier name of :mod:`dqlabels.metrics` (the Keras metrics), kept so that
``from dqlabels.keras import KLDivergence, MacroAccuracy`` still works. A module named like
the library it builds on misled readers; new code imports :mod:`dqlabels.metrics`."""

from dqlabels.metrics import KLDivergence, MacroAccuracy

__all__ = ["KLDivergence", "MacroAccuracy"]
