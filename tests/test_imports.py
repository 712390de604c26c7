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
        f"'--json', {str(tmp_path / 'r.json')!r}, '--labels', {str(tmp_path / 'l.csv')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
    )
    from conftest import REPO

    out = subprocess.run([sys.executable, "-c", code + "import sys\n"
                          "print('tensorflow' in sys.modules, 'scipy.optimize' in sys.modules, "
                          "any(m.split('.')[0] == 'pandas' for m in sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    # scipy.optimize: 0.2-0.3 s of imports at every run (the plan's fits use dqlabels.minimize);
    # pandas: 0.2 s, which pyarrow's numpy conversions import (dqlabels._arrow does without)
    assert out.stdout.strip() == "False False False"


def test_the_audit_commands_run_without_cyclic_gc_and_with_one_blas_thread():
    """``dqlabels evaluate``/``plan`` set OpenBLAS to one thread before numpy loads (unless the
    user chose a number) and switch the cyclic garbage collector off; other commands and
    ``import dqlabels_cli`` leave both alone."""
    import os

    from conftest import REPO

    # The package's first module, run from this tree (as ``import dqlabels_cli`` runs it).
    code = ("import gc, os, runpy, sys\n"
            "sys.argv = ['dqlabels'] + sys.argv[1:]\n"
            f"runpy.run_path({str(REPO / 'cli' / '__init__.py')!r})\n"
            "print('numpy' in sys.modules, gc.isenabled(), "
            "os.environ.get('OPENBLAS_NUM_THREADS'))")

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    def run(*argv, **extra):
        return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                              text=True, check=True, env={**env, **extra}).stdout.strip()

    assert run("evaluate", "a.csv") == "False False 1"
    assert run("plan", "a.csv") == "False False 1"
    assert run("evaluate", "a.csv", OPENBLAS_NUM_THREADS="4") == "False False 4"
    assert run("train") == "False True None"
    assert run() == "False True None"
