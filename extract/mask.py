"""Code blanked out of text before NER: a loader marks code blocks (``skip_spans``), and nothing is found there.

Blanking keeps every character that is a line break and turns the rest into spaces, so the text keeps its
length and every offset into it stays exact.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

Ranges = list[tuple[int, int]]


def skip_ranges(value: Any) -> Ranges:
    """The ``skip_spans`` metadata of a document as sorted, disjoint [start, end) ranges; bad entries are left out."""
    if not isinstance(value, (list, tuple)):
        return []
    pairs = sorted((a, b) for a, b in (p for p in value if isinstance(p, (list, tuple)) and len(p) == 2)
                   if type(a) is int and type(b) is int and 0 <= a < b)
    out: Ranges = []
    for a, b in pairs:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _blank(s: str) -> str:
    return "\n".join(" " * len(line) for line in s.split("\n"))


def masked(text: str, offset: int, ranges: Ranges) -> str:
    """``text``, which starts at ``offset`` of its document, with the parts inside ``ranges`` blanked."""
    end = offset + len(text)
    i = bisect_right(ranges, offset, key=lambda r: r[1])  # the first range that ends after the text starts
    pieces, pos = [], 0
    while i < len(ranges) and ranges[i][0] < end:
        a, b = max(ranges[i][0], offset) - offset, min(ranges[i][1], end) - offset
        pieces += [text[pos:a], _blank(text[a:b])]
        pos, i = b, i + 1
    return "".join([*pieces, text[pos:]]) if pieces else text
