"""Results the test session's processes share: computed by the first pytest-xdist worker that needs one, read by
the others from a directory ``tests/conftest.py`` makes for the session."""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHARED_DIR_ENV = "PRODLINE_TEST_SHARED_DIR"


def once_per_session(key: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, run by the first pytest-xdist worker that asks for ``key``; the others wait for it and read
    its pickled result. A result that is the same in every worker (a deterministic program run) then costs the
    session once, not once per worker. Outside a pytest session (no directory), computed."""
    directory = os.environ.get(SHARED_DIR_ENV)
    if not directory:
        return compute()
    path = Path(directory) / hashlib.sha256(key.encode()).hexdigest()
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when compute() raises
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.with_suffix(".partial").write_bytes(pickle.dumps(value))
        path.with_suffix(".partial").replace(path)
        return value
