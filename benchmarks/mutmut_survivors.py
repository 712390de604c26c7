"""Sort the survivors that ``benchmarks/mutmut.sh`` prints into kinds, so that each can be judged
by kind and the rest one by one (benchmarks/README.md, "mutmut").

Kinds:

- ``text``: only the text of a string literal changed (``"XX…XX"`` around it, or its case):
  a message's wording or a printed word;
- ``number``: only a number changed (a default, a threshold, a format width);
- ``argument``: an argument replaced by ``None`` or left out;
- ``other``: everything else (listed in full, to be judged one by one).

Usage: python benchmarks/mutmut_survivors.py MUTMUT_OUTPUT.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict


def survivors(text: str) -> dict[str, tuple[str, str]]:
    """Each survivor's name → (the line removed, the line added), from mutmut.sh's output."""
    found, name, removed = {}, None, None
    for line in text.splitlines():
        if line.startswith("--- "):
            name, removed = line[4:].strip(), None
        elif name and line.startswith("-") and removed is None:
            removed = line[1:].strip()
        elif name and line.startswith("+") and removed is not None and name not in found:
            found[name] = (removed, line[1:].strip())
    return found


def kind(removed: str, added: str) -> str:
    def unwrapped(line: str) -> str:
        return line.replace("XX", "").lower()

    if unwrapped(removed) == unwrapped(added):
        return "text"
    if re.sub(r"\d+(\.\d+)?", "N", removed) == re.sub(r"\d+(\.\d+)?", "N", added):
        return "number"
    if "None" in added and "None" not in removed or len(added) < len(removed) and \
            added.replace(" ", "") in removed.replace(" ", "") + ")":
        return "argument"
    return "other"


def main() -> None:
    found = survivors(open(sys.argv[1], encoding="utf-8").read())
    by_kind: dict[str, list] = defaultdict(list)
    for name, (removed, added) in found.items():
        by_kind[kind(removed, added)].append((name, removed, added))
    print(f"{len(found)} survivors")
    for k in ("text", "number", "argument", "other"):
        functions = Counter(re.sub(r"__mutmut_\d+$", "", n).rsplit(".x_", 1)[-1]
                            for n, _, _ in by_kind[k])
        print(f"{k}: {len(by_kind[k])}  " + ", ".join(f"{f} {c}" for f, c in
                                                      functions.most_common()))
    for k in ("number", "argument", "other"):
        print(f"\n## {k}")
        for name, removed, added in by_kind[k]:
            print(f"{name.rsplit('.x_', 1)[-1]}\n  - {removed}\n  + {added}")


if __name__ == "__main__":
    main()
