#!/usr/bin/env python3
"""The static binary lays out the functions of watchdog/hot-symbols.txt together, first in its
text (lld's --symbol-ordering-file; tests/bench/hot_symbols.py says why and remakes the file).

Fails when the file has gone stale (under 80 % of its names left in the binary: run
tests/bench/hot_symbols.py on a new build) or when the link did not order them (another linker,
or the option lost): then the functions found would lie spread over the whole text.

Usage: hot_symbols_test.py BINARY HOT_SYMBOLS_FILE   (the binary before strip)
"""
import subprocess
import sys


def main():
    binary, listing = sys.argv[1], sys.argv[2]
    wanted = [line.strip() for line in open(listing) if line.strip()]
    if len(wanted) < 100:
        sys.exit(f"{listing} names {len(wanted)} functions: remake it with tests/bench/hot_symbols.py")
    nm = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                        text=True).stdout
    address = {}
    text_low, text_high = None, 0
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] not in "tTwW":
            continue
        value = int(parts[0], 16)
        address.setdefault(parts[2], value)
        text_low = value if text_low is None else min(text_low, value)
        text_high = max(text_high, value)
    found = sorted(address[name] for name in wanted if name in address)
    share = len(found) / len(wanted)
    print(f"{len(found)} of {len(wanted)} hot functions in the binary ({share:.0%}); "
          f"text spans {text_high - text_low} bytes")
    if share < 0.8:
        sys.exit("stale: fewer than 80 % of watchdog/hot-symbols.txt's functions are in the binary; "
                 "remake it with tests/bench/hot_symbols.py")
    # Ordered, the hot functions (less the 5 % furthest out: a name shared by a function the
    # profile did not see) lie in the first fifth of the text; unordered, across all of it.
    kept = found[: int(len(found) * 0.95)]
    span = kept[-1] - text_low
    limit = (text_high - text_low) // 5
    print(f"95 % of them within the first {span} bytes of the text (limit {limit})")
    if span > limit:
        sys.exit("not ordered: the hot functions are spread over the text; "
                 "was the binary linked with ld.lld and --symbol-ordering-file?")


if __name__ == "__main__":
    main()
