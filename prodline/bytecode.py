"""Write the bytecode of the venv's libraries and the project's packages on every core: the set-up's compile step.

``python -m prodline.bytecode --exclude REGEX DIR...`` compiles what ``python -m compileall -q -j 0 -x REGEX DIR...``
would, with ``compileall.compile_file`` itself, so the files written (timestamp-checked ``.pyc`` at the default
optimisation level, in ``__pycache__``) and the files left out are the same. Why not compileall's own command: it
hands each file of the tree to its worker processes one at a time, the ones its pattern leaves out included, and
a worker then checks the file against its ``.pyc``. The venv holds 20,000 Python files (3,900 of them the
providers', all left out): compileall took 15.9 s with nothing left to compile. Here the walk does not enter a
directory the pattern leaves out, and the workers take the files in chunks.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import os
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

CHUNK = 64
"""Files per task: a task costs a round trip between processes, a file a few milliseconds to compile."""


def python_files(roots: list[str], exclude: re.Pattern[str] | None) -> Iterator[str]:
    """Every ``.py`` file under ``roots`` (symbolic links to directories not followed, ``__pycache__`` skipped),
    without entering a directory whose path (with a trailing ``/``) ``exclude`` matches, nor yielding a file it
    matches; in directory order, so that a chunk holds neighbours."""
    for root in roots:
        if os.path.isfile(root):
            if root.endswith(".py") and not (exclude and exclude.search(root)):
                yield root
            continue
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__"
                                       and not (exclude and exclude.search(os.path.join(directory, d) + "/")))
            yield from (path for path in (os.path.join(directory, name) for name in sorted(files))
                        if path.endswith(".py") and not (exclude and exclude.search(path)))


def compile_all(files: list[str]) -> bool:
    """Compile ``files`` on one process per CPU; False when any fails to compile."""
    compile_one = functools.partial(compileall.compile_file, quiet=1)
    if (os.cpu_count() or 1) == 1 or len(files) <= CHUNK:
        results = [compile_one(path) for path in files]  # every file, not only those before a failure
    else:
        with ProcessPoolExecutor() as executor:
            results = list(executor.map(compile_one, files, chunksize=CHUNK))
    return all(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prodline.bytecode", description=__doc__.splitlines()[0])
    parser.add_argument("--exclude", type=re.compile, help="a regular expression: paths it matches are left out")
    parser.add_argument("roots", nargs="+", help="directories (or files) to compile")
    args = parser.parse_args(argv)
    return 0 if compile_all(list(python_files(args.roots, args.exclude))) else 1


if __name__ == "__main__":
    sys.exit(main())
