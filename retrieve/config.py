"""Retrieval settings as plain dataclasses: importing them loads no model, no torch and no scipy."""

from __future__ import annotations

from dataclasses import dataclass, field

from extract.config import DEFAULT_MODEL as DEFAULT_SPACY_MODEL
from retrieve.models import DENSE_DEFAULT, SPLADE_DEFAULT

MODES = ("sparse", "graph", "hybrid", "dense")
FUSIONS = ("weighted", "rrf")
QUERY_ENCODERS = ("splade", "idf")
GRAPH_METHODS = ("push", "power")


@dataclass
class GraphConfig:
    damping: float = 0.8  # probability of following an edge rather than jumping back to a seed
    relation_weight: float = 0.5  # scale of entity-entity edges against chunk-entity edges
    synonym_weight: float = 1.0  # scale of edges between entities with near-identical name embeddings
    synonym_similarity: float = 0.85  # least cosine for a synonym edge
    synonyms_per_entity: int = 5
    # push: local forward push, whose cost follows the seeds' neighbourhood; power: power iteration over the graph
    method: str = "push"
    push_epsilon: float = 1e-6  # residual left per unit of weighted degree: each node's score is within this x degree
    max_iter: int = 50  # power iteration only
    tol: float = 1e-6  # power iteration only


@dataclass
class QueryConfig:
    retrieved: int = 5  # entities taken from embedding retrieval
    similarity_floor: float = 0.55  # least cosine for a retrieved entity
    fuzzy_floor: float = 0.9  # least name similarity for a linked NER span


@dataclass
class EntityWeights:
    """How a chunk's entity dimensions are weighted: salience from mentions, link confidence, aboutness."""

    about: float = 1.0  # the chunk's document is about the entity (its title names it)
    per_mention: float = 0.5  # each further mention adds log-scaled salience
    lead: float = 0.25  # bonus for an entity mentioned in the chunk's first 100 characters


@dataclass
class RetrieverConfig:
    sparse_model: str = SPLADE_DEFAULT  # local path or hub name of a SPLADE (masked-LM) model
    dense_model: str = DENSE_DEFAULT  # local path or hub name of a sentence-transformers model
    spacy_model: str = DEFAULT_SPACY_MODEL
    query_encoder: str = "splade"  # splade | idf (inference-free: tokenizer and IDF weights)
    # Embed chunks with the dense model and add the dense channel to hybrid search. Off by default: on
    # musique-100 it adds 0.03 Recall@5 and doubles the index time (see BENCHMARKS.md). Once a store has
    # chunk embeddings (``--dense`` at ingest, or a first dense search), they are kept current and used.
    dense: bool = False
    entity_weight: float = 0.3  # query weight of entity dimensions per unit of specificity
    fusion: str = "weighted"  # weighted | rrf
    rrf_k: int = 60  # reciprocal rank fusion: 1 / (k + rank)
    # Encoders: the longest text a SPLADE pass reads (word pieces; its vectors are tagged with it, so a change
    # re-encodes), and how many word pieces or rows go in one batch of either model.
    sparse_max_length: int = 512
    sparse_batch_tokens: int = 4096
    dense_batch_size: int = 64
    dense_batch_tokens: int = 256
    weights: dict[str, float] = field(default_factory=lambda: {"sparse": 1.0, "graph": 1.0, "dense": 1.0})
    # Top sparse/dense chunks that also seed the graph walk, as in HippoRAG 2, and their share of the seed mass.
    # Off by default: on multi-hop questions it pulls the walk towards what the other channels already found.
    passage_seeds: int = 0
    passage_seed_weight: float = 0.5
    graph_log_floor: float = 1e-4  # graph scores become log(score / best) above this ratio of the best; 0: raw
    graph: GraphConfig = field(default_factory=GraphConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    entity_weights: EntityWeights = field(default_factory=EntityWeights)

    def check(self) -> None:
        if self.query_encoder not in QUERY_ENCODERS:
            raise ValueError(f"query encoder must be one of {', '.join(QUERY_ENCODERS)}, not {self.query_encoder!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        if not 0.0 < self.graph.damping < 1.0:
            raise ValueError(f"damping must be between 0 and 1, not {self.graph.damping}")
        if self.graph.method not in GRAPH_METHODS:
            raise ValueError(f"graph method must be one of {', '.join(GRAPH_METHODS)}, not {self.graph.method!r}")
