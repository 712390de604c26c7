"""The ``dqlabels`` command line (installed as the ``dqlabels_cli`` package)."""
