"""A frame-number-free view of a machine, to compare the two paths of move_pages(2).

Every page is named by what maps it or holds it, never by its pfn: for each task, each
mapped address gives the page's node, contents, flags, counts, list (or pagevec slot),
cgroup record; swap and migration ptes are kept as values; per zone the counters, the
free pages and the LRU order of the mapped pages; the pagevecs by the pages they hold.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from pagemig.kernel import Kernel
from pagemig.mm.mm_types import LRU_PAGEVEC, PAGE_SHIFT, PMD_SHIFT
from pagemig.mm.swapops import _PAGE_PRESENT, _PAGE_PROTNONE, PTE_PFN_MASK


def _page_id(k: Kernel, pfn: int, names: dict[int, str]) -> Any:
    # A page by the first (task, address) mapping it, else by its state and contents.
    if pfn in names:
        return names[pfn]
    p = k.pages
    return ("unmapped", k.pfn_to_nid(pfn), int(p.flags[pfn]), int(p.count[pfn]),
            int(p.mapping[pfn]), int(p.index[pfn]), int(p.memcg[pfn]),
            hashlib.sha1(k.frames.frame(pfn).tobytes()).hexdigest()[:12])


def canonical(k: Kernel) -> dict[str, Any]:
    """The machine as the contract compares it (see the module docstring)."""
    p = k.pages
    names: dict[int, str] = {}
    mapped: dict[str, Any] = {}
    for pid in sorted(k.tasks):
        mm = k.tasks[pid].mm
        if mm is None:
            continue
        for key in sorted(mm.pgtables):
            table = mm.pgtables[key]
            for i in np.flatnonzero(table).tolist():
                addr = (key << PMD_SHIFT) | (i << PAGE_SHIFT)
                pte = int(table[i])
                where = f"{pid}:{addr:#x}"
                if not pte & (_PAGE_PRESENT | _PAGE_PROTNONE):
                    mapped[where] = ("swp", pte)
                    continue
                pfn = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
                bits = pte & ~PTE_PFN_MASK
                if pfn >= p.nr_pages:
                    mapped[where] = ("raw", pte)
                    continue
                names.setdefault(pfn, where)
                mapped[where] = (names[pfn], bits, k.pfn_to_nid(pfn), int(p.flags[pfn]),
                                 int(p.count[pfn]), int(p.mapcount[pfn]),
                                 int(p.mapping[pfn]), int(p.index[pfn]), int(p.lru[pfn]),
                                 int(p.memcg[pfn]), int(p.private[pfn]),
                                 hashlib.sha1(k.frames.frame(pfn).tobytes()).hexdigest()[:12])
    zones = []
    for z in k.zones:
        on = np.flatnonzero((p.lru[z.start_pfn:z.end_pfn] >= 0)
                            & (p.lru[z.start_pfn:z.end_pfn] != LRU_PAGEVEC)
                            & (p.lru[z.start_pfn:z.end_pfn] != 3)) + z.start_pfn
        order = on[np.argsort(p.lru_seq[on], kind="stable")]
        lru = [(int(p.lru[x]), int(p.lru_seq[x]), _page_id(k, int(x), names))
               for x in order.tolist()]
        zones.append({"stat": k.zone_stat[z.id].tolist(), "free": z.free_top,
                      "lru_seq": z.lru_seq, "lru": lru})
    pvecs = [[_page_id(k, int(x), names) for x in k.pvecs[c, w, :k.pvec_len[c, w]].tolist()]
             for c in range(k.nr_cpus) for w in range(2)]
    memcgs = {i: (cg.usage, cg.max_usage, cg.failcnt, cg.limit, cg.oom_calls)
              for i, cg in k.memcgs.items()}
    rss = {pid: (t.mm.anon_rss, t.mm.file_rss) for pid, t in k.tasks.items()
           if t.mm is not None}
    pinned = sorted(_page_id(k, pfn, names) .__repr__() for pfn in k.pinned)
    return {"mapped": mapped, "zones": zones, "pvecs": pvecs, "memcgs": memcgs,
            "vm_events": dict(k.vm_events), "rss": rss, "pinned": pinned,
            "lru_disable": k.lru_disable_count}


def diff(a: dict[str, Any], b: dict[str, Any], limit: int = 8) -> list[str]:
    """The first differences between two views, for a readable failure."""
    out: list[str] = []
    for key in a:
        if a[key] == b[key]:
            continue
        if isinstance(a[key], dict):
            for sub in sorted(set(a[key]) | set(b[key]), key=str):
                if a[key].get(sub) != b[key].get(sub):
                    out.append(f"{key}[{sub}]: {a[key].get(sub)!r} != {b[key].get(sub)!r}")
        elif isinstance(a[key], list):
            for i, (x, y) in enumerate(zip(a[key], b[key], strict=False)):
                if x != y:
                    if isinstance(x, dict):
                        for f in x:
                            if x[f] != y[f]:
                                out.append(f"{key}[{i}].{f}: {str(x[f])[:300]} != "
                                           f"{str(y[f])[:300]}")
                    else:
                        out.append(f"{key}[{i}]: {str(x)[:300]} != {str(y)[:300]}")
            if len(a[key]) != len(b[key]):
                out.append(f"{key}: lengths {len(a[key])} != {len(b[key])}")
        else:
            out.append(f"{key}: {a[key]!r} != {b[key]!r}")
        if len(out) >= limit:
            break
    return out[:limit]
