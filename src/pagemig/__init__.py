"""pagemig: an executable model of Linux page migration (mm/migrate.c of Linux 2.6.27).

The public API is the :class:`Kernel` (a booted model machine with its tasks) and the
constants a caller needs to drive its system calls.  See docs/api.md.
"""

from pagemig.kernel import Kernel, Topology
from pagemig.mm.profiles import KERNEL_REFERENCE, PROFILES

__all__ = ["KERNEL_REFERENCE", "PROFILES", "Kernel", "Topology"]
