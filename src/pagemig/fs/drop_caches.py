"""Model of fs/drop_caches.c: writes to /proc/sys/vm/drop_caches.

One handler serves both ways in (the ``drop_caches`` action and a ``write`` of the procfs
file).  The value is read as proc_dointvec_minmax() (kernel/sysctl.c) reads an int: blanks
around it, an optional ``-``, then a C number (``0x`` hex, a leading ``0`` octal, else
decimal).  Bit 1 drops the clean, unmapped page-cache pages; bit 2 (slab) and bit 4 (stop
logging) have nothing to act on in the model.

Linux 2.6.27 puts no bounds on the value and ignores what proc_dointvec_minmax() returns:
a write that is not a number succeeds and acts on the value written before (0 at boot).
Linux 6.1 takes only 1 to 4 and returns proc_dointvec_minmax()'s -EINVAL otherwise.
"""

from __future__ import annotations

import errno
import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


def proc_int(value: str) -> int | None:
    """The int a write of ``value`` stores through proc_dointvec(), or None when the text is
    not one number (the kernel's -EINVAL) or does not fit a C int."""
    text = value.strip(string.whitespace)
    neg = text.startswith("-")
    digits = text[1:] if neg else text
    if not digits or not digits[0].isdigit() or not digits.isascii():
        return None
    if digits[:2].lower() == "0x":  # "0x" alone is a 0 followed by an "x": not a number
        base, digits = 16, digits[2:]
    elif len(digits) > 1 and digits[0] == "0":
        base, digits = 8, digits[1:]
    else:
        base = 10
    if not digits or any(c not in string.hexdigits[:base] for c in digits.lower()):
        return None
    number = int(digits, base)
    number = -number if neg else number
    return number if INT_MIN <= number <= INT_MAX else None


def drop_caches_sysctl_handler(k: Kernel, value: str) -> int:
    """Model of drop_caches_sysctl_handler(): store the value written, then drop the clean,
    unmapped page-cache pages if its bit 1 is set; 0 or (6.1) -EINVAL."""
    number = proc_int(value)
    if k.profile.has("drop_caches_bounds"):
        # Linux 6.1: 1..4, and a bad write is refused before anything is dropped.
        if number is None or not 1 <= number <= 4:
            return -errno.EINVAL
    if number is not None:
        k.sysctl_drop_caches = number
    if k.sysctl_drop_caches & 1:
        k.drop_caches()
    return 0
