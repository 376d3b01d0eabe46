"""Enough of Docker's .dockerignore rules to test which paths reach the build context.

Docker matches each pattern against the path and every parent folder (a matched folder takes its
contents along); ``**`` spans folders, ``*`` and ``?`` stay within one; a ``!`` pattern re-includes;
the last pattern that matches decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def _matches(pattern: str, path: str) -> bool:
    pieces = path.split("/")
    prefixes = ["/".join(pieces[: n + 1]) for n in range(len(pieces))]
    return any(_regex(pattern).fullmatch(prefix) for prefix in prefixes)


def included(path: str, patterns: Iterable[str]) -> bool:
    """True when ``path`` (relative, / separated) is sent to the daemon."""
    keep = True
    for raw in patterns:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        if _matches(pattern, path.strip("/")):
            keep = negate
    return keep
