"""retrieve: SPLADE encoding, entity dimensions, the dynamic vocabulary, PageRank, fusion and explanations.

Real models throughout: splade-tiny and MiniLM from their wheels, spaCy's small English pipeline, SQLite files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import rows, write

from kg.api import KGConfig, KGError, KnowledgeGraph
from retrieve import persist
from retrieve.fusion import normalised, rrf, top_k, weighted_sum
from retrieve.graph import GraphConfig, adjacency, personalized_pagerank, transition
from retrieve.index import chunk_text
from retrieve.retriever import log_scaled
from retrieve.sparse import SparseVec, SpladeEncoder


@pytest.fixture(scope="module")
def splade() -> SpladeEncoder:
    return SpladeEncoder(dtype="float32", skip_stopwords=False)


# -- encoding -------------------------------------------------------------------------------------------------
def test_known_text_gets_its_own_and_expanded_word_pieces(splade: SpladeEncoder) -> None:
    (vec,) = splade.encode_documents(["Marie Curie discovered polonium and radium in Paris."])
    top = [splade.token(t) for t, _ in vec.top(12)]
    assert {"polo", "##nium", "discovered", "marie", "paris", "cu", "##rie"} <= set(top)
    # Expansion: a related word that is not in the text.
    assert {"found", "developed", "discovery"} & set(top)
    assert "[CLS]" not in top and "[SEP]" not in top
    assert np.all(np.diff(vec.terms) > 0) and np.all(vec.weights > 0)


def test_fast_head_equals_the_plain_masked_lm_computation(splade: SpladeEncoder) -> None:
    """Length batching with padded rows must not change any weight: compare with the textbook formula."""
    texts = ["Short.", "Pierre Curie shared the 1903 Nobel Prize in Physics with Henri Becquerel and Marie.",
             "Radium glows in the dark."]
    fast = splade.encode_documents(texts)
    with torch.inference_mode():
        for text, vec in zip(texts, fast):
            enc = splade.tokenizer(text, return_tensors="pt")
            ref = torch.log1p(torch.relu(splade.model(**enc).logits[0])).amax(0) * splade._keep
            ref[ref <= splade.min_weight] = 0
            got = torch.zeros(splade.vocab_size)
            got[torch.from_numpy(vec.terms).long()] = torch.from_numpy(vec.weights)
            assert torch.allclose(got, ref, atol=1e-4)


def test_document_vectors_can_leave_stop_word_positions_out_of_the_max() -> None:
    enc = SpladeEncoder(dtype="float32", skip_stopwords=True)
    text = "The prize was shared by the three of them in 1903, the prize of 1903."
    (doc,) = enc.encode_documents([text])
    (query,) = enc.encode_queries([text])  # queries keep every position
    with torch.inference_mode():
        ids = enc.tokenizer(text, return_tensors="pt")
        logits = enc.model(**ids).logits[0]
        tokens = ids["input_ids"][0].tolist()
        content = [i for i, t in enumerate(tokens) if not enc._skip[t] and t not in tokens[:i]]
        assert 0 < len(content) < len(tokens) / 2
        for vec, positions in ((doc, content), (query, list(range(len(logits))))):
            ref = torch.log1p(torch.relu(logits[positions])).amax(0) * enc._keep
            ref[ref <= enc.min_weight] = 0
            got = torch.zeros(enc.vocab_size)
            got[torch.from_numpy(vec.terms).long()] = torch.from_numpy(vec.weights)
            assert torch.allclose(got, ref, atol=1e-4)
    assert enc.identity.endswith(":content1")


def test_sparse_vectors_round_trip_through_bytes(splade: SpladeEncoder) -> None:
    (vec,) = splade.encode_queries(["Who discovered polonium?"])
    back = SparseVec.from_bytes(*vec.to_bytes())
    assert np.array_equal(back.terms, vec.terms) and np.allclose(back.weights, vec.weights)


def test_chunk_text_puts_the_title_first_once() -> None:
    assert chunk_text("Radium", "It glows.") == "Radium\nIt glows."
    assert chunk_text("Radium", "Radium glows.") == "Radium glows."


# -- the index and its entity dimensions ----------------------------------------------------------------------
def test_every_chunk_has_a_stored_vector_and_every_entity_an_embedding(sample_kg: KnowledgeGraph) -> None:
    db = sample_kg.path
    assert rows(db, "SELECT count(*) FROM chunks") == rows(db, "SELECT count(*) FROM chunk_vectors")
    assert rows(db, "SELECT count(*) FROM chunk_embeddings") == [(0,)]  # the dense channel is off by default
    live = rows(db, "SELECT count(*) FROM entities WHERE merged_into_id IS NULL")
    assert live == rows(db, "SELECT count(*) FROM entity_embeddings")
    assert sample_kg.index() == {"chunk_vectors": 0, "chunk_embeddings": 0, "entity_embeddings": 0, "compacted": 0}


def test_entity_dimensions_sit_after_the_word_pieces(sample_kg: KnowledgeGraph) -> None:
    index, _ = sample_kg.retriever._current()
    (curie,) = [i for i, n in enumerate(index.entity_names) if n == "Marie Curie"
                and index.entity_types[i] == "PERSON"]
    column = index.matrix[:, index.vocab_size + curie].toarray().ravel()
    about = rows(sample_kg.path, "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                                 "WHERE d.title = 'Marie Curie'")
    for (cid,) in about:  # her own page: she is its subject, so she weighs more than a passing mention
        assert column[index.rows_of(np.array([cid]))[0]] > 1.0
    assert (column > 0).sum() > len(about)  # other documents mention her too
    assert index.matrix.shape[1] == index.vocab_size + index.n_entities


def test_query_entities_come_from_ner_gazetteer_and_retrieval(sample_kg: KnowledgeGraph) -> None:
    report = sample_kg.search_report("Where did Marie Curie study?", k=3)
    found = {(q.name, q.how) for q in report.query_entities}
    assert ("Marie Curie", "ner") in found
    report = sample_kg.search_report("the physicist who discovered the neutron", k=3, mode="graph")
    assert any(q.how == "retrieved" for q in report.query_entities) or not report.results


# -- the dynamic vocabulary -----------------------------------------------------------------------------------
def test_a_new_entity_is_retrievable_at_once_without_re_encoding_older_chunks(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.txt", "Marie Curie worked in Paris. She studied radioactivity with Pierre Curie.")
    write(docs, "b.txt", "Ernest Rutherford worked in Manchester on the structure of the atom.")
    g = KnowledgeGraph(tmp_path / "kg.db", KGConfig())
    g.ingest([docs])
    before = dict((c, (t, w)) for c, t, w in rows(g.path, "SELECT chunk_id, terms, weights FROM chunk_vectors"))
    index_before, _ = g.retriever._current()
    assert "Quentin Zarkovsky" not in index_before.entity_names

    new = write(tmp_path / "more", "c.txt", "Quentin Zarkovsky founded the Zarkovsky Institute in Lyon in 1921.")
    assert g.ingest([new]).documents == 1
    after = dict((c, (t, w)) for c, t, w in rows(g.path, "SELECT chunk_id, terms, weights FROM chunk_vectors"))
    assert {c: after[c] for c in before} == before  # older chunks' vectors untouched
    assert len(after) == len(before) + 1

    index, _ = g.retriever._current()
    assert "Quentin Zarkovsky" in index.entity_names
    assert index.matrix.shape[1] == index_before.matrix.shape[1] + (index.n_entities - index_before.n_entities)
    report = g.search_report("Quentin Zarkovsky", k=2, mode="sparse")
    assert report.results[0].source.endswith("c.txt")
    assert any(m.kind == "entity" and m.label == "Quentin Zarkovsky" for m in report.results[0].matches)
    g.close()


# -- graph ----------------------------------------------------------------------------------------------------
def _toy() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Chunks c0..c3, entities e0..e2: c0 {e0}, c1 {e0, e1}, c2 {e1}, c3 {e2}; relation e1-e2."""
    ce = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    rel = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32))
    return ce, rel


def test_pagerank_ranks_by_distance_from_the_seed_entity() -> None:
    ce, rel = _toy()
    p = transition(adjacency(ce, rel, relation_weight=1.0))
    seeds = np.zeros(7, dtype=np.float32)
    seeds[4] = 1.0  # e0
    r = personalized_pagerank(p, seeds, GraphConfig(damping=0.5))
    chunks = r[:4]
    assert abs(r.sum() - 1.0) < 1e-5
    # c0 and c1 mention e0 (c1 also gets the walk back from e1); c2 is two hops further; c3 three.
    order = list(np.argsort(-chunks))
    assert set(order[:2]) == {0, 1} and order[2:] == [2, 3]
    assert chunks[3] > 0  # reached through the relation edge e1-e2


def test_pagerank_matches_networkx() -> None:
    ce, rel = _toy()
    adj = adjacency(ce, rel, relation_weight=1.0)
    seeds = np.zeros(7, dtype=np.float32)
    seeds[[4, 6]] = [2.0, 1.0]
    ours = personalized_pagerank(transition(adj), seeds, GraphConfig(damping=0.7, tol=1e-10, max_iter=500))
    g = nx.from_scipy_sparse_array(adj)
    theirs = nx.pagerank(g, alpha=0.7, personalization={4: 2.0, 6: 1.0}, weight="weight", tol=1e-12)
    assert np.allclose(ours, [theirs[i] for i in range(7)], atol=1e-5)


def test_synonyms_join_near_identical_names_that_share_a_rare_word_only() -> None:
    names = ["Henrik Ibsen", "Ibsen", "Oslo", "Ibsen Prize", "Kassel"]
    v = np.array([[1, 0, 0], [0.99, 0.14, 0], [0, 0, 1], [0.98, 0.2, 0], [0.995, 0.1, 0]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    slots = np.arange(len(names))
    tokens, _ = persist._token_matrix([persist.name_tokens(n) for n in names], slots, len(names))
    live = np.ones(len(names), bool)
    syn = persist.synonym_lists(v, tokens, live, slots, threshold=0.9, per_entity=1).toarray()
    assert syn[0].nonzero()[0].tolist() == [1] and syn[1].nonzero()[0].tolist() == [3]  # the nearest only
    assert syn[0, 1] > 0.9
    assert syn[4].sum() == 0 and syn[:, 4].sum() == 0  # 'Kassel' is close in the vectors but shares no word
    assert syn[2].sum() == 0 and np.all(np.diag(syn) == 0)
    live[1] = False
    assert persist.synonym_lists(v, tokens, live, slots, 0.9, 1).toarray()[0, 1] == 0  # dead entities share nothing


def test_log_scale_keeps_far_chunks_in_play_and_drops_the_floor() -> None:
    s = np.array([0.1, 0.01, 1e-7, 0.0], dtype=np.float32)
    out = log_scaled(s, 1e-4)
    assert out[0] == pytest.approx(1.0) and out[1] == pytest.approx(0.75, abs=1e-5)
    assert out[2] == 0 and out[3] == 0


# -- fusion ---------------------------------------------------------------------------------------------------
def test_weighted_sum_normalises_each_channel_by_its_best() -> None:
    fused, parts = weighted_sum({"a": np.array([2.0, 1.0, 0.0]), "b": np.array([0.0, 0.5, 0.25])},
                                {"a": 1.0, "b": 2.0})
    assert np.allclose(parts["a"], [1.0, 0.5, 0.0]) and np.allclose(parts["b"], [0.0, 2.0, 1.0])
    assert np.allclose(fused, [1.0, 2.5, 1.0])
    assert np.allclose(normalised(np.array([-1.0, 0.0])), [0.0, 0.0])


def test_rrf_uses_ranks_not_magnitudes() -> None:
    fused, parts = rrf({"a": np.array([100.0, 1.0, 0.0]), "b": np.array([0.2, 0.3, 0.0])}, {}, k=60)
    assert parts["a"][0] == pytest.approx(1 / 61) and parts["a"][1] == pytest.approx(1 / 62)
    assert parts["b"][1] == pytest.approx(1 / 61) and fused[2] == 0.0
    assert fused[0] == pytest.approx(fused[1])


def test_top_k_is_ordered_and_stable() -> None:
    s = np.array([0.1, 0.9, 0.5, 0.9, 0.0])
    assert top_k(s, 3).tolist() == [1, 3, 2]
    assert top_k(s, 10).tolist() == [1, 3, 2, 0, 4]


# -- search and explanation -----------------------------------------------------------------------------------
def test_hybrid_search_finds_the_page_and_explains_it(sample_kg: KnowledgeGraph) -> None:
    results = sample_kg.search("Who found that bombarding uranium with neutrons produced barium?", k=5)
    assert results and results[0].rank == 1
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert results[0].title == "Otto Hahn"
    top = results[0]
    assert set(top.scores) == {"sparse", "graph"}
    assert top.score == pytest.approx(sum(top.scores.values()), rel=1e-5)
    words = [m for m in top.matches if m.kind == "word"]
    assert words and all(m.contribution == pytest.approx(m.query_weight * m.chunk_weight) for m in words)


def test_graph_mode_reaches_a_chunk_through_a_path_from_a_query_entity(sample_kg: KnowledgeGraph) -> None:
    report = sample_kg.search_report("What did Irène Joliot-Curie's husband win?", k=8, mode="graph")
    seeds = {q.entity_id for q in report.query_entities}
    assert report.results
    for r in report.results:
        assert r.path and r.path[0].kind == "entity" and r.path[0].id in seeds
        assert r.path[-1].kind == "chunk" and r.path[-1].id == r.chunk_id
        assert set(r.scores) == {"graph"}
    # Her husband's own page is reached through the graph, not only pages that name her.
    assert "Frédéric Joliot-Curie" in {r.title for r in report.results}


def test_dense_search_needs_kg_index_dense_and_later_ingests_keep_the_embeddings(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.txt", "Radium glows faintly in the dark. Marie Curie kept a sample by her bed.")
    write(docs, "b.txt", "The Eiffel Tower was built in Paris for the 1889 World's Fair.")
    with KnowledgeGraph(tmp_path / "kg.db", KGConfig()) as g:
        g.ingest([docs])
        assert rows(g.path, "SELECT count(*) FROM chunk_embeddings") == [(0,)]
        assert set(g.search("luminous element", k=1)[0].scores) == {"sparse", "graph"}
        with pytest.raises(KGError, match="kg index --dense"):  # a search never writes
            g.search("luminous element", k=1, mode="dense")
        assert rows(g.path, "SELECT count(*) FROM chunk_embeddings") == [(0,)]
        assert g.index(dense=True)["chunk_embeddings"] == 2
        top = g.search("luminous element", k=1, mode="dense")[0]
        assert top.source.endswith("a.txt") and set(top.scores) == {"dense"}
        assert rows(g.path, "SELECT count(*) FROM chunk_embeddings") == [(2,)]
        g.ingest([write(tmp_path / "more", "c.txt", "Pierre Curie was killed by a horse-drawn wagon in 1906.")])
        assert rows(g.path, "SELECT count(*) FROM chunk_embeddings") == [(3,)]  # kept current from now on
        assert set(g.search("luminous element", k=1)[0].scores) == {"sparse", "graph", "dense"}


def test_modes_and_bad_arguments(sample_kg: KnowledgeGraph) -> None:
    for mode in ("sparse", "graph", "hybrid"):
        assert sample_kg.search("radium", k=2, mode=mode)
    assert set(sample_kg.search("radium", k=1, mode="hybrid", dense=False)[0].scores) == {"sparse", "graph"}
    with pytest.raises(KGError, match="mode must be one of"):
        sample_kg.search("radium", mode="magic")
    with pytest.raises(KGError, match="empty"):
        sample_kg.search("   ")
    with pytest.raises(KGError, match="k must be"):
        sample_kg.search("radium", k=0)


def test_chunks_stored_without_an_index_step_are_reported_by_search_and_encoded_by_index(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.txt", "Radium glows faintly in the dark. Marie Curie kept a sample by her bed.")
    with KnowledgeGraph(tmp_path / "kg.db", KGConfig()) as g:
        g.ingest([docs], index=False)
        assert rows(g.path, "SELECT count(*) FROM chunk_vectors") == [(0,)]
        report = g.search_report("radium", k=1, mode="sparse")
        assert report.results == [] and report.unindexed == 1
        assert rows(g.path, "SELECT count(*) FROM chunk_vectors") == [(0,)]
        assert g.index()["chunk_vectors"] == 1
        assert g.search("radium", k=1, mode="sparse")[0].source.endswith("a.txt")


def test_index_embeds_exactly_the_entities_without_an_embedding_of_their_current_name(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.txt", "Marie Curie worked in Paris with Pierre Curie.")
    with KnowledgeGraph(tmp_path / "kg.db", KGConfig()) as g:
        g.ingest([docs])
        assert g.index()["entity_embeddings"] == 0
        (first, name), (second, _) = rows(g.path, "SELECT id, name FROM entities WHERE merged_into_id IS NULL "
                                                  "ORDER BY id LIMIT 2")
        with sqlite3.connect(g.path) as c:  # a renamed entity, and one embedded by another encoder
            c.execute("UPDATE entities SET name = ? WHERE id = ?", (name + " Jr", first))
            c.execute("UPDATE entity_embeddings SET encoder = 'other' WHERE entity_id = ?", (second,))
        assert g.index()["entity_embeddings"] == 2
        assert rows(g.path, f"SELECT text FROM entity_embeddings WHERE entity_id = {first}") == [(name + " Jr",)]
        assert g.index()["entity_embeddings"] == 0


def test_searching_an_empty_store_returns_nothing(tmp_path: Path) -> None:
    with KnowledgeGraph(tmp_path / "empty.db", KGConfig()) as g:
        assert g.search("anything") == []


# -- LangChain ------------------------------------------------------------------------------------------------
def test_langchain_retriever_inside_a_runnable_chain(sample_kg: KnowledgeGraph) -> None:
    from langchain_core.documents import Document
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    retriever = sample_kg.as_retriever(k=3)
    prompt = ChatPromptTemplate.from_messages([("system", "Sources:\n{context}"), ("human", "{question}")])

    def fmt(docs: list[Document]) -> str:
        return "\n".join(f"[{i}] {d.metadata['title']}: {d.page_content[:80]}" for i, d in enumerate(docs, 1))

    chain = {"context": retriever | RunnableLambda(fmt), "question": RunnablePassthrough()} | prompt
    value = chain.invoke("Who discovered polonium?")
    system = value.to_messages()[0].content
    assert system.startswith("Sources:\n[1] ") and system.count("\n[") == 3
    docs = retriever.invoke("Who discovered polonium?")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    meta = docs[0].metadata
    assert {"source", "title", "document_id", "chunk_id", "score", "scores", "entities"} <= set(meta)
    assert meta["rank"] == 1 and docs[0].id == str(meta["chunk_id"])
    assert any("Curie" in t for d in docs for t in [d.metadata["title"], *d.metadata["entities"]])
    with pytest.raises(KGError):
        sample_kg.as_retriever(mode="nope")


