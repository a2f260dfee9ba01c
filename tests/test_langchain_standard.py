"""LangChain's own standard retriever suite (``langchain-tests``) on ``KGRetriever``, and the per-call options
LangChain users pass: ``invoke`` keyword arguments and ``configurable_fields``, validated the same way."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import ConfigurableField
from langchain_tests.integration_tests import RetrieversIntegrationTests

from kg.api import KGError, KnowledgeGraph
from retrieve.langchain_retriever import KGRetriever

QUESTION = "Who founded the Radium Institute?"


class TestKGRetrieverStandard(RetrieversIntegrationTests):
    graph: KnowledgeGraph | None = None

    @pytest.fixture(autouse=True)
    def _sample(self, sample_kg: KnowledgeGraph) -> None:
        type(self).graph = sample_kg

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return KGRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        assert self.graph is not None
        return {"retriever": self.graph.retriever}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_options_per_call_and_through_configurable_fields(sample_kg: KnowledgeGraph) -> None:
    r = sample_kg.as_retriever(k=5)
    assert len(r.invoke(QUESTION, k=1)) == 1 and len(r.invoke(QUESTION)) == 5
    graph_only = r.invoke(QUESTION, k=3, mode="graph")
    assert [d.metadata["scores"].get("sparse", 0) for d in graph_only] == [0, 0, 0]
    assert len(r.invoke(QUESTION, entities=False, k=2)) == 2
    c = r.configurable_fields(k=ConfigurableField(id="k"), mode=ConfigurableField(id="mode"))
    assert len(c.invoke(QUESTION, config={"configurable": {"k": 2}})) == 2
    assert len(c.invoke(QUESTION, config={"configurable": {"k": 4, "mode": "sparse"}})) == 4


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: r.invoke(""), "the query is empty"),
    (lambda r: r.invoke("   "), "the query is empty"),
    (lambda r: r.invoke(QUESTION, k=0), "k must be a whole number of at least 1, not 0"),
    (lambda r: r.invoke(QUESTION, mode="psychic"), "mode must be one of"),
    (lambda r: r.invoke(QUESTION, colour="blue"), "unknown search option 'colour'"),
])
def test_a_bad_call_is_the_same_clear_error(sample_kg: KnowledgeGraph, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call(sample_kg.as_retriever(k=3))


def test_bad_options_fail_at_construction_not_at_invoke(sample_kg: KnowledgeGraph) -> None:
    for kwargs, message in (({"k": 0}, "k must be"), ({"mode": "nope"}, "mode must be"),
                            ({"colour": "blue"}, "unknown search option 'colour'")):
        with pytest.raises(KGError, match=message):
            sample_kg.as_retriever(**kwargs)
    with pytest.raises(ValueError, match="k must be"):
        KGRetriever(retriever=sample_kg.retriever, k=0)
    with pytest.raises(ValueError, match="unknown search option"):
        KGRetriever(retriever=sample_kg.retriever, search_kwargs={"colour": "blue"})
    with pytest.raises(KGError, match="k must be at least 1"):
        sample_kg.search(QUESTION, k=0)
