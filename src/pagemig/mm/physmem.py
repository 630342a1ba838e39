"""Physical memory contents: what every page frame holds (copy_highpage() copies it).

A frame's contents live with the frame, indexed by pfn, so a migration that skips the copy
leaves the new page's contents wrong and ``verify`` catches it.  Two stores, chosen per
machine (``Kernel(..., contents="bytes"|"tag")``; ``docs/design.md``, "Page contents:
bytes and tag"):

- ``bytes`` (:class:`FrameStore`, the default): the real 4096 bytes of every frame, in one
  array of ``nr_pages x 4096`` bytes made from an anonymous mapping with MAP_NORESERVE, so
  the host reserves memory only for frames that are written and a model larger than the
  host boots.  A bit per frame says which frames hold host memory; a store that would take
  their total past the host's budget raises :class:`HostMemoryExhausted` before it writes.
  Writing zeros to a frame that holds none needs none, and zeroing a frame
  (clear_highpage(), a copy of an unwritten frame) gives its memory back to the host.

- ``tag`` (:class:`TagStore`): one 64-bit token per frame.  Token 0 is a page of zeros; a
  token ``t`` stands for the page whose 512 little-endian words are ``t ^ (8 * i)`` (the
  scenario runner's pattern, whose first word is ``t``).  Contents that are not such a
  page (the argument arrays the runner and the Python API place in process memory, the
  program images) keep their real bytes in a small overlay of at most
  :data:`TAG_OVERLAY_FRAMES` frames.  Every operation of the bytes store gives the same
  contents; only the host memory differs.

Budget (bytes store): by default the host's MemAvailable when the machine has booted,
less a margin (1/16 of it, at least 512 MiB); ``Kernel(..., host_memory_mb=N)`` sets it.
Stores by a process (copy_to_user(), the token stores) stop at the budget, between two
pages of the store, where the machine is consistent.  The kernel's own copies (migration,
copy-on-write, swap-in, a file page read from disk, pwrite) may go past it by a slack
(half the margin, or 1/16 of a budget that was asked for) and raise only there: such a
copy stops in the middle of a kernel operation, so the machine is not consistent after it
and the run must end.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

from pagemig.mm.mm_types import PAGE_SIZE

MAP_NORESERVE = 0x4000  # <sys/mman.h>; Python's mmap module does not name it
MiB = 1 << 20
MIN_MARGIN = 512 * MiB  # host memory left to everything else when the budget is the default
TAG_OVERLAY_FRAMES = 16384  # frames of real bytes a tag store keeps (64 MiB)
CONTENTS_MODES = ("bytes", "tag")

_OFFSETS = np.arange(PAGE_SIZE // 8, dtype=np.uint64) * np.uint64(8)
_ZERO_PAGE = bytes(PAGE_SIZE)


class HostMemoryExhausted(MemoryError):
    """The pages the model has written need more of the host's memory than it can give."""


class ContentsModeError(ValueError):
    """A call that needs the real bytes of user memory on a machine that keeps tokens."""


def token_words(token: int) -> np.ndarray:
    """The 512 little-endian words of the page token ``token`` stands for (0: zeros)."""
    if token == 0:
        return np.zeros(PAGE_SIZE // 8, np.uint64)
    return _OFFSETS ^ np.uint64(token)


def words_token(words: np.ndarray) -> int | None:
    """The token of a page given as 512 words, or None when no token stands for it."""
    t = int(words[0])
    if t == 0:
        return None if words.any() else 0
    return t if np.array_equal(words, _OFFSETS ^ np.uint64(t)) else None


def host_meminfo_bytes(key: str) -> int | None:
    """The host's /proc/meminfo field ``key`` (e.g. "MemTotal") in bytes, or None when it
    cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def host_mem_available() -> int | None:
    """The host's MemAvailable in bytes, or None when it cannot be read."""
    return host_meminfo_bytes("MemAvailable")


def _check_token(token: Any) -> int:
    if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
        raise TypeError(f"`token` must be an int, not {type(token).__name__}")
    token = int(token)
    if not 0 <= token < 1 << 64:
        raise ValueError("`token` must be between 0 and 2**64 - 1")
    return token


_COPY_CHUNK = 4096  # rows copied per indexed copy (bounds the temporary)
MADV_POPULATE_WRITE = 23  # <sys/mman.h>, Linux 5.14; Python's mmap module may not name it
_POPULATE_MIN = 64  # fewer fresh frames than this are left to the host's page faults


def copy_rows(data: np.ndarray, new: np.ndarray, old: np.ndarray) -> None:
    """Rows old[i] of ``data`` into rows new[i] (the bytes of many copy_highpage()s).

    Runs of consecutive old frames going to consecutive new frames (ascending or
    descending, as the free stacks hand them out) are copied as slices; what is left by
    indexed copies of a bounded size.
    """
    m = len(old)
    if m == 0:
        return
    d_old = np.diff(old)
    d_new = np.diff(new)
    step = np.where(d_new == -1, -1, 1)
    cont = (d_old == 1) & (np.abs(d_new) == 1)
    cont[1:] &= step[1:] == step[:-1]
    brk = np.empty(m, np.bool_)
    brk[0] = True
    np.logical_not(cont, out=brk[1:])
    starts = np.flatnonzero(brk)
    if len(starts) * 16 > m:  # mostly scattered: indexed copies
        for s in range(0, m, _COPY_CHUNK):
            data[new[s:s + _COPY_CHUNK]] = data[old[s:s + _COPY_CHUNK]]
        return
    ends = np.append(starts[1:], m)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        o0, n0, length = int(old[s]), int(new[s]), e - s
        if length == 1:
            data[n0] = data[o0]
        elif new[s + 1] > n0:
            data[n0:n0 + length] = data[o0:o0 + length]
        else:
            data[n0:n0 - length if n0 - length >= 0 else None:-1] = data[o0:o0 + length]


class FrameStore:
    """The contents of every page frame of the machine: real bytes (``bytes`` mode)."""

    mode = "bytes"

    def __init__(self, nr_pages: int) -> None:
        size = nr_pages * PAGE_SIZE
        self._map = mmap.mmap(-1, max(size, PAGE_SIZE),
                              flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        self.data = np.frombuffer(self._map, np.uint8, count=size).reshape(nr_pages, PAGE_SIZE)
        self._held = bytearray((nr_pages + 7) // 8)  # a bit per frame that holds host memory
        self.frames_held = 0
        self.budget_frames: int | None = None  # None: no limit (during boot)
        self.limit_frames: int | None = None  # the kernel's own copies stop here
        self.budget_source = ""

    # -- host memory --

    def set_budget(self, budget_bytes: int | None = None) -> None:
        """Limit the host memory the frames may hold: ``budget_bytes``, or by default the
        host's MemAvailable now (plus what the frames already hold) less a margin."""
        if budget_bytes is None:
            avail = host_mem_available()
            if avail is None:
                self.budget_frames = self.limit_frames = None
                return
            margin = max(MIN_MARGIN, avail // 16)
            budget = self.frames_held * PAGE_SIZE + avail - margin
            slack = margin // 2
            self.budget_source = "its MemAvailable when the model booted, less a margin"
        else:
            budget = budget_bytes
            slack = max(budget // 16, 16 * PAGE_SIZE)
            self.budget_source = "the host memory the machine was given"
        self.budget_frames = max(budget, 0) // PAGE_SIZE
        self.limit_frames = self.budget_frames + slack // PAGE_SIZE

    def is_held(self, pfn: int) -> bool:
        """Whether frame ``pfn`` holds host memory (it was written since it was zeroed)."""
        return bool(self._held[pfn >> 3] >> (pfn & 7) & 1)

    def _hold(self, pfn: int, user: bool) -> None:
        # Frame pfn is about to be written: count it, or refuse past the budget.
        if self._held[pfn >> 3] >> (pfn & 7) & 1:
            return
        limit = self.budget_frames if user else self.limit_frames
        if limit is not None and self.frames_held >= limit:
            raise HostMemoryExhausted(self.exhausted_message())
        self._held[pfn >> 3] |= 1 << (pfn & 7)
        self.frames_held += 1

    def exhausted_message(self) -> str:
        """What the error says: what the written pages need, what the host has for them."""
        need, have = self.frames_held + 1, self.budget_frames or 0
        return (f"host memory exhausted: the pages the model has written would need {need} "
                f"frames ({need * PAGE_SIZE / MiB:.1f} MiB) of this host's memory and it has "
                f"room for {have} ({have * PAGE_SIZE / MiB:.1f} MiB: {self.budget_source}); "
                "touch fewer pages, or keep page contents as tokens (contents 'tag')")

    def _release(self, pfn: int) -> None:
        # Frame pfn is zero: give its memory back to the host.
        if not self._held[pfn >> 3] >> (pfn & 7) & 1:
            return
        self._map.madvise(mmap.MADV_DONTNEED, pfn * PAGE_SIZE, PAGE_SIZE)
        self._held[pfn >> 3] &= ~(1 << (pfn & 7)) & 0xFF
        self.frames_held -= 1

    # -- the kernel's operations --

    def copy(self, dst: int, src: int) -> None:
        """Model of copy_highpage(): the whole frame ``src`` into ``dst``."""
        if not self.is_held(src):
            self._release(dst)
            return
        self._hold(dst, False)
        self.data[dst] = self.data[src]

    def copy_many(self, dst: np.ndarray, src: np.ndarray) -> None:
        """copy_highpage() of frame ``src[i]`` into ``dst[i]`` for every i (distinct
        frames), as that many copy() calls leave the store, with the host-memory check made
        once for all before anything is copied."""
        if not len(src):
            return
        held = np.frombuffer(self._held, np.uint8)
        src_held = (held[src >> 3] >> (src & 7).astype(np.uint8)) & 1
        dst_held = (held[dst >> 3] >> (dst & 7).astype(np.uint8)) & 1
        gained = int(np.count_nonzero(src_held & ~dst_held & 1))
        if self.limit_frames is not None and self.frames_held + gained > self.limit_frames:
            raise HostMemoryExhausted(self.exhausted_message())
        for d in dst[(src_held == 0) & (dst_held == 1)].tolist():
            self._release(d)  # a copy of a zero frame is a zero frame
        take = src_held == 1
        new = dst[take & (dst_held == 0)]
        np.bitwise_or.at(held, new >> 3, (1 << (new & 7)).astype(np.uint8))
        self.frames_held += len(new)
        self._populate(new)
        copy_rows(self.data, dst[take], src[take])

    def _populate(self, pfns: np.ndarray) -> None:
        # Ask the host for the memory of frames about to be written for the first time, a
        # run of consecutive frames per call (MADV_POPULATE_WRITE): the host then fills
        # them in one pass instead of taking a page fault on each 4 KiB, which made the
        # first move into fresh frames 3-6 times slower than a later one.  Only a speed
        # matter: a host without it (before Linux 5.14) faults them in as it did.
        if len(pfns) < _POPULATE_MIN or mmap.PAGESIZE != PAGE_SIZE:
            return
        pfns = np.sort(pfns)
        brk = np.flatnonzero(np.diff(pfns) != 1) + 1
        if len(brk) * 16 > len(pfns):
            return  # scattered frames: a call per few frames would cost more than it saves
        starts = np.concatenate(([0], brk))
        ends = np.append(brk, len(pfns))
        try:
            for first, length in zip(pfns[starts].tolist(), (ends - starts).tolist(), strict=True):
                self._map.madvise(MADV_POPULATE_WRITE, first * PAGE_SIZE, length * PAGE_SIZE)
        except OSError:
            return

    def zero(self, pfn: int) -> None:
        """Model of clear_highpage()."""
        self._release(pfn)

    def read(self, pfn: int, offset: int, n: int) -> bytes:
        """``n`` bytes of frame ``pfn`` from ``offset``."""
        return self.data[pfn, offset:offset + n].tobytes()

    def write(self, pfn: int, offset: int, buf: bytes, user: bool = False) -> None:
        """Store ``buf`` into frame ``pfn`` at ``offset`` (``user``: a store by a process,
        which stops at the budget; otherwise the kernel's, which may use the slack)."""
        if not self.is_held(pfn):
            if not any(buf):
                return
            self._hold(pfn, user)
        self.data[pfn, offset:offset + len(buf)] = np.frombuffer(buf, np.uint8)

    def write_words(self, pfn: int, words: np.ndarray) -> None:
        """Fill frame ``pfn`` with 512 little-endian 64-bit words (the kernel's store)."""
        self._hold(pfn, False)
        self.data[pfn] = words.astype("<u8").view(np.uint8)

    def words(self, pfn: int) -> np.ndarray:
        """Frame ``pfn`` as 512 little-endian 64-bit words (read only)."""
        return self.data[pfn].view("<u8")

    def frame(self, pfn: int) -> np.ndarray:
        """The 4096 bytes of frame ``pfn`` (to write them to a disk or a swap slot)."""
        return self.data[pfn]

    def load(self, pfn: int, src: np.ndarray) -> None:
        """Fill frame ``pfn`` with 4096 bytes read from a disk or a swap slot."""
        if not src.any():
            self._release(pfn)
            return
        self._hold(pfn, False)
        self.data[pfn] = src

    # -- tokens (the scenario runner's pattern pages) --

    def store_token(self, pfn: int, token: int) -> None:
        """A process stores the page ``token`` stands for into frame ``pfn``."""
        if token == 0:
            self._release(pfn)
            return
        self._hold(pfn, True)
        self.data[pfn] = token_words(token).astype("<u8").view(np.uint8)

    def load_token(self, pfn: int) -> int | None:
        """The token that stands for frame ``pfn``'s contents, or None when none does."""
        if not self.is_held(pfn):
            return 0
        return words_token(self.words(pfn))

    def load_tokens(self, pfns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """load_token() of many frames: (tokens, whether a token stands for each frame;
        where not, the token is 0)."""
        tokens = np.zeros(len(pfns), np.uint64)
        known = np.ones(len(pfns), np.bool_)
        held = np.flatnonzero(self._held_bits(pfns))
        for lo in range(0, len(held), 4096):  # 16 MiB of frames at a time
            at = held[lo:lo + 4096]
            words = self.data[pfns[at]].view("<u8")
            first = words[:, 0]
            token_page = (words == (_OFFSETS[None, :] ^ first[:, None])).all(axis=1)
            zero_page = (first == 0) & ~words.any(axis=1)
            tokens[at] = np.where(token_page, first, 0)
            known[at] = np.where(first == 0, zero_page, token_page)
        return tokens, known

    # -- many frames at once (mm/fault_batch.py) --

    def _held_bits(self, pfns: np.ndarray) -> np.ndarray:
        held = np.frombuffer(self._held, np.uint8)
        return ((held[pfns >> 3] >> (pfns & 7).astype(np.uint8)) & 1).astype(np.bool_)

    def zero_many(self, pfns: np.ndarray) -> None:
        """zero() of every frame of ``pfns``."""
        for pfn in pfns[self._held_bits(pfns)].tolist():
            self._release(pfn)

    def store_tokens(self, pfns: np.ndarray, tokens: np.ndarray) -> None:
        """store_token() of ``tokens[i]`` into frame ``pfns[i]`` for every i (distinct
        frames), the host-memory budget checked once for all before anything is stored."""
        tokens = np.asarray(tokens, np.uint64)
        zero = tokens == 0
        self.zero_many(pfns[zero])
        pfns, tokens = pfns[~zero], tokens[~zero]
        new = pfns[~self._held_bits(pfns)]
        if self.budget_frames is not None and self.frames_held + len(new) > self.budget_frames:
            raise HostMemoryExhausted(self.exhausted_message())
        held = np.frombuffer(self._held, np.uint8)
        np.bitwise_or.at(held, new >> 3, (1 << (new & 7)).astype(np.uint8))
        self.frames_held += len(new)
        rows = self.data.view("<u8")  # (frames, 512) words, little-endian
        m = len(pfns)
        if m and int(pfns[-1]) - int(pfns[0]) == m - 1 and bool((np.diff(pfns) == 1).all()):
            p0 = int(pfns[0])  # one run of frames: written in place
            for s in range(0, m, _COPY_CHUNK):
                e = min(m, s + _COPY_CHUNK)
                np.bitwise_xor(tokens[s:e, None], _OFFSETS[None, :], out=rows[p0 + s:p0 + e])
            return
        for s in range(0, m, _COPY_CHUNK):
            rows[pfns[s:s + _COPY_CHUNK]] = tokens[s:s + _COPY_CHUNK, None] ^ _OFFSETS[None, :]


class TagStore:
    """The contents of every page frame as one 64-bit token (``tag`` mode).

    ``tokens[pfn]`` stands for the frame's contents (:func:`token_words`) unless the frame
    is in ``overlay``, which holds the real bytes of frames written with arbitrary bytes.
    """

    mode = "tag"

    def __init__(self, nr_pages: int, overlay_frames: int = TAG_OVERLAY_FRAMES) -> None:
        self.tokens = np.zeros(nr_pages, np.uint64)
        self.overlay: dict[int, np.ndarray] = {}
        self.overlay_frames = overlay_frames

    def set_budget(self, budget_bytes: int | None = None) -> None:
        """Tokens need no budget (the overlay has its own bound)."""

    @property
    def frames_held(self) -> int:
        """Frames whose real bytes the store keeps."""
        return len(self.overlay)

    def _bytes_of(self, pfn: int) -> np.ndarray:
        # The frame's 4096 bytes, made real in the overlay (refused past its bound).
        buf = self.overlay.get(pfn)
        if buf is None:
            if len(self.overlay) >= self.overlay_frames:
                raise HostMemoryExhausted(
                    f"page contents kept as tokens: more than {self.overlay_frames} frames "
                    "hold bytes that no token stands for (argument arrays, program images, "
                    "data written with arbitrary bytes); keep real bytes (contents 'bytes')")
            buf = token_words(int(self.tokens[pfn])).astype("<u8").view(np.uint8).copy()
            self.overlay[pfn] = buf
        return buf

    def _set_bytes(self, pfn: int, words: np.ndarray) -> None:
        # A whole frame's words: a token when one stands for them, else the overlay.
        t = words_token(words)
        if t is not None:
            self.tokens[pfn] = t
            self.overlay.pop(pfn, None)
        else:
            self._bytes_of(pfn)[:] = words.astype("<u8").view(np.uint8)

    def copy(self, dst: int, src: int) -> None:
        """Model of copy_highpage(): the token (and real bytes) of ``src`` into ``dst``."""
        self.tokens[dst] = self.tokens[src]
        buf = self.overlay.get(src)
        if buf is None:
            self.overlay.pop(dst, None)
        else:
            self._bytes_of(dst)[:] = buf

    def copy_many(self, dst: np.ndarray, src: np.ndarray) -> None:
        """copy() of frame ``src[i]`` into ``dst[i]`` for every i (distinct frames)."""
        self.tokens[dst] = self.tokens[src]
        with_bytes = set(self.overlay)
        for d, s in zip(dst.tolist(), src.tolist(), strict=True):
            if s in with_bytes:
                self._bytes_of(d)[:] = self.overlay[s]
            elif d in with_bytes:
                self.overlay.pop(d, None)

    def zero(self, pfn: int) -> None:
        """Model of clear_highpage(): token 0."""
        self.tokens[pfn] = 0
        self.overlay.pop(pfn, None)

    def read(self, pfn: int, offset: int, n: int) -> bytes:
        """``n`` bytes of frame ``pfn`` from ``offset``."""
        buf = self.overlay.get(pfn)
        if buf is not None:
            return buf[offset:offset + n].tobytes()
        t = int(self.tokens[pfn])
        if t == 0:
            return _ZERO_PAGE[offset:offset + n]
        return token_words(t).astype("<u8").tobytes()[offset:offset + n]

    def write(self, pfn: int, offset: int, buf: bytes, user: bool = False) -> None:
        """Store ``buf`` into frame ``pfn`` at ``offset``."""
        if offset == 0 and len(buf) == PAGE_SIZE:
            self._set_bytes(pfn, np.frombuffer(buf, "<u8"))
            return
        if pfn not in self.overlay and self.tokens[pfn] == 0 and not any(buf):
            return
        self._bytes_of(pfn)[offset:offset + len(buf)] = np.frombuffer(buf, np.uint8)

    def write_words(self, pfn: int, words: np.ndarray) -> None:
        """Fill frame ``pfn`` with 512 little-endian 64-bit words."""
        self._set_bytes(pfn, np.asarray(words, np.uint64))

    def words(self, pfn: int) -> np.ndarray:
        """Frame ``pfn`` as 512 little-endian 64-bit words (a copy)."""
        return np.frombuffer(self.read(pfn, 0, PAGE_SIZE), "<u8")

    def frame(self, pfn: int) -> np.ndarray:
        """The 4096 bytes of frame ``pfn`` (to write them to a disk or a swap slot)."""
        return np.frombuffer(self.read(pfn, 0, PAGE_SIZE), np.uint8)

    def load(self, pfn: int, src: np.ndarray) -> None:
        """Fill frame ``pfn`` with 4096 bytes read from a disk or a swap slot."""
        self._set_bytes(pfn, np.asarray(src, np.uint8).view("<u8"))

    def store_token(self, pfn: int, token: int) -> None:
        """A process stores the page ``token`` stands for into frame ``pfn``."""
        self.tokens[pfn] = token
        self.overlay.pop(pfn, None)

    def load_token(self, pfn: int) -> int | None:
        """The token that stands for frame ``pfn``'s contents, or None when none does."""
        buf = self.overlay.get(pfn)
        if buf is not None:
            return words_token(buf.view("<u8"))
        return int(self.tokens[pfn])

    def load_tokens(self, pfns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """load_token() of many frames: (tokens, whether a token stands for each frame;
        where not, the token is 0)."""
        tokens = self.tokens[pfns].astype(np.uint64)
        known = np.ones(len(pfns), np.bool_)
        if self.overlay:
            for i in np.flatnonzero(np.isin(pfns, list(self.overlay))).tolist():
                t = self.load_token(int(pfns[i]))
                tokens[i], known[i] = (0, False) if t is None else (t, True)
        return tokens, known

    def zero_many(self, pfns: np.ndarray) -> None:
        """zero() of every frame of ``pfns``."""
        self.tokens[pfns] = 0
        if self.overlay:
            for pfn in pfns.tolist():
                self.overlay.pop(pfn, None)

    def store_tokens(self, pfns: np.ndarray, tokens: np.ndarray) -> None:
        """store_token() of ``tokens[i]`` into frame ``pfns[i]`` for every i."""
        self.tokens[pfns] = tokens
        if self.overlay:
            for pfn in pfns.tolist():
                self.overlay.pop(pfn, None)


def make_frame_store(mode: str, nr_pages: int) -> FrameStore | TagStore:
    """The store of a machine's page contents in ``mode`` ("bytes" or "tag")."""
    if mode == "bytes":
        return FrameStore(nr_pages)
    if mode == "tag":
        return TagStore(nr_pages)
    raise ValueError(f"`contents` must be 'bytes' or 'tag', not {mode!r}")
