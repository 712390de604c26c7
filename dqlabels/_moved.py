"""Old import paths, kept: the modules moved into subpackages by layer (``dqlabels.training`` is
now ``dqlabels.learning.training``), and ``import dqlabels.training`` still gives that module,
the same object, so that code and ``monkeypatch`` on the old name keep working. Only names that
are imported are loaded (``import dqlabels`` stays light)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "dqlabels._quiet": "dqlabels.learning.quiet",
    "dqlabels.aggregation": "dqlabels.labels.aggregation",
    "dqlabels.annotations": "dqlabels.readers.annotations",
    "dqlabels.budget": "dqlabels.studies.budget",
    "dqlabels.budget_results": "dqlabels.studies.budget_results",
    "dqlabels.callbacks": "dqlabels.learning.callbacks",
    "dqlabels.campaign": "dqlabels.readers.campaign",
    "dqlabels.counting": "dqlabels.readers.counting",
    "dqlabels.crowdtruth": "dqlabels.labels.crowdtruth",
    "dqlabels.datasets": "dqlabels.data.datasets",
    "dqlabels.dawid_skene": "dqlabels.labels.dawid_skene",
    "dqlabels.distributed": "dqlabels.learning.distributed",
    "dqlabels.evaluate": "dqlabels.audit.evaluate",
    "dqlabels.gold": "dqlabels.labels.gold",
    "dqlabels.html_report": "dqlabels.audit.html_report",
    "dqlabels.importers": "dqlabels.readers.importers",
    "dqlabels.inference": "dqlabels.learning.inference",
    "dqlabels.keras": "dqlabels.learning.metrics",
    "dqlabels.launch": "dqlabels.learning.launch",
    "dqlabels.metrics": "dqlabels.learning.metrics",
    "dqlabels.models": "dqlabels.learning.models",
    "dqlabels.next_round": "dqlabels.labels.next_round",
    "dqlabels.pixel_estimate": "dqlabels.data.pixel_estimate",
    "dqlabels.placement": "dqlabels.learning.placement",
    "dqlabels.plan": "dqlabels.labels.plan",
    "dqlabels.precise_bn": "dqlabels.learning.precise_bn",
    "dqlabels.predict": "dqlabels.learning.predict_command",
    "dqlabels.learning.predict": "dqlabels.learning.predict_command",
    "dqlabels.predictions": "dqlabels.readers.predictions",
    "dqlabels.ranking": "dqlabels.labels.ranking",
    "dqlabels.real_study": "dqlabels.studies.real_study",
    "dqlabels.run_folder": "dqlabels.learning.run_folder",
    "dqlabels.scores": "dqlabels.labels.scores",
    "dqlabels.simulated_crowd": "dqlabels.data.simulated_crowd",
    "dqlabels.study": "dqlabels.studies.study",
    "dqlabels.summary": "dqlabels.audit.summary",
    "dqlabels.synthetic": "dqlabels.data.synthetic",
    "dqlabels.table_exports": "dqlabels.readers.table_exports",
    "dqlabels.tables": "dqlabels.readers.tables",
    "dqlabels.tfdata": "dqlabels.learning.tfdata",
    "dqlabels.training": "dqlabels.learning.training",
    "dqlabels.tsne": "dqlabels.studies.tsne",
    "dqlabels.verdicts": "dqlabels.studies.verdicts",
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name and loads it as the module at its new place."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        # The import system set the old name's spec on the module: give it back its own.
        own = importlib.util.spec_from_file_location(module.__name__, module.__file__)
        module.__spec__, module.__loader__ = own, own.loader


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
