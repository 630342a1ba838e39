"""Physical memory contents: the bytes of every frame (copy_highpage() copies them).

A frame's contents live with the frame, indexed by pfn, so a migration that skips the copy
leaves the new page's bytes wrong and ``verify`` catches it.  The store is one numpy array
of ``nr_pages x 4096`` bytes created with ``numpy.zeros``, so the operating system commits
memory only for frames that are written.
"""

from __future__ import annotations

import numpy as np

from pagemig.mm.mm_types import PAGE_SIZE


class FrameStore:
    """The contents of every page frame of the machine."""

    def __init__(self, nr_pages: int) -> None:
        self.data = np.zeros((nr_pages, PAGE_SIZE), np.uint8)
        self.frames_written = 0

    def copy(self, dst: int, src: int) -> None:
        """Model of copy_highpage(): the whole frame ``src`` into ``dst``."""
        self.data[dst] = self.data[src]

    def zero(self, pfn: int) -> None:
        """Model of clear_highpage()."""
        self.data[pfn] = 0

    def read(self, pfn: int, offset: int, n: int) -> bytes:
        """``n`` bytes of frame ``pfn`` from ``offset``."""
        return self.data[pfn, offset:offset + n].tobytes()

    def write(self, pfn: int, offset: int, buf: bytes) -> None:
        """Store ``buf`` into frame ``pfn`` at ``offset``."""
        self.data[pfn, offset:offset + len(buf)] = np.frombuffer(buf, np.uint8)

    def write_words(self, pfn: int, words: np.ndarray) -> None:
        """Fill frame ``pfn`` with 512 little-endian 64-bit words."""
        self.data[pfn] = words.astype("<u8").view(np.uint8)

    def words(self, pfn: int) -> np.ndarray:
        """Frame ``pfn`` as 512 little-endian 64-bit words (a view)."""
        return self.data[pfn].view("<u8")
