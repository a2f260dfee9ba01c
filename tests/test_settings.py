"""Configuration as data (``kg.settings``): a TOML file and environment variables, one naming scheme, each value's
source shown, and a bad setting a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLE, rows

from kg.api import KGConfig, KGError, KnowledgeGraph
from kg.cli import cli
from kg.settings import SettingsError, effective, load


def test_file_then_environment_over_the_defaults_with_sources(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "settings.toml"
    f.write_text('[retrieve.graph]\ndamping = 0.85\n[chunk]\nsize = 900\n[extract]\nlabels = ["PERSON", "ORG"]\n'
                 '[generation]\nmax_tokens = 99\n[retrieve.weights]\nsparse = 2.0\n', encoding="utf-8")
    monkeypatch.setenv("KG_CHUNK__SIZE", "700")  # the environment wins over the file
    monkeypatch.setenv("KG_RETRIEVE__QUERY__RETRIEVED", "7")
    monkeypatch.setenv("KG_EXTRACT__LINK__THRESHOLD", "0.7")
    monkeypatch.setenv("KG_SPARSE_MODEL", "/models/splade")
    cfg, where = load(f)
    assert cfg.retrieve.graph.damping == 0.85 and where["retrieve.graph.damping"] == str(f)
    assert cfg.chunk.size == 700 and where["chunk.size"] == "KG_CHUNK__SIZE"
    assert cfg.retrieve.query.retrieved == 7 and cfg.extract.link.threshold == 0.7
    assert cfg.extract.labels == frozenset({"PERSON", "ORG"}) and cfg.llm.max_tokens == 99
    assert cfg.retrieve.weights == {"sparse": 2.0, "graph": 1.0, "dense": 1.0}
    assert cfg.retrieve.sparse_model == "/models/splade" and where["retrieve.sparse_model"] == "KG_SPARSE_MODEL"
    assert where["retrieve.fusion"] == "default" and cfg.retrieve.fusion == "weighted"
    shown = {s["setting"]: s for s in effective(cfg, where)}
    assert shown["extract.labels"]["value"] == ["ORG", "PERSON"] and shown["chunk.overlap"]["from"] == "default"


def test_kg_toml_beside_the_store_is_read_by_the_graph(tmp_path: Path) -> None:
    (tmp_path / "kg.toml").write_text("[chunk]\nsize = 300\noverlap = 0\n", encoding="utf-8")
    with KnowledgeGraph(tmp_path / "kg.db") as g:
        assert g.config.chunk.size == 300
        g.ingest([SAMPLE / "people" / "marie_curie.txt"], index=False)
    longest = rows(tmp_path / "kg.db", "SELECT max(length(text)) FROM chunks")[0][0]
    assert longest <= 300


@pytest.mark.parametrize(("text", "env", "message"), [
    ("[retrieve.graph]\ndampng = 0.85\n", {}, "unknown setting 'retrieve.graph.dampng'.*did you mean "
                                             "'retrieve.graph.damping'"),
    ("[retriever]\nk = 1\n", {}, "unknown section 'retriever'"),
    ("[chunk]\nsize = 'big'\n", {}, "setting 'chunk.size' = 'big'.*valid integer"),
    ("", {"KG_CHUNK__SIZE": "10"}, "chunk size must be at least 50"),
    ("[chunk\nsize = 1\n", {}, "settings.toml"),
])
def test_a_bad_setting_says_which_and_from_where(tmp_path: Path, monkeypatch, text: str, env: dict,  # type: ignore[no-untyped-def]
                                                 message: str) -> None:
    f = tmp_path / "settings.toml"
    f.write_text(text, encoding="utf-8")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=message):
        load(f)
    with pytest.raises(KGError, match=message):
        KGConfig.load(f)


def test_kg_config_show_lists_every_setting_with_its_source(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "kg.toml").write_text("[answer]\nmax_facts = 3\n", encoding="utf-8")
    monkeypatch.setenv("KG_RETRIEVE__RRFK", "1")  # not a setting: an error, exit 1
    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "kg.db"), "config", "show", "--json"], env={"KG_DB": None},
                           prog_name="kg")
    assert r.exit_code == 1 and "unknown setting 'retrieve.rrfk'" in r.output and "rrf_k" in r.output
    monkeypatch.delenv("KG_RETRIEVE__RRFK")
    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "kg.db"), "config", "show", "--json"], env={"KG_DB": None},
                           prog_name="kg")
    assert r.exit_code == 0, r.output
    shown = {s["setting"]: s for s in json.loads(r.stdout)}
    assert shown["answer.max_facts"] == {"setting": "answer.max_facts", "value": 3,
                                         "from": str((tmp_path / "kg.toml").resolve())}
    assert len(shown) > 40 and shown["retrieve.graph.damping"]["from"] == "default"
    missing = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml"), "config", "show"], prog_name="kg")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_tuning_constants_reach_the_components(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import retrieve.retriever as rr

    monkeypatch.setenv("KG_RETRIEVE__RRF_K", "5")
    monkeypatch.setenv("KG_RETRIEVE__FUSION", "rrf")
    monkeypatch.setenv("KG_RETRIEVE__SPARSE_MAX_LENGTH", "128")
    monkeypatch.setenv("KG_RETRIEVE__DENSE_BATCH_SIZE", "16")
    monkeypatch.setenv("KG_EXTRACT__GAZETTEER_MIN_CHARS", "2")
    seen = []
    real = rr.rrf
    monkeypatch.setattr(rr, "rrf", lambda channels, weights, k: seen.append(k) or real(channels, weights, k=k))
    with KnowledgeGraph(tmp_path / "kg.db") as g:
        g.ingest([SAMPLE / "places" / "warsaw.txt"])
        assert g.retriever.splade.max_length == 128 and ":128" in g.retriever.splade.identity
        assert g.retriever.dense.batch_size == 16
        assert g.extractor.gazetteer is not None and g.extractor.gazetteer.min_chars == 2
        g.search("Where is Warsaw?", k=2)
    assert seen == [5]


def test_a_store_refuses_settings_that_would_mix_chunks_or_vectors(tmp_path: Path) -> None:
    from kg.api import KGConfig

    db = tmp_path / "kg.db"
    with KnowledgeGraph(db) as g:
        g.ingest([SAMPLE / "places" / "warsaw.txt"])
    assert dict(rows(db, "SELECT key, value FROM store_settings"))["chunk.size"] == "1200"
    other = KGConfig()
    other.chunk.size = 600
    with KnowledgeGraph(db, other) as g, pytest.raises(KGError, match="chunk.size is '1200' in the store, '600' here"):
        g.ingest([SAMPLE / "places" / "paris.txt"])
    assert rows(db, "SELECT count(*) FROM documents") == [(1,)]  # nothing written
    encoder = KGConfig()
    encoder.retrieve.sparse_max_length = 128  # another word-piece encoding
    with KnowledgeGraph(db, encoder) as g:
        with pytest.raises(KGError, match="encoded with splade:.*:512.*would use splade:.*:128.*kg index"):
            g.search("Warsaw", k=1)
        with pytest.raises(KGError, match="run `kg index` with the new encoder first"):
            g.ingest([SAMPLE / "places" / "paris.txt"])
        g.index()  # re-encodes every chunk with the new encoder, and the store remembers it
        assert g.search("Warsaw", k=1)
    with KnowledgeGraph(db) as g, pytest.raises(KGError, match="encoded with splade:.*:128"):
        g.search("Warsaw", k=1)
