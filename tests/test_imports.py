import subprocess
import sys


def _modules_after(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_dqlabels_does_not_import_tensorflow():
    modules = _modules_after("import dqlabels, dqlabels.audit")
    assert "dqlabels" in modules
    assert "tensorflow" not in modules and "keras" not in modules
    assert "numba" not in modules  # imported by large Dawid–Skene fits only


def test_evaluate_command_does_not_import_tensorflow(tmp_path):
    code = (
        "from click.testing import CliRunner\n"
        "from dqlabels_cli.main import main\n"
        f"r = CliRunner().invoke(main, ['evaluate', 'examples/annotations.csv', "
        f"'--json', {str(tmp_path / 'r.json')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
    )
    from conftest import REPO

    out = subprocess.run([sys.executable, "-c", code + "import sys\n"
                          "print('tensorflow' in sys.modules, 'scipy.optimize' in sys.modules)"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    # scipy.optimize: 0.2-0.3 s of imports at every run (the plan's fits use dqlabels.minimize)
    assert out.stdout.strip() == "False False"
