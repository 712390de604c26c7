"""One training run over several processes: Keras' distribution API on the JAX backend.

``--strategy data-parallel`` trains with ``keras.distribution.DataParallel`` over every device
of every process (one process per host, or per GPU). ``tf.distribute.MultiWorkerMirroredStrategy``
does not work with Keras 3's ``fit`` (keras-team/keras#20585); Keras' own multi-host path is its
distribution API, which runs on JAX's distributed runtime.

Where the job's shape comes from (the first that is set wins, for each of the three values):

1. the arguments (``--coordinator HOST:PORT --num-processes N --process-id I``);
2. Keras' variables ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (the coordinator is the first address),
   ``KERAS_DISTRIBUTION_NUM_PROCESSES``, ``KERAS_DISTRIBUTION_PROCESS_ID``;
3. JAX's ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``;
4. none set: JAX's cluster detection (Slurm, Open MPI, Kubernetes/GKE, Cloud TPU) fills them in;
   on a machine that is none of these, the job is this one process and its local devices.

Only this module and :mod:`dqlabels.learning.training` import JAX, and only when asked to.

How the processes agree (:func:`broadcast_json`, :func:`broadcast_arrays`): process 0 decides
what to do with the run folder (new, resume, done, refused) and reads the checkpoint; the others
receive both from it over the collectives, so only process 0 needs the run folder. Each process
needs the dataset (a shared folder, or the same files at the same path).

Failure: the JAX heartbeat time-out is :data:`HEARTBEAT_SECONDS`; a process that dies mid-step
closes its collective connections, and the others stop at once with :class:`ProcessLost`.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from dqlabels.errors import InputError, TrainingFailed

# A process silent for this long counts as dead (JAX's default is 100 s).
HEARTBEAT_SECONDS = 30
# How long a process waits for all the others to join (they import TensorFlow and JAX first);
# DQLABELS_JOIN_SECONDS overrides it (a scheduler that starts hosts minutes apart).
JOIN_SECONDS = 120
# The variables the job's shape is read from, by argument, in order of precedence.
ENVIRONMENT = {
    "coordinator": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS"),
    "num_processes": ("KERAS_DISTRIBUTION_NUM_PROCESSES", "JAX_NUM_PROCESSES"),
    "process_id": ("KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID"),
}
JAX_MISSING = ("--strategy data-parallel needs JAX: pip install \"dqlabels[jax]\" (on GPUs also "
               "\"jax[cuda12]\")")


class ProcessLost(TrainingFailed):
    """Another process of a data-parallel job stopped (or could not be reached)."""


@dataclass(frozen=True)
class Job:
    """The shape of a data-parallel job. ``None`` values are left to JAX's cluster detection."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @classmethod
    def from_settings(cls, coordinator=None, num_processes=None, process_id=None,
                      environ=None) -> Job:
        """The job from the arguments, else the environment (module docstring), checked."""
        environ = os.environ if environ is None else environ
        given = {"coordinator": coordinator, "num_processes": num_processes,
                 "process_id": process_id}
        for name, variables in ENVIRONMENT.items():
            for variable in variables:
                if given[name] is None and environ.get(variable, "").strip():
                    value = environ[variable].strip()
                    if name == "coordinator":
                        given[name] = value.split(",")[0].strip()
                        continue
                    try:
                        given[name] = int(value)
                    except ValueError:
                        raise InputError(f"Expected {variable} to be a whole number. "
                                         f"Received: {variable}={value!r}") from None
        job = cls(**given)
        job.check()
        return job

    def check(self) -> None:
        """Raise InputError for a value that cannot work, naming it."""
        if self.num_processes is not None and self.num_processes < 1:
            raise InputError(f"Expected num_processes >= 1. "
                             f"Received: num_processes={self.num_processes}")
        if self.process_id is not None:
            if self.process_id < 0 or (self.num_processes is not None
                                       and self.process_id >= self.num_processes):
                top = "" if self.num_processes is None else f" and < {self.num_processes}"
                raise InputError(f"Expected process_id >= 0{top}. "
                                 f"Received: process_id={self.process_id}")
        if self.coordinator is not None:
            split_address(self.coordinator)
        known = [v is not None for v in (self.coordinator, self.num_processes, self.process_id)]
        if any(known) and not all(known) and (self.num_processes or 0) > 1:
            missing = [n for n, k in zip(("coordinator", "num_processes", "process_id"), known)
                       if not k]
            raise InputError(f"a job of {self.num_processes} processes needs "
                             f"{', '.join(missing)} as well (or none of them, for JAX's cluster "
                             f"detection)")

    def check_port(self) -> None:
        """Process 0 binds the coordinator's port: InputError when something holds it."""
        if self.process_id == 0 and self.coordinator is not None and not self.single:
            _check_port_free(*split_address(self.coordinator))

    @property
    def single(self) -> bool:
        """This process alone (no coordinator to reach)."""
        return self.num_processes == 1


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); InputError when it is not one."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"Expected coordinator as HOST:PORT with a port in 1–65535. "
                         f"Received: coordinator={address!r}")
    return host.strip("[]"), int(port)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the launcher's coordinator)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _check_port_free(host: str, port: int) -> None:
    """Process 0 binds the coordinator's port: say so plainly when something holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("" if host in ("localhost", "0.0.0.0") else host, port))
        except OSError as exc:
            raise InputError(f"coordinator {host}:{port}: the port is in use or cannot be "
                             f"bound on this host ({exc.strerror or exc}); choose another "
                             f"--coordinator port") from None


def jax_backend_ready() -> None:
    """Raise InputError unless JAX is installed and Keras runs on it."""
    try:
        import jax  # noqa: F401
    except ImportError:
        raise InputError(JAX_MISSING) from None
    import keras

    if keras.backend.backend() != "jax":
        raise InputError(f"--strategy data-parallel runs on the JAX backend; Keras is on "
                         f"{keras.backend.backend()!r}: set KERAS_BACKEND=jax (dqlabels launch "
                         f"does)")


_state: dict = {}


def join(job: Job | None = None) -> None:
    """Check that Keras runs on JAX, then join ``job`` (default: from the environment)."""
    jax_backend_ready()
    initialize(job or Job.from_settings())


def initialize(job: Job) -> None:
    """Join the job (once per process): JAX's distributed runtime with gloo collectives on CPU,
    a heartbeat time-out of :data:`HEARTBEAT_SECONDS`. A one-process job joins nothing."""
    if _state.get("job") is not None:
        if _state["job"] != job:
            raise InputError("this process already joined another data-parallel job")
        return
    jax_backend_ready()
    import jax

    if jax.config.jax_cpu_collectives_implementation in (None, "none", ""):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if not job.single:
        job.check_port()
        join = int(os.environ.get("DQLABELS_JOIN_SECONDS", JOIN_SECONDS))
        if job.process_id not in (None, 0) and job.coordinator is not None:
            wait_for_coordinator(*split_address(job.coordinator), join)
        # JAX ends a process that waits too long for the others with a C++ abort and a stack
        # trace; this watchdog says what is wrong in one line first.
        watchdog = threading.Timer(join, _not_assembled, (job, join))
        watchdog.daemon = True
        watchdog.start()
        try:
            jax.distributed.initialize(
                coordinator_address=job.coordinator, num_processes=job.num_processes,
                process_id=job.process_id, initialization_timeout=join + 30,
                heartbeat_timeout_seconds=HEARTBEAT_SECONDS)
        except (RuntimeError, ValueError) as exc:
            if job == Job() and "coordinator_address" in str(exc):
                _state["job"] = Job(num_processes=1)  # no cluster found: this process alone
                return
            raise InputError(f"could not join the data-parallel job (coordinator "
                             f"{job.coordinator}, process {job.process_id} of "
                             f"{job.num_processes}): {one_line(exc)}") from None
        finally:
            watchdog.cancel()
    _state["job"] = job


def wait_for_coordinator(host: str, port: int, seconds: float) -> None:
    """Until process 0's coordinator accepts connections; InputError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except socket.gaierror as exc:
            raise InputError(f"coordinator {host}:{port}: unknown host ({exc.strerror or exc})"
                             ) from None
        except OSError:
            if time.monotonic() > deadline:
                raise InputError(f"coordinator {host}:{port}: nothing answered there for "
                                 f"{seconds:.0f} s; start process 0 with the same "
                                 f"--coordinator, or check the address") from None
            time.sleep(0.5)


def _not_assembled(job: Job, seconds: int) -> None:
    sys.stderr.write(f"dqlabels: error: the data-parallel job did not assemble within {seconds} s "
                     f"(coordinator {job.coordinator}, this is process {job.process_id} of "
                     f"{job.num_processes}): start all {job.num_processes} processes with the "
                     f"same --coordinator and --num-processes, each with its own --process-id\n")
    sys.stderr.flush()
    os._exit(2)


def process_index() -> int:
    """This process's index in the job (0 when there is no job)."""
    if _state.get("job") is None:
        return 0
    import jax

    return jax.process_index()


def process_count() -> int:
    """The number of processes in the job (1 when there is no job)."""
    if _state.get("job") is None:
        return 1
    import jax

    return jax.process_count()


def one_line(exc: BaseException) -> str:
    """An exception's message as one line, at most 300 characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "…"


def _collective(what: str):
    """Turn the runtime's error, when a peer is gone during ``what``, into ProcessLost."""
    import contextlib

    @contextlib.contextmanager
    def guarded():
        try:
            yield
        except (InputError, TrainingFailed, AssertionError):
            raise
        except Exception as exc:  # noqa: BLE001 - the runtime's errors have no common type
            raise ProcessLost(f"process {process_index()} of {process_count()}: the job "
                              f"stopped while {what} ({one_line(exc)})") from None

    return guarded()


def broadcast_json(value) -> object:
    """Process 0's ``value`` (anything JSON can hold), on every process."""
    if process_count() == 1:
        return value
    with _collective("exchanging the run's state"):
        return _broadcast_json(value)


def _broadcast_json(value) -> object:
    from jax.experimental import multihost_utils

    payload = np.frombuffer(json.dumps(value).encode(), np.uint8) if process_index() == 0 \
        else np.zeros(0, np.uint8)
    size = int(multihost_utils.broadcast_one_to_all(np.int64(payload.size)))
    if payload.size != size:
        payload = np.zeros(size, np.uint8)
    data = np.asarray(multihost_utils.broadcast_one_to_all(payload))
    return json.loads(data.tobytes().decode())


def decided_by_process_zero(decide, share=lambda value: value, refused="process 0 refused"):
    """Process 0 runs ``decide()`` and sends the others ``share(its result)`` (JSON); returns
    the result on process 0 and what it shared on the others. An InputError on process 0 is
    raised on every process (``refused: message`` on the others). Without a job, ``decide()``.
    """
    if process_index() != 0:
        told = broadcast_json(None)
        if "error" in told:
            raise InputError(f"{refused}: {told['error']}")
        return told["value"]
    try:
        value = decide()
    except InputError as exc:
        broadcast_json({"error": str(exc)})
        raise
    broadcast_json({"value": share(value)})
    return value


def broadcast_arrays(arrays: list) -> list[np.ndarray]:
    """Process 0's arrays, on every process (the others pass arrays of the same shapes)."""
    if process_count() == 1:
        return [np.asarray(a) for a in arrays]
    from jax.experimental import multihost_utils

    with _collective("sending the checkpoint"):
        return [np.asarray(a) for a in multihost_utils.broadcast_one_to_all(list(arrays))]


def assert_same(name: str, arrays: list) -> None:
    """Raise TrainingFailed unless every process holds the same ``arrays``, bit for bit
    (compared through a CRC-32 of each array's bytes)."""
    if process_count() == 1:
        return
    import zlib

    from jax.experimental import multihost_utils

    digest = np.array([zlib.crc32(np.ascontiguousarray(a).tobytes()) for a in arrays], np.uint32)
    try:
        with _collective(f"comparing {name}"):
            multihost_utils.assert_equal(digest, f"{name} differ between processes")
    except AssertionError as exc:
        raise TrainingFailed(one_line(exc)) from None


def barrier(name: str, timeout_seconds: int = 24 * 3600) -> None:
    """Wait until every process of the job reaches ``name`` (the coordinator's barrier: no
    collective runs meanwhile, so a long wait, process 0 writing a study's figures say, is
    fine). Nothing to wait for in a one-process job."""
    if process_count() == 1:
        return
    from jax._src import distributed as jax_distributed

    _state["barriers"] = _state.get("barriers", 0) + 1
    try:
        jax_distributed.global_state.client.wait_at_barrier(
            f"dqlabels-{name}-{_state['barriers']}", timeout_seconds * 1000)
    except Exception as exc:  # noqa: BLE001 - the runtime's errors have no common type
        raise ProcessLost(f"process {process_index()} of {process_count()}: another process "
                          f"stopped before {name} ({one_line(exc)})") from None
