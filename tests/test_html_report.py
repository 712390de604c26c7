"""The HTML audit report, rendered by a real browser (headless Chromium): not blank, the key
numbers shown, hostile names escaped, no console errors, no request to the network, at desktop
and phone width. Skipped where Chromium is not installed (.ci/run installs it)."""

import csv
import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import needs
from dqlabels_cli.main import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
HOSTILE_CLASS = "<script>alert('x')</script>"
HOSTILE_ITEM = '<img src=x onerror="alert(1)">'
HOSTILE_ANNOTATOR = '"><svg onload=alert(2)>'


def _browser(tmp_path, *args):
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    rng = np.random.default_rng(0)
    classes = ["cat", "dog", HOSTILE_CLASS]
    annotators = ["ann1", "ann2", "ann3", HOSTILE_ANNOTATOR]
    rows, predictions = [], []
    for i in range(40):
        item = HOSTILE_ITEM if i == 0 else f"item{i:02d}"
        truth = i % 3
        for a, annotator in enumerate(annotators):
            label = truth if rng.random() < (0.9 if a < 3 else 0.4) else rng.integers(0, 3)
            if i == 0:  # the hostile item is the most ambiguous one: listed in the report
                label = a % 3
            rows.append((item, annotator, classes[label]))
        p = np.full(3, 0.1)
        p[truth] = 0.8
        predictions.append((item, *p))
    with open(tmp / "annotations.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("item", "annotator", "label"), *rows])
    with open(tmp / "predictions.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("item", *classes), *predictions])
    result = CliRunner().invoke(main, ["evaluate", str(tmp / "annotations.csv"), "--predictions",
                                       str(tmp / "predictions.csv"), "--html",
                                       str(tmp / "report.html"), "--json", str(tmp / "r.json")])
    assert result.exit_code == 0, result.stderr
    return tmp


def test_page_is_self_contained_and_escapes_names(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<svg" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    # Nothing is fetched: images are inline, no stylesheet or font is linked.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r'<img src="([^"]*)"', page))


def test_chromium_renders_the_report(report, tmp_path):
    import json

    needs(CHROMIUM is not None, "Chromium")
    data = json.loads((report / "r.json").read_text())
    url = (report / "report.html").as_uri()
    dom = _browser(tmp_path, "--dump-dom", "--enable-logging=stderr", "--v=0", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The hostile names are text in the rendered page, not elements.
    assert HOSTILE_CLASS.replace("<", "&lt;").replace(">", "&gt;") in dom.stdout
    assert "<script" not in dom.stdout.lower() and "<svg" not in dom.stdout.lower()
    assert "onerror" not in re.sub(r"&lt;img src=x onerror=.*?&gt;", "", dom.stdout)
    # The key numbers.
    for text in ("Annotation audit", "40", f"{data['fleiss_kappa']:.3f}",
                 f"{data['scores']['kl']:.4f}", "Reliability diagram", "ann1"):
        assert text in dom.stdout, text
    console = [line for line in dom.stderr.splitlines()
               if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line]
    assert console == []

    for width in (1280, 390):
        shot = tmp_path / f"shot{width}.png"
        proc = _browser(tmp_path, f"--window-size={width},1800", f"--screenshot={shot}", url)
        assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
        assert pixels.shape[1] == width
        assert pixels.std() > 20  # not a blank page
        # Text and figures reach neither edge: nothing is cut off at this width.
        assert (pixels[:, :3] > 240).mean() > 0.99 and (pixels[:, -3:] > 240).mean() > 0.99
