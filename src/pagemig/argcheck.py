"""Argument checks of the Python API (:class:`pagemig.kernel.Kernel`'s public methods).

The rule (docs/api.md, "Bad arguments"): a wrong Python type raises ``TypeError``; a value
that no kernel interface could be given (a negative size in a helper, a task that was
reaped, a CPU the machine lacks, an address past 2**64) raises ``ValueError``; whatever the
kernel itself would refuse comes back as its errno.  Every message names the argument.
The checks run before anything changes.

Integers are Python ``int`` or numpy integers; ``bool`` (a subclass of ``int``), floats,
strings and every other type are refused rather than converted.  The raw ``sys_*`` calls
convert their integer arguments to the C types of the system call, as a C program's call
would: ``int`` arguments (pids, flags, modes, node numbers) are cut to 32 bits, ``unsigned
long`` ones (addresses, lengths, counts) to 64 bits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pagemig.sched import TASK_DEAD, TASK_RUNNING, Task

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

INT_MIN = -(1 << 31)
UINT_MAX = (1 << 32) - 1
LONG_MIN = -(1 << 63)
ULONG_MAX = (1 << 64) - 1


def as_int(name: str, value: Any) -> int:
    """``value`` as an int; TypeError naming ``name`` for anything but an integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, not {type(value).__name__}")
    return int(value)


def as_bool(name: str, value: Any) -> bool:
    """``value`` as a bool; TypeError naming ``name`` for anything but a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, not {type(value).__name__}")
    return bool(value)


def in_range(name: str, value: Any, lo: int, hi: int) -> int:
    """An int with ``lo <= value <= hi``; TypeError or ValueError naming ``name``."""
    v = as_int(name, value)
    if not lo <= v <= hi:
        raise ValueError(f"`{name}` must be between {lo} and {hi}, not {v}")
    return v


def c_int(name: str, value: Any) -> int:
    """An int as a C program passes an ``int`` argument: cut to its low 32 bits, signed."""
    v = as_int(name, value) & UINT_MAX
    return v - (1 << 32) if v >> 31 else v


def c_ulong(name: str, value: Any) -> int:
    """An int as a C program passes an ``unsigned long`` argument: its low 64 bits."""
    return as_int(name, value) & ULONG_MAX


def int_arg(name: str, value: Any) -> int:
    """A C ``int`` argument of a convenient method: it must fit (signed or unsigned)."""
    return c_int(name, in_range(name, value, INT_MIN, UINT_MAX))


def ulong_arg(name: str, value: Any) -> int:
    """A C ``unsigned long`` argument of a convenient method: it must fit in 64 bits
    (signed or unsigned); a negative value becomes its two's complement, as in C."""
    return in_range(name, value, LONG_MIN, ULONG_MAX) & ULONG_MAX


def size_arg(name: str, value: Any, hi: int = ULONG_MAX) -> int:
    """A size or count of a helper: an int from 0 to ``hi``."""
    return in_range(name, value, 0, hi)


def as_bytes(name: str, value: Any) -> bytes:
    """``bytes``, ``bytearray`` or ``memoryview`` as bytes; TypeError otherwise."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"`{name}` must be bytes, not {type(value).__name__}")
    return bytes(value)


def task_arg(k: Kernel, name: str, task: Any, alive: bool = True) -> Task:
    """A task of this machine: TypeError if ``task`` is not a Task; ValueError if it was
    reaped (or belongs to another machine) or, with ``alive``, if it has exited."""
    if not isinstance(task, Task):
        raise TypeError(f"`{name}` must be a Task, not {type(task).__name__}")
    if task.state == TASK_DEAD or k.tasks.get(task.pid) is not task:
        raise ValueError(f"`{name}` (pid {task.pid}) has been reaped")
    if alive and task.state != TASK_RUNNING:
        raise ValueError(f"`{name}` (pid {task.pid}) has exited")
    return task


def user_task_arg(k: Kernel, name: str, task: Any) -> Task:
    """A live task with an address space (not a kernel thread)."""
    t = task_arg(k, name, task)
    if t.mm is None:
        raise ValueError(f"`{name}` (pid {t.pid}) has no address space")
    return t


def pid_arg(name: str, value: Any) -> int:
    """A pid of a convenient method (TypeError for a Task: pass ``task.pid``)."""
    if isinstance(value, Task):
        raise TypeError(f"`{name}` must be an int pid, not a Task (pass task.pid)")
    return int_arg(name, value)


def file_arg(k: Kernel, name: str, file: Any) -> Any:
    """A file made by create_file() or create_blockfs_file() on this machine."""
    from pagemig.mm.filemap import SWAPPER_SPACE_ID, AddressSpace

    if not isinstance(file, AddressSpace):
        raise TypeError(f"`{name}` must be a file (AddressSpace), not {type(file).__name__}")
    if file.id == SWAPPER_SPACE_ID or k.address_spaces.get(file.id) is not file:
        raise ValueError(f"`{name}` is not a file of this machine")
    return file


def _plain_ints(values: list[Any], lo: int, hi: int) -> bool:
    # Every value a plain int (not a bool) from lo to hi: the common case, checked at once.
    return all(type(v) is int for v in values) and (not values
                                                    or (lo <= min(values) and max(values) <= hi))


def node_list(name: str, values: Any) -> list[int]:
    """A list of node numbers (C ints); TypeError for a non-iterable or a non-int entry."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"`{name}` must be an iterable of ints, not {type(values).__name__}")
    values = list(values)
    if _plain_ints(values, 0, (1 << 31) - 1):
        return values  # int_arg() of each would give each back
    return [int_arg(f"{name}[{i}]", v) for i, v in enumerate(values)]


def ulong_list(name: str, values: Any) -> list[int]:
    """ulong_arg() of every entry of a list (named ``name[i]`` in errors)."""
    values = list(values)
    if _plain_ints(values, 0, ULONG_MAX):
        return values
    return [ulong_arg(f"{name}[{i}]", v) for i, v in enumerate(values)]
