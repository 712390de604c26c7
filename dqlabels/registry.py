"""The lists a user can extend, each kept in one place (docs/layout.md, "Sockets"): the
importers of annotation tools' exports (:data:`IMPORTERS`), the aggregators ``dqlabels evaluate
--aggregator`` fits (:data:`AGGREGATORS`) and the backbones ``--model`` builds
(:data:`BACKBONES`); the studies and presets of ``dqlabels reproduce`` are in
:mod:`dqlabels.config` beside the training settings they hold. An entry names its code as a
callable or as ``"module:name"`` (:func:`resolve`), so that this module, and the command line
that offers the names, import nothing heavy. Everything that lists them reads them here: the
readers, the audit, the command line's choices, the docs' tables (checked by
``tests/test_registries.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

# The table layouts every reader knows; the tools' exports are the importers below.
TABLE_FORMATS = ("long", "wide", "counts", "probs")


def resolve(reference):
    """What a registry entry names: a callable itself, or the one a ``"module:name"`` string
    names (its module imported now, so that a registry stays free of heavy imports)."""
    if not isinstance(reference, str):
        return reference
    import importlib

    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Importer:
    """An annotation tool's export, read by ``read_annotations(path, format=NAME)`` and guessed
    from the file when no format is given.

    Attributes:
        name: the format's name.
        kind: ``"json"`` (a JSON or JSON Lines file) or ``"table"`` (a CSV/TSV/Parquet table).
        read: what reads it into the long table
            (:class:`~dqlabels.readers.importers.LongTable`): for JSON ``read(path, records,
            layout, **columns)`` (``layout``: ``"json"`` or ``"jsonl"``), for a table
            ``read(path, table, where, **columns)``; ``columns``: ``item_column``,
            ``label_column``, ``annotator_column``. A callable or ``"module:function"``.
        detect: ``detect(records, layout)`` for JSON, ``detect(column_names)`` for a table:
            whether a file without ``--format`` is this tool's export (None: only by name;
            the first JSON importer without it reads any other JSON file).
        about: one line for the docs' table of formats.
    """

    name: str
    kind: str
    read: object
    detect: object = None
    about: str = ""


IMPORTERS: dict[str, Importer] = {}


def register_importer(importer: Importer) -> Importer:
    """Add an importer (its name must be new): ``--format`` accepts it and files are guessed
    as its exports, after those registered before it."""
    if importer.name in IMPORTERS or importer.name in TABLE_FORMATS:
        raise ValueError(f"a format named {importer.name!r} is registered already")
    if importer.kind not in ("json", "table"):
        raise ValueError(f"Expected kind to be 'json' or 'table'. Received: kind={importer.kind!r}")
    IMPORTERS[importer.name] = importer
    return importer


def formats() -> tuple[str, ...]:
    """Every format ``--format`` accepts: the table layouts, then the importers."""
    return TABLE_FORMATS + tuple(IMPORTERS)


_READERS = "dqlabels.readers.importers"
for _importer in (
        Importer("dcic", "json", f"{_READERS}:import_dcic", None,
                 "the DCIC benchmark's annotations.json (any other JSON file is read as it)"),
        Importer("label-studio", "json", f"{_READERS}:import_label_studio",
                 f"{_READERS}:looks_like_label_studio", "Label Studio's JSON export"),
        Importer("mturk", "table", "dqlabels.readers.table_exports:read_mturk",
                 f"{_READERS}:looks_like_mturk", "Mechanical Turk's batch results CSV"),
        Importer("toloka", "table", "dqlabels.readers.table_exports:read_toloka",
                 f"{_READERS}:looks_like_toloka", "Toloka's results TSV"),
        Importer("prodigy", "json", f"{_READERS}:import_prodigy",
                 f"{_READERS}:looks_like_prodigy", "Prodigy's db-out JSONL")):
    register_importer(_importer)


# Aggregators ``dqlabels evaluate --aggregator NAME`` fits (docs/evaluate.md): name → the class
# (a subclass of dqlabels.labels.aggregation.Aggregator, made with no arguments), or the
# "module:Class" naming it. Dawid–Skene and CrowdTruth have their own switches as well.
AGGREGATORS: dict[str, object] = {
    "majority-vote": "dqlabels.labels.aggregation:MajorityVote",
    "dawid-skene": "dqlabels.labels.dawid_skene:DawidSkene",
    "crowdtruth": "dqlabels.labels.crowdtruth:CrowdTruth",
}


def register_aggregator(name: str, aggregator) -> None:
    """Add an aggregator (its name must be new): ``--aggregator NAME`` fits it and its
    ``PREFIX_label`` and ``PREFIX_<class>`` columns join the labels file."""
    if name in AGGREGATORS:
        raise ValueError(f"an aggregator named {name!r} is registered already")
    AGGREGATORS[name] = aggregator


@dataclass(frozen=True)
class Backbone:
    """A network ``dqlabels train --model NAME`` puts under its softmax head.

    Attributes:
        name: what ``--model`` and ``TrainConfig.model`` call it.
        build: ``build(input_shape, weights) -> keras.Model``, from preprocessed images to a 4-D
            feature map (``weights``: ``"none"``, or ``"imagenet"`` where ``imagenet``); a
            callable, or the ``"module:function"`` that names one, imported only when a model
            is built (so that this list, and the command line, stay free of Keras).
        preprocess: the ``preprocess_input`` mode of Keras Applications the network expects:
            ``"torch"`` (x/255 standardised by the ImageNet mean and std) or ``"tf"``
            (x/127.5 − 1); applied inside the model.
        imagenet: whether ImageNet weights exist for it (Keras Applications').
        about: one line for the docs' table of backbones.
    """

    name: str
    build: object
    preprocess: str = "torch"
    imagenet: bool = False
    about: str = ""


BACKBONES: dict[str, Backbone] = {}


def register_backbone(backbone: Backbone) -> Backbone:
    """Add a backbone (its name must be new): ``--model`` and ``TrainConfig`` accept it from then
    on, and :func:`dqlabels.learning.models.build_model` builds it."""
    if backbone.name in BACKBONES:
        raise ValueError(f"a backbone named {backbone.name!r} is registered already")
    if backbone.preprocess not in ("torch", "tf"):
        raise ValueError(f"Expected preprocess to be 'torch' or 'tf'. Received: "
                         f"preprocess={backbone.preprocess!r}")
    BACKBONES[backbone.name] = backbone
    return backbone


for _name, _preprocess, _imagenet, _about in (
        ("densenet121", "torch", True, "Keras Applications' DenseNet121 (7M parameters), the "
         "paper's network"),
        ("resnet50v2", "tf", True, "Keras Applications' ResNet50V2 (24M parameters)"),
        ("densenet-tiny", "torch", False, "DenseNet121 with one layer per dense block (0.2M "
         "parameters): the quick study's network, tests and smoke runs"),
        ("resnet9", "torch", False, "the DAWNBench ResNet-9 for small natural images (6.6M "
         "parameters, 64 channels in the stem)"),
        ("resnet9-quarter", "torch", False, "ResNet-9 at a quarter of the width (0.41M "
         "parameters): the CPU preset on CIFAR-10H")):
    register_backbone(Backbone(_name, f"dqlabels.learning.models:{_name.replace('-', '_')}",
                               _preprocess, _imagenet, _about))
