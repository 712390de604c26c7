"""The audit of a campaign: :func:`~dqlabels.audit.report.audit` into an
:class:`~dqlabels.audit.report.Audit` (:mod:`dqlabels.audit.report`), its text
(:mod:`~dqlabels.audit.summary`), its one-page HTML (:mod:`~dqlabels.audit.html_report`) and
``dqlabels evaluate``'s library side (:mod:`~dqlabels.commands.evaluate`). Imports the root,
:mod:`dqlabels.readers` and :mod:`dqlabels.labels`.
"""
