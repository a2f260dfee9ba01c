"""Relations: entities linked in the same sentence get an edge; the phrase on their dependency path names it."""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from extract.schema import RELATED_TO

_COPULA = frozenset({"is", "was", "are", "were", "be", "been", "being", "'s", "became", "becomes", "remains"})
_VERB_CHILD_DEPS = frozenset({"nsubj", "nsubjpass", "aux", "auxpass", "dobj", "agent", "neg", "prt", "dative"})
_VERB_DEPS = frozenset({"ROOT", "relcl", "advcl", "xcomp", "ccomp", "pcomp", "acl", "conj"})


@dataclass
class Pair:
    head: int  # index of the head mention in the list given to RelationFinder
    tail: int
    predicate: str
    sent_start: int
    sent_end: int
    subject: bool = False  # the head mention is the subject of the predicate's verb


def _is_verb(tok: Token) -> bool:
    if not tok.is_alpha or tok.is_title or tok.is_upper:
        return False
    if any(c.dep_ in _VERB_CHILD_DEPS for c in tok.children):
        return True
    return tok.dep_ in _VERB_DEPS and tok.dep_ != "conj"


def _chain(tok: Token, stop: Token) -> list[Token]:
    """Tokens from ``tok`` up to, not including, ``stop``."""
    out = []
    while tok.i != stop.i:
        out.append(tok)
        if tok.head.i == tok.i:
            break
        tok = tok.head
    return out


def subject_of(a: Span, verb: Token) -> bool:
    """Whether mention ``a`` is what ``verb`` says something about: its root (through conjunctions and
    appositions: 'Becquerel, Curie and Langevin were born') is the verb's subject, or that of a verb it hangs
    from ('X went on to found'), or the verb is a clause on the mention ('X, born in', 'X, who founded')."""
    tok = a.root
    while tok.dep_ in ("conj", "appos") and tok.head.i != tok.i:
        tok = tok.head
    v = verb
    for _ in range(3):
        if (tok.dep_ in ("nsubj", "nsubjpass") and tok.head.i == v.i) or (
                v.dep_ in ("relcl", "acl") and a.start <= v.head.i < a.end):
            return True
        if v.dep_ not in ("xcomp", "conj", "advcl") or v.head.i == v.i:
            return False
        v = v.head
    return False


def phrase_between(a: Span, b: Span) -> tuple[str, bool]:
    """The predicate phrase on the dependency path between two mentions in text order ('Curie was born in
    Warsaw' -> 'born_in'; 'Paris is the capital of France' -> 'capital_of'), and whether the first is its verb's
    subject (``subject_of``)."""
    ra, rb = a.root, b.root
    up_b = {t.i: t for t in [rb, *rb.ancestors]}
    lca = next((t for t in [ra, *ra.ancestors] if t.i in up_b), None)
    if lca is None:
        return RELATED_TO, False
    inside = set(range(a.start, a.end)) | set(range(b.start, b.end))
    path_b = _chain(rb, lca)
    path = [lca, *_chain(ra, lca), *path_b]
    verb = next((t for t in path if t.i not in inside and _is_verb(t)), None)
    if verb is None:
        return RELATED_TO, False
    subject = subject_of(a, verb)
    word = verb.lower_
    if word in _COPULA:
        attr = next((t for t in path_b if t.dep_ in ("attr", "acomp") and t.i not in inside), None)
        if attr is None:
            return RELATED_TO, False
        word = attr.lower_
        verb = attr
    prep = next((t for t in path_b if t.dep_ in ("prep", "agent") and t.head.i == verb.i), None)
    prt = next((c for c in verb.children if c.dep_ == "prt"), None)
    parts = [word, prt.lower_ if prt else None, prep.lower_ if prep else None]
    return "_".join(p for p in parts if p)[:64], subject


class RelationFinder:
    """Pairs linked mentions that share a sentence; names the edge from the parse when there is one."""

    name = "relations"

    def __init__(self, use_parser: bool = True, window: int = 4):
        self.use_parser = use_parser
        self.window = window  # a mention pairs with at most this many following mentions in its sentence

    def __call__(self, doc: Doc, spans: list[tuple[Span, int]]) -> list[Pair]:
        """``spans``: (span, entity ref) in text order; returns pairs of indices into that list."""
        by_sent: dict[int, list[int]] = {}
        for i, (span, _) in enumerate(spans):
            by_sent.setdefault(span.sent.start, []).append(i)
        pairs: list[Pair] = []
        for idx in by_sent.values():
            sent = spans[idx[0]][0].sent
            for x, i in enumerate(idx):
                for j in idx[x + 1 : x + 1 + self.window]:
                    (a, ra), (b, rb) = spans[i], spans[j]
                    if ra == rb or a.end > b.start:
                        continue
                    pred, subject = phrase_between(a, b) if self.use_parser else (RELATED_TO, False)
                    pairs.append(Pair(i, j, pred, sent.start_char, sent.end_char, subject))
        return pairs
