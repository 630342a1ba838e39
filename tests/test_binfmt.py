"""The process image exec builds (binfmt.py): where the vdso and vvar land in each release."""

from __future__ import annotations

import errno

from pagemig.kernel import Kernel
from pagemig.mm.mm_types import PAGE_SIZE, VM_IO, VM_PFNMAP

MMAP_BASE = 0x7FFFF7FFF000  # TASK_SIZE - 128 MiB, no randomisation


def names(k: Kernel, task) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    return {v.name: (v.vm_start, v.vm_end) for v in task.mm.vmas if v.name}


def test_2627_has_one_vdso_page_and_no_vvar(k: Kernel) -> None:
    """2.6.27: one vdso page right below mmap_base, no [vvar] vma."""
    p = k.spawn()
    maps = names(k, p)
    assert (MMAP_BASE - PAGE_SIZE, MMAP_BASE) == maps["[vdso]"]
    assert "[vvar]" not in maps
    assert 0 == p.mm.layout.vvar


def test_61_vvar_below_two_vdso_pages(k61: Kernel) -> None:
    """6.1 (as /proc/self/maps of the real kernel shows): [vvar] 4 pages, then [vdso] 2 pages
    ending at mmap_base."""
    p = k61.spawn()
    maps = names(k61, p)
    assert (MMAP_BASE - 2 * PAGE_SIZE, MMAP_BASE) == maps["[vdso]"]
    assert (MMAP_BASE - 6 * PAGE_SIZE, MMAP_BASE - 2 * PAGE_SIZE) == maps["[vvar]"]
    vvar = p.mm.find_vma(p.mm.layout.vvar)
    assert VM_PFNMAP | VM_IO == vvar.vm_flags & (VM_PFNMAP | VM_IO)


def test_61_first_mapping_address_matches_the_kernel(k61: Kernel) -> None:
    """The probe's first 4-page mapping lands at 0x7ffff7ff3000 on the real 6.1 kernel
    (case 44's `map b` object); the model puts it there too."""
    p = k61.spawn()
    assert 0x7FFFF7FF3000 == k61.mmap(p, 4 * PAGE_SIZE)


def test_61_vvar_page_is_mapped_as_a_raw_pfn(k61: Kernel) -> None:
    """The vvar page the vdso reads is mapped without a page reference: its frame's count
    is the kernel's alone, and move_pages reports it as -EFAULT (not migratable)."""
    p = k61.spawn()
    addr = p.mm.layout.vvar
    assert 1 == int(k61.pages.count[k61.vvar_pfn])
    a = k61.mmap(p, PAGE_SIZE)
    k61.write_user(p, a, b"x")
    ret, status = k61.move_pages(p, 0, [addr, a], [1, 1])
    assert (0, [-errno.EFAULT, 1]) == (ret, status)


def test_61_vdso_has_two_pages_of_the_kernel(k61: Kernel) -> None:
    """The 6.1 vdso image is two boot-time pages; the model keeps both as kernel pages."""
    assert 2 == len(k61.vdso_pages)
    assert len(set(k61.vdso_pages)) == 2
