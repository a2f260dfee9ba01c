"""``KGRetriever``: the hybrid retriever as a LangChain ``BaseRetriever``, for use in any runnable chain."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieve.retriever import Retriever


class KGRetriever(BaseRetriever):
    """Returns chunks as ``Document``s whose metadata carries the document, chunk, scores and entities.

    >>> retriever = KnowledgeGraph("kg.db").as_retriever(k=5)
    >>> retriever.invoke("Where did Marie Curie study?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 8
    mode: str = "hybrid"
    search_kwargs: dict[str, Any] = {}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        report = self.retriever.search(query, self.k, self.mode, **self.search_kwargs)
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
