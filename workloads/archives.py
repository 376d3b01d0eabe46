"""Unpacking tar archives: the one strict rule every layer uses (model.tar.gz, mostly).

The rule is tarfile's ``data`` filter, which refuses members that would land outside the target, links
(hard or symbolic) to absolute paths or out of the target, and device files and pipes, and drops set-id and
executable-by-others bits. On top of it we refuse absolute member names and any ``..`` in a name, which the
filter would re-root or resolve instead: an archive we write never holds one, so one that does is not ours.

Every member is checked before anything is written, then checked again as it is extracted (a symlink
extracted earlier can change where a later name resolves). The filter is in Python 3.11.4+ and 3.12+ (the
project requires 3.11.4-3.13, see ``requires-python``) and in the security releases of older lines; a Python
without it is refused with an error that says so, never served by a weaker fallback.
"""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path, PurePosixPath, PureWindowsPath


class UnsafeMemberError(tarfile.FilterError):
    """An archive member this module refuses on top of what tarfile's ``data`` filter refuses."""

    def __init__(self, tarinfo: tarfile.TarInfo, reason: str):
        self.tarinfo = tarinfo
        super().__init__(f"refusing archive member {tarinfo.name!r}: {reason}")


def require_data_filter() -> None:
    """Raise RuntimeError unless this Python's tarfile has the ``data`` extraction filter."""
    if not hasattr(tarfile, "data_filter"):
        version = ".".join(str(part) for part in sys.version_info[:3])
        raise RuntimeError(f"Python {version} lacks tarfile's 'data' extraction filter, which archive extraction "
                           "requires: use Python 3.11.4 or later (the project supports 3.11.4-3.13)")


def strict_filter(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
    """tarfile's ``data`` filter, also refusing absolute names and ``..`` in names (a tarfile filter callable)."""
    for name in (member.name, *((member.linkname,) if member.islnk() else ())):
        if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith("\\"):
            raise UnsafeMemberError(member, f"absolute path {name!r}")
        if ".." in PurePosixPath(name.replace("\\", "/")).parts:
            raise UnsafeMemberError(member, f"'..' in {name!r}")
    return tarfile.data_filter(member, dest_path)


def extract_tar(archive: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """Extract the archive (any compression tarfile reads) into ``target``; returns the member names.

    Raises ``tarfile.FilterError`` (nothing written) for an unsafe member, ``tarfile.TarError`` for an
    unreadable archive, RuntimeError on a Python without the ``data`` filter.
    """
    require_data_filter()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            strict_filter(member, str(target))
        tar.extractall(target, members=members, filter=strict_filter)
        return [member.name for member in members]
