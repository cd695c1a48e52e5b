"""Files and folders only their owner can read: the database, its WAL, the logs.

Conversations are in the SQLite database (and, until a checkpoint, in its
``-wal`` file); the logs name conversations and users by id. With the usual
umask (022) both would be readable by every user of the machine. What the
project creates here is owner-only from the first byte: folders 0700, files
0600. SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the mode of
the database file, so a 0600 database keeps them 0600 too.

Folders that already exist are left as they are (they may be shared, like
``/tmp``); existing files the project owns are narrowed to 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
#: For child processes (``subprocess.Popen(umask=...)``): new files 0600.
UMASK = 0o077


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, each created one 0700."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another process meanwhile
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask


def narrow(path: Path) -> None:
    """Make an existing file of ours 0600 if group or others may read it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid != os.getuid() or not stat.S_IMODE(info.st_mode) & 0o077:
        return
    try:
        os.chmod(path, FILE_MODE)
    except OSError as error:
        logger.warning("Could not make %s owner-only (%s)", path.name, error)
        return
    logger.info("Made %s readable by its owner only", path.name)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it is missing; narrow it otherwise."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        narrow(path)
        return
    os.close(fd)


def private_sqlite_file(path: Path) -> None:
    """The SQLite database and its side files, owner-only (see the module doc).

    An empty file is a valid new SQLite database, so it can be made 0600
    before SQLite first opens it.
    """
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        narrow(path.with_name(path.name + suffix))


def open_private_log(path: Path) -> int:
    """Open ``path`` for appending, created 0600 (in 0700 folders); a descriptor."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    info = os.fstat(fd)
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, FILE_MODE)  # a log from before this change
    return fd
