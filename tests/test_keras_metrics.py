import keras
import numpy as np
import pytest

from dqlabels.keras import MacroAccuracy, SoftLabelKL  # noqa: E402
from dqlabels.labels import scores  # noqa: E402


def _data(seed=0, n=64, k=4):
    rng = np.random.default_rng(seed)
    return (rng.dirichlet(np.ones(k), n).astype("float32"),
            rng.dirichlet(np.ones(k), n).astype("float32"))


def test_kl_metric_matches_numpy_over_batches():
    y, p = _data()
    metric = SoftLabelKL()
    for start in range(0, 64, 16):
        metric.update_state(y[start:start + 16], p[start:start + 16])
    assert float(metric.result()) == pytest.approx(scores.kl_divergence(y, p), rel=1e-5)
    one_hot = np.eye(2, dtype="float32")[[0]]
    metric.reset_state()
    metric.update_state(one_hot, np.array([[0.25, 0.75]], "float32"))
    assert float(metric.result()) == pytest.approx(-np.log(0.25), rel=1e-6)


def test_macro_accuracy_metric_matches_numpy_and_tie_rule():
    y, p = _data(1)
    metric = MacroAccuracy(num_classes=4)
    for start in range(0, 64, 20):
        metric.update_state(y[start:start + 20], p[start:start + 20])
    assert float(metric.result()) == pytest.approx(scores.macro_accuracy(y, p), rel=1e-6)
    # A tied soft target counts for the lowest class index, as in the numpy scores.
    metric.reset_state()
    metric.update_state(np.array([[0.5, 0.5, 0, 0]], "float32"), np.array([[0.9, 0.1, 0, 0]], "float32"))
    assert float(metric.result()) == 1.0


def test_metrics_in_compile_fit_and_serialise(tmp_path):
    y, _ = _data(2, n=32, k=3)
    x = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(),
                  metrics=[SoftLabelKL(), MacroAccuracy(num_classes=3)])
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert {"kl", "macro_accuracy"} <= set(history.history)
    pred = model.predict(x, verbose=0)
    evaluated = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert evaluated["kl"] == pytest.approx(scores.kl_divergence(y, pred), rel=1e-4)
    assert evaluated["macro_accuracy"] == pytest.approx(scores.macro_accuracy(y, pred), abs=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True)["kl"] == pytest.approx(evaluated["kl"], rel=1e-5)
