"""Model of kernel/cpuset.c (Linux 2.6.27), as far as migration asks it.

Every task is in the root cpuset, whose memory nodes are the nodes with memory; a task's
``mems_allowed`` can be narrowed through the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.sched import Task


def cpuset_mems_allowed(task: Task) -> frozenset[int]:
    """Model of cpuset_mems_allowed(): the memory nodes the task's cpuset allows."""
    return task.mems_allowed
