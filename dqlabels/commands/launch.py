"""``dqlabels launch``: N processes of one data-parallel job on this host.

Starts ``dqlabels <command> --strategy data-parallel …`` N times with ``KERAS_BACKEND=jax``,
gloo collectives for the CPU, a free coordinator port on localhost and each process's id in
Keras' variables (:mod:`dqlabels.learning.distributed`). Process 0's output is streamed; the others'
goes to ``<log dir>/process-<i>.log`` and the last lines of a failed one are shown. When one
process fails, the others get :data:`GRACE_SECONDS` to stop on their own (they notice a lost
peer at once, or after the heartbeat time-out) before they are stopped. The exit status is
process 0's, or the first failure's when process 0 succeeded.

On several hosts, run the same ``dqlabels train … --strategy data-parallel`` on each with
``--coordinator HOST0:PORT --num-processes N --process-id I`` (docs/train.md, "Beyond one machine").
No TensorFlow or JAX here: the launcher starts fast and holds no device.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dqlabels.errors import InputError
from dqlabels.learning.distributed import HEARTBEAT_SECONDS, free_port

COMMANDS = ("train", "reproduce")
GRACE_SECONDS = HEARTBEAT_SECONDS + 15
TAIL_LINES = 5


def command_line(args: list[str]) -> list[str]:
    """The command each process runs: ``args`` (``train …`` or ``reproduce …``) with
    ``--strategy data-parallel`` (added when absent; another strategy is refused)."""
    if not args or args[0] not in COMMANDS:
        got = args[0] if args else "nothing"
        raise InputError(f"dqlabels launch runs {' or '.join(COMMANDS)} (as 'dqlabels launch "
                         f"--processes N -- train …'). Received: {got}")
    job_flags = ("--coordinator", "--num-processes", "--process-id")
    for arg in args:
        if arg.split("=")[0] in job_flags:
            raise InputError(f"dqlabels launch sets {arg.split('=')[0]} itself; leave it out")
    strategy = None
    for i, arg in enumerate(args):
        if arg == "--strategy" and i + 1 < len(args):
            strategy = args[i + 1]
        elif arg.startswith("--strategy="):
            strategy = arg.split("=", 1)[1]
    if strategy is None:
        return [args[0], "--strategy", "data-parallel", *args[1:]]
    if strategy != "data-parallel":
        raise InputError(f"dqlabels launch trains with --strategy data-parallel. Received: "
                         f"--strategy {strategy}")
    return list(args)


def launch(args: list[str], processes: int, *, log_dir=None, port: int | None = None,
           echo=print) -> int:
    """Run ``dqlabels <args>`` as ``processes`` processes of one job; returns the exit status.

    Args:
        args: the command and its arguments (``["train", "data", "--soft", …]``).
        processes: how many processes (≥ 1).
        log_dir: where the other processes' logs go (default: a new temporary folder).
        port: the coordinator's port on localhost (default: a free one).
        echo: where the launcher's own lines go.
    """
    if processes < 1:
        raise InputError(f"Expected processes >= 1. Received: processes={processes}")
    command = command_line(args)
    port = port or free_port()
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="dqlabels-launch-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    children, logs = [], []
    for i in range(processes):
        env = {**os.environ, "KERAS_BACKEND": "jax",
               "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
               "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
               "KERAS_DISTRIBUTION_NUM_PROCESSES": str(processes),
               "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}
        if i == 0:
            output = None  # inherited: streamed as it comes
        else:
            logs.append(log_dir / f"process-{i}.log")
            output = open(logs[-1], "wb")  # noqa: SIM115 - closed when the child ends
        children.append(subprocess.Popen(
            [sys.executable, "-m", "dqlabels_cli.main", *command], env=env, stdout=output,
            stderr=subprocess.STDOUT if output else None, stdin=subprocess.DEVNULL))
        if output is not None:
            output.close()
    pids = ", ".join(str(c.pid) for c in children)
    echo(f"dqlabels launch: {processes} processes (pids {pids}), coordinator 127.0.0.1:{port}; "
         f"logs of processes 1+ in {log_dir}")
    return _supervise(children, logs, echo)


def _supervise(children: list, logs: list[Path], echo) -> int:
    """Wait for every child; after the first failure, give the others GRACE_SECONDS, then stop
    them. Ctrl-C or SIGTERM stops them all."""
    failed_at = None
    first_failure = None

    def stop(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while any(child.poll() is None for child in children):
            for i, child in enumerate(children):
                status = child.poll()
                if status not in (None, 0) and first_failure is None:
                    first_failure = (i, status)
                    failed_at = time.monotonic()
                    _report(i, status, logs, echo)
            if failed_at is not None and time.monotonic() - failed_at > GRACE_SECONDS:
                for i, child in enumerate(children):
                    if child.poll() is None:
                        echo(f"dqlabels launch: process {i} still running "
                             f"{GRACE_SECONDS} s after a failure; stopping it")
                        child.kill()
            time.sleep(0.1)
    except KeyboardInterrupt:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    for i, child in enumerate(children):
        if child.returncode not in (0, None) and (first_failure is None or first_failure[0] != i):
            if first_failure is None:
                first_failure = (i, child.returncode)
            if i != 0:
                _report(i, child.returncode, logs, echo)
    status = children[0].returncode
    if status == 0 and first_failure is not None:
        status = first_failure[1]
    return status if status >= 0 else 128 - status


def _report(i: int, status: int, logs: list[Path], echo) -> None:
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    echo(f"dqlabels launch: process {i} {how}")
    if i > 0 and logs[i - 1].exists():
        lines = logs[i - 1].read_text(errors="replace").splitlines()
        for line in [line for line in lines if line.strip()][-TAIL_LINES:]:
            echo(f"  process {i}: {line}")
