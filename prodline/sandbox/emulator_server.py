"""moto's server as the sandbox runs it: ``moto_server``'s own ``main``, except that SIGTERM and SIGINT end the
process at once.

moto's handler calls ``sys.exit``, after which the interpreter frees every object the server holds, one by one:
after a demo (about 270 MB of emulated state) the server took 1.1 s to exit, the longest part of the last
``sandbox down``, and that is CPU too. Nothing the server holds outlives it (the sandbox discards its stacks with
the emulator), so it flushes its log and leaves with ``os._exit``. It also answers two questions moto asks on
every request once (``moto_shortcuts``), and its sessions share botocore's parsed data files (``botocore_data``).
"""

from __future__ import annotations

import contextlib
import os
import sys

from moto import server

from prodline.sandbox import botocore_data, moto_shortcuts


def leave(signum, frame) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    # moto's main() installs its module's ``signal_handler`` for SIGINT and SIGTERM, then serves until one arrives.
    if not callable(getattr(server, "signal_handler", None)):
        raise RuntimeError("moto.server has no signal_handler to replace: check this module against moto's")
    server.signal_handler = leave
    moto_shortcuts.install()
    botocore_data.share_loader_caches()
    server.main(argv)


if __name__ == "__main__":
    main()
