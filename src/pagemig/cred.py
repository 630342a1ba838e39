"""Model of the credential system calls the scenarios make: setgroups(), setresgid() and
setresuid() of kernel/sys.c, capget() and capset() of kernel/capability.c, with the
capability rules of security/commoncap.c (cap_task_post_setuid(), cap_capset_check()).

Credentials live on the :class:`~pagemig.sched.Task`, as 2.6.27 kept them inline in
task_struct.  The rules are the same in Linux 6.1 (where they moved into struct cred and
setgroups() into kernel/groups.c).

Simplifications: one gid per task (no effective, saved or filesystem gid; no
supplementary group list: setgroups() only checks permission); no fsuid; no securebits
(SECURE_KEEP_CAPS and friends); no inheritable or bounding set; no user namespaces; the
RLIMIT_NPROC check of a new real uid is not made.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.sched import Task

CAP_SETGID = 6
CAP_SETUID = 7
NGROUPS_MAX = 65536


def sys_setgroups(task: Task, gidsetsize: int) -> int:
    """Model of sys_setgroups(): only with CAP_SETGID (-EPERM); -EINVAL for more than
    NGROUPS_MAX groups.  The group list itself is not kept."""
    if not task.capable(CAP_SETGID):
        return -errno.EPERM
    if not 0 <= gidsetsize <= NGROUPS_MAX:
        return -errno.EINVAL
    return 0


def sys_setresgid(task: Task, rgid: int, egid: int, sgid: int) -> int:
    """Model of sys_setresgid(): without CAP_SETGID every id given (not -1) must be the
    task's gid (-EPERM); the task's gid becomes the effective gid given."""
    wanted = [g for g in (rgid, egid, sgid) if g != -1]
    if not task.capable(CAP_SETGID) and any(g != task.gid for g in wanted):
        return -errno.EPERM
    old = task.gid
    if egid != -1:
        task.gid = egid
    elif rgid != -1:
        task.gid = rgid
    if task.gid != old:
        set_dumpable_suid(task)
    return 0


def sys_setresuid(task: Task, ruid: int, euid: int, suid: int) -> int:
    """Model of sys_setresuid(): without CAP_SETUID every id given (not -1) must be one of
    the task's real, effective or saved uids (-EPERM); then the capabilities follow the
    uids (cap_task_post_setuid())."""
    old = (task.uid, task.euid, task.suid)
    if not task.capable(CAP_SETUID):
        for u in (ruid, euid, suid):
            if u != -1 and u not in old:
                return -errno.EPERM
    if ruid != -1:
        task.uid = ruid
    if euid != -1:
        task.euid = euid
    if suid != -1:
        task.suid = suid
    if task.euid != old[1]:
        set_dumpable_suid(task)
    cap_emulate_setxuid(task, *old)
    return 0


SUID_DUMPABLE = 0  # /proc/sys/fs/suid_dumpable's default: no core dumps, no ptrace


def set_dumpable_suid(task: Task) -> None:
    """A change of the effective uid or gid makes the task's mm non-dumpable
    (set_dumpable(mm, suid_dumpable) in 2.6.27's setres*id(), commit_creds() in 6.1), so
    an unprivileged process may no longer inspect it until it calls prctl(PR_SET_DUMPABLE)."""
    if task.mm is not None:
        task.mm.dumpable = bool(SUID_DUMPABLE)


PR_SET_DUMPABLE = 4


def sys_prctl_set_dumpable(task: Task, value: int) -> int:
    """Model of prctl(PR_SET_DUMPABLE, value): 0 or 1 (SUID_DUMP_DISABLE / SUID_DUMP_USER),
    else -EINVAL."""
    if value not in (0, 1):
        return -errno.EINVAL
    if task.mm is not None:
        task.mm.dumpable = bool(value)
    return 0


def cap_emulate_setxuid(task: Task, old_ruid: int, old_euid: int, old_suid: int) -> None:
    """Model of cap_emulate_setxuid(): a task that had uid 0 among its real, effective and
    saved uids and has it in none of them now loses its permitted and effective
    capabilities; leaving euid 0 clears the effective set; gaining euid 0 makes it the
    permitted set."""
    if 0 in (old_ruid, old_euid, old_suid) and 0 not in (task.uid, task.euid, task.suid):
        task.cap_permitted = frozenset()
        task.cap_effective = frozenset()
    if old_euid == 0 and task.euid != 0:
        task.cap_effective = frozenset()
    if old_euid != 0 and task.euid == 0:
        task.cap_effective = task.cap_permitted


def sys_capget(task: Task) -> tuple[frozenset[int], frozenset[int]]:
    """Model of sys_capget() of the task itself: its (effective, permitted) sets."""
    return task.cap_effective, task.cap_permitted


def sys_capset(task: Task, effective: frozenset[int], permitted: frozenset[int]) -> int:
    """Model of sys_capset() of the task itself: the new permitted set must be within the
    old one and the new effective set within the new permitted one (cap_capset_check()),
    else -EPERM."""
    if not permitted <= task.cap_permitted or not effective <= permitted:
        return -errno.EPERM
    task.cap_permitted = frozenset(permitted)
    task.cap_effective = frozenset(effective)
    return 0
