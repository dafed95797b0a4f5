"""A writer's claim on a folder, as an exclusive flock: the kernel drops it when the writer's
process ends, even by kill -9, so a folder whose lock can be taken has no live writer. Works on
local filesystems and on network ones whose flock works across clients (NFS v4)."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock on `folder` (or on a file: model.pointers) until the block
    ends."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def unowned(folder: Path) -> bool:
    """True when no live process holds `folder`'s lock (False if it is gone already)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return False  # its writer just renamed or removed it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    finally:
        os.close(fd)
