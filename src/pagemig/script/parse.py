"""Parser of the oracle's scenario language (see the oracle's README, "Scenario language").

This module holds the language's lexical parts: it splits a scenario into `Action`
objects the way the oracle's probe tokenizes its lines, reads the `#@` VM option
lines (`pagemig.script.vmopts`) and `#! ignore:` lines, and converts C integers.  The
parsers of action values (ranges, item lists, node lists, flags, node masks, counts,
pid specifications) are in `pagemig.script.values`.  What each action accepts
(its positional words and ``key=value`` options) is declared in the registry of
actions (`pagemig.script.actions`), which `parse_script` consults for every line;
whether a mapping or child exists is decided when the action runs.

Integers follow C's `strtol`/`strtoul` with base 0 (`0x..` hex, a leading `0`
octal, otherwise decimal, an optional sign, saturation on overflow), except
that trailing garbage is an error here where C silently stops parsing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from pagemig.script.vmopts import VmOptions, parse_vm_options

__all__ = [
    "FIXED_SPECIALS",
    "LONG_MAX",
    "LONG_MIN",
    "MASK_BITS",
    "MAX_ITEMS",
    "MAX_LINE_BYTES",
    "MAX_TOKENS",
    "MPOL_MF_MOVE",
    "MPOL_MF_MOVE_ALL",
    "MPOL_MF_STRICT",
    "RUNTIME_SPECIALS",
    "ULONG_MAX",
    "Action",
    "Script",
    "ScriptError",
    "parse_long",
    "parse_script",
    "parse_ulong",
    "wrap_int",
]

# ---- limits and constants ------------------------------------------------------------------

MAX_LINE_BYTES = 8190
"""Longest scenario line (bytes, without the newline): the probe reads lines with
``fgets(buf, 8192)``, so 8190 bytes plus the newline is the most it reads as one line."""

MAX_TOKENS = 64
"""Most tokens (operation included) the probe keeps of one action line."""

MAX_ITEMS = 1_048_576
"""Most entries an item list (or node list) may expand to (4 GiB of pages): a guard against
absurd repeats and mappings, since the model builds one Python object per entry (a query of
this many entries takes seconds)."""

MASK_BITS = 65536
"""Bits of the probe's node masks (MASK_BYTES * 8); node numbers outside are dropped."""

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1
ULONG_MAX = 2**64 - 1

MPOL_MF_STRICT = 1
MPOL_MF_MOVE = 2
MPOL_MF_MOVE_ALL = 4


FIXED_SPECIALS = MappingProxyType(
    {
        "null": 0,
        "kernel": 0xFFFF888000100000,  # direct map
        "ktext": 0xFFFFFFFF81000000,  # kernel text
        "noncanon": 0x0000800000000000,  # just past user space
        "neg": 2**64 - 4096,  # (unsigned long)-4096
    }
)
"""Item names with an address fixed by the probe."""

RUNTIME_SPECIALS = frozenset({"badpage", "stack", "heap", "text", "vdso", "vvar"})
"""Item names whose address the runner resolves in the simulated process."""

_C_SPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale
_TOKEN_RE = re.compile(r"[^ \t]+")  # the probe splits with strtok(" \t")
_CHILD_RE = re.compile(r"@([^ \t\n\v\f\r]*)[ \t\n\v\f\r]+(.*)", re.DOTALL)
_C_INT_RE = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


# ---- errors ---------------------------------------------------------------------------------


class ScriptError(Exception):
    """An error at a line of a scenario file; ``str(e) == f"{path}:{line}: {msg}"``."""

    def __init__(self, path: str, line: int, msg: str) -> None:
        super().__init__(path, line, msg)
        self.path = path
        self.line = line
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.msg}"


# ---- C integer conversions ------------------------------------------------------------------


def _c_magnitude(text: str) -> tuple[bool, int]:
    """Split a base-0 C integer into (negative, magnitude); ValueError if it is not one."""
    m = _C_INT_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"bad integer '{text}'")
    digits = m.group(2)
    if digits[:2] in ("0x", "0X"):
        mag = int(digits[2:], 16)
    elif digits[0] == "0":
        mag = int(digits, 8)
    else:
        mag = int(digits)
    return m.group(1) == "-", mag


def parse_long(text: str) -> int:
    """Parse `text` like C ``strtol(text, NULL, 0)`` on a 64-bit system.

    Accepts an optional sign, ``0x``/``0X`` hex, leading-``0`` octal and decimal;
    saturates to [LONG_MIN, LONG_MAX] like strtol does on overflow.  Raises
    ValueError (naming the token) on anything else, including trailing garbage.
    """
    neg, mag = _c_magnitude(text)
    value = -mag if neg else mag
    return max(LONG_MIN, min(LONG_MAX, value))


def parse_ulong(text: str) -> int:
    """Parse `text` like C ``strtoul(text, NULL, 0)`` on a 64-bit system.

    The result is in [0, ULONG_MAX]: a negative value wraps modulo 2**64 and a
    magnitude above ULONG_MAX saturates to ULONG_MAX (as strtoul does).  Raises
    ValueError naming the token on garbage.
    """
    neg, mag = _c_magnitude(text)
    if mag > ULONG_MAX:
        return ULONG_MAX
    return (-mag) % 2**64 if neg else mag


def wrap_int(value: int) -> int:
    """Convert an integer to a C ``int`` (signed 32 bit, two's complement truncation)."""
    return ((value + 2**31) % 2**32) - 2**31


# ---- actions and scripts --------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One action of a scenario.

    `line` is the 1-based line of the scenario file; `op` the action name;
    `args` the positional tokens after the op (tokens without ``=``, the probe's
    ``pos()``); `kv` the ``key=value`` tokens (split at the first ``=``; a key given
    twice is refused, where the probe's ``kv()`` would take the first); `child` the NAME of an
    ``@NAME ACTION...`` line, else None; `text` the stripped action text without
    the ``@NAME`` prefix.
    """

    line: int
    op: str
    args: tuple[str, ...]
    kv: dict[str, str]
    child: str | None
    text: str

    def get(self, key: str, default: str | None = None) -> str | None:
        """Value of ``key=`` or `default` when the action has no such token."""
        return self.kv.get(key, default)

    def pos(self, i: int) -> str | None:
        """Positional token number `i` (1-based, like the probe's ``pos()``), or None."""
        if i < 1 or i > len(self.args):
            return None
        return self.args[i - 1]

    def int_kv(self, key: str, default: int) -> int:
        """Value of ``key=`` parsed like C strtol base 0 (see `parse_long`), or `default`.

        Raises ValueError naming the key and value when the value is not an integer.
        """
        value = self.kv.get(key)
        if value is None:
            return default
        try:
            return parse_long(value)
        except ValueError:
            raise ValueError(f"{key}={value}: not an integer") from None


@dataclass
class Script:
    """A parsed scenario.

    `options` holds the tokens of all ``#@`` lines in file order and
    `option_lines` the same tokens per line; `ignores` the field names of all
    ``#! ignore:`` lines; `actions` the actions in file order.
    """

    path: str
    options: list[str] = field(default_factory=list)
    ignores: set[str] = field(default_factory=set)
    actions: list[Action] = field(default_factory=list)
    option_lines: list[list[str]] = field(default_factory=list)

    def vm_tokens(self, cmdline: Sequence[str] = ()) -> list[str]:
        """VM option tokens in the order run.sh processes them (a later value wins).

        run.sh puts each ``#@`` line in front of the ones read before it and the
        command line last, so the first ``#@`` line wins over later ones and the
        command line wins over all of them.
        """
        tokens = [tok for line in reversed(self.option_lines) for tok in line]
        return tokens + list(cmdline)

    def vm_options(self, cmdline: Sequence[str] = ()) -> VmOptions:
        """The VM options of this scenario (see `vm_tokens` and `parse_vm_options`)."""
        return parse_vm_options(self.vm_tokens(cmdline))

    def error(self, line: int, msg: str) -> ScriptError:
        """A ScriptError for `line` of this scenario (to be raised by the caller)."""
        return ScriptError(self.path, line, msg)


def _line_bytes(raw: str) -> int:
    """Length of a line in bytes as the probe reads it (UTF-8)."""
    if len(raw) * 4 <= MAX_LINE_BYTES:
        return len(raw)  # cannot exceed the limit: skip the encoding
    return len(raw.encode("utf-8", "surrogateescape"))


def _split_child(stripped: str, path: str, lineno: int) -> tuple[str, str]:
    """Split ``@NAME ACTION...`` into (NAME, ACTION...); ScriptError when malformed."""
    m = _CHILD_RE.fullmatch(stripped)
    if m is None:
        raise ScriptError(path, lineno, f"@NAME needs a command: {stripped}")
    name, cmd = m.group(1), m.group(2)
    if not name:
        raise ScriptError(path, lineno, "@NAME: missing child name")
    if cmd.startswith("#"):
        raise ScriptError(path, lineno, f"@{name} needs a command, not a comment")
    if cmd.startswith("@"):
        raise ScriptError(path, lineno, f"@{name}: nested @NAME is not supported")
    return name, cmd


def _make_action(text: str, child: str | None, path: str, lineno: int) -> Action:
    """Tokenize one action text like the probe; ScriptError on too many tokens."""
    tokens = _TOKEN_RE.findall(text)
    if len(tokens) > MAX_TOKENS:
        raise ScriptError(path, lineno, f"too many tokens ({len(tokens)} > {MAX_TOKENS})")
    op = tokens[0]
    args: list[str] = []
    kv: dict[str, str] = {}
    for tok in tokens[1:]:
        key, eq, value = tok.partition("=")
        if eq:
            if key in kv:
                raise ScriptError(path, lineno, f"option '{key}' given twice")
            kv[key] = value
        else:
            args.append(tok)
    return Action(line=lineno, op=op, args=tuple(args), kv=kv, child=child, text=text)


def _option_tokens(raw: str, path: str, lineno: int) -> list[str]:
    """Tokens of a ``#@`` line (shell-split), checked with `parse_vm_options`."""
    try:
        tokens = shlex.split(raw[2:])
        parse_vm_options(tokens)
    except ValueError as e:
        raise ScriptError(path, lineno, f"#@ options: {e}") from None
    return tokens


def parse_script(text: str, path: str) -> Script:
    """Parse a scenario file's `text`; `path` is only used in error messages.

    Lines are separated by ``\\n`` (as fgets does).  Blank lines and lines
    whose first non-blank character is ``#`` are skipped, except that a line
    starting with ``#@`` at column 0 gives VM options (as run.sh reads them)
    and one starting with ``#! ignore:`` gives ignored fields (as compare.py
    reads them).  ``@NAME ACTION...`` runs ACTION in child NAME.  Raises
    ScriptError for a line longer than MAX_LINE_BYTES, more than MAX_TOKENS
    tokens, a malformed ``@NAME`` line, a bad ``#@`` line, or an action the
    registry refuses (an unknown action, an option it does not take, a
    positional word too many: `pagemig.script.actions.check_action`).
    """
    # The registry's action functions build on this module (Action, C integers), so it is
    # imported here, when a script is parsed, rather than at the top (a circle).
    from pagemig.script.actions import check_action

    script = Script(path=path)
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if _line_bytes(raw) > MAX_LINE_BYTES:
            raise ScriptError(path, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
        if raw.startswith("#@"):
            tokens = _option_tokens(raw, path, lineno)
            script.option_lines.append(tokens)
            script.options.extend(tokens)
        elif raw.startswith("#! ignore:"):
            script.ignores.update(raw.split(":", 1)[1].split())
        stripped = raw.strip(_C_SPACE)
        if not stripped or stripped.startswith("#"):
            continue
        child: str | None = None
        if stripped.startswith("@"):
            child, stripped = _split_child(stripped, path, lineno)
        action = _make_action(stripped, child, path, lineno)
        check_action(action, path)
        script.actions.append(action)
    return script
