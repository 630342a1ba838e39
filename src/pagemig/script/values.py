"""Values of scenario actions: ranges, item lists (move_pages page arrays), node lists,
flags, node masks, counts and pid specifications.

Each parser raises `ValueError` naming the bad token; the runner turns it into a
`ScriptError` with the line number.  Integers follow C's `strtol`/`strtoul` with base 0
(`pagemig.script.parse.parse_long`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import MappingProxyType

from pagemig.script.parse import (
    FIXED_SPECIALS,
    MASK_BITS,
    MAX_ITEMS,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    RUNTIME_SPECIALS,
    ULONG_MAX,
    parse_long,
    parse_ulong,
    wrap_int,
)

_RANGE_RE = re.compile(r"([^\[\]]+)(?:\[([^\[\]:]*)(?:(:)([^\[\]:]*))?\])?")
_MAX_NAME = 63  # the probe's parse_range copies names into char[64]

_FLAG_NAMES = MappingProxyType(
    {"strict": MPOL_MF_STRICT, "move": MPOL_MF_MOVE, "all": MPOL_MF_MOVE_ALL}
)


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
