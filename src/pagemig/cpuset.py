"""Model of kernel/cgroup/cpuset.c, as far as migration asks it.

2.6.27: every task is in the root cpuset, whose memory nodes are the nodes with memory; a
task's ``mems_allowed`` can be narrowed through the API.

cgroup v2 (the ``cgroup2_cpuset`` feature, Linux 6.1): the files under /sys/fs/cgroup that
the oracle's probe uses.  ``+cpuset`` in the root's cgroup.subtree_control enables the
controller; a directory is a cpuset whose ``cpuset.mems`` (empty: the parent's) gives
``cpuset.mems.effective``; writing a pid to its ``cgroup.procs`` moves that task in.  In v2
memory migration is always on: a task joining a cpuset, or a cpuset whose mems change,
has its policies rebound (mpol_rebind_mm()) and its pages moved from the old nodes to the
new ones by do_migrate_pages() with MPOL_MF_MOVE_ALL, as cpuset_migrate_mm() does.

Simplifications: one level of cpusets below the root; no cpus; only root writes the files
(others get -EACCES, as the files' modes give); shared (tmpfs) policies are not rebound;
a policy is remapped from the task's old nodes (the kernel keeps them in the policy).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mempolicy import Mempolicy
    from pagemig.sched import Task

CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass
class Cpuset:
    """A cgroup v2 cpuset: the ``cpuset.mems`` written (empty: inherit) and its tasks."""

    name: str
    mems: frozenset[int] = frozenset()
    tasks: list[Task] = field(default_factory=list)


@dataclass
class CgroupRoot:
    """The cgroup v2 hierarchy: whether the cpuset controller is enabled for the children,
    and the cpusets by name."""

    cpuset_enabled: bool = False
    children: dict[str, Cpuset] = field(default_factory=dict)


def cpuset_mems_allowed(task: Task) -> frozenset[int]:
    """Model of cpuset_mems_allowed(): the memory nodes the task's cpuset allows."""
    return task.mems_allowed


def _root(k: Kernel) -> CgroupRoot:
    return k.cgroups  # type: ignore[no-any-return]


def format_nodelist(nodes: frozenset[int]) -> str:
    """The kernel's "%*pbl" list: "0-1", "1", "0,2"."""
    out: list[str] = []
    ordered = sorted(nodes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def parse_nodelist(text: str) -> frozenset[int] | None:
    """Model of nodelist_parse(): "0-1,3" -> {0, 1, 3}; None if malformed."""
    text = text.strip()
    if not text:
        return frozenset()
    nodes: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        first, last = int(lo), int(hi) if hi else int(lo)
        if last < first:
            return None
        nodes.update(range(first, last + 1))
    return frozenset(nodes)


def effective_mems(k: Kernel, cs: Cpuset) -> frozenset[int]:
    """cpuset.mems.effective: the mems written, or the root's (the nodes with memory)."""
    return cs.mems or frozenset(k.nodes_with_memory())


def _rebind(pol: Mempolicy | None, old: frozenset[int], new: frozenset[int]) -> Mempolicy | None:
    # Model of mpol_rebind_policy(): a node's rank among the old nodes picks the new node.
    from dataclasses import replace

    from pagemig.mm.mempolicy import MPOL_F_STATIC_NODES, node_remap

    if pol is None or not pol.nodes:
        return pol
    if pol.flags & MPOL_F_STATIC_NODES:
        nodes = frozenset(pol.nodes & new)
    else:
        nodes = frozenset(node_remap(n, set(old), set(new)) for n in pol.nodes)
    return replace(pol, nodes=nodes or new)


def cpuset_change_task_mems(k: Kernel, task: Task, new: frozenset[int]) -> None:
    """The task's nodes become ``new``: its policies are rebound and, v2 memory migration
    being on, its pages move (cpuset_migrate_mm(): do_migrate_pages(), MOVE_ALL)."""
    from pagemig.mm.mempolicy import MPOL_MF_MOVE_ALL, do_migrate_pages

    old = task.mems_allowed
    task.mems_allowed = new
    task.mempolicy = _rebind(task.mempolicy, old, new)
    mm = k.get_task_mm(task)
    if mm is None:
        return
    for vma in mm.vmas:
        if vma.policy is not None and not (vma.vm_file is not None and vma.vm_file.is_shmem):
            vma.policy = _rebind(vma.policy, old, new)
    if old != new:
        k.run(do_migrate_pages(k, mm, set(old), set(new), MPOL_MF_MOVE_ALL))


def _split(path: str) -> tuple[str, str] | None:
    # "/sys/fs/cgroup/NAME/FILE" -> (NAME, FILE); "/sys/fs/cgroup/FILE" -> ("", FILE).
    if not path.startswith(CGROUP_ROOT + "/"):
        return None
    parts = path[len(CGROUP_ROOT) + 1:].split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def cgroup_mkdir(k: Kernel, writer: Task, path: str) -> int:
    """mkdir(2) of a cgroup below the root: 0, -EEXIST, -EACCES or -ENOENT."""
    parts = _split(path.rstrip("/"))
    if parts is None or parts[0]:
        return -errno.ENOENT
    name = parts[1]
    root = _root(k)
    if name in root.children:
        return -errno.EEXIST
    if writer.euid != 0:
        return -errno.EACCES
    root.children[name] = Cpuset(name)
    return 0


def cgroup_write(k: Kernel, writer: Task, path: str, value: str) -> int | None:
    """A write to a cgroup v2 file: 0 or -errno; None for a path that is no cgroup file."""
    parts = _split(path)
    if parts is None:
        return None
    name, fname = parts
    root = _root(k)
    if name and name not in root.children:
        return -errno.ENOENT
    if writer.euid != 0:
        return -errno.EACCES
    if not name:
        if fname != "cgroup.subtree_control":
            return -errno.ENOENT
        if value.strip() not in ("+cpuset", "-cpuset"):
            return -errno.EINVAL
        root.cpuset_enabled = value.strip() == "+cpuset"
        return 0
    cs = root.children[name]
    if fname == "cpuset.mems":
        if not root.cpuset_enabled:
            return -errno.ENOENT
        mems = parse_nodelist(value)
        if mems is None or not mems <= frozenset(k.nodes_with_memory()):
            return -errno.EINVAL
        cs.mems = mems
        for task in cs.tasks:
            cpuset_change_task_mems(k, task, effective_mems(k, cs))
        return 0
    if fname == "cgroup.procs":
        text = value.strip()
        if not text.isdigit():
            return -errno.EINVAL
        task = k.find_task_by_vpid(int(text))
        if task is None:
            return -errno.ESRCH
        for other in root.children.values():
            if task in other.tasks:
                other.tasks.remove(task)
        cs.tasks.append(task)
        cpuset_change_task_mems(k, task, effective_mems(k, cs))
        return 0
    return -errno.ENOENT


def cgroup_read(k: Kernel, path: str) -> str | int | None:
    """A read of a cgroup v2 file: its text or -errno; None for a path that is no cgroup file."""
    parts = _split(path)
    if parts is None:
        return None
    name, fname = parts
    root = _root(k)
    if not name:
        if fname == "cgroup.subtree_control":
            return "cpuset\n" if root.cpuset_enabled else "\n"
        return -errno.ENOENT
    cs = root.children.get(name)
    if cs is None:
        return -errno.ENOENT
    if fname == "cpuset.mems.effective" and root.cpuset_enabled:
        return format_nodelist(effective_mems(k, cs)) + "\n"
    if fname == "cpuset.mems" and root.cpuset_enabled:
        return format_nodelist(cs.mems) + "\n"
    if fname == "cgroup.procs":
        return "".join(f"{t.pid}\n" for t in cs.tasks)
    return -errno.ENOENT
