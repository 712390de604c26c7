"""Simulated annotators: who labels the generated images, and how they err.

An annotator draws the class they see from the image's exact soft label (ambiguity), then may
err (noise). Two kinds of error are simulated:

- **uniform noise** (``noise``): with probability ε the annotator answers a class drawn
  uniformly at random. Every annotator of the pool has their own ε ~ U(low, high).
- **bias** (``bias``): a share of the pool errs *systematically*, as real workers do. Each
  annotator is biased with probability ``bias`` (a seeded draw); a biased one is, with
  probabilities 0.4 / 0.4 / 0.2:

  - ``swap``: confuses two classes a ≠ b: a seen a is answered b and a seen b is answered a,
    each with probability β ~ U(0.5, 1);
  - ``favour``: favours one class c: with probability β ~ U(0.2, 0.6) answers c whatever the
    image shows;
  - ``flip``: answers the next class (k → k + 1 mod K) with probability β ~ U(0.7, 1): on two
    classes, a worker who flips the binary answer; below chance on any number of classes.

  Uniform noise applies on top of the bias.

Each annotator is thus a response matrix ``R[seen, answer] = (1 − ε)·B + ε/K`` (``B`` the
bias, the identity without one). Their **true accuracy** is the expected share of their
answers that equal the exact hard label (the argmax of the exact soft label) of an image drawn
from the whole dataset: Σ_{l,m} R[l, m]·G[l, m] / n with ``G = softᵀ · onehot(hard)``. It is
computed from ``R`` and the exact labels, not from the sampled answers, and is recorded in
``annotators.csv`` beside each annotator's noise and bias.

Examples:
    >>> import numpy as np
    >>> soft = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    >>> crowd = SimulatedCrowd(3, pool=4, noise=(0.0, 0.0), bias=0.0)
    >>> labels, annotators, profiles = simulate_annotations(soft, crowd, seed=0)
    >>> labels.shape, annotators.shape, profiles["accuracy"].round(3).tolist()
    ((3, 3), (3, 3), [0.833, 0.833, 0.833, 0.833])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dqlabels.config import ANNOTATOR_BIAS, ANNOTATOR_NOISE
from dqlabels.errors import InputError

BIAS_KINDS = ("swap", "favour", "flip")
BIAS_KIND_SHARES = (0.4, 0.4, 0.2)
BIAS_STRENGTH = {"swap": (0.5, 1.0), "favour": (0.2, 0.6), "flip": (0.7, 1.0)}


@dataclass(frozen=True)
class SimulatedCrowd:
    """Who annotates the generated images (``generate_dataset(..., annotators=SimulatedCrowd(...))``).

    Attributes:
        per_image: annotations per image (0: none).
        pool: number of annotators; each image gets ``per_image`` distinct ones drawn at random.
            ``None``: exactly ``per_image`` annotators who each label every image.
        noise: ``(low, high)``: annotator j answers uniformly at random with probability
            ε_j ~ U(low, high) (noise), else draws from the image's soft label (ambiguity).
        bias: share of the annotators who err systematically (swap two classes, favour one,
            flip; see the module docstring).
    """

    per_image: int = 0
    pool: int | None = None
    noise: tuple[float, float] = ANNOTATOR_NOISE
    bias: float = ANNOTATOR_BIAS

    def check(self) -> None:
        if self.per_image < 0:
            raise InputError(f"Expected annotators >= 0. Received: annotators={self.per_image}")
        if self.pool is not None and self.pool < max(self.per_image, 1):
            raise InputError(f"Expected annotator_pool >= {self.per_image} (the annotations per "
                             f"image). Received: annotator_pool={self.pool}")
        low, high = self.noise
        if not 0.0 <= low <= high <= 1.0:
            raise InputError(f"Expected annotator_noise LO,HI with 0 <= LO <= HI <= 1. "
                             f"Received: annotator_noise={low},{high}")
        if not 0.0 <= self.bias <= 1.0:
            raise InputError(f"Expected 0 <= annotator_bias <= 1. "
                             f"Received: annotator_bias={self.bias}")

    @property
    def simple(self) -> bool:
        """Version 1's crowd: the same noise-free, unbiased annotators on every image."""
        return self.pool is None and self.noise == (0.0, 0.0) and self.bias == 0.0

    @property
    def size(self) -> int:
        """Number of distinct annotators."""
        return self.pool or self.per_image


def parse_noise(text: str) -> tuple[float, float]:
    """``"LO,HI"`` → ``(LO, HI)``, the range of the annotators' noise rates."""
    try:
        noise = tuple(float(v) for v in str(text).split(","))
        if len(noise) != 2:
            raise ValueError
    except ValueError:
        raise InputError(f"Expected annotator_noise as two numbers LO,HI. "
                         f"Received: annotator_noise={text}") from None
    return noise


def annotator_profiles(crowd: SimulatedCrowd, num_classes: int, seed: int) -> dict:
    """Every annotator of the crowd: noise rate, bias and response matrix.

    Returns:
        A dict of per-annotator arrays: ``noise`` (ε), ``bias`` (``"none"`` or a kind of
        :data:`BIAS_KINDS`), ``bias_classes`` (a tuple of the class indices involved: the two
        swapped, the favoured one, none otherwise), ``bias_strength`` (β),
        ``bias_matrix`` ``B`` and ``response`` ``R``: ``(pool, K, K)``, row = class seen,
        column = answer.
    """
    size = crowd.size
    if crowd.simple:
        noise = np.zeros(size)
    else:  # the stream and order of generator versions before bias existed
        noise = np.random.default_rng([seed, 2]).uniform(*crowd.noise, size)
    rng = np.random.default_rng([seed, 3])
    biased = rng.random(size) < crowd.bias
    kinds = rng.choice(len(BIAS_KINDS), size=size, p=BIAS_KIND_SHARES)
    strength = rng.random(size)
    first = rng.integers(0, num_classes, size)
    second = (first + rng.integers(1, max(num_classes, 2), size)) % num_classes
    bias = np.full(size, "none", dtype=object)
    bias_classes = np.empty(size, dtype=object)
    bias_classes[:] = [()] * size
    beta = np.zeros(size)
    eye = np.eye(num_classes)
    matrices = np.repeat(eye[None], size, axis=0)
    for j in np.flatnonzero(biased):  # once per annotator of the pool
        kind = BIAS_KINDS[kinds[j]]
        low, high = BIAS_STRENGTH[kind]
        b = low + (high - low) * strength[j]
        matrix = (1 - b) * eye
        if kind == "swap":
            a, c = first[j], second[j]
            matrix[a, c] += b
            matrix[c, a] += b
            others = [k for k in range(num_classes) if k not in (a, c)]
            matrix[others, others] = 1.0
            bias_classes[j] = (int(a), int(c))
        elif kind == "favour":
            matrix[:, first[j]] += b
            bias_classes[j] = (int(first[j]),)
        else:
            matrix += b * np.roll(eye, 1, axis=1)
        bias[j], beta[j], matrices[j] = kind, b, matrix
    response = (1 - noise)[:, None, None] * matrices + noise[:, None, None] / num_classes
    return {"noise": noise, "bias": bias, "bias_classes": bias_classes, "bias_strength": beta,
            "bias_matrix": matrices, "response": response}


def true_accuracy(response: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """Each annotator's expected share of answers equal to the exact hard label, over the
    images of ``soft`` (the module docstring's formula)."""
    hard = np.argmax(soft, axis=1)
    joint = soft.T @ np.eye(soft.shape[1])[hard]  # G[l, m]: mass seen as l on images of hard m
    return np.einsum("jlm,lm->j", response, joint) / soft.shape[0]


def simulate_annotations(soft: np.ndarray, crowd: SimulatedCrowd, seed: int):
    """Simulated annotations of every image.

    Returns:
        ``(labels, annotators, profiles)``: ``(num_images, per_image)`` class indices and
        annotator indices, and :func:`annotator_profiles` with each annotator's true
        ``accuracy`` added. Uses random streams of their own, so the images do not change with
        the crowd; the noise-free crowd without a pool draws exactly as generator version 1
        did, and an unbiased crowd as version 2 did.
    """
    n, k = soft.shape
    per_image = crowd.per_image
    cumulative = np.cumsum(soft, axis=1)
    cumulative[:, -1] = 1.0
    profiles = annotator_profiles(crowd, k, seed)
    profiles["accuracy"] = true_accuracy(profiles["response"], soft)
    if crowd.simple:
        draws = np.random.default_rng([seed, 1]).random((n, per_image))
        labels = (draws[:, :, None] > cumulative[:, None, :]).sum(axis=2)
        return labels, np.broadcast_to(np.arange(per_image), (n, per_image)), profiles
    rng = np.random.default_rng([seed, 2])
    rng.uniform(size=crowd.size)  # the noise rates (drawn in annotator_profiles)
    pool = crowd.size
    # per_image distinct annotators per image: the smallest of `pool` random keys
    annotators = np.argsort(rng.random((n, pool)), axis=1, kind="stable")[:, :per_image]
    draws = rng.random((n, per_image))
    labels = (draws[:, :, None] > cumulative[:, None, :]).sum(axis=2)
    biased = profiles["bias"][annotators] != "none"
    if biased.any():
        labels = _apply_bias(labels, annotators, biased, profiles["bias_matrix"], seed)
    guessing = rng.random((n, per_image)) < profiles["noise"][annotators]
    labels = np.where(guessing, rng.integers(0, k, (n, per_image)), labels)
    return labels, annotators, profiles


def _apply_bias(labels, annotators, biased, bias_matrix, seed):
    """The answers of biased annotators: each seen class replaced by a draw from its row of
    their bias matrix (the uniform noise is applied after)."""
    where = np.flatnonzero(biased.reshape(-1))
    rows = bias_matrix[annotators.reshape(-1)[where], labels.reshape(-1)[where]]
    cumulative = np.cumsum(rows, axis=1)
    cumulative[:, -1] = 1.0
    draws = np.random.default_rng([seed, 4]).random(where.size)
    out = labels.reshape(-1).copy()
    out[where] = (draws[:, None] >= cumulative).sum(axis=1)
    return out.reshape(labels.shape)


def draw_answers(soft: np.ndarray, response: np.ndarray, rng) -> np.ndarray:
    """One answer per row: an annotator with response matrix ``response[r]`` (``(n, K, K)``)
    looks at an item whose exact soft label is ``soft[r]`` (``(n, K)``). The answer's
    distribution is ``soft[r] @ response[r]``: the class seen, then the annotator's error.
    ``rng`` is a numpy Generator (the caller's seed)."""
    probabilities = np.einsum("rk,rkl->rl", soft, response)
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative[:, -1] = 1.0
    return (rng.random((len(soft), 1)) >= cumulative).sum(axis=1)
