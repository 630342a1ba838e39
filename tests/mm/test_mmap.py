"""mmap/munmap/mprotect/mlock on the model: vma bookkeeping and page contents under churn."""

from __future__ import annotations

import numpy as np
import pytest

from pagemig.kernel import Kernel
from pagemig.mm.mm_types import PAGE_SIZE, VM_LOCKED, VM_READ, VM_WRITE
from pagemig.mm.mmap import PROT_NONE, PROT_READ, PROT_WRITE
from pagemig.sched import Task
from pagemig.validate import validate

PROTS = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE]


def vmas_are_sorted_and_disjoint(task: Task) -> bool:
    """Every vma is non-empty, and each ends at or before the next one starts."""
    assert task.mm is not None
    vmas = task.mm.vmas
    return all(v.vm_start < v.vm_end for v in vmas) and all(
        a.vm_end <= b.vm_start for a, b in zip(vmas, vmas[1:], strict=False))


def test_adjacent_private_anon_mappings_merge(k: Kernel, proc: Task) -> None:
    """Two private anonymous mmaps made one after the other become one vma (vma_merge)."""
    a = k.mmap(proc, 4 * PAGE_SIZE)
    b = k.mmap(proc, 2 * PAGE_SIZE)
    assert proc.mm is not None

    assert b + 2 * PAGE_SIZE == a
    vma = proc.mm.find_vma(b)
    assert (b, a + 4 * PAGE_SIZE) == (vma.vm_start, vma.vm_end)


def test_mprotect_splits_and_merges_back(k: Kernel, proc: Task) -> None:
    """mprotect of a middle part splits a vma in three; restoring the protection merges it."""
    a = k.mmap(proc, 6 * PAGE_SIZE)
    for i in range(6):
        k.write_user(proc, a + i * PAGE_SIZE, bytes([i + 1]) * 8)
    assert proc.mm is not None
    before = len(proc.mm.vmas)
    k.mprotect(proc, a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_NONE)
    split = len(proc.mm.vmas)
    k.mprotect(proc, a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE)

    assert (before + 2, before) == (split, len(proc.mm.vmas))
    assert [bytes([i + 1]) * 8 for i in range(6)] == [
        k.read_user(proc, a + i * PAGE_SIZE, 8) for i in range(6)]


def test_mprotect_none_keeps_the_page_present(k: Kernel, proc: Task) -> None:
    """A PROT_NONE page stays mapped (pte_present) and cannot be read."""
    a = k.mmap(proc, PAGE_SIZE)
    k.write_user(proc, a, b"abc")
    pfn = k.page_at(proc, a)
    k.mprotect(proc, a, PAGE_SIZE, PROT_NONE)

    assert pfn == k.page_at(proc, a)
    with pytest.raises(OSError):
        k.read_user(proc, a, 1)


def test_mlock_populates_with_write_faults(k: Kernel, proc: Task) -> None:
    """mlock of an untouched writable range faults every page in and sets VM_LOCKED."""
    a = k.mmap(proc, 3 * PAGE_SIZE)
    k.mlock(proc, a, 3 * PAGE_SIZE)
    assert proc.mm is not None

    assert all(k.page_at(proc, a + i * PAGE_SIZE) is not None for i in range(3))
    assert proc.mm.find_vma(a).vm_flags & VM_LOCKED


@pytest.mark.parametrize("seed", range(12))
def test_random_vma_churn_keeps_contents_and_invariants(k: Kernel, proc: Task, seed: int) -> None:
    """Random mprotect/mlock/munmap/fork/write sequences keep vmas sane, contents and invariants."""
    rng = np.random.default_rng(seed)
    n = 16
    a = k.mmap(proc, n * PAGE_SIZE)
    expect: dict[int, bytes] = {}
    prot = {i: PROT_READ | PROT_WRITE for i in range(n)}
    for step in range(30):
        i = int(rng.integers(0, n))
        j = int(rng.integers(i + 1, n + 1))
        op = int(rng.integers(0, 5))
        addr, length = a + i * PAGE_SIZE, (j - i) * PAGE_SIZE
        live = [p for p in range(i, j) if p in prot]
        if op == 0 and len(live) == j - i:
            newprot = PROTS[int(rng.integers(0, 3))]
            k.mprotect(proc, addr, length, newprot)
            prot.update({p: newprot for p in live})
        elif op == 1 and len(live) == j - i:
            k.mlock(proc, addr, length, bool(rng.integers(0, 2)))
        elif op == 2:
            k.munmap(proc, addr, length)
            for p in range(i, j):
                prot.pop(p, None)
                expect.pop(p, None)
        elif op == 3 and step % 7 == 0:
            k.fork(proc)
        else:
            for p in live:
                if prot[p] & PROT_WRITE:
                    data = bytes([step, p]) * 4
                    k.write_user(proc, a + p * PAGE_SIZE, data)
                    expect[p] = data
        assert vmas_are_sorted_and_disjoint(proc)
        validate(k)
    for p, data in expect.items():
        if prot[p] & PROT_READ:
            assert data == k.read_user(proc, a + p * PAGE_SIZE, len(data))
    assert proc.mm is not None
    for p, pr in prot.items():
        vma = proc.mm.vma_containing(a + p * PAGE_SIZE)
        want = (VM_READ if pr & PROT_READ else 0) | (VM_WRITE if pr & PROT_WRITE else 0)
        assert want == vma.vm_flags & (VM_READ | VM_WRITE)
