"""Every file bayescale writes: checked before any work, then written whole or not at all.

:func:`check_output` refuses, before a fit or a check runs, a path that cannot take the file: a
folder, a device or FIFO, a dangling link, the input file itself, an existing file without
``overwrite``, a folder without write permission. :func:`write_atomic` writes to a temporary
file beside the target (``.NAME.PID.XXXX.part``), gives it the mode the umask gives a new file,
and moves it into place only once complete, with Ctrl-C and SIGTERM held back until then (a
second one abandons the save), so an interrupted save leaves the old file (or none), never half
a file. Temporary files left
by a process that was killed (SIGKILL) are removed on the next write to the same folder.
:func:`written` lists what this process has written, so an interrupted command can say so.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bayescale.errors import OutputError

_WRITTEN: list[Path] = []
# A temporary file of write_atomic: ".NAME.PID.XXXX.part" (mkstemp's XXXX has no dot)
_PART = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.part$")


def check_output(path: str | Path, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check that a file can be written to ``path``, before any work is done.

    Parameters
    ----------
    path : str or pathlib.Path
        Where the file will go. A link to an existing file is followed: the file it points to
        is replaced and the link kept.
    overwrite : bool, default False
        Whether an existing regular file may be replaced.
    inputs : iterable of str or pathlib.Path
        Files the command reads (a runs file, a fit); writing over one of them is refused even
        with ``overwrite``. Names that are not files (a registered data set) are skipped.

    Returns
    -------
    pathlib.Path
        The path the file will be written to (the link's target for a link).

    Raises
    ------
    OutputError
        If the path is a folder, not a regular file, a dangling link, one of ``inputs``, an
        existing file without ``overwrite``, or its folder cannot be created or written.

    """
    path = Path(path)
    if path.is_symlink():
        target = path.resolve()
        if not target.exists():
            raise OutputError(f"'{path}' is a symbolic link to '{target}', which does not "
                              "exist: remove the link or give another path")
        path = target
    if path.is_dir():
        raise OutputError(f"'{path}' is a directory: give a file name, e.g. "
                          f"'{path / ('fit.nc' if path.suffix == '' else path.name)}'")
    if path.exists():
        if not stat.S_ISREG(path.stat().st_mode):
            raise OutputError(f"'{path}' is not a regular file (a device, FIFO or socket): "
                              "give the path of a file")
        for given in inputs:
            if given is not None and Path(given).is_file() and os.path.samefile(path, given):
                raise OutputError(f"'{path}' is the input '{given}' of this command: writing "
                                  "there would destroy it; give another output path")
        if not overwrite:
            raise OutputError(f"'{path}' already exists: pass --overwrite (Python: "
                              "overwrite=True) to replace it, or choose another path")
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise OutputError(f"cannot write '{path}': '{existing}' is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{path}': no permission to write in '{existing}'")
    return path


def write_atomic(path: str | Path, write: Callable[[str], object], overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = ()) -> Path:
    """Write a file with ``write(temporary_path)`` and move it to ``path`` once complete.

    Parameters
    ----------
    path : str or pathlib.Path
        The target file, checked by :func:`check_output`.
    write : callable
        Writes the whole file to the temporary path it is given (whose name ends in ``.part``:
        a writer that picks a format by the extension must be told the format).
    overwrite : bool, default False
        Whether an existing file may be replaced. Without it, if another process creates the
        file while this one writes, this file is kept under a free name beside it and the
        error says where.
    inputs : iterable of str or pathlib.Path
        The command's input files, never written over.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputError
        If :func:`check_output` refuses the path, the disk fills or the write fails (the old
        file, if any, is left as it was), or the name was taken meanwhile.

    """
    path = check_output(path, overwrite, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                         suffix=".part")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # what a new file gets, not mkstemp's 0600
        # Ctrl-C or SIGTERM in the middle of a library's write can leave it holding a lock
        # forever; they wait for the write, the move and its record (a second one does not).
        with _signals_held():
            try:
                write(temporary)
            except (OSError, RuntimeError) as error:  # the disk filled: netCDF's "HDF error"
                raise OutputError(f"could not write '{path}': {' '.join(str(error).split())}; "
                                  "nothing was replaced (is the disk full?)") from None
            with open(temporary, "rb") as finished:
                os.fsync(finished.fileno())
            if overwrite:
                os.replace(temporary, path)
            else:
                _place_new(temporary, path)
            _WRITTEN.append(path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def written() -> list[Path]:
    """Return the files this process has written with :func:`write_atomic`, in order."""
    return list(_WRITTEN)


def remove_stale_parts(path: Path) -> list[Path]:
    """Remove the temporary files in ``path``'s folder of writes whose process has ended.

    Returns
    -------
    list of pathlib.Path
        The files removed: those named ``.NAME.PID.XXXX.part`` (as :func:`write_atomic` names
        them) whose process PID no longer runs. Another writer's (a running process) is kept.

    """
    removed = []
    for part in path.parent.glob(".*.part"):
        match = _PART.match(part.name)
        if match and not _running(int(match["pid"])):
            try:
                part.unlink()
                removed.append(part)
            except OSError:
                pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _place_new(temporary: str, path: Path) -> None:
    """Link the finished file to ``path`` only if nothing is there (atomic create)."""
    try:
        os.link(temporary, path)
        return
    except FileExistsError:
        pass
    for k in itertools.count(1):  # keep this file under the first free name beside it
        kept = path.with_name(f"{path.stem}-{k}{path.suffix}")
        try:
            os.link(temporary, kept)
            break
        except FileExistsError:
            continue
    _WRITTEN.append(kept)
    raise OutputError(f"'{path}' was created by another process while this command ran; "
                      f"this file is kept as '{kept}' (pass --overwrite to replace a file)")


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver them.

    A signal that arrives inside is delivered to the handler that was there before (Python's
    ``KeyboardInterrupt``, or the command line's) once the block is complete, so that a file
    is either written, moved into place and recorded, or not moved at all. A second signal of
    the same kind does not wait: it raises ``KeyboardInterrupt`` at once (the save is
    abandoned; the old file stays). Outside the main thread (no signal handlers there) it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def hold(signum, frame):
        if signum in arrived:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        arrived.append(signum)

    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(arrived):
            signal.raise_signal(number)
