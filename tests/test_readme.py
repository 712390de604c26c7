"""The README and the guide in docs/ stay true: the Quick start commands match CI, every Python
example runs, the shown output is what the command prints, the README stays an entry page whose
links lead somewhere, and the site lists every page (CI builds it with ``mkdocs build
--strict``, which fails on a broken link)."""

import re
import subprocess
import sys

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
PAGES = sorted((REPO / "docs").glob("*.md"))


def _blocks(language, text=README):
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_quick_start_has_two_commands_and_ci_runs_the_test_one():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)
    assert len(commands) == 2
    assert "dqlabels" in commands[0] and "pytest" in commands[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.splitlines()


@pytest.mark.slow
def test_python_examples_run(monkeypatch, capsys):
    """Each block of the README and of every docs page in a namespace of its own, from the
    repository's root, as a user pastes it."""
    blocks = [(f"README python block {n}", code) for n, code in enumerate(_blocks("python"))]
    for page in PAGES:
        blocks += [(f"{page.name} python block {n}", code) for n, code in
                   enumerate(_blocks("python", page.read_text(encoding="utf-8")))]
    assert len(blocks) >= 3
    monkeypatch.chdir(REPO)
    for name, code in blocks:
        exec(compile(code, name, "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out  # the examples print what they show


@pytest.mark.parametrize("page", ["README.md", "docs/evaluate.md"])
def test_shown_evaluate_output_is_what_the_command_prints(page):
    shown = _blocks("text", (REPO / page).read_text(encoding="utf-8"))[0].splitlines()
    command = shown[0].removeprefix("$ ").split()
    assert command[:2] == ["dqlabels", "evaluate"]
    proc = subprocess.run([sys.executable, "-m", "dqlabels_cli", *command[1:]], cwd=REPO,
                          capture_output=True, text=True, check=True)
    printed = proc.stdout.splitlines()
    for line in shown[1:]:
        if line.strip() == "...":
            break
        assert line in printed


@pytest.mark.slow
def test_dataset_commands_run(tmp_path):
    """The first bash block of docs/generate.md, run as written in a scratch folder."""
    page = (REPO / "docs" / "generate.md").read_text(encoding="utf-8")
    block = _blocks("bash", page)[0]
    for line in block.strip().splitlines():
        command = line.split("#", 1)[0].split()
        assert command[0] == "dqlabels"
        proc = subprocess.run([sys.executable, "-m", "dqlabels_cli", *command[1:]], cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
    assert (tmp_path / "data" / "synthetic-preview.png").exists()
    assert (tmp_path / "split0.csv").read_text().startswith("item,split\n")


def test_a_missing_outside_resource_fails_in_ci_and_skips_elsewhere(monkeypatch):
    from conftest import needs

    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="Chromium is missing in CI"):
        needs(False, "Chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        needs(False, "Chromium")
    needs(True, "Chromium")
    assert "export CI=" in (REPO / ".ci" / "run").read_text()


def test_the_readme_is_an_entry_page_whose_links_lead_somewhere():
    """At most 350 lines: what it is, the two commands, the three uses, links into docs/."""
    assert len(README.splitlines()) <= 350
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    assert any(t.startswith("docs/") for t in targets)
    for target in targets:
        if "://" not in target:
            assert (REPO / target).exists(), f"README links to {target}, which is missing"


def test_the_site_lists_every_page_of_the_guide():
    """mkdocs.yml's navigation holds each docs page once, and CI builds the site strictly."""
    nav = re.findall(r"^\s+- [^:]+: (\S+\.md)$", (REPO / "mkdocs.yml").read_text(),
                     flags=re.M)
    assert sorted(nav) == sorted(page.name for page in PAGES)
    assert "mkdocs build --strict" in (REPO / ".ci" / "run").read_text()
