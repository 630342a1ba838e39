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


# option -> (VmOptions field, value regex as run.sh checks it, minimum, maximum)
_VM_INT_OPTIONS = MappingProxyType(
    {
        "--nodes": ("nodes", "[1-8]", 1, 8),
        "--mem-per-node": ("mem_per_node_mb", "[0-9]+", 128, 1 << 20),
        "--cpus-per-node": ("cpus_per_node", "[1-4]", 1, 4),
        "--memless-nodes": ("memless_nodes", "[0-4]", 0, 4),
    }
)
# option -> value regex (run.sh's checks); these only concern the VM and are ignored
_VM_IGNORED = MappingProxyType(
    {"--accel": "auto|kvm|tcg", "--timeout": ".*", "--append": ".*", "--kernel": ".*"}
)
# option -> (value regex, minimum or None, maximum or None)
_VM_STORAGE = MappingProxyType(
    {
        "--swap": ("[0-9]+", 0, 1 << 20),
        "--swap-dev": ("zram|disk", None, None),
        "--blockfs": ("|none|ext4|ext2", None, None),
        "--blockfs-mb": ("[0-9]+", 8, 1 << 20),
        "--mount-opts": ("[A-Za-z0-9_=,.-]*", None, None),
        "--blk-throttle": ("[0-9]+", None, None),
    }
)
_VM_FLAGS = frozenset({"--keep"})


def _check_value(opt: str, value: str, pattern: str, minimum: int | None,
                 maximum: int | None = None) -> None:
    """Raise ValueError naming `opt` and its valid values unless `value` matches `pattern`
    and lies in [`minimum`, `maximum`]."""
    if minimum is not None:
        ok = re.fullmatch("[0-9]+", value) is not None and (
            minimum <= int(value) <= (maximum if maximum is not None else int(value)))
        ok = ok and re.fullmatch(pattern, value, re.DOTALL) is not None
        if not ok:
            upper = f" to {maximum}" if maximum is not None else " or more"
            raise ValueError(f"invalid value for {opt}: '{value}' (an integer from "
                             f"{minimum}{upper})")
    elif re.fullmatch(pattern, value, re.DOTALL) is None:
        valid = pattern.replace("[A-Za-z0-9_=,.-]*", "letters, digits and _=,.-")
        valid = "an integer" if valid == "[0-9]+" else valid.strip("|") or valid
        raise ValueError(f"invalid value for {opt}: '{value}' (valid: {valid})")


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
            name, pattern, minimum, maximum = _VM_INT_OPTIONS[opt]
            _check_value(opt, value, pattern, minimum, maximum)
            setattr(opts, name, int(value))
        elif opt in _VM_IGNORED:
            _check_value(opt, value, _VM_IGNORED[opt], None)
        else:
            pattern, smin, smax = _VM_STORAGE[opt]
            _check_value(opt, value, pattern, smin, smax)
            _apply_storage(opts, opt, value)
    return opts
