"""Print, as JSON, the key=value options each action of the oracle's probe reads.

Usage: python tools/probe_reads.py PATH/TO/probe.c > tests/data/probe_reads.json

The probe's act_NAME functions read options with kv(a, "key") / kvl(a, "key", default);
tests/script/test_registry.py checks that the registry of actions accepts every one.
Rerun this when the probe changes.
"""

from __future__ import annotations

import json
import re
import sys


def probe_reads(text: str) -> dict[str, list[str]]:
    """Action name -> the option keys its act_ function reads (sorted)."""
    funcs = re.split(r"\nstatic [^\n(]*\b(act_\w+)\(", text)
    return {name[4:]: sorted(set(re.findall(r'kvl?\(a, "(\w+)"', body)))
            for name, body in zip(funcs[1::2], funcs[2::2], strict=True)}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        reads = probe_reads(f.read())
    json.dump(reads, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
