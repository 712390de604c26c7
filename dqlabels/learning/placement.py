"""Where a training run computes, on either backend: one device, TensorFlow's
``MirroredStrategy`` over the GPUs of one host, or JAX's ``DataParallel`` over every device of
every process of a job (:class:`Placement`)."""

from __future__ import annotations

import contextlib

import keras

from dqlabels.config import TrainConfig
from dqlabels.errors import InputError
from dqlabels.learning import distributed


def make_strategy(name: str = "default", devices=None):
    """``tf.distribute`` strategy: the default (one device) or MirroredStrategy over all local
    GPUs (or the given ``devices``)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


class Placement:
    """Where a run computes, on either backend: one device, ``MirroredStrategy`` (TensorFlow,
    the GPUs of one host) or ``DataParallel`` (JAX, every device of every process of a job).

    Attributes:
        replicas: devices that share each batch (evaluation data is padded to a multiple).
        shard: ``(process index, process count)``: which part of every global batch this
            process feeds.
        writer: whether this process writes the run folder (process 0).
    """

    def __init__(self, config: TrainConfig, devices=None, job=None):
        self.backend = keras.backend.backend()
        self.strategy = self.distribution = None
        self.shard = (0, 1)
        if config.strategy == "data-parallel":
            distributed.join(job)
            devices = devices or keras.distribution.list_devices()
            self.distribution = keras.distribution.DataParallel(devices=devices,
                                                                auto_shard_dataset=False)
            self.replicas = len(devices)
            self.shard = (distributed.process_index(), distributed.process_count())
        elif self.backend == "tensorflow":
            if config.xla and config.deterministic:
                raise InputError("xla=True does nothing under TensorFlow's deterministic ops "
                                 "(Keras turns XLA off under them): turn them off as well "
                                 "(--no-deterministic)")
            self.strategy = make_strategy(config.strategy, devices)
            self.replicas = self.strategy.num_replicas_in_sync
        elif config.strategy == "mirrored":
            raise InputError(f"--strategy mirrored is TensorFlow's MirroredStrategy; on the "
                             f"{self.backend} backend use --strategy data-parallel (all local "
                             f"devices, or several processes)")
        else:
            self.replicas = 1
        self.writer = self.shard[0] == 0
        if self.replicas > 1 and config.batch_size % self.replicas:
            raise InputError(f"Expected batch_size to be a multiple of the {self.replicas} "
                             f"devices that share each batch. Received: "
                             f"batch_size={config.batch_size}")

    @property
    def distributed(self) -> bool:
        """Several devices or processes share each batch."""
        return self.distribution is not None or self.replicas > 1

    def scope(self):
        """The context to build, compile and fit in."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()
