"""Gazetteer: finds known entity names and document titles in text, catching what statistical NER misses."""

from __future__ import annotations

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from extract.normalize import normalize


class Gazetteer:
    """A PhraseMatcher over names; each match reports the normalised name it matched."""

    name = "gazetteer"

    def __init__(self, nlp: Language, min_chars: int = 4):
        self.nlp = nlp
        self.matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.min_chars = min_chars
        self._known: set[str] = set()
        self._by_key: dict[str, set[str]] = {}  # matcher key -> the names under it

    def accepts(self, name: str) -> bool:
        """Skip names that would fire on ordinary words (lowercase, short, a single stop word) or on numbers."""
        name = name.strip()
        if len(name) < self.min_chars and not (name.isupper() and len(name) >= 2):
            return False
        if "\n" in name or not any(c.isalpha() for c in name):  # no name spans lines or is only a number
            return False
        if not name[:1].isupper() and not name[:1].isdigit():
            return False
        return not (" " not in name and self.nlp.vocab[name.lower()].is_stop)

    def add(self, names: list[str]) -> None:
        fresh = [n for n in dict.fromkeys(names) if n not in self._known and self.accepts(n)]
        if not fresh:
            return
        self._known.update(fresh)
        patterns = self.nlp.tokenizer.pipe(fresh)  # type: ignore[union-attr]
        for name, pattern in zip(fresh, patterns):
            key = normalize(name) or name
            self._by_key.setdefault(key, set()).add(name)
            self.matcher.add(key, [pattern])

    def remove(self, names: list[str]) -> None:
        """Forget names; others that share one's normalised key keep matching."""
        gone = [n for n in dict.fromkeys(names) if n in self._known]
        if not gone:
            return
        stay: list[str] = []
        for key in {normalize(n) or n for n in gone}:
            if key in self.matcher:
                self.matcher.remove(key)
            stay += self._by_key.pop(key, set()).difference(gone)
        self._known.difference_update(gone)
        self._known.difference_update(stay)
        self.add(stay)

    @property
    def names(self) -> set[str]:
        return set(self._known)

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, name: str) -> bool:
        return name in self._known

    def __call__(self, doc: Doc) -> list[tuple[int, int, str]]:
        """(start token, end token, normalised name) for every match."""
        vocab = self.nlp.vocab.strings
        return [(s, e, vocab[key]) for key, s, e in self.matcher(doc)]
