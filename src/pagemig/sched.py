"""Model of tasks (include/linux/sched.h, kernel/sched.c, kernel/cred): tasks and sleep points.

A :class:`Task` carries what migration's callers look at: pid, parent, uids, capabilities,
cpuset, memory policy, the CPU it runs on and its mm.  Kernel threads have no mm; a zombie
has released its mm.

Sleep points: the engine's functions that may sleep are generators that yield a
:class:`Wait` (or :data:`RESCHED` where the kernel may reschedule).  :func:`run_one_actor`
drives such a generator with a single actor: a wait for a page lock or for writeback is
resolved at once by letting the other holder finish (unlock, end the writeback), so forced
passes never deadlock.  A scheduler with several actors can drive the same generators.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pagemig.mm.mempolicy import Mempolicy
    from pagemig.mm.mm_types import MmStruct

CAP_SYS_PTRACE = 19
CAP_SYS_NICE = 23
CAP_FULL_SET = frozenset(range(38))  # the capabilities of 2.6.27 (CAP_LAST_CAP = 37)

PF_SWAPWRITE = 0x01000000
PF_KTHREAD = 0x00200000  # the model's marker for kernel threads

TASK_RUNNING = "running"
TASK_ZOMBIE = "zombie"
TASK_DEAD = "dead"


@dataclass(eq=False)
class Task:
    """Model of struct task_struct (with its credentials, as 2.6.27 kept them inline)."""

    pid: int
    comm: str
    parent: Task | None
    mm: MmStruct | None
    uid: int = 0
    euid: int = 0
    suid: int = 0
    gid: int = 0
    cap_effective: frozenset[int] = CAP_FULL_SET
    cap_permitted: frozenset[int] = CAP_FULL_SET
    mems_allowed: frozenset[int] = frozenset()
    mempolicy: Mempolicy | None = None
    cpu: int = 0
    cpus_allowed: frozenset[int] | None = None  # None: every CPU (sched_setaffinity())
    flags: int = 0
    state: str = TASK_RUNNING
    mem_cgroup: int = 1
    il_next: int | None = None  # the next node of an interleave policy (alloc_pages_current)
    children: list[Task] = field(default_factory=list)

    def capable(self, cap: int) -> bool:
        """Model of capable(): the capability is in the effective set."""
        return cap in self.cap_effective


def may_move_memory_of(current: Task, task: Task) -> bool:
    """The 2.6.27 permission rule of move_pages(2) and migrate_pages(2): CAP_SYS_NICE, or
    the caller's euid or uid equals the target's suid or uid (no ptrace check until 4.13)."""
    if current.capable(CAP_SYS_NICE):
        return True
    return bool({current.euid, current.uid} & {task.suid, task.uid})


def sched_setaffinity(task: Task, mask: Iterable[int], nr_cpus: int) -> int:
    """Model of sched_setaffinity(): the mask is cut to the online CPUs (all ``nr_cpus`` are,
    and the root cpuset has them all); -EINVAL if none is left.  A task whose CPU is no
    longer allowed moves to the first allowed one (set_cpus_allowed_ptr())."""
    allowed = frozenset(c for c in mask if 0 <= c < nr_cpus)
    if not allowed:
        return -errno.EINVAL
    task.cpus_allowed = allowed
    if task.cpu not in allowed:
        task.cpu = min(allowed)
    return 0


def sched_getaffinity(task: Task, nr_cpus: int) -> list[int]:
    """Model of sched_getaffinity(): the CPUs the task may run on, in order."""
    return sorted(task.cpus_allowed if task.cpus_allowed is not None else range(nr_cpus))


@dataclass(frozen=True)
class Wait:
    """A sleep point: the task waits for ``what`` ("page_locked", "page_writeback") on ``pfn``."""

    what: str
    pfn: int


@dataclass(frozen=True)
class Resched:
    """A point where the kernel may reschedule (cond_resched()); no wait."""

    where: str


RESCHED = Resched("cond_resched")


def run_one_actor(gen: Generator[Any, None, Any], resolve: Callable[[Wait], None]) -> Any:
    """Drive ``gen`` to completion; each :class:`Wait` it yields is resolved by ``resolve``."""
    try:
        item = next(gen)
        while True:
            if isinstance(item, Wait):
                resolve(item)
            item = gen.send(None)
    except StopIteration as stop:
        return stop.value
