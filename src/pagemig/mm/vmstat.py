"""Model of the event counters of mm/vmstat.c (``count_vm_events()``, ``/proc/vmstat``).

Only the events the model counts are kept, in ``k.vm_events`` (name -> count).  Which
events a release prints is decided by its profile: 2.6.27 has no ``pgmigrate_*`` counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

PGMIGRATE_SUCCESS = "pgmigrate_success"
PGMIGRATE_FAIL = "pgmigrate_fail"

EVENT_FEATURES = {PGMIGRATE_SUCCESS: "pgmigrate_vmstat", PGMIGRATE_FAIL: "pgmigrate_vmstat"}
"""The counted events and the profile feature under which /proc/vmstat prints each."""


def count_vm_events(k: Kernel, item: str, delta: int) -> None:
    """Model of count_vm_events(): add ``delta`` to event ``item`` when the release has it."""
    if delta and k.profile.has(EVENT_FEATURES[item]):
        k.vm_events[item] = k.vm_events.get(item, 0) + delta


def vm_event_value(k: Kernel, item: str) -> int | None:
    """The value /proc/vmstat prints for a counted event, None when the release has no such
    line (or the model does not count that event)."""
    feature = EVENT_FEATURES.get(item)
    if feature is None or not k.profile.has(feature):
        return None
    return k.vm_events.get(item, 0)
