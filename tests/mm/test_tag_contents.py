"""Page contents as tokens (contents "tag"): the same answers as real bytes, a skipped copy
still caught by verify, and the calls that need real bytes of user memory refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pagemig.backends.model import ModelBackend
from pagemig.cli.main import main
from pagemig.cli.run import run_case
from pagemig.kernel import Kernel, Topology
from pagemig.mm.physmem import (
    ContentsModeError,
    HostMemoryExhausted,
    TagStore,
    token_words,
    words_token,
)
from pagemig.script.compare import compare_objects
from pagemig.script.parse import parse_script
from pagemig.script.runner import Runner
from pagemig.validate import validate

from .batch_view import canonical, diff

SMALL = Topology(nodes=2, mem_per_node_mb=64)
CASES = Path(__file__).resolve().parents[2] / "examples" / "oracle-6.1" / "cases"
TOKEN = 0x5A00_0000_0000_1001


@pytest.mark.parametrize("name", ["01_basic_anon_move", "07_file_shared", "08_file_private",
                                  "10_fork_private_noall", "35_migrate_pages_basic",
                                  "45_mbind_move", "48_swap_pageout_move",
                                  "52_migrate_pages_swap_ext4", "60_ext2_buffer_pages"])
def test_oracle_case_gives_the_same_objects_with_tokens(name: str) -> None:
    """A public 6.1 case that touches and verifies: tag and bytes compare equal."""
    case = CASES / f"{name}.txt"
    text = case.read_text()
    by_bytes = run_case(text, str(case), "6.1")
    by_tag = run_case(text, str(case), "6.1", contents="tag")

    comparison = compare_objects(by_bytes, by_tag)
    assert comparison.total > 0 and comparison.differing == 0
    assert any(o["op"] == "verify" and o["checked"] > 0 and o["ok"] for o in by_tag)


def test_migration_without_copy_is_caught_by_verify_with_tokens() -> None:
    """With migrate_page_copy()'s copy disabled, the moved pages' tokens read back wrong."""
    b = ModelBackend(SMALL, contents="tag")
    b.k.copy_enabled = False
    objs: list[dict] = []
    Runner(b, parse_script("map a anon 4 node=0 touch=write\nmove pages=a[0:3] nodes=1 "
                           "flags=move\nverify\n", "t.scn"), objs.append).run()

    verify = [o for o in objs if o["op"] == "verify"][0]
    assert (3, 0, False) == (verify["mismatches"], verify["maps"]["a"]["first_bad"],
                             verify["ok"])


@pytest.mark.parametrize("call", ["write_user", "read_user", "copy_to_user",
                                  "copy_from_user"])
def test_calls_on_bytes_of_user_memory_are_refused(call: str) -> None:
    """write_user/read_user/copy_to_user/copy_from_user on a tag machine: ContentsModeError
    naming the call and what to use instead; nothing is faulted in."""
    k = Kernel(SMALL, contents="tag")
    p = k.spawn("p")
    a = k.mmap(p, 4096)
    arg = b"data" if call in ("write_user", "copy_to_user") else 4

    with pytest.raises(ContentsModeError, match=rf"{call}\(\) takes or returns the bytes of "
                       r"user memory.*contents='tag'.*store_token\(\)/load_token\(\)"):
        getattr(k, call)(p, a, arg)
    assert k.page_at(p, a) is None
    validate(k)


@pytest.mark.parametrize("contents", ["bytes", "tag"])
def test_tokens_are_stored_and_loaded_in_both_modes(contents: str) -> None:
    """store_token/load_token: the token survives a move; zeros are token 0; a page with
    other bytes (bytes mode) has no token."""
    k = Kernel(SMALL, contents=contents)
    p = k.spawn("p")
    a = k.mmap(p, 3 * 4096)
    k.store_token(p, a, TOKEN)
    k.touch(p, a + 4096, True)
    _, status = k.move_pages(p, 0, [a, a + 4096], [1, 1])

    assert [1, 1] == status
    assert (TOKEN, 0) == (k.load_token(p, a), k.load_token(p, a + 4096))
    if contents == "bytes":
        assert np.array_equal(np.frombuffer(k.read_user(p, a, 4096), "<u8"),
                              token_words(TOKEN))
        k.write_user(p, a + 2 * 4096, b"other")
        assert k.load_token(p, a + 2 * 4096) is None
    with pytest.raises(ValueError, match="not page-aligned"):
        k.load_token(p, a + 8)
    with pytest.raises(OSError):
        k.store_token(p, a + 3 * 4096 + (1 << 40), TOKEN)
    validate(k)


def test_move_pages_places_its_arrays_with_tokens() -> None:
    """The API's own argument arrays keep real bytes in the overlay, and it is emptied as
    their pages are unmapped and reused."""
    k = Kernel(SMALL, contents="tag")
    p = k.spawn("p")
    a = k.mmap(p, 4 * 4096)
    for i in range(4):
        k.store_token(p, a + i * 4096, TOKEN + 4096 * i)
    ret, status = k.move_pages(p, 0, [a + i * 4096 for i in range(4)], [1, 0, 1, 0])
    k.mbind(p, a, 4 * 4096, 2, [1], 2)  # MPOL_BIND, MPOL_MF_MOVE

    assert (0, [1, 0, 1, 0]) == (ret, status)
    assert [TOKEN + 4096 * i for i in range(4)] == [k.load_token(p, a + i * 4096)
                                                     for i in range(4)]
    assert {1} == {k.pfn_to_nid(k.page_at(p, a + i * 4096)) for i in range(4)}
    validate(k)


def test_tag_store_keeps_exact_contents() -> None:
    """The tag store gives back the bytes written: tokens for pattern pages, the overlay
    for the rest; a whole page that is a pattern leaves the overlay."""
    f = TagStore(8, overlay_frames=2)
    f.write(1, 8, b"args")
    f.store_token(2, TOKEN)
    f.copy(3, 2)
    f.copy(4, 1)

    assert (b"args", 2) == (f.read(4, 8, 4), f.frames_held)
    assert (TOKEN, None, 0) == (f.load_token(3), f.load_token(4), f.load_token(0))
    assert np.array_equal(f.frame(3).view("<u8"), token_words(TOKEN))
    f.write(4, 0, token_words(TOKEN + 1).astype("<u8").tobytes())
    assert (TOKEN + 1, 1) == (f.load_token(4), f.frames_held)
    f.write(5, 0, b"\0" * 16)  # zeros on a zero page: nothing kept
    assert 1 == f.frames_held
    f.write(5, 0, b"x")
    with pytest.raises(HostMemoryExhausted, match="more than 2 frames hold bytes"):
        f.write(6, 0, b"y")
    f.zero(1)
    assert (0, 1) == (f.load_token(1), f.frames_held)


def test_words_token_round_trip() -> None:
    """A token's page gives the token back; zeros are 0; other bytes give None."""
    assert TOKEN == words_token(token_words(TOKEN))
    assert 0 == words_token(np.zeros(512, np.uint64))
    other = token_words(TOKEN)
    other[511] ^= np.uint64(1)
    assert words_token(other) is None


def test_contents_must_be_bytes_or_tag() -> None:
    """Kernel(contents=...) names the two modes (ValueError, TypeError)."""
    with pytest.raises(ValueError, match="'bytes' or 'tag'"):
        Kernel(SMALL, contents="sparse")
    with pytest.raises(TypeError, match="contents"):
        Kernel(SMALL, contents=1)


def test_cli_contents_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pagemig run --contents tag on 2 x 64 GiB: written pages verify after two moves."""
    path = tmp_path / "t.scn"
    path.write_text("map a anon 64 touch=write\nmove pages=a nodes=1 flags=move\n"
                    "migrate old=1 new=0\nverify\n")
    assert 0 == main(["run", "--contents", "tag", "--mem-per-node", "65536", str(path)])
    out = capsys.readouterr().out.replace(" ", "")
    assert 2 == out.count('"checked":64,"mismatches":0,"ok":true')


@pytest.mark.parametrize("contents", ["bytes", "tag"])
def test_load_tokens_gives_load_tokens_answers_in_order(contents: str) -> None:
    """Kernel.load_tokens() of present, swapped-out, untouched, arbitrary-byte and file
    pages gives what load_token() of each gives, in order, and leaves the machine as they
    leave it (the swapped-out page faulted back in, the untouched one mapped); a PROT_NONE
    page fails with EFAULT at its index, the pages before it read."""
    machines = []
    for _ in range(2):
        k = Kernel(SMALL, "2.6.27", contents=contents)
        t = k.spawn()
        a = k.mmap(t, 200 * 4096)
        k.store_tokens(t, a, np.arange(1, 151, dtype=np.uint64))  # 150 pages, 50 untouched
        if contents == "bytes":  # tag contents refuse arbitrary bytes
            k.write_user(t, a + 3 * 4096, b"not a token page")
            k.write_user(t, a + 4 * 4096, bytes(4096))  # a written page of zeros
            k.write_user(t, a + 5 * 4096, bytes(8))  # first word 0, the rest not
        k.swapon(64)
        k.swap_out(t, a + 7 * 4096)
        machines.append((k, t, a))
    (k, t, a), (ref, rt, _) = machines
    addrs = [a + i * 4096 for i in range(0, 200, 1)]
    got = k.load_tokens(t, addrs)
    want = [ref.load_token(rt, x) for x in addrs]
    assert got == want
    assert got[3:6] == ([None, 0, None] if contents == "bytes" else [4, 5, 6])
    assert got[7] == 8 and got[160] == 0 and got[149] == 150
    assert [] == diff(canonical(ref), canonical(k))
    for kk, tt in ((k, t), (ref, rt)):
        kk.mprotect(tt, a + 180 * 4096, 4096, 0)
    with pytest.raises(OSError) as e:
        k.load_tokens(t, addrs)
    assert e.value.index == 180  # type: ignore[attr-defined]
    validate(k)
