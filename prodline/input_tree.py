"""One walk over a registration's inputs, for everything that needs them as plain values.

The engine passes inputs as nested dicts and lists of scalars and Pulumi assets or archives. The offline
preview renders them as JSON (an asset becomes its path), the sandbox as a content fingerprint (an asset
becomes its hash); both walk the tree here and differ only in how they render a leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def plain(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with dicts and lists (tuples too) rebuilt and every other value replaced by ``leaf(value)``.

    ``leaf`` renders scalars, assets and archives; for an archive it walks the members with ``plain``.
    """
    if isinstance(value, dict):
        return {k: plain(v, leaf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, leaf) for v in value]
    return leaf(value)
