"""Parser of the oracle's scenario language (see the oracle's README, "Scenario language").

This module holds the language's lexical parts: it splits a scenario into `Action`
objects the way the oracle's probe tokenizes its lines, reads the `#@` VM option
lines and `#! ignore:` lines, and offers value parsers (ranges, item lists, node
lists, flags, node masks, counts, pid specifications) that the actions call on
their values.  Value parsers raise `ValueError` naming the bad token; the runner
turns it into a `ScriptError` with the line number.  What each action accepts
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

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
    "ItemSpec",
    "MaskSpec",
    "PidSpec",
    "RangeSpec",
    "Script",
    "ScriptError",
    "VmOptions",
    "count_items",
    "parse_count",
    "parse_flags",
    "parse_items",
    "parse_long",
    "parse_mask",
    "parse_nodes",
    "parse_pid",
    "parse_range",
    "parse_script",
    "parse_ulong",
    "parse_vm_options",
    "wrap_int",
]

# ---- limits and constants ------------------------------------------------------------------

MAX_LINE_BYTES = 8190
"""Longest scenario line (bytes, without the newline): the probe reads lines with
``fgets(buf, 8192)``, so 8190 bytes plus the newline is the most it reads as one line."""

MAX_TOKENS = 64
"""Most tokens (operation included) the probe keeps of one action line."""

MAX_ITEMS = 16_777_216
"""Most entries an item list (or node list) may expand to; guards against absurd repeats."""

MASK_BITS = 65536
"""Bits of the probe's node masks (MASK_BYTES * 8); node numbers outside are dropped."""

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1
ULONG_MAX = 2**64 - 1

MPOL_MF_STRICT = 1
MPOL_MF_MOVE = 2
MPOL_MF_MOVE_ALL = 4

_FLAG_NAMES = MappingProxyType(
    {"strict": MPOL_MF_STRICT, "move": MPOL_MF_MOVE, "all": MPOL_MF_MOVE_ALL}
)

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
_RANGE_RE = re.compile(r"([^\[\]]+)(?:\[([^\[\]:]*)(?:(:)([^\[\]:]*))?\])?")
_MAX_NAME = 63  # the probe's parse_range copies names into char[64]


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
    ``pos()``); `kv` the ``key=value`` tokens (split at the first ``=``, the first
    occurrence of a key wins, as the probe's ``kv()``); `child` the NAME of an
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
            kv.setdefault(key, value)
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
    # The registry's action functions use this module's value parsers, so it is imported
    # here, when a script is parsed, rather than at the top (which would be a circle).
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


# ---- ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeSpec:
    """A page range of a mapping: ``NAME`` (first=end=None), ``NAME[i]`` (end=i+1),
    ``NAME[i:j]`` or ``NAME[i:]`` (end=None: up to the end of the mapping)."""

    name: str
    first: int | None = None
    end: int | None = None

    def resolve(self, npages: int) -> tuple[int, int]:
        """(first, count) for a mapping of `npages` pages.

        Raises ValueError when the range does not fit: first > npages,
        first + count > npages, a negative index, or j < i.
        """
        first = 0 if self.first is None else self.first
        end = npages if self.end is None else self.end
        if first < 0 or first > npages or end < first or end > npages:
            raise ValueError(f"range '{self}' outside mapping {self.name} of {npages} pages")
        return first, end - first

    def min_pages(self) -> int:
        """Fewest pages the range can cover whatever the mapping size (a mapping has >= 1)."""
        if self.first is None:
            return 1
        if self.end is None:
            return 0
        return max(0, self.end - self.first)

    def __str__(self) -> str:
        if self.first is None:
            return self.name
        if self.end is None:
            return f"{self.name}[{self.first}:]"
        if self.end == self.first + 1:
            return f"{self.name}[{self.first}]"
        return f"{self.name}[{self.first}:{self.end}]"


def parse_range(spec: str) -> RangeSpec:
    """Parse ``NAME``, ``NAME[i]``, ``NAME[i:j]`` or ``NAME[i:]`` (indices C base-0 longs).

    An empty i before ``:`` means 0 (``NAME[:j]``), as in the probe.

    Raises ValueError naming `spec` when it is malformed, when NAME is empty
    or longer than 63 characters, or when an index is negative or j < i.
    Bounds against the mapping size are checked by `RangeSpec.resolve`.
    """
    m = _RANGE_RE.fullmatch(spec)
    if m is None or len(m.group(1)) > _MAX_NAME:
        raise ValueError(f"bad range '{spec}'")
    name, i_text, colon, j_text = m.groups()
    if i_text is None:
        return RangeSpec(name)
    try:
        first = parse_long(i_text) if i_text or colon is None else 0
        if colon is None:
            end: int | None = first + 1
        else:
            end = parse_long(j_text) if j_text else None
    except ValueError as e:
        raise ValueError(f"bad range '{spec}': {e}") from None
    if first < 0 or (end is not None and end < first):
        raise ValueError(f"bad range '{spec}'")
    return RangeSpec(name, first, end)


# ---- item lists (move_pages page arrays) ----------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    """One element of an item list, repeated `repeat` times (>= 0).

    kind "addr": a raw address `value` (unsigned 64 bit), labelled `label`.
    kind "special": a named address; `value` is set for FIXED_SPECIALS and None
    for RUNTIME_SPECIALS, which the runner resolves.  kind "range": the pages of
    `range`, each at its address + `offset`, labelled by `page_label`.
    `label` is the element's text without the ``*K`` suffix.
    """

    kind: str
    label: str
    value: int | None = None
    range: RangeSpec | None = None
    offset: int = 0
    repeat: int = 1

    def page_label(self, index: int) -> str:
        """The probe's label of page `index` of a range item: ``NAME[i]`` or ``NAME[i]+OFF``."""
        if self.range is None:
            return self.label
        suffix = f"+{self.offset}" if self.offset else ""
        return f"{self.range.name}[{index}]{suffix}"

    def entries(self, npages: int | None = None) -> int:
        """Entries this element expands to.

        With `npages` (the size of the range's mapping) the exact number, raising
        ValueError when the range does not fit; without it the fewest possible.
        """
        if self.range is None:
            return self.repeat
        if npages is None:
            return self.repeat * self.range.min_pages()
        return self.repeat * self.range.resolve(npages)[1]


def _split_repeat(elem: str) -> tuple[str, int]:
    """Split ``X*K`` into (X, max(K, 0)); the ``*`` is the last one with no ``]`` after it."""
    star = elem.rfind("*")
    if star < 0 or "]" in elem[star:]:
        return elem, 1
    try:
        repeat = parse_long(elem[star + 1 :])
    except ValueError as e:
        raise ValueError(f"bad item '{elem}': repeat: {e}") from None
    return elem[:star], max(repeat, 0)


def _parse_item(elem: str) -> ItemSpec:
    """Parse one comma-separated element of an item list."""
    text, repeat = _split_repeat(elem)
    if not text:
        raise ValueError(f"bad item '{elem}'")
    if text.startswith("0x") or text[0] in "0123456789":
        try:
            value = parse_ulong(text)
        except ValueError as e:
            raise ValueError(f"bad item '{elem}': {e}") from None
        return ItemSpec("addr", text, value=value, repeat=repeat)
    if text in FIXED_SPECIALS:
        return ItemSpec("special", text, value=FIXED_SPECIALS[text], repeat=repeat)
    if text in RUNTIME_SPECIALS:
        return ItemSpec("special", text, repeat=repeat)
    base, plus, off_text = text.partition("+")
    try:
        offset = parse_long(off_text) if plus else 0
        rng = parse_range(base)
    except ValueError as e:
        raise ValueError(f"bad item '{elem}': {e}") from None
    return ItemSpec("range", text, range=rng, offset=offset, repeat=repeat)


def parse_items(spec: str) -> list[ItemSpec]:
    """Parse a comma-separated item list (empty elements are skipped, like strtok).

    Elements: raw addresses (``0x..`` or starting with a digit), the names in
    FIXED_SPECIALS and RUNTIME_SPECIALS, or ``RANGE`` with an optional
    ``+OFFSET``; each optionally ``*K``.  Raises ValueError naming the bad
    element, or "too many items" when the list must expand to more than
    MAX_ITEMS entries whatever the mapping sizes (see `count_items` for the
    exact check once they are known).
    """
    items: list[ItemSpec] = []
    total = 0
    for elem in spec.split(","):
        if not elem:
            continue
        item = _parse_item(elem)
        total += item.entries()
        if total > MAX_ITEMS:
            raise ValueError("too many items")
        items.append(item)
    return items


def count_items(items: Iterable[ItemSpec], npages_of: Callable[[str], int]) -> int:
    """Total entries of `items`; `npages_of(name)` gives a mapping's size.

    Raises ValueError when a range does not fit its mapping or the total exceeds
    MAX_ITEMS ("too many items").
    """
    total = 0
    for item in items:
        npages = npages_of(item.range.name) if item.range is not None else None
        total += item.entries(npages)
        if total > MAX_ITEMS:
            raise ValueError("too many items")
    return total


# ---- node lists, flags, masks, counts, pids -------------------------------------------------


def parse_nodes(spec: str) -> list[int]:
    """Parse a node list ``1``, ``1,0,1`` or ``1*3,0*2`` into C ints.

    Each value is parsed like ``(int)strtol(v, NULL, 0)``; ``V*K`` repeats V
    K times (K <= 0: not at all).  Empty elements are skipped.  Broadcasting a
    single value to all pages is the runner's job.  Raises ValueError naming the
    bad element, or "too many nodes" beyond MAX_ITEMS entries.
    """
    nodes: list[int] = []
    for elem in spec.split(","):
        if not elem:
            continue
        value_text, star, rep_text = elem.partition("*")
        try:
            value = wrap_int(parse_long(value_text))
            repeat = parse_long(rep_text) if star else 1
        except ValueError as e:
            raise ValueError(f"bad node list element '{elem}': {e}") from None
        if repeat <= 0:
            continue
        if len(nodes) + repeat > MAX_ITEMS:
            raise ValueError("too many nodes")
        nodes.extend([value] * repeat)
    return nodes


def parse_flags(spec: str | None) -> int:
    """Parse move_pages/mbind flags: ``|``-separated ``move``, ``all``, ``strict`` or numbers.

    None gives 0.  Numbers are C base-0 longs converted to int (``-1`` allowed).
    The result is the OR of all parts as a C int.  Raises ValueError naming a
    bad part.
    """
    if spec is None:
        return 0
    flags = 0
    for part in spec.split("|"):
        if not part:
            continue
        if part in _FLAG_NAMES:
            flags |= _FLAG_NAMES[part]
            continue
        try:
            flags |= wrap_int(parse_long(part))
        except ValueError:
            raise ValueError(f"bad flag '{part}'") from None
    return wrap_int(flags)


@dataclass(frozen=True)
class MaskSpec:
    """A node mask as 64-bit words, least significant first (at least one word)."""

    words: tuple[int, ...] = (0,)

    def nodes(self) -> list[int]:
        """The set bits (node numbers) in increasing order."""
        return [w * 64 + b for w, word in enumerate(self.words) for b in range(64) if word >> b & 1]

    def bits(self) -> int:
        """The mask as one Python integer (bit n = node n)."""
        return sum(word << (64 * i) for i, word in enumerate(self.words))

    @classmethod
    def from_nodes(cls, nodes: Iterable[int]) -> MaskSpec:
        """A mask with the given bits set; numbers outside [0, MASK_BITS) are dropped."""
        bits = 0
        for n in nodes:
            if 0 <= n < MASK_BITS:
                bits |= 1 << n
        nwords = max(1, (bits.bit_length() + 63) // 64)
        return cls(tuple((bits >> (64 * i)) & ULONG_MAX for i in range(nwords)))


def parse_mask(spec: str | None) -> MaskSpec:
    """Parse a node mask like the probe's build_mask.

    None, ``none`` and ``empty`` give the empty mask; ``all`` sets all 64 bits of
    the first word; ``0x..`` is the first word, raw (strtoul); anything else is
    a comma-separated node list, whose numbers outside [0, MASK_BITS) are
    dropped.  Raises ValueError naming a bad number.
    """
    if spec is None or spec in ("none", "empty"):
        return MaskSpec()
    if spec == "all":
        return MaskSpec((ULONG_MAX,))
    if spec.startswith("0x"):
        try:
            return MaskSpec((parse_ulong(spec),))
        except ValueError:
            raise ValueError(f"bad mask '{spec}'") from None
    nodes: list[int] = []
    for elem in spec.split(","):
        if not elem:
            continue
        try:
            nodes.append(parse_long(elem))
        except ValueError:
            raise ValueError(f"bad node '{elem}' in mask '{spec}'") from None
    return MaskSpec.from_nodes(nodes)


def parse_count(spec: str) -> int:
    """Parse a count like C ``strtoul(spec, NULL, 0)`` (unsigned long; see `parse_ulong`)."""
    try:
        return parse_ulong(spec)
    except ValueError:
        raise ValueError(f"bad count '{spec}'") from None


@dataclass(frozen=True)
class PidSpec:
    """A pid specification (the probe's resolve_pid).

    kind is one of "self" (pid argument 0), "getpid", "parent", "init" (1),
    "kthread" (2), "nonexistent" (4000000), "number" or "child" (`name`).
    `value` is the pid argument when it is fixed by the spec, else None.
    """

    kind: str
    value: int | None = None
    name: str | None = None


_FIXED_PIDS = MappingProxyType(
    {
        "self": PidSpec("self", 0),
        "0": PidSpec("self", 0),
        "getpid": PidSpec("getpid"),
        "parent": PidSpec("parent"),
        "init": PidSpec("init", 1),
        "kthread": PidSpec("kthread", 2),
        "nonexistent": PidSpec("nonexistent", 4000000),  # > default pid_max
    }
)


def parse_pid(spec: str | None) -> PidSpec:
    """Parse a ``pid=`` value; None means self.

    A value starting with a digit or ``-`` is a number (C ``(int)strtol`` base 0);
    any other unknown word names a child.  Raises ValueError on a bad number.
    """
    if spec is None:
        return _FIXED_PIDS["self"]
    if spec in _FIXED_PIDS:
        return _FIXED_PIDS[spec]
    if not spec:
        raise ValueError("bad pid ''")
    if spec[0] in "-0123456789":
        try:
            return PidSpec("number", wrap_int(parse_long(spec)))
        except ValueError:
            raise ValueError(f"bad pid '{spec}'") from None
    return PidSpec("child", name=spec)


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
