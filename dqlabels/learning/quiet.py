"""TensorFlow's start-up lines, kept off a command line unless the user asked for them.

Importing TensorFlow prints absl's "WARNING: All log messages before absl::InitializeLog() is
called are written to STDERR" and ``I0000`` info lines (CUDA drivers missing, oneDNN) from its
C++ libraries, before ``TF_CPP_MIN_LOG_LEVEL`` takes effect; a new user reads them as errors.
:func:`import_tensorflow_quietly` imports TensorFlow with the process's standard error (file
descriptor 2) sent to a temporary file, then writes back every line that is not one of those.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|I0000 )")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up noise, unless ``TF_CPP_MIN_LOG_LEVEL`` is set
    (the user chose what to see: then nothing is filtered)."""
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not NOISE.match(line)]
            if kept:
                os.write(2, b"".join(kept))
