"""Small file helpers shared by the library: atomic writes and output checks."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

from dqlabels.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def _temp_beside(path: Path, suffix: str = "") -> Path:
    """An empty temporary file in ``path``'s folder (so that a rename over ``path`` is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    tmp = _temp_beside(Path(path), suffix)
    try:
        yield tmp
        commit_staged(tmp, path)
    except BaseException:
        discard_staged(tmp)
        raise


def staged_file(path: str | os.PathLike, write) -> Path:
    """``write(tmp)`` into a temporary file next to ``path`` and return it, for
    :func:`commit_staged` to put in place later (or :func:`discard_staged` to drop); on an error
    in ``write`` nothing is left behind. An output can so be written while other work goes on
    and still appear only when everything has succeeded."""
    tmp = _temp_beside(Path(path))
    try:
        write(tmp)
    except BaseException:
        discard_staged(tmp)
        raise
    return tmp


def commit_staged(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put a :func:`staged_file` in place, as :func:`atomic_path` does on success."""
    os.chmod(tmp, _FILE_MODE)
    os.replace(tmp, path)


def discard_staged(tmp: str | os.PathLike) -> None:
    """Remove a :func:`staged_file` that will not be used."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv_atomic(path: str | os.PathLike, header, rows) -> None:
    """Write a CSV file atomically with the ``csv`` module (RFC 4180 quoting, so any text in a
    cell, commas, quotes and newlines included, reads back as written; ``\n`` line ends;
    floats as their shortest round-tripping text; None as an empty field)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def read_csv_column(path: str | os.PathLike, column: str) -> list[str]:
    """One column of a CSV file written by :func:`write_csv_atomic`, as text (quoting undone)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or ()):
            raise InputError(f"{path}: expected a column {column!r}")
        return [row[column] for row in reader]


# ----------------------------------------------------------------------------------------------
# May I write here? One rule for every output: nothing that exists is replaced unless
# overwrite=True (and then only what dqlabels writes there), an input is never written over,
# and the place must really take new entries (a probe, since root passes every os.access).


def check_writable_folder(target: str | os.PathLike) -> None:
    """Raise InputError unless entries can be created at ``target``: the folder itself or, where
    it is still to be created, its nearest existing ancestor (tried with a probe folder)."""
    target = Path(target).absolute()
    folder = target
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{target}: {str(folder)!r} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".dqlabels-probe-", dir=folder))
    except OSError as exc:
        raise InputError(f"{target}: folder {str(folder)!r} is not writable "
                         f"({exc.strerror})") from None


def check_output_files(targets: dict, *, overwrite: bool, inputs=()) -> None:
    """Each named output (``{name: path or None}``) can be written (:func:`check_output_file`),
    and no two name the same file."""
    seen = {}
    for name, target in targets.items():
        if target is None:
            continue
        check_output_file(target, overwrite=overwrite, inputs=inputs)
        other = seen.setdefault(os.path.abspath(target), name)
        if other != name:
            raise InputError(f"{target}: {other} and {name} name the same file")


def check_output_file(path: str | os.PathLike, *, overwrite: bool, inputs=()) -> Path:
    """Check that ``path`` can be written: its folder exists and is writable, it is not one of
    ``inputs``, and it does not exist unless ``overwrite``. Returns it as a Path."""
    path = Path(path)
    for source in inputs:
        if source is not None and path.exists() and Path(source).exists():
            if os.path.samefile(path, source):
                raise InputError(f"{path}: refusing to write over an input file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file name to write")
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {str(path.parent)!r} does not exist")
    check_writable_folder(path.parent)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass overwrite=True to replace it)")
    return path


def check_output_folder(folder: str | os.PathLike, *, overwrite: bool, own_files=None) -> Path:
    """Check that ``folder`` can be written (created where missing, with its parents).

    ``own_files=None``: the whole folder is ours (a generated dataset), so an existing non-empty
    folder is refused unless ``overwrite``; otherwise only the named entries would be written
    (figures), and only those must not exist. Returns it as a Path.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and not overwrite:
        if own_files is None and any(folder.iterdir()):
            raise InputError(f"{folder}: folder exists and is not empty (pass overwrite=True to "
                             f"replace it)")
        clash = [name for name in (own_files or ()) if (folder / name).exists()]
        if clash:
            raise InputError(f"{folder / clash[0]}: already exists (pass overwrite=True to "
                             f"replace it)")
    check_writable_folder(folder)
    return folder


def remove_entries(folder: Path, names) -> None:
    """Delete the named files and folders of ``folder`` (only those: ``--overwrite`` removes
    what dqlabels wrote there, never anything else)."""
    for name in names:
        target = Path(folder) / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def open_output_folder(folder: Path, record: str, own_files, overwrite: bool, what: str):
    """The protocol of a dqlabels output folder (a training run, a study).

    Refuses a file in its place; with ``overwrite`` first removes ``own_files`` (only those);
    returns the JSON ``record`` of the earlier work there, or ``None`` after creating the folder
    when there was none. A non-empty folder without the record is someone else's: refused,
    unless ``overwrite`` (its other files are then left as they are).
    """
    folder = Path(folder)
    record_path = folder / record
    check_output_folder(folder, overwrite=True)  # a folder, and writable; the rest below
    if overwrite and folder.exists():
        remove_entries(folder, own_files)
    if record_path.exists():
        try:
            return json.loads(record_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{record_path}: unreadable; pass overwrite=True to start again") from None
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise InputError(f"{folder}: folder exists and is not a dqlabels {what} (pass "
                         f"overwrite=True to use it anyway)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the {what} folder ({exc.strerror})") from None
    return None
