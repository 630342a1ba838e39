"""Model of ptrace_may_access() (kernel/ptrace.c, Linux 6.1) and its capability hook.

Since 4.10 move_pages(2) and migrate_pages(2) of another process ask whether the caller may
read that process as a debugger would (PTRACE_MODE_READ_REALCREDS); 2.6.27 used its own uid
rule (:func:`pagemig.sched.may_move_memory_of`).

A task whose effective ids changed is not dumpable (``mm.dumpable``, pagemig.cred) until it
calls prctl(PR_SET_DUMPABLE, 1), and only a caller with CAP_SYS_PTRACE may inspect it.

Simplifications: one user namespace; no setuid programs (exec always gives a dumpable mm);
the task's gid stands for its gid, egid and sgid; no Yama (it restricts only
PTRACE_MODE_ATTACH).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.sched import CAP_SYS_PTRACE

if TYPE_CHECKING:
    from pagemig.sched import Task

PTRACE_MODE_READ = 0x01
PTRACE_MODE_ATTACH = 0x02
PTRACE_MODE_NOAUDIT = 0x04
PTRACE_MODE_FSCREDS = 0x08
PTRACE_MODE_REALCREDS = 0x10
PTRACE_MODE_READ_REALCREDS = PTRACE_MODE_READ | PTRACE_MODE_REALCREDS
PTRACE_MODE_READ_FSCREDS = PTRACE_MODE_READ | PTRACE_MODE_FSCREDS


def ptrace_has_cap(current: Task) -> bool:
    """Model of ptrace_has_cap(): CAP_SYS_PTRACE in the caller's effective set."""
    return current.capable(CAP_SYS_PTRACE)


def cap_ptrace_access_check(current: Task, task: Task, mode: int) -> int:
    """Model of cap_ptrace_access_check(): the target's permitted capabilities must be a
    subset of the caller's (permitted ones, or effective ones with FSCREDS), unless the
    caller has CAP_SYS_PTRACE; 0 or -EPERM."""
    caller_caps = current.cap_effective if mode & PTRACE_MODE_FSCREDS else current.cap_permitted
    if task.cap_permitted <= caller_caps:
        return 0
    if ptrace_has_cap(current):
        return 0
    return -errno.EPERM


def __ptrace_may_access(current: Task, task: Task, mode: int) -> int:
    """Model of __ptrace_may_access(): 0 or -EPERM.

    The caller's real (REALCREDS) or filesystem ids must equal all of the target's uids and
    gids, or the caller needs CAP_SYS_PTRACE; then the capability hook decides.
    """
    if bool(mode & PTRACE_MODE_FSCREDS) == bool(mode & PTRACE_MODE_REALCREDS):
        return -errno.EPERM  # exactly one credential mode must be given (the kernel warns)
    if task is current:
        return 0
    # FSCREDS compares the filesystem uid, which follows the effective uid in the model.
    caller_uid = current.euid if mode & PTRACE_MODE_FSCREDS else current.uid
    caller_gid = current.gid
    same_ids = (caller_uid == task.uid == task.euid == task.suid
                and caller_gid == task.gid)
    if not same_ids and not ptrace_has_cap(current):
        return -errno.EPERM
    if task.mm is not None and not task.mm.dumpable and not ptrace_has_cap(current):
        return -errno.EPERM  # a task that changed its ids and did not prctl() back
    return cap_ptrace_access_check(current, task, mode)


def ptrace_may_access(current: Task, task: Task, mode: int) -> bool:
    """Model of ptrace_may_access(): whether ``current`` may access ``task`` in ``mode``."""
    return not __ptrace_may_access(current, task, mode)
