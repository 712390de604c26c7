"""What a command line around the library needs, kept with the library so that ``cli/`` only
parses options: a library message in the command's own words (:func:`command_message`), and a
process exit that skips the interpreter's teardown (:func:`exit_process`).

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
    """Exit with ``status`` without the interpreter's teardown, once the streams are flushed.

    Every output is already written, atomically, and closed by then, and no thread of ours is
    working; the teardown would only free memory the system takes back anyway. Skipping it saves
    about 0.25 s at the end of a large audit (freeing numba's, pandas' and pyarrow's modules and
    objects: benchmarks/README.md, "The audit's speed"), and avoids an abort once TensorFlow is
    loaded: its threads can end the process while C++ statics are destroyed ("terminate called
    without an active exception", seen with TensorFlow and pyarrow both loaded), which would turn
    a clean exit status into SIGABRT."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``dqlabels evaluate ... | head``)
            pass
    os._exit(status)
