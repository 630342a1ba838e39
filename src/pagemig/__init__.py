"""pagemig: an executable model of Linux page migration (mm/migrate.c of Linux 2.6.27).

The public API is the :class:`Kernel` (a booted model machine with its tasks) and the
constants a caller needs to drive its system calls.  See docs/api.md.
"""

from pagemig.kernel import Kernel, Topology
from pagemig.mm.mempolicy import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
)
from pagemig.mm.mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)
from pagemig.mm.profiles import KERNEL_REFERENCE, PROFILES

__all__ = [
    "KERNEL_REFERENCE", "MAP_ANONYMOUS", "MAP_FIXED", "MAP_PRIVATE", "MAP_SHARED", "MPOL_BIND",
    "MPOL_DEFAULT", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES", "MPOL_INTERLEAVE", "MPOL_LOCAL",
    "MPOL_MF_MOVE", "MPOL_MF_MOVE_ALL", "MPOL_MF_STRICT", "MPOL_PREFERRED", "PROFILES",
    "PROT_EXEC", "PROT_NONE", "PROT_READ", "PROT_WRITE", "Kernel", "Topology",
]
