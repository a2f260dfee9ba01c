"""``KGRetriever``: the hybrid retriever as a LangChain ``BaseRetriever``, for use in any runnable chain."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, field_validator

from retrieve.config import MODES
from retrieve.retriever import Retriever

OPTIONS = frozenset({"entities", "dense"})  # Retriever.search's keyword options


def check_options(k: Any, mode: Any, options: dict[str, Any]) -> None:
    """The same clear ``ValueError`` for a bad option, at construction and per call."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ValueError(f"unknown search option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"the options are k, mode, {', '.join(sorted(OPTIONS))}")


class KGRetriever(BaseRetriever):
    """Returns chunks as ``Document``s whose metadata carries the document, chunk, scores and entities.

    ``k``, ``mode`` and the search options (``entities``, ``dense``) are set at construction and can be given per
    call (``retriever.invoke(q, k=3, mode="graph")``) or through ``configurable_fields``; a bad one is the same
    ``ValueError`` either way, and so is an empty query.

    >>> retriever = KnowledgeGraph("kg.db").as_retriever(k=5)
    >>> retriever.invoke("Where did Marie Curie study?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 8
    mode: str = "hybrid"
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("search_kwargs")
    @classmethod
    def _known_options(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_options(1, "hybrid", v)
        return v

    def model_post_init(self, context: Any) -> None:
        check_options(self.k, self.mode, self.search_kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        k, mode = kwargs.pop("k", self.k), kwargs.pop("mode", self.mode)
        options = {**self.search_kwargs, **kwargs}
        check_options(k, mode, options)
        report = self.retriever.search(query, k, mode, **options)
        return [
            Document(
                page_content=r.text,
                id=str(r.chunk_id),
                metadata={
                    "source": r.source, "title": r.title, "document_id": r.document_id, "chunk_id": r.chunk_id,
                    "chunk_ord": r.ord, "start_char": r.start_char, "end_char": r.end_char, "rank": r.rank,
                    "score": r.score, "scores": r.scores, "channel_scores": r.channel_scores,
                    "entities": r.entities, "matched_entities": [m.label for m in r.matches if m.kind == "entity"],
                    "graph_path": [p.label for p in r.path],
                },
            )
            for r in report.results
        ]
