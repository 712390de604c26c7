"""``dqlabels reproduce``: which study the options ask for (the preset's, from
:data:`dqlabels.config.PRESETS`; the budget study whenever budgets or sizes are given), run it
(:data:`dqlabels.config.STUDIES`) and return the text the command prints (:func:`run_reproduce`).
A new study is one module with a ``run_study`` and one :func:`~dqlabels.config.register_study`
(and its presets' :func:`~dqlabels.config.register_preset`); nothing here changes."""

from __future__ import annotations

import contextlib
import dataclasses
import sys

from dqlabels.config import PRESETS, STUDIES, StudyOptions, check_choice
from dqlabels.errors import InputError
from dqlabels.registry import resolve


def run_reproduce(out_dir, preset: str = "quick", options: StudyOptions | None = None,
                  **values) -> str | None:
    """Run (or continue) the study the options ask for; returns its results table and where
    the files are, or None in a data-parallel job's processes other than 0 (which report).
    ``values``: :class:`~dqlabels.config.StudyOptions` fields (overrides left None are the
    preset's). Keras' progress goes to standard error, so that standard output keeps the
    table."""
    options = dataclasses.replace(options or StudyOptions(), **values)
    options.overrides = {k: v for k, v in (options.overrides or {}).items() if v is not None}
    check_choice("preset", preset, tuple(PRESETS))
    asks_budgets = options.budgets is not None or options.sizes is not None
    study = STUDIES["budget" if asks_budgets else PRESETS[preset].study]
    if options.job is not None and not study.data_parallel:
        raise InputError(f"the {study.name} study runs one process per run; "
                         f"strategy=data-parallel is for dqlabels train and the paper's study")
    with contextlib.redirect_stdout(sys.stderr):
        return resolve(study.run)(out_dir, preset, options)
