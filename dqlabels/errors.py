"""Errors dqlabels raises for problems in what a user gave it."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file, an option or a value the user supplied is not usable.

    The message is one line that names the file, the line or column where it can, and what was
    expected. The command-line interface prints it and exits with status 2.
    """


class TrainingFailed(RuntimeError):
    """Training could not finish (for example the loss became NaN). Exit status 1."""
