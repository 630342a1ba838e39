"""Model of ptrace_may_access() (kernel/ptrace.c, Linux 4.10 and later, with the capability
LSM of security/commoncap.c): may ``caller`` inspect ``task``?

Since 4.10 migrate_pages(2) and move_pages(2) ask this question (PTRACE_MODE_READ with the
real credentials) instead of 2.6.27's uid rule.

Simplifications: one user namespace; a task's effective, saved and real gids are its one
``gid``; its filesystem uid is its ``euid``; a task that has an mm is dumpable (the oracle's
probe calls prctl(PR_SET_DUMPABLE, 1) after dropping privileges); no Yama (it restricts
attaching only, never PTRACE_MODE_READ).
"""

from __future__ import annotations

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


def ptrace_may_access(caller: Task, task: Task, mode: int) -> bool:
    """Model of ptrace_may_access(): True when ``caller`` may access ``task`` in ``mode``.

    A task may always access itself.  Otherwise the caller's uid (FSCREDS: its fsuid) must
    equal the target's uid, euid and suid and its gid the target's gid, or the caller has
    CAP_SYS_PTRACE; a target with an mm must be dumpable (always, here); and the capability
    LSM wants the target's permitted capabilities to be a subset of the caller's (REALCREDS:
    permitted; FSCREDS: effective), unless the caller has CAP_SYS_PTRACE.
    """
    if not mode & PTRACE_MODE_FSCREDS == (not mode & PTRACE_MODE_REALCREDS):
        return False  # exactly one of FSCREDS and REALCREDS must be given
    if task is caller:
        return True
    has_ptrace = caller.capable(CAP_SYS_PTRACE)
    uid = caller.euid if mode & PTRACE_MODE_FSCREDS else caller.uid
    same_ids = uid == task.uid == task.euid == task.suid and caller.gid == task.gid
    if not same_ids and not has_ptrace:
        return False
    caps = caller.cap_effective if mode & PTRACE_MODE_FSCREDS else caller.cap_permitted
    return task.cap_permitted <= caps or has_ptrace
