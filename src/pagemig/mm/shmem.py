"""Model of mm/shmem.c (Linux 2.6.27): tmpfs files and shared anonymous memory.

A tmpfs file is an address_space whose pages live only in the page cache (swap is the swap
cache's scope and not modelled here).  Its migratepage method is migrate_page(); it does
not account dirty pages (BDI_CAP_NO_ACCT_AND_WRITEBACK), so set_page_dirty only sets
PG_dirty.  MAP_SHARED|MAP_ANONYMOUS memory is a tmpfs file of the mapping's size
(shmem_zero_setup()).  Memory policies set on a shmem vma are kept per file offset in the
inode's shared policy, as mpol_set_shared_policy() does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagemig.mm.filemap import (
    AddressSpace,
    AddressSpaceOperations,
    BackingDevInfo,
    __set_page_dirty_no_writeback,
    add_to_page_cache,
    find_get_page,
)
from pagemig.mm.mm_types import VmOps
from pagemig.mm.page_alloc import __GFP_ZERO, GFP_HIGHUSER_MOVABLE
from pagemig.mm.page_flags import F_SWAPBACKED, F_UPTODATE
from pagemig.mm.swap import lru_cache_add, put_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mempolicy import Mempolicy

SHMEM_VM_OPS_NAME = "shmem"


def shmem_aops() -> AddressSpaceOperations:
    """The address_space_operations of tmpfs (shmem_aops), migratepage = migrate_page."""
    from pagemig.mm.migrate import migrate_page

    return AddressSpaceOperations(
        name="shmem_aops",
        migratepage=migrate_page,
        writepage=None,  # shmem_writepage moves pages to swap: the swap scope (issue 3)
        set_page_dirty=__set_page_dirty_no_writeback,
    )


def shmem_file_setup(k: Kernel, name: str, size_pages: int) -> AddressSpace:
    """Model of shmem_file_setup(): a new tmpfs inode of ``size_pages`` pages."""
    mapping = AddressSpace(
        id=k.next_id("address_space"),
        name=name,
        a_ops=k.shmem_aops,
        bdi=BackingDevInfo("shmem", cap_account_dirty=False, cap_writeback_dirty=False),
        size_pages=size_pages,
        is_shmem=True,
    )
    mapping.ensure_slots(max(size_pages - 1, 0))
    k.address_spaces[mapping.id] = mapping
    return mapping


def shmem_vm_ops() -> VmOps:
    """The vm_operations of a tmpfs mapping (shmem_vm_ops)."""
    return VmOps(fault=SHMEM_VM_OPS_NAME)


def mpol_shared_policy_lookup(mapping: AddressSpace, idx: int) -> Mempolicy | None:
    """Model of mpol_shared_policy_lookup(): the policy covering file offset ``idx``."""
    for start, end, pol in reversed(mapping.shared_policy):
        if start <= idx < end:
            return pol  # type: ignore[no-any-return]
    return None


def mpol_set_shared_policy(mapping: AddressSpace, start: int, end: int,
                           pol: Mempolicy | None) -> None:
    """Model of mpol_set_shared_policy(): ``pol`` for offsets [start, end); later wins."""
    mapping.shared_policy.append((start, end, pol))


def shmem_alloc_page(k: Kernel, mapping: AddressSpace, idx: int) -> int | None:
    """Model of shmem_alloc_page(): allocate by the shared policy at offset ``idx``."""
    from pagemig.mm.mempolicy import alloc_page_pseudo_vma

    pol = mpol_shared_policy_lookup(mapping, idx)
    return alloc_page_pseudo_vma(k, GFP_HIGHUSER_MOVABLE | __GFP_ZERO, pol, idx)


def shmem_getpage(k: Kernel, mapping: AddressSpace, idx: int) -> int | None:
    """Model of shmem_getpage(SGP_CACHE): the cached page at ``idx`` with a reference.

    A hole is filled with a new zeroed page, added to the page cache and the inactive LRU.
    Returns None when no page could be allocated (the fault then fails with OOM).
    """
    pfn = find_get_page(k, mapping, idx)
    if pfn >= 0:
        return pfn
    pfn = shmem_alloc_page(k, mapping, idx)
    if pfn is None:
        return None
    if add_to_page_cache(k, pfn, mapping, idx):
        put_page(k, pfn)
        return None
    k.pages.flags[pfn] |= F_UPTODATE
    if k.profile.has("split_lru"):
        k.pages.flags[pfn] |= F_SWAPBACKED  # Linux 6.1: tmpfs pages are on the anon lists
    lru_cache_add(k, pfn)
    return pfn
