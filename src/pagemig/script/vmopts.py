"""The VM options of a scenario: ``#@`` lines and the command line, as the oracle's
``run.sh`` reads them (nodes, memory, CPUs, memoryless nodes, storage)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

# ---- VM options (run.sh) --------------------------------------------------------------------


@dataclass
class VmOptions:
    """The VM options of run.sh that matter to a model.

    `storage` maps ``swap``, ``swap-dev``, ``blockfs``, ``blockfs-mb``,
    ``mount-opts`` and ``blk-throttle`` (option names without ``--``) to their
    values when given (``--blockfs none`` removes ``blockfs``).
    """

    nodes: int = 2
    mem_per_node_mb: int = 1024
    cpus_per_node: int = 1
    memless_nodes: int = 0
    storage: dict[str, str] = field(default_factory=dict)


# option -> (VmOptions field, value regex as run.sh checks it, minimum)
_VM_INT_OPTIONS = MappingProxyType(
    {
        "--nodes": ("nodes", "[1-8]", 1),
        "--mem-per-node": ("mem_per_node_mb", "[0-9]+", 128),
        "--cpus-per-node": ("cpus_per_node", "[1-4]", 1),
        "--memless-nodes": ("memless_nodes", "[0-4]", 0),
    }
)
# option -> value regex (run.sh's checks); these only concern the VM and are ignored
_VM_IGNORED = MappingProxyType(
    {"--accel": "auto|kvm|tcg", "--timeout": ".*", "--append": ".*", "--kernel": ".*"}
)
# option -> (value regex, minimum or None)
_VM_STORAGE = MappingProxyType(
    {
        "--swap": ("[0-9]+", None),
        "--swap-dev": ("zram|disk", None),
        "--blockfs": ("|none|ext4|ext2", None),
        "--blockfs-mb": ("[0-9]+", 8),
        "--mount-opts": ("[A-Za-z0-9_=,.-]*", None),
        "--blk-throttle": ("[0-9]+", None),
    }
)
_VM_FLAGS = frozenset({"--keep"})


def _check_value(opt: str, value: str, pattern: str, minimum: int | None) -> None:
    """Raise ValueError naming `opt` unless `value` matches `pattern` and is >= `minimum`."""
    if re.fullmatch(pattern, value, re.DOTALL) is None or (
        minimum is not None and int(value) < minimum
    ):
        raise ValueError(f"invalid value for {opt}: '{value}'")


def _apply_storage(opts: VmOptions, opt: str, value: str) -> None:
    """Record a storage option in `opts.storage` (``--blockfs none`` removes blockfs)."""
    key = opt[2:]
    if key == "blockfs" and value in ("", "none"):
        opts.storage.pop(key, None)
    else:
        opts.storage[key] = value


def parse_vm_options(tokens: Sequence[str]) -> VmOptions:
    """Read run.sh options from `tokens`; a later option wins over an earlier one.

    Raises ValueError naming the option for an unknown option, a missing value
    or a value run.sh would reject.
    """
    opts = VmOptions()
    i = 0
    while i < len(tokens):
        opt = tokens[i]
        if opt in _VM_FLAGS:
            i += 1
            continue
        if opt not in _VM_INT_OPTIONS and opt not in _VM_IGNORED and opt not in _VM_STORAGE:
            raise ValueError(f"unknown option {opt}")
        if i + 1 >= len(tokens):
            raise ValueError(f"missing value for {opt}")
        value = tokens[i + 1]
        i += 2
        if opt in _VM_INT_OPTIONS:
            name, pattern, minimum = _VM_INT_OPTIONS[opt]
            _check_value(opt, value, pattern, minimum)
            setattr(opts, name, int(value))
        elif opt in _VM_IGNORED:
            _check_value(opt, value, _VM_IGNORED[opt], None)
        else:
            pattern, smin = _VM_STORAGE[opt]
            _check_value(opt, value, pattern, smin)
            _apply_storage(opts, opt, value)
    return opts
