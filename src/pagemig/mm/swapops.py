"""Model of include/linux/swapops.h and the x86_64 pte bits it relies on (Linux 2.6.27).

A pte is a uint64.  Our own encoding, in the spirit of x86_64 (the exact bit positions are
ours, the meaning of each state is the kernel's):

- present: ``_PAGE_PRESENT`` (or ``_PAGE_PROTNONE`` for a PROT_NONE page, which
  ``pte_present()`` also accepts, as x86 does), pfn in bits 12..51;
- nonlinear file pte: not present, ``_PAGE_FILE``, file offset in bits 12..;
- swap pte: not present, not file, swap type in bits 1..5, swap offset in bits 12..;
- none: 0.

A migration entry is a swap entry whose type is SWP_MIGRATION_READ or SWP_MIGRATION_WRITE
(the top two of the 32 types that 5 type bits give) and whose offset is the old page's pfn.
"""

from __future__ import annotations

_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_USER = 1 << 2
_PAGE_ACCESSED = 1 << 5
_PAGE_DIRTY = 1 << 6
_PAGE_FILE = 1 << 6  # only when not present, as on x86
_PAGE_PROTNONE = 1 << 8  # only when not present, as on x86
_PAGE_SPECIAL = 1 << 9
_PAGE_NX = 1 << 63
# Linux 6.1: a swap pte of an exclusive anonymous page carries this bit (our position).
_PAGE_SWP_EXCLUSIVE = 1 << 7

PTE_PFN_SHIFT = 12
PTE_PFN_MASK = ((1 << 52) - 1) & ~((1 << PTE_PFN_SHIFT) - 1)
_PAGE_CHG_MASK = PTE_PFN_MASK | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SPECIAL

# Protections (x86 PAGE_NONE, PAGE_READONLY, PAGE_COPY, PAGE_SHARED), without exec bits.
PAGE_NONE = _PAGE_PROTNONE | _PAGE_ACCESSED
PAGE_READONLY = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
PAGE_COPY = PAGE_READONLY
PAGE_SHARED = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED

MAX_SWAPFILES_SHIFT = 5
SWP_MIGRATION_READ = 30
SWP_MIGRATION_WRITE = 31
MAX_SWAPFILES = 30
_SWP_TYPE_SHIFT = 58
_SWP_OFFSET_MASK = (1 << _SWP_TYPE_SHIFT) - 1


def pte_none(pte: int) -> bool:
    """Model of pte_none()."""
    return pte == 0


def pte_present(pte: int) -> bool:
    """Model of pte_present(): true for PROT_NONE ptes too (x86)."""
    return bool(pte & (_PAGE_PRESENT | _PAGE_PROTNONE))


def pte_file(pte: int) -> bool:
    """Model of pte_file(): a nonlinear file pte."""
    return not pte_present(pte) and bool(pte & _PAGE_FILE)


def is_swap_pte(pte: int) -> bool:
    """Model of is_swap_pte(): not none, not present, not a file pte."""
    return pte != 0 and not pte_present(pte) and not (pte & _PAGE_FILE)


def pte_pfn(pte: int) -> int:
    """Model of pte_pfn()."""
    return (pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT


def pte_write(pte: int) -> bool:
    """Model of pte_write()."""
    return bool(pte & _PAGE_RW)


def pte_dirty(pte: int) -> bool:
    """Model of pte_dirty()."""
    return bool(pte & _PAGE_DIRTY)


def pte_young(pte: int) -> bool:
    """Model of pte_young()."""
    return bool(pte & _PAGE_ACCESSED)


def pte_protnone(pte: int) -> bool:
    """True for a present PROT_NONE pte (not accessible, but pte_present())."""
    return bool(pte & _PAGE_PROTNONE) and not pte & _PAGE_PRESENT


def mk_pte(pfn: int, prot: int) -> int:
    """Model of mk_pte()."""
    return (pfn << PTE_PFN_SHIFT) | prot


def pte_mkwrite(pte: int) -> int:
    """Model of pte_mkwrite()."""
    return pte | _PAGE_RW


def pte_wrprotect(pte: int) -> int:
    """Model of pte_wrprotect()."""
    return pte & ~_PAGE_RW


def pte_mkdirty(pte: int) -> int:
    """Model of pte_mkdirty()."""
    return pte | _PAGE_DIRTY


def pte_mkclean(pte: int) -> int:
    """Model of pte_mkclean()."""
    return pte & ~_PAGE_DIRTY


def pte_mkold(pte: int) -> int:
    """Model of pte_mkold()."""
    return pte & ~_PAGE_ACCESSED


def pte_mkyoung(pte: int) -> int:
    """Model of pte_mkyoung()."""
    return pte | _PAGE_ACCESSED


def pte_modify(pte: int, newprot: int) -> int:
    """Model of pte_modify(): keep the pfn, dirty and accessed bits, take the new protection."""
    return (pte & _PAGE_CHG_MASK) | newprot


def pgoff_to_pte(pgoff: int) -> int:
    """Model of pgoff_to_pte(): a nonlinear file pte."""
    return (pgoff << PTE_PFN_SHIFT) | _PAGE_FILE


# -- swap entries (swp_entry_t as an int: type in the top bits, offset below) --

def swp_entry(swp_type: int, offset: int) -> int:
    """Model of swp_entry()."""
    return (swp_type << _SWP_TYPE_SHIFT) | offset


def swp_type(entry: int) -> int:
    """Model of swp_type()."""
    return entry >> _SWP_TYPE_SHIFT


def swp_offset(entry: int) -> int:
    """Model of swp_offset()."""
    return entry & _SWP_OFFSET_MASK


def pte_to_swp_entry(pte: int) -> int:
    """Model of pte_to_swp_entry()."""
    return swp_entry((pte >> 1) & ((1 << MAX_SWAPFILES_SHIFT) - 1), pte >> PTE_PFN_SHIFT)


def swp_entry_to_pte(entry: int) -> int:
    """Model of swp_entry_to_pte()."""
    return (swp_type(entry) << 1) | (swp_offset(entry) << PTE_PFN_SHIFT)


def pte_swp_mkexclusive(pte: int) -> int:
    """Model of pte_swp_mkexclusive() (Linux 6.1): mark a swap pte exclusive."""
    return pte | _PAGE_SWP_EXCLUSIVE


def pte_swp_exclusive(pte: int) -> bool:
    """Model of pte_swp_exclusive() (Linux 6.1)."""
    return bool(pte & _PAGE_SWP_EXCLUSIVE)


def pte_swp_clear_exclusive(pte: int) -> int:
    """Model of pte_swp_clear_exclusive() (Linux 6.1)."""
    return pte & ~_PAGE_SWP_EXCLUSIVE


def make_migration_entry(pfn: int, write: bool) -> int:
    """Model of make_migration_entry(): the offset is the old page's pfn."""
    return swp_entry(SWP_MIGRATION_WRITE if write else SWP_MIGRATION_READ, pfn)


def is_migration_entry(entry: int) -> bool:
    """Model of is_migration_entry()."""
    return swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)


def is_write_migration_entry(entry: int) -> bool:
    """Model of is_write_migration_entry()."""
    return swp_type(entry) == SWP_MIGRATION_WRITE


def make_migration_entry_read(entry: int) -> int:
    """Model of make_migration_entry_read(): downgrade a write entry (fork of a COW vma)."""
    return swp_entry(SWP_MIGRATION_READ, swp_offset(entry))


def migration_entry_to_pfn(entry: int) -> int:
    """The pfn a migration entry refers to (migration_entry_to_page())."""
    return swp_offset(entry)


def non_swap_entry(entry: int) -> bool:
    """Model of non_swap_entry(): a migration entry is not a real swap slot."""
    return swp_type(entry) >= MAX_SWAPFILES
