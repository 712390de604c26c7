"""The audit of a campaign: :func:`audit` into an :class:`Audit` (:mod:`dqlabels.audit.report`),
its text (:mod:`~dqlabels.audit.summary`), its one-page HTML (:mod:`~dqlabels.audit.html_report`)
and ``dqlabels evaluate``'s library side (:mod:`~dqlabels.audit.evaluate`). Imports the root,
:mod:`dqlabels.readers` and :mod:`dqlabels.labels`.

``dqlabels.audit`` was one module; its names are here as they were
(``from dqlabels.audit import audit, format_summary, labels_table``).
"""

from dqlabels.audit.report import (
    CROWDTRUTH_DEFINITION,
    NUM_AMBIGUOUS,
    Audit,
    Tallies,
    audit,
    audit_report,
    fit_crowdtruth,
    item_quality,
    labels_columns,
    labels_table,
    smallest,
    tally,
)
from dqlabels.audit.sections import AuditReport
from dqlabels.audit.summary import format_summary

__all__ = ["CROWDTRUTH_DEFINITION", "NUM_AMBIGUOUS", "Audit", "AuditReport", "Tallies", "audit", "audit_report",
           "fit_crowdtruth", "format_summary", "item_quality", "labels_columns", "labels_table",
           "smallest", "tally"]
