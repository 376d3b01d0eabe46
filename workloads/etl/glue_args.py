"""Glue job arguments through ``awsglue.utils.getResolvedOptions``, with a local stand-in when it is absent.

Glue passes ``--name value`` pairs, its own among them (``--job-bookmark-option``, ``--TempDir``,
``--extra-py-files``, ``library-set`` ...). getResolvedOptions returns only the names asked for and fails
on a missing one; optional arguments are asked for only when present, the documented Glue idiom.
"""

from __future__ import annotations

from collections.abc import Sequence


class MissingArgument(ValueError):
    pass


def get_resolved_options(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """The values of ``--<name>`` for every name; raises MissingArgument naming the first one absent."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return _resolve_locally(argv, names)
    return getResolvedOptions(list(argv), list(names))


def resolve_options(argv: Sequence[str], required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, str]:
    """Required and present optional arguments; absent optional ones are left out of the result."""
    present = [name for name in optional if _flag_index(argv, name) is not None]
    return get_resolved_options(argv, [*required, *present])


def _resolve_locally(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in names:
        index = _flag_index(argv, name)
        if index is None:
            raise MissingArgument(f"argument --{name} is required (got: {' '.join(argv[1:]) or 'no arguments'})")
        flag = argv[index]
        if "=" in flag:
            values[name] = flag.split("=", 1)[1]
        elif index + 1 < len(argv):
            values[name] = argv[index + 1]
        else:
            raise MissingArgument(f"argument --{name} needs a value")
    return values


def _flag_index(argv: Sequence[str], name: str) -> int | None:
    """Position of the last ``--name``: like argparse (and so getResolvedOptions), the last one wins."""
    found = None
    for index, arg in enumerate(argv):
        if arg == f"--{name}" or arg.startswith(f"--{name}="):
            found = index
    return found
