"""What a command line around the library needs, kept with the library so that ``cli/`` only
parses options: a library message in the command's own words (:func:`command_message`), and a
process exit that skips TensorFlow's teardown (:func:`exit_process`).

Examples:
    >>> flags = {"image_size": "--image-size", "overwrite": "--overwrite"}
    >>> command_message("Expected image_size >= 32. Received: image_size=16", flags)
    'Expected --image-size >= 32. Received: --image-size 16'
    >>> command_message("out exists: pass overwrite=True", flags)
    'out exists: pass --overwrite'
"""

from __future__ import annotations

import os
import re
import sys


def command_message(message: str, flags: dict[str, str]) -> str:
    """A library message with its parameter names spelled as the command's flags (``flags``:
    Python parameter name → ``--flag``): ``image_size=16`` becomes ``--image-size 16``,
    ``overwrite=True`` becomes ``--overwrite``, ``Expected image_size`` becomes ``Expected
    --image-size``, and a name with an underscore becomes its flag wherever it stands. Names the
    command does not have stay as they are."""
    if not flags:
        return message

    def assignment(match):
        name, value = match.group(1), match.group(2).strip("'\"")
        if name not in flags:
            return match.group(0)
        return flags[name] if value == "True" else f"{flags[name]} {value}"

    message = re.sub(r"\b([a-z][a-z0-9_]*)=([^\s,;)]+)", assignment, message)
    message = re.sub(r"\b(Expected|expected) ([a-z][a-z0-9_]*)\b",
                     lambda m: f"{m.group(1)} {flags.get(m.group(2), m.group(2))}", message)
    return re.sub(r"(?<![\w/.-])([a-z][a-z0-9]*_[a-z0-9_]+)(?![\w/.-])",
                  lambda m: flags.get(m.group(1), m.group(1)), message)


def exit_process(status: int):
    """Exit with ``status``. Once TensorFlow is loaded, the interpreter's teardown is skipped:
    TensorFlow's threads can abort the process while C++ statics are destroyed ("terminate
    called without an active exception", seen with TensorFlow and pyarrow both loaded), which
    would turn a clean exit status into SIGABRT. Every output is already written (atomically)
    by then."""
    if "tensorflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
