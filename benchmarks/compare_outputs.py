"""Are the audit's outputs byte-identical to another commit's? The safety net of a refactor.

Checks out REF (default HEAD) into a temporary worktree. On 11 campaigns (the example, the tool
exports in tests/fixtures/exports, the same answers with gold, a probabilities table) it runs
``dqlabels evaluate`` with ``--json``, ``--labels`` and (where annotators are known)
``--annotators``, plus ``dqlabels plan`` once, in each tree; ``--html`` too for the example, the
gold and the probabilities campaigns (its inline PNG figures masked: the page's text and
tables are compared). Each tree runs in a fresh process of its own, through the command line
(its own ``cli`` folder as ``dqlabels_cli``), so the comparison holds however the package's
modules move. The outputs, the printed summaries and error lines and the exit statuses are
then compared file by file. Exit status 1 when any differ.

With ``--studies`` it also runs two tiny studies in each tree, from one generated dataset: the
paper's (``reproduce --preset quick``, 48 images, two splits, one epoch) and the budget study
with its shrunk arm (40 images, budgets 1 and 3, two splits), and compares their results files
(JSON, Markdown, CSV) with the wall times masked: training is deterministic, so every score
and table must match. About two minutes more.

Usage: python benchmarks/compare_outputs.py [--ref REF] [--studies]
"""

from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

RUN = r'''
import contextlib, io, os, re, sys
tree, out, probs, cli_path = sys.argv[1:5]
sys.path[:0] = [tree, cli_path]
os.chdir(tree)
import dqlabels
from dqlabels_cli.main import main
assert dqlabels.__file__.startswith(tree), dqlabels.__file__


def dqlabels_command(*args):
    # One command as a user runs it, in this process: what it prints, and its error line.
    text, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(errors):
        try:
            main.main(list(args))
        except SystemExit as exc:
            status = exc.code
    return text.getvalue() + errors.getvalue() + f"(exit {status})\n"


exports = os.path.join("tests", "fixtures", "exports")  # relative: the same source in both
jobs = [("example", "examples/annotations.csv",
         ["--annotators", f"{out}/example.annotators.csv", "--plan-budget", "10",
          "--plan-out", f"{out}/example.plan.csv"])]
jobs += [(name, os.path.join(exports, name), []) for name in sorted(os.listdir(exports))]
jobs.append(("gold", os.path.join(exports, "question_worker_answer.csv"),
             ["--gold", os.path.join(exports, "gold_for_question_worker_answer.csv"),
              "--annotators", f"{out}/gold.annotators.csv"]))
jobs.append(("probs", probs, ["--format", "probs"]))
PAGES = ("example", "gold", "probs")
for name, path, extra in jobs:
    if name in PAGES:
        extra = extra + ["--html", f"{out}/{name}.html"]
    text = dqlabels_command("evaluate", path, "--json", f"{out}/{name}.json", "--labels",
                            f"{out}/{name}.labels.csv", "--overwrite", *extra)
    with open(f"{out}/{name}.txt", "w") as f:
        f.write(text.replace(out, "OUT").replace(tree, "TREE"))
    if name in PAGES and os.path.exists(f"{out}/{name}.html"):
        with open(f"{out}/{name}.html", encoding="utf-8") as f:
            page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "PNG", f.read())
        with open(f"{out}/{name}.html", "w", encoding="utf-8") as f:
            f.write(page)
text = dqlabels_command("plan", "examples/annotations.csv", "--budget", "8", "--out",
                        f"{out}/plan.csv", "--json", f"{out}/plan.json", "--overwrite")
with open(f"{out}/plan.txt", "w") as f:
    f.write(text.replace(out, "OUT"))
'''


STUDIES = r'''
import contextlib, io, json, os, re, sys
tree, out, data, cli_path = sys.argv[1:5]
sys.path[:0] = [tree, cli_path]
os.chdir(tree)
from dqlabels_cli.main import main

RUNS = {
    "study": ["--preset", "quick", "--splits", "2", "--epochs", "1", "--batch-size", "16",
              "--tsne-max-iter", "250"],
    "budget": ["--annotations-per-image", "1,3", "--num-images", "40", "--splits", "2",
               "--epochs", "1", "--batch-size", "8", "--annotator-pool", "5", "--no-precise-bn",
               "--shrunk"],
}
TIMES = {"seconds", "training_seconds"}


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


for name, args in RUNS.items():
    folder = os.path.join(out, name)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main.main(["reproduce", "--dataset", data, "--out", folder, *args])
        except SystemExit as exc:
            assert exc.code in (0, None), (name, exc.code)
    for stem in ("results", "budget"):
        for suffix in (".json", ".md", ".csv"):
            path = os.path.join(folder, stem + suffix)
            if not os.path.exists(path):
                continue
            text = open(path, encoding="utf-8").read()
            if suffix == ".json":
                text = json.dumps(untimed(json.loads(text)), indent=2)
            elif suffix == ".md":
                text = re.sub(r"(?i)(wall time[^:]*): [^\n]*", r"\1: TIME", text)
            with open(os.path.join(out, f"{name}.{stem}{suffix}"), "w", encoding="utf-8") as f:
                f.write(text)
'''


def studies(tree: Path, out: Path, data: Path) -> None:
    """The two tiny studies in ``tree``, their results files (times masked) in ``out``."""
    cli_path = out.parent / f"{out.name}-studies-cli"
    cli_path.mkdir()
    (cli_path / "dqlabels_cli").symlink_to(tree / "cli", target_is_directory=True)
    subprocess.run([sys.executable, "-c", STUDIES, str(tree), str(out), str(data),
                    str(cli_path)], check=True)


def outputs(tree: Path, out: Path, probs: Path) -> None:
    """Run the commands in ``tree`` (its ``cli`` folder importable as ``dqlabels_cli``)."""
    out.mkdir(parents=True)
    cli_path = out.parent / f"{out.name}-cli"
    cli_path.mkdir()
    (cli_path / "dqlabels_cli").symlink_to(tree / "cli", target_is_directory=True)
    subprocess.run([sys.executable, "-c", RUN, str(tree), str(out), str(probs), str(cli_path)],
                   check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to compare against")
    parser.add_argument("--studies", action="store_true",
                        help="also compare two tiny studies' results files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        other = scratch / "tree"
        probs = scratch / "probs.csv"  # one path for both: the report names its source
        probs.write_text("item,cat,dog\na,0.2,0.8\nb,0.5,0.5\nc,1,0\n")
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(other),
                        args.ref], check=True)
        try:
            outputs(other, scratch / "theirs", probs)
            outputs(REPO, scratch / "ours", probs)
            if args.studies:
                data = scratch / "shapes"
                subprocess.run([sys.executable, "-c", "import sys; from dqlabels.data.synthetic "
                                "import generate_dataset; generate_dataset(sys.argv[1], "
                                "num_images=48, image_size=32, seed=5)", str(data)], check=True)
                studies(other, scratch / "theirs", data)
                studies(REPO, scratch / "ours", data)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)],
                           check=True)
        names = sorted(p.name for p in (scratch / "ours").iterdir() if p.is_file())
        theirs = sorted(p.name for p in (scratch / "theirs").iterdir() if p.is_file())
        _, mismatch, errors = filecmp.cmpfiles(scratch / "ours", scratch / "theirs", names,
                                               shallow=False)
        missing = sorted(set(names) ^ set(theirs))
        print(f"{len(names)} output files from 11 campaigns (3 HTML pages) and one plan"
              + (", and two tiny studies" if args.studies else "") + f", against {args.ref}")
        for name in mismatch + errors + missing:
            print(f"  differs: {name}")
        if mismatch or errors or missing:
            return 1
        print("  all byte-identical")
        return 0


if __name__ == "__main__":
    sys.exit(main())
