"""Model of the LSM hook security_task_movememory() (security/security.c, Linux 2.6.27).

The default security module allows everything; a caller may install a hook that returns a
negative errno to deny, as an LSM would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.sched import Task


@dataclass
class SecurityOps:
    """The security hooks the model calls (a subset of struct security_operations)."""

    task_movememory: Callable[[Task], int] | None = None


def security_task_movememory(ops: SecurityOps, task: Task) -> int:
    """Model of security_task_movememory(): 0 to allow, or a negative errno."""
    if ops.task_movememory is None:
        return 0
    return ops.task_movememory(task)
