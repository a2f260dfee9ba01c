"""The extraction pipeline: NER -> gazetteer -> linking -> relations, one named component per job.

Components are built from a plain name -> factory table, so a stage can be swapped or switched off by name.
Text goes through spaCy once, streamed in batches; everything after NER runs on the parsed Docs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from spacy.tokens import Doc, Span

from extract import schema
from extract.catalog import DOC_POSTING, EntityCatalog
from extract.config import ExtractConfig
from extract.entity_types import vote_types
from extract.gazetteer import Gazetteer
from extract.link import NON_PERSON_HEADS, UNKNOWN, DocumentLinks, LinkConfig, Linker, type_compat
from extract.mask import Ranges, masked
from extract.names import listed_names, name_spans
from extract.ner import NER
from extract.normalize import (
    display_name,
    normalize,
    split_title,
)
from extract.relations import RelationFinder, phrase_between
from store.records import AliasRecord, DocumentRecord, EvidenceRecord, MentionRecord, NewEntity

# Words in a title's parenthetical that say what kind of thing the title names.
_DESCRIPTION_TYPES = {
    "ORG": ("charity", "company", "organisation", "organization", "band", "club", "party", "university",
            "team", "institute", "agency", "newspaper", "magazine", "publisher", "school", "college"),
    "WORK_OF_ART": ("film", "album", "song", "novel", "book", "play", "series", "tv", "opera", "poem", "single",
                    "painting", "video game", "musical", "episode", "journal"),
    "GPE": ("city", "town", "village", "country", "state", "county", "province", "municipality", "commune"),
    "LOC": ("river", "mountain", "lake", "island", "region", "valley", "crater", "desert"),
    "PERSON": ("actor", "actress", "singer", "politician", "racer", "footballer", "player", "writer",
               "musician", "painter", "scientist", "physicist", "chemist", "born", "bishop", "king", "queen"),
}


def description_type(description: str | None) -> str | None:
    if not description:
        return None
    words = description.casefold()
    for label, keys in _DESCRIPTION_TYPES.items():
        if any(k in words for k in keys):
            return label
    return None


@dataclass
class SourceDoc:
    """A loaded document ready for extraction: its chunk texts and, when it has one, a real title."""

    record: DocumentRecord  # source, title, hash, meta and chunks already filled
    title_names_entity: bool = True
    skip: Ranges = field(default_factory=list)  # code: document offsets blanked before NER (``extract.mask``)


def _make_gazetteer(cfg: ExtractConfig, ner: NER, catalog: EntityCatalog) -> Gazetteer:
    return Gazetteer(ner.nlp, cfg.gazetteer_min_chars)


def _make_linker(cfg: ExtractConfig, ner: NER, catalog: EntityCatalog) -> Linker:
    return Linker(catalog, cfg.link)


def _make_relations(cfg: ExtractConfig, ner: NER, catalog: EntityCatalog) -> RelationFinder:
    return RelationFinder(use_parser=cfg.parser, window=cfg.relation_window)


COMPONENTS: dict[str, Callable[[ExtractConfig, NER, EntityCatalog], Any]] = {
    "gazetteer": _make_gazetteer,
    "linker": _make_linker,
    "relations": _make_relations,
}


class Extractor:
    """Turns loaded documents into DocumentRecords: mentions linked to document-local entities, aliases,
    evidence, and the names the document's NER found.

    Each document is linked on its own: what a record holds depends only on its text and on the gazetteer's
    names (every stored document's names and the KB's), never on which documents came before it. Linking
    across documents happens in the store (``store.resolve``), as a function of the set of documents.
    """

    def __init__(self, config: ExtractConfig | None = None, names: Iterable[str] = ()):
        self.config = cfg = config or ExtractConfig()
        self.catalog = EntityCatalog()
        self.ner = NER(cfg.model, cfg.parser, cfg.batch_size, cfg.n_process, cfg.labels)
        self._components = {name: COMPONENTS[name] for name in cfg.components if name in COMPONENTS}
        built = {name: make(cfg, self.ner, self.catalog) for name, make in self._components.items()}
        self.gazetteer: Gazetteer | None = built.get("gazetteer")
        self.linker: Linker = built.get("linker") or Linker(self.catalog, LinkConfig(threshold=2.0))  # off: all new
        self.relations: RelationFinder | None = built.get("relations")
        self.set_names(names)

    def set_names(self, names: Iterable[str]) -> None:
        """The gazetteer's names, replacing those it had (only the difference is added or removed)."""
        if "gazetteer" not in self._components:
            return
        if self.gazetteer is None:
            self.gazetteer = self._components["gazetteer"](self.config, self.ner, self.catalog)
        wanted = set(names)
        have = self.gazetteer.names
        self.gazetteer.remove(sorted(have - wanted))
        self.gazetteer.add(sorted(wanted - have))  # it skips the names it does not accept

    def add_names(self, names: Iterable[str]) -> None:
        if self.gazetteer is not None:
            self.gazetteer.add(list(names))

    def remove_names(self, names: Iterable[str]) -> None:
        if self.gazetteer is not None:
            self.gazetteer.remove(list(names))

    def accepts_name(self, name: str) -> bool:
        return self.gazetteer is None or self.gazetteer.accepts(name)

    # -- streaming --------------------------------------------------------------------------------------------
    def run(self, docs: Iterable[SourceDoc], progress: Callable[[int], None] | None = None
            ) -> Iterator[DocumentRecord]:
        """Stream documents through spaCy once; yield each finished record (the caller may add its names to
        the gazetteer before asking for the next). ``progress(chunks)`` is told after each batch of chunks, so a
        long document shows its progress too."""

        def items() -> Iterator[tuple[str, tuple[SourceDoc, int, int]]]:
            for src in docs:
                n = len(src.record.chunks)
                for c in src.record.chunks:
                    yield masked(c.text, c.start_char, src.skip), (src, c.ord, n)

        pending: list[Doc] = []
        for done, (doc, (src, ord_, n)) in enumerate(self.ner.pipe(items()), 1):
            pending.append(doc)
            if progress is not None and done % self.ner.batch_size == 0:
                progress(done)
            if ord_ == n - 1:
                yield self.extract(src, pending)
                pending = []

    # -- one document -----------------------------------------------------------------------------------------
    def extract(self, src: SourceDoc, docs: list[Doc]) -> DocumentRecord:
        rec = src.record
        rec.new_entities, rec.mentions, rec.aliases, rec.evidence = [], [], [], []
        rec.title_names_entity = src.title_names_entity
        self.catalog = self.linker.catalog = EntityCatalog(DOC_POSTING)  # this document's entities only
        title_name, title_desc = split_title(rec.title)
        title = title_name if src.title_names_entity else None
        alone = {e.text for doc in docs for e in doc.ents}  # what NER names somewhere in this document

        def known(name: str) -> bool:  # a name on its own here, or in any stored document (the gazetteer)
            return name in alone or (self.gazetteer is not None and name in self.gazetteer)

        # The names it gives the gazetteer depend on its text alone (they stay when it is re-linked); its
        # mentions may split a list of names the other documents name one by one.
        rec.names = self._names([name_spans(doc, self.config.labels, alone.__contains__) for doc in docs], title)
        ents = [name_spans(doc, self.config.labels, known) for doc in docs]
        self.add_names(rec.names)  # a document's own names are the gazetteer's too, as in any later re-link
        names = self._surnames(ents, title)
        chunk_spans = [self._spans(doc, found, title, names) for doc, found in zip(docs, ents)]
        local = DocumentLinks()
        new: dict[int, NewEntity] = {}
        if src.title_names_entity and normalize(title_name):
            rec.about_entity = self._link_title(rec, title_name, title_desc, chunk_spans, local, new)
        seen: dict[tuple[int, int], int] = {}
        related: set[tuple[int, int]] = set()  # (head, tail) mention pairs with evidence already
        phrases: list[tuple[int, bool]] = []  # (evidence index, head is the subject) to name after the vote
        inferred: list[int] = []  # evidence through a "he" or "she" that stands for the document's subject
        for ord_, spans in enumerate(chunk_spans):
            offset = rec.chunks[ord_].start_char
            linked: list[tuple[Span, int, int]] = []  # span, ref, mention index
            for span, label, source in spans:
                key = (offset + span.start_char, offset + span.end_char)
                if key in seen:  # already recorded from the previous, overlapping chunk
                    idx = seen[key]
                    linked.append((span, rec.mentions[idx].entity, idx))
                    continue
                ref, conf = self._link(span.text, label, local, new)
                info = self.catalog.entities[ref]
                if info.kb:
                    local.firm.add(ref)
                local.remember(normalize(span.text), span.text, ref, "PERSON" if info.type == "PERSON" else label)
                self.catalog.entities[ref].mentions += 1
                sent = span.sent
                seen[key] = len(rec.mentions)
                linked.append((span, ref, len(rec.mentions)))
                rec.mentions.append(MentionRecord(ord_, span.start_char, span.end_char, span.text, label, source,
                                                  conf, sent.start_char, sent.end_char, ref))
                rec.aliases.append(AliasRecord(ref, span.text, normalize(span.text), "mention", ord_))
                self.catalog.add_alias(ref, span.text)
            self._relate(rec, ord_, linked, related, phrases)
            self._relate_subject(rec, ord_, linked, related, phrases, inferred)
        opening = next(((m.entity, rec.chunks[m.chunk_ord].text[m.sent_start:m.sent_end]) for m in rec.mentions
                        if m.entity == rec.about_entity), None)
        vote_types(rec.mentions, new, local.firm, opening)
        self._name_relations(rec, phrases, new)
        if inferred:  # kept only where the schema names them, and the document is about a person
            person = rec.about_entity is not None and self._type_of(rec.about_entity, new) == "PERSON"
            drop = {k for k in inferred if not person or rec.evidence[k].predicate == schema.RELATED_TO}
            rec.evidence = [ev for k, ev in enumerate(rec.evidence) if k not in drop]
        rec.new_entities = list(new.values())
        for e in rec.new_entities:
            e.norm = normalize(e.name)
        if rec.about_entity is not None:
            new[rec.about_entity].is_title = True
        return rec

    def _names(self, chunk_ents: list[list[Span]], title: str | None) -> list[str]:
        """What this document adds to the gazetteer: the names its NER found (before any gazetteer match, so
        that the gazetteer never feeds itself) and its title; lone words of a longer person name, and what looks
        like a list of names ('Irène Joliot-Curie and Frédéric Joliot-Curie'), are left out."""
        ents = [t for found in chunk_ents for t in found if not listed_names(t)]
        person_words = {w for t in ents if t.label_ == "PERSON" and len(t) > 1 for w in t.text.split()}
        names = {t.text for t in ents if len(t) > 1 or t.text not in person_words}
        if title and normalize(title):
            names.add(title)
        return sorted(n for n in names if self.accepts_name(n))

    def _surnames(self, chunk_ents: list[list[Span]], title: str | None) -> frozenset[str]:
        """Last names of the people this document names in full: 'Curie' for 'Marie Curie'. NER often misses
        the lone surname later on, so these are matched as mentions too."""
        out = set()
        full = [e for found in chunk_ents for e in found if e.label_ == "PERSON" and len(e) > 1]
        for e in full:
            tok = e[-1]
            if tok.is_title and len(tok.text) >= 3 and not tok.is_stop and tok.text.isalpha():
                out.add(tok.text)
        if title and len(title.split()) > 1 and any(e.text == title for e in full):
            last = title.split()[-1]
            if last[:1].isupper() and len(last) >= 3 and last.isalpha():
                out.add(last)
        return frozenset(n for n in out if n.casefold() not in NON_PERSON_HEADS)

    def _spans(self, doc: Doc, ents: list[Span], title: str | None, surnames: frozenset[str] = frozenset()
               ) -> list[tuple[Span, str, str]]:
        """NER entities plus gazetteer, title and surname matches, longest first, without overlaps."""
        found: list[tuple[Span, str, str]] = [(t, t.label_, "ner") for t in ents]
        if title and len(title) >= 3 and "\n" not in title and any(c.isalpha() for c in title):
            text = doc.text  # spaCy rebuilds it from the tokens on every access
            start = text.find(title)
            while start >= 0:
                span = doc.char_span(start, start + len(title))  # None unless it is made of whole tokens
                if span is not None:
                    found.append((span, UNKNOWN, "title"))
                start = text.find(title, start + 1)
        if surnames:  # one word each: a token lookup, not a search of the text per surname
            found += [(doc[t.i : t.i + 1], "PERSON", "surname") for t in doc if t.text in surnames]
        if self.gazetteer is not None:  # last: where a title or surname match has the same span, it stays
            for s, e, _norm in self.gazetteer(doc):
                found.append((doc[s:e], UNKNOWN, "gazetteer"))
        found.sort(key=lambda x: (x[0].start - x[0].end, x[2] != "ner", x[0].start))
        taken: set[int] = set()
        kept = []
        for span, label, source in found:
            if taken.isdisjoint(range(span.start, span.end)):
                taken.update(range(span.start, span.end))
                kept.append((span, label, source))
        kept.sort(key=lambda x: x[0].start)
        return kept

    def _new_entity(self, name: str, label: str, new: dict[int, NewEntity], description: str | None = None) -> int:
        info = self.catalog.add_entity(None, name, label, description=description)
        new[info.ref] = NewEntity(info.ref, name, label, description)
        return info.ref

    def _link_title(self, rec: DocumentRecord, name: str, desc: str | None,
                    chunk_spans: list[list[tuple[Span, str, str]]], local: DocumentLinks,
                    new: dict[int, NewEntity]) -> int:
        """The entity a document is about: its title, typed by how the text's NER labels the same name."""
        norm = normalize(name)
        labels = Counter(lab for spans in chunk_spans for s, lab, src in spans
                         if src == "ner" and normalize(s.text) == norm)
        label = description_type(desc) or (labels.most_common(1)[0][0] if labels else UNKNOWN)
        ref = self._title_entity(rec.title, name, desc, label)
        if ref is None:
            ref = self._new_entity(name, label, new, desc)
        rec.aliases.append(AliasRecord(ref, rec.title, normalize(rec.title), "title", 0))
        if description_type(desc) or self.catalog.entities[ref].kb:
            local.firm.add(ref)
        local.remember(norm, name, ref, label)
        local.about = ref
        return ref

    def _title_entity(self, title: str, name: str, desc: str | None, label: str) -> int | None:
        """An existing entity the title names: exact name (or the whole title as an alias), a compatible type,
        and no conflicting description. A matching description beats a KB entity, which beats an undescribed one."""
        best, best_key = None, None
        min_type = self.linker.config.min_type
        cands = self.catalog.candidates(title, fuzzy_cutoff=None) + self.catalog.candidates(name, fuzzy_cutoff=None)
        for cand in cands:
            info = self.catalog.entities[cand.ref]
            if cand.kind != "exact" or type_compat(label, info.type) < min_type:
                continue
            if desc is not None and info.description not in (None, desc) and not info.kb:
                continue  # 'Paris (band)' is not 'Paris (film)'
            key = (info.description == desc, info.kb, info.description is None, info.mentions)
            if best_key is None or key > best_key:
                best, best_key = cand.ref, key
        return best

    def _link(self, surface: str, label: str, local: DocumentLinks, new: dict[int, NewEntity]) -> tuple[int, float]:
        norm = normalize(surface)
        min_type = self.linker.config.min_type

        def fits(ref: int) -> bool:
            return type_compat(label, self.catalog.entities[ref].type) >= min_type

        def fits_here(ref: int) -> bool:
            # One sense per discourse: within a document the same name keeps its entity whatever label NER
            # guessed this time, unless that entity's type is firm (KB, or a title like "X (charity)").
            return ref not in local.firm or fits(ref)

        ruled = local.rule(surface, norm, label, fits_here)
        if ruled is not None:
            return ruled
        decision = self.linker.link(surface, label, local.context)
        if decision.ref is not None:
            return decision.ref, decision.confidence
        return self._new_entity(display_name(surface), label, new), decision.confidence

    def _relate(self, rec: DocumentRecord, ord_: int, linked: list[tuple[Span, int, int]],
                have: set[tuple[int, int]], phrases: list[tuple[int, bool]]) -> None:
        if self.relations is None or len(linked) < 2:
            return
        for p in self.relations(linked[0][0].doc, [(s, r) for s, r, _ in linked]):
            hi, ti = linked[p.head][2], linked[p.tail][2]
            if (hi, ti) in have:
                continue
            have.add((hi, ti))
            # The phrase for now; ``_name_relations`` names it once the entities' types are settled.
            rec.evidence.append(EvidenceRecord(hi, ti, p.predicate, ord_, p.sent_start, p.sent_end))
            phrases.append((len(rec.evidence) - 1, p.subject))
            self.catalog.add_cooccurrence(linked[p.head][1], linked[p.tail][1])

    def _relate_subject(self, rec: DocumentRecord, ord_: int, linked: list[tuple[Span, int, int]],
                        have: set[tuple[int, int]], phrases: list[tuple[int, bool]], inferred: list[int]) -> None:
        """A biography's "She was born in Warsaw": in a sentence whose subject is "he" or "she" and that does not
        name the document's subject, the pronoun stands for that subject, and the phrase from it to each entity
        after it is a relation of the subject's. Only a schema predicate with the pronoun as its verb's subject
        is kept (``extract`` drops the rest once the types are voted)."""
        if self.relations is None or not self.relations.use_parser or rec.about_entity is None or not linked:
            return
        about = next((k for k, m in enumerate(rec.mentions) if m.entity == rec.about_entity), None)
        if about is None:
            return
        doc = linked[0][0].doc
        sentences: dict[int, list[tuple[Span, int, int]]] = {}
        for item in linked:
            sentences.setdefault(item[0].sent.start, []).append(item)
        for items in sentences.values():
            if any(ref == rec.about_entity for _, ref, _ in items):
                continue  # it names the subject itself: the pairs are the sentence's own
            sent = items[0][0].sent
            pron = next((t for t in sent if t.lower_ in ("he", "she") and t.dep_ in ("nsubj", "nsubjpass")), None)
            if pron is None:
                continue
            for span, _, idx in items:
                if span.start <= pron.i or (about, idx) in have:
                    continue
                phrase, subject = phrase_between(doc[pron.i : pron.i + 1], span)
                if phrase == schema.RELATED_TO or not subject:
                    continue
                have.add((about, idx))
                rec.evidence.append(EvidenceRecord(about, idx, phrase, ord_, sent.start_char, sent.end_char))
                phrases.append((len(rec.evidence) - 1, True))
                inferred.append(len(rec.evidence) - 1)

    def _type_of(self, ref: int, new: dict[int, NewEntity]) -> str:
        return new[ref].type if ref in new else self.catalog.entities[ref].type

    def _name_relations(self, rec: DocumentRecord, phrases: list[tuple[int, bool]],
                        new: dict[int, NewEntity]) -> None:
        """Each evidence's schema predicate, from its phrase and its two entities' voted types, in the direction
        the schema reads."""
        def type_of(ref: int) -> str:
            return self._type_of(ref, new)

        for i, subject in phrases:
            ev = rec.evidence[i]
            head, tail = rec.mentions[ev.head_mention], rec.mentions[ev.tail_mention]
            ev.predicate, flip = schema.name(ev.predicate, type_of(head.entity), type_of(tail.entity), tail.surface,
                                             subject)
            if flip:
                ev.head_mention, ev.tail_mention = ev.tail_mention, ev.head_mention
