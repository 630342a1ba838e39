"""Model of kernel/fork.c and kernel/exit.c (Linux 2.6.27): fork, exit and reaping.

dup_mmap() copies every vma (same anon_vma, added to the file's i_mmap) and, through
copy_page_range(), the ptes of vmas that have an anon_vma: private pages become shared
copy-on-write (both ptes write-protected, mapcount 2).  Shared mappings are not copied;
the child faults them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagemig.mm.fork_batch import copy_page_range_batch, fork_batch_takes
from pagemig.mm.memory import copy_page_range
from pagemig.mm.mm_types import VM_DONTCOPY, VM_LOCKED, MmStruct, VmArea
from pagemig.mm.mmap import exit_mmap
from pagemig.sched import TASK_DEAD, TASK_ZOMBIE

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.sched import Task


def dup_mmap(k: Kernel, mm: MmStruct, oldmm: MmStruct) -> None:
    """Model of dup_mmap(): copy the vmas and (where needed) the ptes of ``oldmm``."""
    for attr in ("mmap_base", "free_area_cache", "start_brk", "brk", "start_stack",
                 "anon_rss", "file_rss", "dumpable"):
        setattr(mm, attr, getattr(oldmm, attr) if attr not in ("anon_rss", "file_rss") else 0)
    mm.layout = getattr(oldmm, "layout", None)  # type: ignore[attr-defined]
    k.fork_path = "reference"
    for vma in oldmm.vmas:
        if vma.vm_flags & VM_DONTCOPY:
            continue
        # The child does not inherit the locks: VM_LOCKED is cleared (2.6.27 and 6.1).
        tmp = VmArea(vm_mm=mm, vm_start=vma.vm_start, vm_end=vma.vm_end,
                     vm_flags=vma.vm_flags & ~VM_LOCKED,
                     vm_pgoff=vma.vm_pgoff, vm_file=vma.vm_file, anon_vma=vma.anon_vma,
                     vm_ops=vma.vm_ops, policy=vma.policy, name=vma.name)
        mm.insert_vma(tmp)
        if tmp.anon_vma is not None:
            tmp.anon_vma.vmas.append(tmp)
        if tmp.vm_file is not None:
            i_mmap = tmp.vm_file.i_mmap
            i_mmap.insert(i_mmap.index(vma) + 1, tmp)  # vma_prio_tree_add() next to the parent's
        if fork_batch_takes(k, vma):
            copy_page_range_batch(k, mm, oldmm, vma)  # the same, on arrays
        else:
            copy_page_range(k, mm, oldmm, vma, tmp)


def do_fork(k: Kernel, parent: Task, comm: str | None = None) -> Task:
    """Model of do_fork(): a new task with the parent's credentials and a copied mm."""
    from dataclasses import replace

    child = k._new_task(comm or parent.comm, parent, parent.mems_allowed)
    for attr in ("uid", "euid", "suid", "gid", "cap_effective", "cap_permitted", "mempolicy",
                 "cpu", "cpus_allowed", "mem_cgroup", "il_next"):
        setattr(child, attr, getattr(parent, attr))
    del replace
    if parent.mm is not None:
        mm = MmStruct(k.next_id("mm"))
        mm.owner = child
        child.mm = mm
        dup_mmap(k, mm, parent.mm)
    return child


def do_exit(k: Kernel, task: Task) -> None:
    """Model of do_exit(): the mm is released (exit_mmap()); the task becomes a zombie."""
    if task.mm is not None:
        with k.as_task(task):
            exit_mmap(k, task.mm)
        task.mm = None
    task.state = TASK_ZOMBIE
    init = k.init_task()
    for child in task.children:
        child.parent = init
        init.children.append(child)
    task.children = []


def release_task(k: Kernel, task: Task) -> None:
    """Model of release_task(): reaping removes the pid."""
    if task.mm is not None:
        do_exit(k, task)
    task.state = TASK_DEAD
    k.tasks.pop(task.pid, None)
    if task.parent is not None and task in task.parent.children:
        task.parent.children.remove(task)
