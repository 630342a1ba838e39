"""Model of exec (fs/exec.c, fs/binfmt_elf.c): the address space of a new program.

The oracle runs a static program copied to tmpfs; the model gives every process the same
shape, with addresses as on x86_64 without randomisation (``norandmaps``):

- text (r-x) and data (rw-, private: written pages are anonymous copies) mapped from the
  program's tmpfs file at 0x400000, then bss and the brk heap (which merge);
- the vdso, the first mapping below ``mmap_base`` (0x7ffff7fff000 = TASK_SIZE - 128 MiB);
- the stack below TASK_SIZE.

Which pages a program touches is the model's account of what a small static C program
does: all of its text, all of its data, the first heap pages, the top stack pages and the
vdso.  The probe program then maps a PROT_NONE page and a read-only page, as the oracle's
probe does at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.fault import TASK_SIZE
from pagemig.mm.filemap import AddressSpace, set_page_dirty
from pagemig.mm.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ALWAYSDUMP,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_IO,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_READ,
    VM_STACK_FLAGS,
    MmStruct,
    VmOps,
)
from pagemig.mm.mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    arch_get_unmapped_area_topdown,
    do_mmap,
    mmap_region,
)
from pagemig.mm.shmem import shmem_file_setup, shmem_getpage
from pagemig.mm.swap import put_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.sched import Task

ELF_BASE = 0x400000
MMAP_BASE = TASK_SIZE - (128 << 20)  # mmap_base(): TASK_SIZE - MIN_GAP, page aligned
STACK_TOP = TASK_SIZE


@dataclass(frozen=True)
class Program:
    """The shape of a static program's image and of what it touches when it starts."""

    name: str
    text_pages: int
    data_pages: int
    bss_pages: int
    heap_pages: int
    heap_touched: int
    stack_pages: int
    stack_touched: int
    probe_maps: bool  # the probe's PROT_NONE and read-only pages


PROBE_PROGRAM = Program("probe", 180, 8, 8, 33, 2, 33, 3, True)
INIT_PROGRAM = Program("busybox", 100, 4, 4, 33, 1, 33, 2, False)


@dataclass
class ProcessLayout:
    """Addresses of the parts of a process image the script language names."""

    text: int
    data: int
    heap: int
    stack: int
    vdso: int
    vvar: int = 0  # 0: no [vvar] mapping (2.6.27)
    bad_page: int = 0
    ro_page: int = 0


def program_file(k: Kernel, prog: Program) -> AddressSpace:
    """The tmpfs file holding ``prog``, written once (by the boot script's copy)."""
    f = k.exec_files.get(prog.name)
    if f is None:
        npages = prog.text_pages + prog.data_pages
        f = shmem_file_setup(k, f"/tmp/{prog.name}", npages)
        rng = np.random.default_rng(len(prog.name))
        for idx in range(npages):
            pfn = shmem_getpage(k, f, idx)
            assert pfn is not None, "no memory for the program file"
            k.frames.write_words(pfn, rng.integers(0, 1 << 63, 512, dtype=np.uint64))
            set_page_dirty(k, pfn)  # written with write(2): dirty in the page cache
            put_page(k, pfn)
        k.exec_files[prog.name] = f
    return f


def exec_program(k: Kernel, task: Task, prog: Program) -> MmStruct:
    """Build the mm of ``task`` running ``prog`` and touch what the program touches."""
    mm = MmStruct(k.next_id("mm"))
    mm.owner = task
    mm.mmap_base = MMAP_BASE
    mm.free_area_cache = MMAP_BASE
    task.mm = mm
    f = program_file(k, prog)
    text_len = prog.text_pages * PAGE_SIZE
    data_at = ELF_BASE + text_len
    do_mmap(k, mm, ELF_BASE, text_len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, f, 0)
    do_mmap(k, mm, data_at, prog.data_pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_FIXED, f, prog.text_pages)
    bss_at = data_at + prog.data_pages * PAGE_SIZE
    do_mmap(k, mm, bss_at, prog.bss_pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    mm.start_brk = bss_at + prog.bss_pages * PAGE_SIZE
    mm.brk = mm.start_brk + prog.heap_pages * PAGE_SIZE
    do_mmap(k, mm, mm.start_brk, prog.heap_pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    stack_base = STACK_TOP - prog.stack_pages * PAGE_SIZE
    mmap_region(k, mm, stack_base, prog.stack_pages * PAGE_SIZE, VM_STACK_FLAGS,
                stack_base >> PAGE_SHIFT, None, None, "[stack]")
    mm.start_stack = STACK_TOP - PAGE_SIZE
    vdso, vvar = _install_vdso(k, mm)
    layout = ProcessLayout(text=ELF_BASE, data=data_at, heap=mm.start_brk,
                           stack=STACK_TOP - prog.stack_touched * PAGE_SIZE, vdso=vdso,
                           vvar=vvar)
    _touch_startup(k, task, mm, prog, layout)
    if prog.probe_maps:
        layout.bad_page = k.mmap(task, PAGE_SIZE, PROT_NONE)
        layout.ro_page = k.mmap(task, PAGE_SIZE, PROT_READ)
    mm.layout = layout  # type: ignore[attr-defined]
    return mm


VVAR_PAGES = 4  # Linux 6.1 x86-64: the vvar page, hpet, pvclock and hvclock pages


def _install_vdso(k: Kernel, mm: MmStruct) -> tuple[int, int]:
    # arch_setup_additional_pages(): install_special_mapping() of the boot-time vdso pages,
    # top-down below mmap_base.  Returns (vdso, vvar) addresses (vvar 0 when there is none).
    vdso_size = len(k.vdso_pages) * PAGE_SIZE
    flags = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ALWAYSDUMP
    ops = VmOps(fault="special", special_pages=k.vdso_pages)
    if not k.profile.has("vvar_mapping"):
        addr = arch_get_unmapped_area_topdown(mm, vdso_size)
        mmap_region(k, mm, addr, vdso_size, flags, 0, None, ops, "[vdso]")
        return addr, 0
    # Linux 6.1: map_vdso() takes one area for both and puts the vvar pages first; the
    # vvar vma maps kernel pfns (VM_PFNMAP | VM_IO), so it is neither migratable nor
    # reported as a page (move_pages: -EFAULT).
    vvar = arch_get_unmapped_area_topdown(mm, VVAR_PAGES * PAGE_SIZE + vdso_size)
    vdso = vvar + VVAR_PAGES * PAGE_SIZE
    mmap_region(k, mm, vdso, vdso_size, flags, 0, None, ops, "[vdso]")
    vvar_flags = VM_READ | VM_MAYREAD | VM_IO | VM_DONTEXPAND | VM_PFNMAP
    vvar_ops = VmOps(fault="pfnmap", special_pages=(k.vvar_pfn,))
    mmap_region(k, mm, vvar, VVAR_PAGES * PAGE_SIZE, vvar_flags, 0, None, vvar_ops, "[vvar]")
    return vdso, vvar


def _touch_startup(k: Kernel, task: Task, mm: MmStruct, prog: Program,
                   layout: ProcessLayout) -> None:
    with k.as_task(task):
        for i in range(prog.text_pages):
            k.touch(task, ELF_BASE + i * PAGE_SIZE, False)
        for i in range(prog.data_pages):
            k.touch(task, layout.data + i * PAGE_SIZE, True)
        for i in range(prog.bss_pages):
            k.touch(task, layout.data + (prog.data_pages + i) * PAGE_SIZE, True)
        for i in range(prog.heap_touched):
            k.touch(task, mm.start_brk + i * PAGE_SIZE, True)
        for i in range(1, prog.stack_touched + 1):
            k.touch(task, STACK_TOP - i * PAGE_SIZE, True)
        k.touch(task, layout.vdso, False)
        if layout.vvar:
            k.touch(task, layout.vvar, False)  # the vdso's clock reads the vvar page


def touch_after_fork(k: Kernel, task: Task, live: bool) -> None:
    """What a process does right after fork: it writes its stack; a live probe child also
    runs the probe's code and allocates from the heap."""
    assert task.mm is not None
    layout: ProcessLayout = task.mm.layout  # type: ignore[attr-defined]
    prog = PROBE_PROGRAM
    for i in range(1, prog.stack_touched + 1):
        k.touch(task, STACK_TOP - i * PAGE_SIZE, True)
    if live:
        for i in range(prog.text_pages):
            k.touch(task, layout.text + i * PAGE_SIZE, False)
        k.touch(task, layout.heap, True)
        k.touch(task, layout.vdso, False)
