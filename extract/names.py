"""Which of NER's spans are names: cut at layout, split at conjunctions, trimmed, and junk dropped.

NER sweeps in what a name is not: the pipe or line break between two table cells, the "and" between two people,
the emoji beside a name, a code identifier, a number with a unit. What is left is one name per span, or nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from spacy.tokens import Doc, Span, Token

from store.kinds import UNKNOWN  # the label of a name whose kind NER did not say

_DETERMINERS = frozenset({"the", "a", "an"})
PARTICLES = frozenset({"de", "da", "di", "del", "della", "der", "den", "van", "von", "le", "la", "du", "des", "al",
                       "el", "bin", "ibn", "ben", "dos", "das", "do", "y", "zu", "ter", "te"})
_CONJUNCTIONS = frozenset({"and", "&"})
# Source code: snake_case, a call, an operator; and a token that is a lowercase dotted path ('river.upper').
_CODE = re.compile(r"\w_\w|_\w+_|\(\s*\)|[=;{}<>\\]|::|->")
_DOTTED = re.compile(r"[a-z][a-z0-9]*\.[a-z][a-z0-9]*")
# A number with at most a short lowercase suffix or unit: '1990s', '5th', '12 km', '40%'.
_NUMBER = re.compile(r"[+\-−]?\d[\d.,\s]*(?:[a-z]{0,3}|%)")


def _layout(tok: Token) -> bool:
    return tok.is_punct or tok.is_space or tok.text == "|"  # spaCy does not count a pipe as punctuation


def _symbol(tok: Token) -> bool:
    """A token that never belongs inside a name: an emoji or other pictograph, a line break, a table's pipe."""
    return "\n" in tok.text or tok.text == "|" or any(unicodedata.category(c) in ("So", "Sk", "Co") for c in tok.text)


# What a sentence's first word is when it modifies the verb rather than the name after it: 'Later', 'Meanwhile'.
_NOT_NAME_DEPS = frozenset({"advmod", "npadvmod", "intj", "mark", "cc", "prep", "aux", "det", "neg"})


def _opens_sentence_only(tok: Token, end: int) -> bool:
    """A capitalised word that starts the sentence, attached by the parser outside the span to the verb: 'Later
    [Solvay Conferences] were held', not the 'Marie' of 'Marie Curie was'."""
    return bool(tok.is_sent_start and tok.i + 1 < end and tok.doc.has_annotation("DEP")
            and tok.dep_ in _NOT_NAME_DEPS and not (tok.i <= tok.head.i < end))


def trim(span: Span) -> Span | None:
    """A name without the leading lowercase words and trailing possessive NER tends to include: 'the [EU]'s',
    'later [Irène Joliot-Curie]', 'Later [Solvay Conferences]' at a sentence's start, and without the
    punctuation of a table or list around it: '| [Acme Ltd] |'."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and (doc[start].text in _DETERMINERS or _layout(doc[start])
                            or (doc[start].is_lower and doc[start].is_alpha and doc[start].text not in PARTICLES)
                            or _opens_sentence_only(doc[start], end)):
        start += 1  # 'the', and words like 'later' or 'former' that NER sweeps in: not 'de' of 'de Gaulle'
    while end > start and (doc[end - 1].text in ("'s", "’s", "'", "’") or _layout(doc[end - 1])):
        if doc[end - 1].text == ")" and "(" in doc[start : end - 1].text:
            break  # it closes a bracket of the name: 'Institut Curie (Paris)'
        end -= 1
    if start == end or not any(c.isalpha() for c in doc[start:end].text):
        return None  # nothing of a name left, or never was ('−', '←', '49.54', '2,000')
    return span if (start, end) == (span.start, span.end) else Span(doc, start, end, label=span.label_)


def junk(span: Span) -> bool:
    """Not a name at all: code ('river.upper', 'parse_args()'), or a number with a unit ('1990s', '12 km')."""
    text = span.text
    return (_CODE.search(text) is not None or any(_DOTTED.fullmatch(t.text) for t in span)
            or _NUMBER.fullmatch(text) is not None)


def _pieces(doc: Doc, start: int, end: int, cuts: list[int], label: str) -> list[Span]:
    return [Span(doc, a + 1, b, label=label) for a, b in zip([start - 1, *cuts], [*cuts, end]) if b > a + 1]


def split_conjunction(span: Span, known: Callable[[str], bool] = lambda s: False) -> list[Span]:
    """'Niels Bohr and Einstein', 'Bohr, Curie and Einstein': one span per name, for a list of people, or for
    any list whose every name the document names on its own ('Irène Joliot-Curie and Frédéric Joliot-Curie'
    that NER took for one organisation). A name with the conjunction in it stays whole: a company's '&'
    ('Procter & Gamble'), a name with lowercase words ('Department of Health and Social Care'), one whose parts
    the document never names alone ('National Aeronautics and Space Administration', 'Marks and Spencer')."""
    toks = list(span)
    ands = [t.i for t in toks[1:-1] if t.lower_ in _CONJUNCTIONS]
    if len(ands) != 1:
        return [span]
    if span.doc[ands[0]].text == "&" and span.label_ != "PERSON":
        return [span]
    commas = [t.i for t in toks[1:-1] if t.text == "," and t.i < ands[0]]
    pieces = _pieces(span.doc, span.start, span.end, [*commas, ands[0]], span.label_)
    if len(pieces) < 2 or any(t.is_lower and t.is_alpha and t.text not in PARTICLES for p in pieces for t in p):
        return [span]
    if span.label_ == "PERSON":
        return pieces
    if all((t := trim(p)) is not None and known(t.text) for p in pieces):
        # NER took the whole for one organisation or work ('X and Y'): what each name is, it did not say.
        return [Span(p.doc, p.start, p.end, label=UNKNOWN) for p in pieces]
    return [span]


def listed_names(span: Span) -> bool:
    """A span with a conjunction between parts of two words or more each: perhaps one name ('National
    Aeronautics and Space Administration'), perhaps two ('Irène Joliot-Curie and Frédéric Joliot-Curie')."""
    toks = list(span)
    cuts = [t.i for t in toks[1:-1] if t.lower_ in _CONJUNCTIONS or t.text == ","]
    if not any(span.doc[i].lower_ in _CONJUNCTIONS for i in cuts):
        return False
    return all(len([t for t in p if not t.is_punct]) >= 2
               for p in _pieces(span.doc, span.start, span.end, cuts, span.label_))


def split_run_on(span: Span) -> list[Span]:
    """Two names run together by a missed sentence or heading break: 'Second World War the Kaiser Wilhelm
    Society'. A lowercase 'the' between two capitalised names of two words or more; 'Jack the Ripper' and
    'Alexander the Great' keep theirs."""
    doc = span.doc
    for t in list(span)[2:-2]:
        if t.text == "the" and doc[t.i - 1].is_title and doc[t.i + 1].is_title and doc[t.i + 2].is_title:
            # NER's label was for the name it started with; the second one's kind it never saw.
            return [Span(doc, span.start, t.i, label=span.label_), Span(doc, t.i + 1, span.end, label=UNKNOWN)]
    return [span]


def name_spans(doc: Doc, labels: frozenset[str], known: Callable[[str], bool] = lambda s: False) -> list[Span]:
    """NER's names in a Doc, one name per span: cut at line breaks, pipes and emoji (a name never joins two
    table cells or list items) and at a bracket left open, split at conjunctions and run-on names, trimmed, and
    without code or numbers. ``known(text)``: whether the document names ``text`` on its own elsewhere."""
    out = []
    for e in doc.ents:
        if e.label_ not in labels:
            continue
        cuts = [t.i for t in e if _symbol(t)]
        if e.text.count("(") != e.text.count(")"):  # 'Radium Institute (Institut du Radium': two names
            cuts = sorted(set(cuts) | {t.i for t in e if t.text in ("(", ")")})
        for piece in _pieces(doc, e.start, e.end, cuts, e.label_) if cuts else [e]:
            for part in split_conjunction(piece, known):
                for name in split_run_on(part):
                    t = trim(name)
                    if t is not None and not junk(t):
                        out.append(t)
    return out
