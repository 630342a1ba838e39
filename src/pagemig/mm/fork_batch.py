"""The array form of copy_page_range() for private anonymous vmas: fork on arrays.

fork() copies every pte of a vma with an anon_vma: a present pte of a copy-on-write
mapping is write-protected in the parent and copied old (and clean in a shared mapping)
into the child, its page gains a reference and a mapcount (and, Linux 6.1, stops being
PG_anon_exclusive); a swap pte takes a reference on its slot.  No step depends on the
order of the ptes, so this module does it a page-table page at a time with numpy: the
ptes of the vma's part of the table are read as a slice, the present ones rewritten and
their pages' columns updated with one indexed addition each, and the rare others (swap,
migration entries) go through copy_nonpresent_pte() one by one.

It is a module of its own because mm/memory.py keeps one function per function of
2.6.27's mm/memory.c.  The per-page path (copy_page_range()) is the reference: the result
must be the same machine, frame numbers included.  It takes a vma that is private,
anonymous (no file, no vm_ops), with an anon_vma and none of VM_PFNMAP, VM_MIXEDMAP,
VM_HUGETLB, VM_NONLINEAR, VM_INSERTPAGE; others go page by page.  ``k.migrate_path``
chooses, as for move_pages(2): "reference" never, "auto" for vmas of at least
BATCH_MIN_PAGES pages, "batch" always; ``k.fork_path`` says whether the last fork used it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.migrate_batch import batch_wanted
from pagemig.mm.mm_types import (
    PAGE_SHIFT,
    PMD_SHIFT,
    PTRS_PER_PTE,
    VM_HUGETLB,
    VM_INSERTPAGE,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_NONLINEAR,
    VM_PFNMAP,
    VM_SHARED,
)
from pagemig.mm.page_flags import F_ANON_EXCLUSIVE
from pagemig.mm.swapops import (
    _PAGE_ACCESSED,
    _PAGE_PRESENT,
    _PAGE_PROTNONE,
    _PAGE_RW,
    _PAGE_SPECIAL,
    PTE_PFN_MASK,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, VmArea

_NOT_TAKEN = VM_SHARED | VM_PFNMAP | VM_MIXEDMAP | VM_HUGETLB | VM_NONLINEAR | VM_INSERTPAGE


def fork_batch_takes(k: Kernel, vma: VmArea) -> bool:
    """Whether copy_page_range() of ``vma`` may run on arrays (see the module docstring)."""
    if vma.vm_file is not None or vma.vm_ops is not None or vma.anon_vma is None:
        return False
    if vma.vm_flags & _NOT_TAKEN:
        return False
    return batch_wanted(k, (vma.vm_end - vma.vm_start) >> PAGE_SHIFT)


def copy_page_range_batch(k: Kernel, dst_mm: MmStruct, src_mm: MmStruct, vma: VmArea) -> None:
    """copy_page_range() of a private anonymous ``vma`` on arrays: the machine ends as the
    per-page copy leaves it."""
    from pagemig.mm.memory import copy_nonpresent_pte

    p = k.pages
    # is_cow_mapping(): private and may be made writable
    cow = vma.vm_flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE
    clear_excl = k.profile.has("anon_exclusive")
    nr = p.nr_pages
    first_key = vma.vm_start >> PMD_SHIFT
    last_key = (vma.vm_end - 1) >> PMD_SHIFT
    keys = [key for key in src_mm.pgtables if first_key <= key <= last_key]
    anon_rss = file_rss = 0
    for key in sorted(keys):
        table = src_mm.pgtables[key]
        base = key << PMD_SHIFT
        lo = max(0, (vma.vm_start - base) >> PAGE_SHIFT)
        hi = min(PTRS_PER_PTE, (vma.vm_end - base) >> PAGE_SHIFT)
        part = table[lo:hi]
        used = np.flatnonzero(part)
        if not len(used):
            continue
        ptes = part[used]
        # pte_present(): a PROT_NONE pte maps its page too
        present = (ptes & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) != 0
        for i in used[~present].tolist():  # swap and migration entries: one by one
            copy_nonpresent_pte(k, dst_mm, src_mm, base + ((lo + i) << PAGE_SHIFT),
                                int(table[lo + i]), cow)
        idx = used[present]
        pte = part[idx]
        if cow:
            pte = pte & ~np.uint64(_PAGE_RW)  # pte_wrprotect() in the parent too
            part[idx] = pte
        child = pte & ~np.uint64(_PAGE_ACCESSED)  # pte_mkold()
        dst = dst_mm.pte_table(base, True)
        assert dst is not None
        dst[lo + idx] = child
        pfn = ((pte & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
        normal = ((pte & np.uint64(_PAGE_SPECIAL)) == 0) & (pfn < nr)  # vm_normal_page()
        pfn = pfn[normal]
        if not len(pfn):
            continue
        np.add.at(p.count, pfn, 1)  # get_page()
        np.add.at(p.mapcount, pfn, 1)  # page_dup_rmap()
        anon = (p.mapping[pfn] & 1) == 1
        if clear_excl:
            ap = pfn[anon]
            p.flags[ap] &= ~F_ANON_EXCLUSIVE
        na = int(np.count_nonzero(anon))
        anon_rss += na
        file_rss += len(pfn) - na
    dst_mm.anon_rss += anon_rss
    dst_mm.file_rss += file_rss
    k.fork_path = "batch"
