"""The t-SNE of finished runs (dqlabels.studies.tsne) on run folders written here (features,
their items and the run's config) over a small generated dataset: no training. What goes in
the CSV and the figure, the title, and the refusals word for word."""

import csv
import json

import numpy as np
import pytest

from dqlabels import InputError
from dqlabels.data.datasets import load_dataset
from dqlabels.data.synthetic import generate_dataset
from dqlabels.studies import tsne


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("tsne") / "d", num_images=12, image_size=32,
                            seed=0)


def _run(folder, dataset, items, seed):
    folder.mkdir()
    features = np.random.default_rng(seed).normal(size=(len(items), 5))
    np.save(folder / "features.npy", features)
    (folder / "features_items.csv").write_text("item\n" + "".join(f"{i}\n" for i in items))
    (folder / "config.json").write_text(json.dumps({"identity": {"dataset": str(dataset)}}))
    return folder, features


@pytest.fixture
def drawn(monkeypatch):
    """What the figure is asked to draw: (path, panels, title), the PNG left out."""
    calls = []

    def figure(path, panels, title):
        calls.append((path, panels, title))
        path.write_bytes(b"drawn")
        return path

    import dqlabels.figures

    monkeypatch.setattr(dqlabels.figures, "tsne_figure", figure)
    return calls


def _sklearn(features, perplexity, max_iter, seed):
    """scikit-learn's t-SNE with the settings the module documents (the paper's): 2-D, PCA
    initialisation, every iteration run (no early stop), the given seed."""
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=perplexity, max_iter=max_iter, init="pca",
                random_state=seed, n_iter_without_progress=max_iter,
                min_grad_norm=0.0).fit_transform(np.asarray(features, dtype=np.float64))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_one_run_by_hand(tmp_path, dataset, drawn):
    data = load_dataset(dataset)
    items = list(data.items[[7, 2, 5, 0, 9, 11, 3, 4]])
    run, features = _run(tmp_path / "run", dataset, items, seed=1)
    png, table = tsne.tsne_run(run, max_iter=250, seed=3)
    assert (png, table) == (run / "tsne.png", run / "tsne.csv")
    # 8 points: the perplexity 30 is lowered to (8 − 1) / 3.
    ((path, panels, title),) = drawn
    assert path == run / "tsne.png"
    assert title == "t-SNE of the GAP features: run (perplexity 2.33333, 250 iterations)"
    ((prefix, (coordinates, colours)),) = panels.items()
    assert prefix == ""
    np.testing.assert_allclose(coordinates, _sklearn(features, 7 / 3, 250, seed=3))
    soft = data.soft_labels[[7, 2, 5, 0, 9, 11, 3, 4]]
    ellipse = soft[:, [j for j, c in enumerate(data.classes) if c.endswith("_ellipse")]].sum(1)
    np.testing.assert_allclose(colours["shape interpolation"], ellipse)
    rows = _rows(table)
    assert rows[0] == ["item", "x", "y"] and [r[0] for r in rows[1:]] == items
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in rows[1:]], coordinates)
    with pytest.raises(InputError) as refused:
        tsne.tsne_run(run, max_iter=250)
    assert str(refused.value) == f"{run / 'tsne.png'}: already exists (pass overwrite=True to replace it)"
    tsne.tsne_run(run, max_iter=250, perplexity=2, overwrite=True,
                  out_csv=tmp_path / "elsewhere.csv")  # the seed left to its default, 0
    assert drawn[-1][2] == "t-SNE of the GAP features: run (perplexity 2, 250 iterations)"
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in _rows(tmp_path / "elsewhere.csv")[1:]],
                               _sklearn(features, 2, 250, seed=0))


def test_two_runs_side_by_side_name_their_rows(tmp_path, dataset, drawn):
    data = load_dataset(dataset)
    items = list(data.items[:6])
    hard, hard_features = _run(tmp_path / "hard", dataset, items, seed=1)
    soft, _ = _run(tmp_path / "soft", dataset, items, seed=2)
    tsne.embed_runs({"hard": hard, "soft": soft}, tmp_path / "t.png", tmp_path / "t.csv",
                    "both", panel_titles={"hard": "hard labels — "}, max_iter=250, seed=5)
    ((_, panels, title),) = drawn
    assert title == "both" and list(panels) == ["hard labels — ", "soft"]
    np.testing.assert_allclose(panels["hard labels — "][0], _sklearn(hard_features, 5 / 3, 250, 5))
    rows = _rows(tmp_path / "t.csv")
    assert rows[0] == ["mode", "item", "x", "y"]
    assert [r[:2] for r in rows[1:]] == [["hard", i] for i in items] + [["soft", i] for i in items]


def test_runs_that_do_not_fit_are_refused(tmp_path, dataset):
    data = load_dataset(dataset)
    empty = tmp_path / "empty"
    empty.mkdir()
    for call in (tsne.run_features, tsne.tsne_run):
        with pytest.raises(InputError) as refused:
            call(empty)
        assert str(refused.value) == (f"{empty}: not a finished dqlabels run (missing "
                                      f"features.npy, features_items.csv, config.json)")
    stranger, _ = _run(tmp_path / "stranger", dataset, ["nobody", *data.items[:4]], seed=0)
    with pytest.raises(InputError) as refused:
        tsne.run_features(stranger)
    assert str(refused.value) == f"{stranger}: features do not match the dataset's items"
    short, _ = _run(tmp_path / "short", dataset, list(data.items[:5]), seed=0)
    np.save(short / "features.npy", np.zeros((4, 5)))
    with pytest.raises(InputError) as refused:
        tsne.run_features(short)
    assert str(refused.value) == f"{short}: features do not match the dataset's items"
    features, items, soft, classes = tsne.run_features(_run(tmp_path / "fine", dataset,
                                                            list(data.items[:5]), seed=0)[0])
    assert items.dtype == object and list(items) == list(data.items[:5])
    np.testing.assert_array_equal(soft, data.soft_labels[:5])
    assert tuple(classes) == tuple(data.classes) and features.shape == (5, 5)


def test_embed_refusals_word_for_word():
    features = np.zeros((10, 3))
    with pytest.raises(InputError) as refused:
        tsne.embed(features, max_iter=249)
    assert str(refused.value) == ("Expected max_iter >= 250 (scikit-learn's exaggeration "
                                  "phase). Received: max_iter=249")
    with pytest.raises(InputError) as refused:
        tsne.embed(np.zeros(10))
    assert str(refused.value) == "t-SNE needs at least 4 feature vectors; got shape (10,)"
    with pytest.raises(InputError) as refused:
        tsne.embed(np.zeros((10, 1)))
    assert str(refused.value) == "t-SNE needs features of at least 2 dimensions; got shape (10, 1)"
    assert tsne.embed(np.random.default_rng(0).normal(size=(4, 3)), max_iter=250).shape == (4, 2)
    assert tsne.effective_perplexity(30, 91) == 30.0 and tsne.effective_perplexity(30, 90) == \
        pytest.approx(89 / 3)


def test_embed_is_scikit_learns_tsne_with_the_papers_settings():
    """Against scikit-learn called with the documented settings: float32 features become
    float64, the default seed is 0, and every iteration runs."""
    features = np.random.default_rng(4).normal(size=(40, 6)).astype(np.float32)
    np.testing.assert_allclose(tsne.embed(features, max_iter=300),
                               _sklearn(features, 13, 300, seed=0))
    np.testing.assert_allclose(tsne.embed(features, perplexity=5, max_iter=260, seed=2),
                               _sklearn(features, 5, 260, seed=2))
    # Twelve points in the plane: scikit-learn's default patience (300 iterations without
    # progress) stops this run at iteration 949 of 1,200; the paper's settings run them all.
    plane = np.random.default_rng(0).normal(size=(12, 2))
    np.testing.assert_allclose(tsne.embed(plane, max_iter=1200), _sklearn(plane, 11 / 3, 1200, 0))


def test_point_colours_of_integer_labels_empty_rows_and_palettes():
    """Integer one-hot rows are colours in [0, 1]; a row without mass is black; up to 10
    classes take matplotlib's tab10, more take tab20."""
    import matplotlib

    colours = tsne.point_colours(np.array([[0, 1, 0], [0, 0, 0]]), ["a", "b", "c"])
    np.testing.assert_array_equal(colours["soft label as RGB"], [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    tab10, tab20 = (np.asarray(matplotlib.colormaps[n].colors) for n in ("tab10", "tab20"))
    ten = tsne.point_colours(np.eye(10)[[9]], [f"c{j}" for j in range(10)])
    assert list(ten) == ["soft label (class palette mix)"]
    np.testing.assert_allclose(ten["soft label (class palette mix)"], tab10[[9]])
    eleven = tsne.point_colours(np.eye(11)[[10]], [f"c{j}" for j in range(11)])
    np.testing.assert_allclose(eleven["soft label (class palette mix)"], tab20[[10]])


def test_a_run_needs_neither_its_images_nor_pickles(tmp_path):
    """A finished run's t-SNE reads its features, not the dataset's images (a run copied
    without them still works); a features file of Python objects is refused, never unpickled."""
    import shutil

    folder = generate_dataset(tmp_path / "d", num_images=6, image_size=32, seed=1)
    data = load_dataset(folder)
    run, features = _run(tmp_path / "run", folder, list(data.items), seed=0)
    shutil.rmtree(folder / "images")
    got, items, _, _ = tsne.run_features(run)
    np.testing.assert_array_equal(got, features)
    np.save(run / "features.npy", np.array([{"a": 1}] * 6, dtype=object), allow_pickle=True)
    with pytest.raises(InputError) as refused:
        tsne.run_features(run)
    assert str(refused.value) == (f"{run}: features.npy holds Python objects; expected the "
                                  f"features a dqlabels run saves")
    (run / "features.npy").write_bytes(b"\x93NUMPY\x01\x00")
    with pytest.raises(InputError) as refused:
        tsne.run_features(run)
    with pytest.raises(ValueError) as numpy_says:  # numpy's own words, whatever its version
        np.load(run / "features.npy", allow_pickle=False)
    assert str(refused.value) == (f"{run}: features.npy is not a readable .npy file "
                                  f"({str(numpy_says.value).splitlines()[0]}); expected the "
                                  f"features a dqlabels run saves")
    # An .npz archive saved under the .npy name (numpy.savez adds nothing to a name that has
    # a suffix): refused in one line, as the readers refuse it, not a traceback.
    np.savez(run / "features.npz", features=features)
    (run / "features.npz").replace(run / "features.npy")
    with pytest.raises(InputError) as refused:
        tsne.run_features(run)
    assert str(refused.value) == (f"{run}: features.npy is an .npz archive of arrays; expected "
                                  f"the features a dqlabels run saves")


def test_a_studys_figure_embeds_its_hard_and_soft_runs_of_the_split(tmp_path, dataset, drawn):
    """``runs/{mode}-{part}{k}``, hard above soft, titled by the dataset's name and the part;
    the t-SNE settings are the study's."""
    from dqlabels.studies.study import write_tsne_figure

    data = load_dataset(dataset)
    items = list(data.items[:7])
    (tmp_path / "runs").mkdir()
    hard, hard_features = _run(tmp_path / "runs" / "hard-fold2", dataset, items, seed=1)
    _run(tmp_path / "runs" / "soft-fold2", dataset, items, seed=2)
    path = write_tsne_figure(tmp_path, data, {"fold": 2, "perplexity": 30.0, "max_iter": 260,
                                              "seed": 4}, part="fold")
    ((png, panels, title),) = drawn
    assert path == png == tmp_path / "tsne.png"
    assert title == "t-SNE of the test-set GAP features (dqlabels-synthetic, fold 2)"
    assert list(panels) == ["hard labels — ", "soft labels — "]
    np.testing.assert_allclose(panels["hard labels — "][0], _sklearn(hard_features, 2, 260, 4))
    rows = _rows(tmp_path / "tsne.csv")
    assert rows[0] == ["mode", "item", "x", "y"] and {r[0] for r in rows[1:]} == {"hard", "soft"}


def test_a_studys_figure_of_split_zero_by_default_named_by_its_folder(tmp_path, dataset, drawn):
    """The synthetic study asks for its split (the default part); a dataset without a name
    in its dataset.json is named by its folder; the perplexity is the study's."""
    from types import SimpleNamespace

    from dqlabels.studies.study import write_tsne_figure

    data = load_dataset(dataset)
    items = list(data.items[:7])
    (tmp_path / "runs").mkdir()
    hard, hard_features = _run(tmp_path / "runs" / "hard-split0", dataset, items, seed=1)
    _run(tmp_path / "runs" / "soft-split0", dataset, items, seed=2)
    nameless = SimpleNamespace(info={}, root=tmp_path / "my-folder")
    write_tsne_figure(tmp_path, nameless, {"split": 0, "perplexity": 1.5, "max_iter": 250,
                                           "seed": 0})
    ((_, panels, title),) = drawn
    assert title == "t-SNE of the test-set GAP features (my-folder, split 0)"
    np.testing.assert_allclose(panels["hard labels — "][0], _sklearn(hard_features, 1.5, 250, 0))
