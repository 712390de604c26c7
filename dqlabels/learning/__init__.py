"""Training networks: the only subpackage that imports Keras, TensorFlow or JAX (models, the
input pipeline, inference, run folders, callbacks, Keras metrics, placement on devices, precise
BatchNorm, the training loop, predictions, data-parallel jobs). Imports every lower package."""
