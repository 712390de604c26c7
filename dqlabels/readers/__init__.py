"""Reading campaigns: files and tool exports into one long table, and into the counts of an
:class:`~dqlabels.readers.annotations_type.Annotations`; prediction files. Imports only the package root."""
