import json
import os
from pathlib import Path

import pytest

# Up to 4 test workers and their subprocesses share 2 cores: one TensorFlow compute thread
# each (before any TensorFlow starts), instead of every process's pools spinning on both cores.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CIFAR10H = SHARED / "data" / "cifar10h" / "cifar10h-counts.csv"


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> path of a new file in tmp_path."""

    def _write(name, content):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


def shared_folder(tmp_path_factory, name: str, make) -> Path:
    """A folder made once for every pytest-xdist worker: the first to ask makes it (``make``)
    under a lock, the others wait for it and use it."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            make(folder)
            done.touch()
    return folder


def ml_modules_after_command(args) -> list[str]:
    """The TensorFlow and Keras modules loaded by ``dqlabels ARGS`` run in a fresh process (it
    must exit 0)."""
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from dqlabels_cli.main import main\n"
            "try:\n"
            f"    main({[str(a) for a in args]!r})\n"
            "except SystemExit as exit:\n"
            "    assert exit.code in (0, None), exit.code\n"
            "print(json.dumps(sorted(m for m in sys.modules\n"
            "                        if m.split('.')[0] in ('tensorflow', 'keras'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def needs(available: bool, what: str) -> None:
    """Skip a test whose outside resource is missing (Chromium, ../shared/data), except in CI
    (the CI variable set), where a missing resource fails the run instead of hiding a test."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI (.ci/run must provide it)")
    pytest.skip(f"{what} is missing")


def pytest_collection_modifyitems(config, items):
    """The tests marked slow start first: pytest-xdist hands tests out in this order, one at a
    time (``--maxschedchunk 1``), so that no long test is left running alone on one core at the
    end. First of all the slow one that trains the run other tests share (``soft_run``): one
    worker trains it while the other starts on the rest, and no test waits for it later."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                 "soft_run" not in getattr(item, "fixturenames", ())))
