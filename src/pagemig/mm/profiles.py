"""Kernel behaviour profiles: which Linux release the model's user-visible contract follows.

The differences between releases are data.  :data:`FEATURES` lists each behaviour the model
knows that changed after 2.6.27, with the release that brought it (releases read from the
man pages, the kernel's history and the oracle's 6.1; where only an approximate release is
known the description says so).  A :class:`Profile` is a release; code asks
``k.profile.has("feature")`` and never looks at a release string.  The default profile is
Linux 2.6.27, the seed's release; the 6.1 profile follows the oracle's real 6.1 kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KERNEL_REFERENCE = "v2.6.27"


@dataclass(frozen=True)
class Feature:
    """A behaviour that appeared in (or changed with) Linux ``since``."""

    name: str
    since: tuple[int, ...]
    what: str


FEATURES: dict[str, Feature] = {f.name: f for f in [
    Feature("split_lru", (2, 6, 28),
            "separate anon/file LRU lists and the unevictable list"),
    Feature("ext4", (2, 6, 28), "ext4 is no longer ext4dev"),
    Feature("kpageflags", (2, 6, 31),
            "/proc/kpageflags names mmap, anon, swapcache, swapbacked, ..."),
    Feature("anon_zero_page", (2, 6, 32),
            "a read fault of private anonymous memory maps the zero page"),
    Feature("pgmigrate_vmstat", (3, 8),
            "/proc/vmstat counts pgmigrate_success and pgmigrate_fail"),
    Feature("zram", (3, 14), "zram swap devices (drivers/block/zram)"),
    Feature("pagemap_exclusive", (4, 2),
            "/proc/PID/pagemap reports exclusively mapped pages"),
    Feature("move_pages_ptrace_check", (4, 13),
            "move_pages(2)/migrate_pages(2) permission by ptrace_may_access()"),
    Feature("move_pages_batched", (4, 17),
            "do_pages_move() migrates runs of entries with the same target node, no E2BIG, "
            "-EBUSY for an isolated page, positive return counts entries not attempted"),
    Feature("cgroup2_cpuset", (4, 17), "the cpuset controller of cgroup v2"),
    Feature("mpol_local", (3, 8), "MPOL_LOCAL is a policy mode of its own (mode 4)"),
    Feature("mpol_preferred_many", (5, 15), "MPOL_PREFERRED_MANY (mode 5; not modelled)"),
    Feature("mbind_queue_pages", (5, 9),  # the release is approximate
            "mbind() walks the range with queue_pages_range(): a hole at its head is -EFAULT "
            "too, a range without a vma is -EFAULT for every policy, and isolated pages go "
            "back on every error path"),
    Feature("fault_around", (3, 15),
            "a read fault of a file or shmem mapping also maps the cached pages of its 64 KiB "
            "block (do_fault_around(), vm_ops->map_pages)"),
    Feature("vvar_mapping", (6, 1),
            "x86-64 exec maps a 4-page [vvar] (VM_PFNMAP) below a 2-page [vdso], as seen on "
            "6.1 (a separate [vvar] vma dates from 3.16; its size changed over releases)"),
    Feature("pagemap_kernel_buffer", (2, 6, 34),  # the release is approximate
            "pagemap_read() gathers entries in a kernel buffer and copies them out with "
            "copy_to_user() (a fault is -EFAULT) instead of pinning the reader's buffer with "
            "get_user_pages() first (2.6.27: its error, -ENOMEM included)"),
    Feature("drop_caches_bounds", (3, 17),  # the release is approximate
            "/proc/sys/vm/drop_caches takes 1 to 4 and a bad write is -EINVAL (2.6.27: any "
            "int, and a write that is not a number acts on the value written before)"),
    Feature("migrate_pages_skip_dest_sources", (3, 4),
            "do_migrate_pages(): when |from| != |to|, source nodes that are also in `to` "
            "are not migrated"),
    Feature("migrate_pages_new_in_cpuset", (4, 15),
            "migrate_pages(2) intersects `new` with the caller's cpuset (empty: -EINVAL) and "
            "looks for the target's mm after the permission checks"),
    Feature("nodes_shift_10", (6, 1),
            "the distribution's build has CONFIG_NODES_SHIFT=10: MAX_NUMNODES is 1024 "
            "(a build setting, not a release change; Debian's 6.1)"),
    Feature("node_hugepages", (2, 6, 32),
            "per-node hugetlb pools: /sys/devices/system/node/nodeN/hugepages"),
    Feature("migrate_to_node_thisnode", (4, 14),
            "migrate_pages(2) allocates its target pages on the target node only "
            "(__GFP_THISNODE), so a full node is -ENOMEM"),
    Feature("foll_numa_protnone", (4, 0),
            "follow_page() does not follow a PROT_NONE pte without FOLL_FORCE"),
    Feature("move_pages_foll_dump", (2, 6, 32),
            "move_pages(2) looks pages up with FOLL_DUMP: the zero page and holes of "
            "anonymous memory are -EFAULT"),
    Feature("move_pages_vma_lookup", (2, 6, 29),
            "move_pages(2) wants a vma containing the address (a hole is -EFAULT) and "
            "query mode reads the arrays in chunks of 16 entries"),
    Feature("lru_cache_disable", (5, 13),
            "move_pages(2), migrate_pages(2) and mbind(2) with MPOL_MF_MOVE disable the "
            "per-CPU LRU add caches for the call instead of draining them once "
            "(migrate_prep)"),
    Feature("mlock_no_shared_write", (2, 6, 37),
            "mlock() populates shared mappings with read faults (no dirtying); only private "
            "writable ones are write-faulted to break COW"),
    Feature("thp_sysfs", (2, 6, 38), "/sys/kernel/mm/transparent_hugepage"),
    Feature("willneed_swapin", (3, 15),
            "MADV_WILLNEED on anonymous memory reads its swapped-out pages into the swap "
            "cache instead of failing with EBADF"),
    Feature("shmem_willneed_swapin", (5, 9),
            "MADV_WILLNEED on tmpfs swaps in its swapped pages only; holes stay holes "
            "(the release is approximate)"),
    Feature("node_has_memory", (3, 8),
            "/sys/devices/system/node/has_memory (N_MEMORY) and "
            "/proc/sys/kernel/numa_balancing"),
    Feature("free_swap_unmapped", (2, 6, 28),
            "free_swap_and_cache() drops a cached page that no pte maps (2.6.27: only one "
            "with no reference but the cache's and the lookup's)"),
    Feature("swapin_unreferenced", (2, 6, 30),
            "do_swap_page() no longer calls mark_page_accessed() on the swapped-in page"),
    Feature("pipe_resize", (2, 6, 35),
            "F_SETPIPE_SZ: a pipe can hold more than 16 pages (up to pipe-max-size, 1 MiB)"),
    Feature("swap_sync_io", (4, 15),
            "swap-in from a synchronous device (zram) bypasses the swap cache"),
    Feature("migrate_swapcache_entry", (4, 14),
            "migration unmaps a swap-cache page with migration entries, not its swap entry, "
            "so it is mapped again afterwards (the release is approximate)"),
    Feature("madv_pageout", (5, 4), "MADV_COLD and MADV_PAGEOUT"),
    Feature("anon_exclusive", (5, 19),
            "PG_anon_exclusive: do_wp_page() reuses an exclusive anonymous page, swap ptes "
            "remember exclusivity"),
    Feature("map_shared_validate", (4, 15),
            "mmap() of a file with MAP_SHARED_VALIDATE (type 3) maps it shared after checking "
            "its flags (EOPNOTSUPP for an unknown one); 2.6.27 refuses type 3 (EINVAL)"),
]}
"""Every behaviour change the model knows, by name."""


def parse_release(text: str) -> tuple[int, ...]:
    """``"6.1"`` -> (6, 1); ``"2.6.27"`` -> (2, 6, 27)."""
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Profile:
    """A kernel release whose behaviour the model reproduces.

    ``release`` and ``version`` are what uname(2) reports in the model.
    """

    name: str
    release: str
    version: str
    features: frozenset[str] = field(default_factory=frozenset)

    def has(self, feature: str) -> bool:
        """Whether this release has ``feature`` (a key of :data:`FEATURES`); KeyError if
        the feature is unknown, so a misspelt name fails at once."""
        if feature not in FEATURES:
            raise KeyError(f"unknown kernel feature {feature!r}")
        return feature in self.features


def make_profile(name: str, version: str) -> Profile:
    """The profile of release ``name``: every feature that release has."""
    rel = parse_release(name)
    feats = frozenset(f.name for f in FEATURES.values() if f.since <= rel)
    release = name if rel < (3,) else f"{name}.0-pagemig"
    return Profile(name, release, version, feats)


PROFILES = {
    "2.6.27": make_profile("2.6.27", "#1 SMP pagemig model of Linux 2.6.27"),
    "6.1": make_profile("6.1", "#1 SMP PREEMPT_DYNAMIC pagemig model of Linux 6.1"),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ValueError for an unknown one."""
    profile = PROFILES.get(name)
    if profile is None:
        raise ValueError(f"unknown kernel profile {name!r} (known: {', '.join(PROFILES)})")
    return profile
