"""Words and numbers in printed text: one rule for plurals and for shares, so that every summary
says "1 iteration", "3 items" and "3 (0.03%)" the same way."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and the noun in the number it needs, with thousands separators.

    Examples:
        >>> plural(1, "iteration"), plural(1200, "item"), plural(2, "entry", "entries")
        ('1 iteration', '1,200 items', '2 entries')
    """
    count = int(count)
    return f"{count:,} {noun if count == 1 else (plural_noun or noun + 's')}"


def share(part: float, whole: float) -> str:
    """``part / whole`` as a percentage with enough digits to tell a small share from none.

    Examples:
        >>> share(3, 10_000), share(0, 10), share(1, 3), share(2, 0)
        ('0.03%', '0.0%', '33.3%', 'n/a')
    """
    if not whole:
        return "n/a"
    value = 100 * part / whole
    if value == 0 or value >= 0.1:
        return f"{value:.1f}%"
    return f"{value:.2g}%" if value >= 0.001 else "<0.001%"


def silent(message: str) -> None:
    """A ``log`` that says nothing: the libraries' default (they print nothing; a command
    passes its own log, which prints)."""
