"""Kernel behaviour profiles: which Linux release the model's user-visible contract follows.

The default profile is Linux 2.6.27, the release of the seed.  The 6.1 profile, checked
against the oracle's real kernel, is a later issue: asking for it is a clear error now.
"""

from __future__ import annotations

from dataclasses import dataclass

KERNEL_REFERENCE = "v2.6.27"


@dataclass(frozen=True)
class Profile:
    """A kernel release whose behaviour the model reproduces."""

    name: str
    release: str
    version: str
    supported: bool


PROFILES = {
    "2.6.27": Profile("2.6.27", "2.6.27", "#1 SMP pagemig model of Linux 2.6.27", True),
    "6.1": Profile("6.1", "6.1.0-model", "#1 SMP pagemig model of Linux 6.1", False),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ValueError for an unknown or not yet supported one."""
    profile = PROFILES.get(name)
    if profile is None:
        raise ValueError(f"unknown kernel profile {name!r} (known: {', '.join(PROFILES)})")
    if not profile.supported:
        raise ValueError(f"kernel profile {name} is not supported yet (only 2.6.27 is)")
    return profile
