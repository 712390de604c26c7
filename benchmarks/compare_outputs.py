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

Usage: python benchmarks/compare_outputs.py [--ref REF]
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
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)],
                           check=True)
        names = sorted(p.name for p in (scratch / "ours").iterdir())
        theirs = sorted(p.name for p in (scratch / "theirs").iterdir())
        _, mismatch, errors = filecmp.cmpfiles(scratch / "ours", scratch / "theirs", names,
                                               shallow=False)
        missing = sorted(set(names) ^ set(theirs))
        print(f"{len(names)} output files from 11 campaigns (3 HTML pages) and one plan, "
              f"against {args.ref}")
        for name in mismatch + errors + missing:
            print(f"  differs: {name}")
        if mismatch or errors or missing:
            return 1
        print("  all byte-identical")
        return 0


if __name__ == "__main__":
    sys.exit(main())
