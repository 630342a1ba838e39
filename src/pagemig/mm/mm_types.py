"""Model of include/linux/mm_types.h (Linux 2.6.27): struct page, vm_area_struct, mm_struct.

``struct page`` is a structure of arrays indexed by page frame number (PFN), so that millions
of frames fit in memory: one numpy column per field, no Python object per page.  Address
spaces, VMAs and anon_vmas are few and are ordinary Python objects.

Simplifications:
- ``mapping`` is an integer handle: 0 is NULL, an odd value is an anon_vma
  (``id << 1 | PAGE_MAPPING_ANON``), an even value is an address_space (``id << 1``).
- LRU membership is the ``lru`` column plus an order stamp (``lru_seq``); see mm/swap.py.
- Page tables are per-mm dictionaries of 512-entry uint64 arrays (one page-table page each),
  allocated when first needed; the frames a real kernel spends on them are not modelled.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pagemig.mm.filemap import AddressSpace
    from pagemig.mm.mempolicy import Mempolicy
    from pagemig.sched import Task

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)
ULONG_MAX = (1 << 64) - 1  # C unsigned long: user lengths and addresses wrap here
PTRS_PER_PTE = 512
PMD_SHIFT = 21

PAGE_MAPPING_ANON = 1

# Values of the ``lru`` column: which list holds the page's ``lru`` link (or none).
LRU_NONE = -1
LRU_INACTIVE = 0
LRU_ACTIVE = 1
LRU_PAGEVEC = 2  # not a list: held by a per-CPU pagevec (which holds a pointer, not the link)
LRU_PRIVATE = 3  # on a caller's private list (a migration list)
# Linux 6.1 (split_lru): LRU_INACTIVE and LRU_ACTIVE are the anon lists, and three more.
LRU_INACTIVE_FILE = 4
LRU_ACTIVE_FILE = 5
LRU_UNEVICTABLE = 6
ZONE_LRU_LISTS = (LRU_INACTIVE, LRU_ACTIVE, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_UNEVICTABLE)
"""Every value of the ``lru`` column that means a zone list (2.6.27 uses the first two)."""

# Values of the ``memcg`` column: a page_cgroup record is (cgroup id, CACHE or MAPPED),
# stored as ``cgroup_id * 2 + kind``; 0 means no record.
MEMCG_KIND_MAPPED = 0
MEMCG_KIND_CACHE = 1


class PageArrays:
    """``struct page`` for every frame of the machine, as a structure of arrays.

    Attributes
    ----------
    flags : ndarray of int32, shape (nr_pages,)
        ``page->flags``: PG_* bits (mm/page_flags.py).
    count : ndarray of int32
        ``page->_count``: the reference count; 0 for a free (or frozen) page.
    mapcount : ndarray of int32
        ``page->_mapcount + 1``: how many ptes map the page.
    mapping : ndarray of int32
        ``page->mapping`` as a handle (see the module docstring).
    index : ndarray of int64
        ``page->index``: file offset in pages, or the linear index of an anonymous page.
    private : ndarray of int64
        ``page->private``: a swap entry, or a buffer-head ring id when PG_private is set.
    lru : ndarray of int8
        which list holds ``page->lru`` (LRU_* constants).
    lru_seq : ndarray of uint32
        order stamp on a zone LRU list (larger is nearer the head), or the position on a
        private list.
    memcg : ndarray of int16
        the page_cgroup record (``cgroup_id * 2 + kind``), 0 for none.
    """

    def __init__(self, nr_pages: int) -> None:
        self.nr_pages = nr_pages
        self.flags = np.zeros(nr_pages, np.int32)  # signed, so that &= ~F_X works
        self.count = np.zeros(nr_pages, np.int32)
        self.mapcount = np.zeros(nr_pages, np.int32)
        self.mapping = np.zeros(nr_pages, np.int32)
        self.index = np.zeros(nr_pages, np.int64)
        self.private = np.zeros(nr_pages, np.int64)
        self.lru = np.full(nr_pages, LRU_NONE, np.int8)
        self.lru_seq = np.zeros(nr_pages, np.uint32)
        self.memcg = np.zeros(nr_pages, np.int16)

    def nbytes(self) -> int:
        """Bytes held by the columns."""
        return sum(
            a.nbytes
            for a in (self.flags, self.count, self.mapcount, self.mapping, self.index,
                      self.private, self.lru, self.lru_seq, self.memcg)
        )


def anon_mapping(anon_vma_id: int) -> int:
    """The ``mapping`` handle of an anon_vma."""
    return (anon_vma_id << 1) | PAGE_MAPPING_ANON


def file_mapping(as_id: int) -> int:
    """The ``mapping`` handle of an address_space."""
    return as_id << 1


def mapping_is_anon(mapping: int) -> bool:
    """True when a ``mapping`` handle is an anon_vma (PageAnon())."""
    return bool(mapping & PAGE_MAPPING_ANON)


def mapping_id(mapping: int) -> int:
    """The anon_vma or address_space id of a ``mapping`` handle."""
    return mapping >> 1


# vm_flags (include/linux/mm.h, 2.6.27 values).
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_PFNMAP = 0x00000400
VM_DENYWRITE = 0x00000800
VM_EXECUTABLE = 0x00001000
VM_LOCKED = 0x00002000
VM_IO = 0x00004000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000
VM_RESERVED = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000
VM_NONLINEAR = 0x00800000
VM_MAPPED_COPY = 0x01000000
VM_INSERTPAGE = 0x02000000
VM_ALWAYSDUMP = 0x04000000
VM_CAN_NONLINEAR = 0x08000000
VM_MIXEDMAP = 0x10000000
VM_SAO = 0x20000000

VM_STACK_FLAGS = VM_GROWSDOWN | VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC


@dataclass(eq=False)
class AnonVma:
    """Model of struct anon_vma: the vmas that may map a set of anonymous pages."""

    id: int
    vmas: list[VmArea] = field(default_factory=list)


@dataclass(eq=False)
class VmOps:
    """Model of struct vm_operations_struct: the few operations the model uses.

    ``fault`` names the fault handler ("shmem", "filemap", "special" for pages installed by
    install_special_mapping(), "pfnmap" for raw pfns mapped without a struct page's
    references); ``migrate`` is the optional ``vm_ops->migrate`` hook that migrate_vmas()
    calls.  ``special_pages`` are the pages (or raw pfns) of a special mapping.
    """

    fault: str
    migrate: Any = None
    special_pages: tuple[int, ...] = ()


@dataclass(eq=False)
class VmArea:
    """Model of struct vm_area_struct."""

    vm_mm: MmStruct
    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int
    vm_file: AddressSpace | None = None
    anon_vma: AnonVma | None = None
    vm_ops: VmOps | None = None
    policy: Mempolicy | None = None
    name: str = ""

    def __repr__(self) -> str:
        return (f"VmArea({self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x} "
                f"pgoff={self.vm_pgoff:#x} {self.name})")

    @property
    def npages(self) -> int:
        """Number of pages the vma spans."""
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT


class MmStruct:
    """Model of struct mm_struct: the vma list, page tables and rss counters of a process."""

    def __init__(self, mm_id: int) -> None:
        self.id = mm_id
        self.vmas: list[VmArea] = []
        self._starts: list[int] = []
        self.pgtables: dict[int, np.ndarray] = {}
        self.anon_rss = 0
        self.file_rss = 0
        self.mm_users = 1
        self.owner: Task | None = None
        self.mmap_base = 0
        self.free_area_cache = 0
        self.start_brk = 0
        self.brk = 0
        self.start_stack = 0
        self.task_size = 0x7FFFFFFFF000
        self.dumpable = True  # get_dumpable(mm) == SUID_DUMP_USER (mm->flags)

    # -- the vma list, kept sorted by address (mm->mmap and mm->mm_rb) --

    def insert_vma(self, vma: VmArea) -> None:
        """Link ``vma`` into the sorted list (vma_link())."""
        i = bisect.bisect_left(self._starts, vma.vm_start)
        self.vmas.insert(i, vma)
        self._starts.insert(i, vma.vm_start)

    def remove_vma(self, vma: VmArea) -> None:
        """Unlink ``vma`` from the sorted list."""
        i = self.vmas.index(vma)
        del self.vmas[i]
        del self._starts[i]

    def reindex(self) -> None:
        """Recompute the start index after vma bounds changed in place."""
        self.vmas.sort(key=lambda v: v.vm_start)
        self._starts = [v.vm_start for v in self.vmas]

    def find_vma(self, addr: int) -> VmArea | None:
        """Model of find_vma(): the first vma with ``vm_end > addr`` (``vm_start`` unchecked)."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self.vmas[i].vm_end > addr:
            return self.vmas[i]
        if i + 1 < len(self.vmas):
            return self.vmas[i + 1]
        return None

    def find_vma_prev(self, addr: int) -> tuple[VmArea | None, VmArea | None]:
        """Model of find_vma_prev(): (the vma find_vma() returns, the vma before it)."""
        vma = self.find_vma(addr)
        if vma is None:
            return None, self.vmas[-1] if self.vmas else None
        i = self.vmas.index(vma)
        return vma, self.vmas[i - 1] if i > 0 else None

    def vma_containing(self, addr: int) -> VmArea | None:
        """The vma with ``vm_start <= addr < vm_end`` (later kernels' vma_lookup())."""
        vma = self.find_vma(addr)
        if vma is not None and vma.vm_start <= addr:
            return vma
        return None

    # -- page tables --

    def pte_table(self, addr: int, create: bool) -> np.ndarray | None:
        """The page-table page covering ``addr`` (None when absent and not created)."""
        key = addr >> PMD_SHIFT
        table = self.pgtables.get(key)
        if table is None and create:
            table = np.zeros(PTRS_PER_PTE, np.uint64)
            self.pgtables[key] = table
        return table

    def get_pte(self, addr: int) -> int:
        """The pte value at ``addr`` (0, pte_none, when no table exists)."""
        table = self.pgtables.get(addr >> PMD_SHIFT)
        if table is None:
            return 0
        return table.item((addr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1))

    def set_pte(self, addr: int, value: int) -> None:
        """Install ``value`` as the pte at ``addr`` (set_pte_at())."""
        table = self.pgtables.get(addr >> PMD_SHIFT)
        if table is None:
            table = self.pte_table(addr, True)
            assert table is not None
        table[(addr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)] = value


class PageList:
    """Model of a ``struct list_head`` of pages linked through ``page->lru``.

    Used for the private lists of migration.  A page on it has ``lru`` = LRU_PRIVATE and
    its position in ``lru_seq``; removed entries leave a -1 hole, so iteration in list order
    is safe against removal of the current page (list_for_each_entry_safe()).
    """

    def __init__(self, pages: PageArrays) -> None:
        self._pages = pages
        self._pfns = np.full(16, -1, np.int64)
        self._n = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def list_add_tail(self, pfn: int) -> None:
        """Model of list_add_tail(&page->lru, list)."""
        if self._n == len(self._pfns):
            grown = np.full(2 * self._n, -1, np.int64)
            grown[: self._n] = self._pfns
            self._pfns = grown
        self._pfns[self._n] = pfn
        pages = self._pages
        pages.lru[pfn] = LRU_PRIVATE
        pages.lru_seq[pfn] = self._n
        self._n += 1
        self._live += 1

    def list_del(self, pfn: int) -> None:
        """Model of list_del(&page->lru)."""
        pages = self._pages
        pos = pages.lru_seq.item(pfn)
        assert pages.lru.item(pfn) == LRU_PRIVATE and self._pfns.item(pos) == pfn, \
            f"list_del: pfn {pfn} is not on this list"
        self._pfns[pos] = -1
        pages.lru[pfn] = LRU_NONE
        self._live -= 1

    def positions(self) -> np.ndarray:
        """The pfn at each place of the list (-1 where a page was removed); a view."""
        return self._pfns[: self._n]

    def list_add_tail_many(self, pfns: np.ndarray) -> None:
        """list_add_tail() of many pages, in order."""
        need = self._n + len(pfns)
        if need > len(self._pfns):
            grown = np.full(max(2 * len(self._pfns), need), -1, np.int64)
            grown[: self._n] = self._pfns[: self._n]
            self._pfns = grown
        self._pfns[self._n:need] = pfns
        self._pages.lru[pfns] = LRU_PRIVATE
        self._pages.lru_seq[pfns] = np.arange(self._n, need)
        self._n = need
        self._live += len(pfns)

    def list_del_many(self, places: np.ndarray) -> None:
        """list_del() of the pages at ``places`` (distinct, each holding a page); the
        caller sets their ``lru`` and ``lru_seq``."""
        assert (self._pfns[places] >= 0).all(), "list_del_many: a place holds no page"
        self._pfns[places] = -1
        self._live -= len(places)

    def __iter__(self):  # type: ignore[no-untyped-def]
        """The pages in list order, skipping those removed meanwhile."""
        pos = 0
        while pos < self._n:
            pfn = self._pfns.item(pos)  # read at each step: entries may go meanwhile
            if pfn >= 0:
                yield pfn
                pos += 1
            else:  # a hole: skip the holes after it at once
                pos = self._next_live(pos)

    def _next_live(self, pos: int) -> int:
        # The first place at or after ``pos`` holding a page (or the end), looking in
        # growing windows so that a short hole costs little.
        step = 8
        while pos < self._n:
            window = self._pfns[pos:min(self._n, pos + step)]
            live = np.flatnonzero(window >= 0)
            if len(live):
                return pos + int(live[0])
            pos += len(window)
            step *= 4
        return self._n

    def list_empty(self) -> bool:
        """Model of list_empty()."""
        return self._live == 0
