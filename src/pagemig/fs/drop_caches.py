"""Model of fs/drop_caches.c: writes to /proc/sys/vm/drop_caches.

Simplifications: the value must be 1, 2 or 3 (-EINVAL otherwise); 2 (slab) has nothing to
drop in the model.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.kernel import Kernel


def drop_caches_sysctl_handler(k: Kernel, value: str) -> int:
    """Model of drop_caches_sysctl_handler(): 1 or 3 drops the clean, unmapped page-cache
    pages; 0 or -EINVAL."""
    if value not in ("1", "2", "3"):
        return -errno.EINVAL
    if value in ("1", "3"):
        k.drop_caches()
    return 0
