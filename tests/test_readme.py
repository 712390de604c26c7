"""The README stays true: its Quick start commands match CI, its Python examples run."""

import re
import subprocess
import sys

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_quick_start_has_two_commands_and_ci_runs_the_test_one():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)
    assert len(commands) == 2
    assert "dqlabels" in commands[0] and "pytest" in commands[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.splitlines()


@pytest.mark.slow
def test_python_examples_run(monkeypatch, capsys):
    """Each block in a namespace of its own, from the repository's root, as a user pastes it."""
    blocks = _blocks("python")
    assert len(blocks) >= 3
    monkeypatch.chdir(REPO)
    for number, code in enumerate(blocks):
        exec(compile(code, f"README python block {number}", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out  # the examples print what they show


def test_shown_evaluate_output_is_what_the_command_prints():
    shown = _blocks("text")[0].splitlines()
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
    """The bash block of 'The synthetic dataset' section, run as written in a scratch folder."""
    section = README.split("## The synthetic dataset", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0]
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
