"""What a board's filesystem offers and what a path is: data shared by ``board.fs`` and the
transfer strategies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: progress callback: (bytes done, bytes total)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FileStat:
    """What ``stat`` tells about a board path.

    Attributes:
        size: bytes (0 for directories on most ports).
        is_dir: whether it is a directory.
        mtime: modification time in seconds of the board's epoch (2000 on many ports), or
            None when the firmware cannot tell.
    """

    size: int
    is_dir: bool
    mtime: int | None = None


@dataclass(frozen=True)
class Caps:
    """What the board's firmware offers (probed once per session)."""

    stat: bool
    ilistdir: bool
    rename: bool
    mkdir: bool
    binascii: bool
    hashlib: bool
    mem_free: int
    paste: bool
    #: the firmware writes raw bytes (``sys.stdout.buffer``) and keeps 8-bit bytes literals
    raw_io: bool = False
    #: the link carries raw 8-bit REPL traffic (not WebREPL's text frames)
    binary_link: bool = False

    @property
    def binary(self) -> bool:
        """File data travels 8-bit (bytes literals, raw stdout): :mod:`mpharness.files.binary`."""
        return self.raw_io and self.paste and self.binary_link

    @property
    def flat(self) -> bool:
        """A flat filesystem without ``os.stat`` (micro:bit)."""
        return not self.stat

    @property
    def write_chunk(self) -> int:
        """Data bytes per write exec: big on boards with plenty of RAM, 1 to 16 KB."""
        return max(1024, min(16384, self.mem_free // 8 // 1024 * 1024))

    @property
    def read_chunk(self) -> int:
        """Data bytes per printed line of a read."""
        return max(192, min(3072, self.mem_free // 16 // 96 * 96))
