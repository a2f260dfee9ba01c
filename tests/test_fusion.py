"""store.fusion: names that differ but denote one entity fold together across documents, as a function of the set
of names, and a user can undo a fold."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extract.normalize import normalize
from store.db import Database
from store.fusion import acronym_of, parts
from store.resolve import allow_fold, resolve_blocks, undo_fold
from store.writer import clear_extraction


class Store:
    """Documents made of bare local entities (name, type), linked across documents as ingest does."""

    def __init__(self, path: Path):
        self.db = Database(path)
        self.next = 1

    def add(self, names: list[tuple[str, str]]) -> int:
        doc = self.next
        self.next += 1
        with self.db.write() as s:
            conn = s.connection()
            conn.exec_driver_sql("INSERT INTO documents (id, source, title, content_hash, metadata, n_chars, "
                                 "title_names_entity, created_at) VALUES (?, ?, ?, '', '{}', 0, 1, '2026-01-01')",
                                 (doc, f"doc{doc}", f"doc{doc}"))
            conn.exec_driver_sql("INSERT INTO local_entities (document_id, name, norm, type, description, is_title, "
                                 "entity_id) VALUES (?, ?, ?, ?, NULL, 0, NULL)",
                                 [(doc, n, normalize(n), t) for n, t in names])
            resolve_blocks(conn, {normalize(n) for n, _ in names})
        return doc

    def delete(self, doc: int) -> None:
        with self.db.write() as s:
            conn = s.connection()
            norms, released, _, _ = clear_extraction(conn, doc)
            conn.exec_driver_sql("DELETE FROM documents WHERE id = ?", (doc,))
            resolve_blocks(conn, norms, released)

    def veto(self, norm: str, allow: bool = False) -> None:
        with self.db.write() as s:
            (allow_fold if allow else undo_fold)(s.connection(), norm)

    def state(self) -> tuple[set, set]:
        """The entities, each with the names of its locals, and the folds: ids left out."""
        with self.db.read() as s:
            conn = s.connection()
            groups: dict[tuple, set[str]] = {}
            for name, typ, local in conn.exec_driver_sql(
                    "SELECT e.name, e.type, l.name FROM local_entities l JOIN entities e ON e.id = l.entity_id"):
                groups.setdefault((name, typ), set()).add(local)
            folds = set(conn.exec_driver_sql("SELECT norm, target, rule, candidates FROM name_redirects").all())
        return {(k, frozenset(v)) for k, v in groups.items()}, folds

    def entity_of(self, local_name: str) -> tuple[str, str]:
        with self.db.read() as s:
            return tuple(s.connection().exec_driver_sql(
                "SELECT e.name, e.type FROM local_entities l JOIN entities e ON e.id = l.entity_id WHERE l.name = ?",
                (local_name,)).first())

    def close(self) -> None:
        self.db.close()


def test_parts_and_acronyms_of_a_name() -> None:
    assert parts("frédéric joliot curie") == {"frédéric", "joliot", "curie", "frédéric joliot", "joliot curie"}
    assert "of" not in parts("university of paris") and "university of" in parts("university of paris")
    assert acronym_of("european union") == "eu" and acronym_of("united states of america") == "usa"
    assert acronym_of("paris") is None


def test_a_short_name_folds_into_the_one_longer_name_of_its_type(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("Frédéric Joliot-Curie", "PERSON"), ("Paris", "GPE")])
    st_.add([("Frédéric Joliot", "PERSON"), ("Rutherford", "PERSON")])
    st_.add([("Ernest Rutherford", "PERSON"), ("United States", "GPE"), ("European Union", "ORG")])
    st_.add([("U.S.", "GPE"), ("EU", "ORG")])
    assert st_.entity_of("Frédéric Joliot") == ("Frédéric Joliot-Curie", "PERSON")
    assert st_.entity_of("Rutherford") == ("Ernest Rutherford", "PERSON")
    assert st_.entity_of("U.S.") == ("United States", "GPE")
    assert st_.entity_of("EU") == ("European Union", "ORG")
    _, folds = st_.state()
    assert ("frédéric joliot", "frédéric joliot curie", "contained", 1) in folds
    assert ("us", "united states", "acronym", 1) in folds
    st_.close()


def test_names_stay_apart_when_ambiguous_of_another_type_or_a_place(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("Marie Curie", "PERSON"), ("Pierre Curie", "PERSON"), ("Curie", "PERSON")])  # two Curies
    st_.add([("Marie Curie Hospice", "ORG"), ("Marie Curie", "PERSON")])  # the person is not the charity
    st_.add([("New York", "GPE"), ("York", "GPE")])  # a place's short form is another place
    st_.add([("Apple", "ORG"), ("Apple Records", "ORG")])  # one-word names that are not acronyms stay
    for name in ("Curie", "Marie Curie", "York", "Apple"):
        assert st_.entity_of(name)[0] == name
    assert st_.state()[1] == set()
    st_.close()


def test_a_short_name_a_document_keeps_apart_from_the_long_one_stays_apart(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("Vineeth Sreenivasan", "PERSON")])
    d = st_.add([("Sreenivasan", "PERSON")])
    assert st_.entity_of("Sreenivasan")[0] == "Vineeth Sreenivasan"
    both = st_.add([("Sreenivasan", "PERSON"), ("Vineeth Sreenivasan", "PERSON")])  # father and son, one article
    assert st_.entity_of("Sreenivasan")[0] == "Sreenivasan"
    st_.delete(both)
    assert st_.entity_of("Sreenivasan")[0] == "Vineeth Sreenivasan"
    st_.delete(d)
    st_.close()


def test_a_short_name_far_commoner_than_its_only_candidate_stays(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("NASA Ames", "ORG")])
    for _ in range(3):
        st_.add([("NASA", "ORG")])
    assert st_.entity_of("NASA")[0] == "NASA"
    st_.add([("NASA Ames", "ORG")])  # now 3 against 2: within the prior
    assert st_.entity_of("NASA")[0] == "NASA Ames"
    st_.close()


def test_a_fold_follows_the_set_of_names_and_a_new_candidate_can_undo_it(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("Albert Einstein", "PERSON")])
    d = st_.add([("Einstein", "PERSON")])
    assert st_.entity_of("Einstein")[0] == "Albert Einstein"
    other = st_.add([("Alfred Einstein", "PERSON")])  # the musicologist: "Einstein" is ambiguous now
    assert st_.entity_of("Einstein")[0] == "Einstein"
    st_.delete(other)
    assert st_.entity_of("Einstein")[0] == "Albert Einstein"
    st_.delete(d)
    assert st_.state()[1] == set()
    st_.close()


def test_a_chain_of_folds_stays_flat(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("Joliot", "PERSON")])
    st_.add([("Frédéric Joliot", "PERSON")])
    assert st_.entity_of("Joliot")[0] == "Frédéric Joliot"
    st_.add([("Frédéric Joliot-Curie", "PERSON")])  # both shorter names now fold into the longest
    folds = {(n, t) for n, t, _, _ in st_.state()[1]}
    assert folds == {("joliot", "frédéric joliot curie"), ("frédéric joliot", "frédéric joliot curie")}
    assert {st_.entity_of(n)[0] for n in ("Joliot", "Frédéric Joliot")} == {"Frédéric Joliot-Curie"}
    st_.close()


def test_a_user_undoes_a_fold_and_can_allow_it_again(tmp_path: Path) -> None:
    st_ = Store(tmp_path / "kg.db")
    st_.add([("ESPCI Paris", "ORG")])
    st_.add([("ESPCI", "ORG")])
    assert st_.entity_of("ESPCI")[0] == "ESPCI Paris"
    st_.veto("espci")
    assert st_.entity_of("ESPCI")[0] == "ESPCI" and st_.state()[1] == set()
    st_.add([("ESPCI", "ORG")])  # later documents do not bring it back
    assert st_.entity_of("ESPCI")[0] == "ESPCI"
    st_.veto("espci", allow=True)
    assert st_.entity_of("ESPCI")[0] == "ESPCI Paris"
    st_.close()


NAMES = [("Frédéric Joliot-Curie", "PERSON"), ("Frédéric Joliot", "PERSON"), ("Joliot", "PERSON"),
         ("Jean Frédéric Joliot", "PERSON"), ("Irène Joliot-Curie", "PERSON"), ("Joliot-Curie", "PERSON"),
         ("Joliot-Curie", "ORG"), ("United States", "GPE"), ("U.S.", "GPE"), ("United States Navy", "ORG"),
         ("US", "ORG"), ("Einstein", "PERSON"), ("Albert Einstein", "PERSON"), ("ESPCI", "ORG"),
         ("ESPCI Paris", "ORG"), ("Paris", "GPE"), ("University of Paris", "ORG"), ("UP", "ORG")]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(docs=st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True), min_size=2, max_size=8),
       seed=st.integers(0, 1000))
def test_folds_equal_a_from_scratch_build_after_any_adds_and_deletes(tmp_path_factory, docs, seed) -> None:  # type: ignore[no-untyped-def]
    rnd = random.Random(seed)
    tmp = tmp_path_factory.mktemp("fusion")
    live = Store(tmp / "live.db")
    ids = [live.add(d) for d in docs]
    gone = set(rnd.sample(range(len(docs)), rnd.randint(1, len(docs) - 1)))
    for i in sorted(gone, key=lambda _: rnd.random()):
        live.delete(ids[i])
    kept = [d for i, d in enumerate(docs) if i not in gone]
    for d in rnd.sample(kept, min(2, len(kept))):  # and a few back again
        kept.append(d)
        live.add(d)
    scratch = Store(tmp / "scratch.db")
    for d in sorted(kept, key=lambda _: rnd.random()):
        scratch.add(d)
    assert live.state() == scratch.state()
    live.close()
    scratch.close()


def test_an_llm_judge_folds_an_ambiguous_name_and_the_fold_is_logged_and_undone(tmp_path: Path) -> None:
    from scripted_llm import ScriptedChatModel

    from kg.fuse import judge, parse_choice

    st_ = Store(tmp_path / "kg.db")
    st_.add([("Albert Einstein", "PERSON")])
    st_.add([("Alfred Einstein", "PERSON")])
    st_.add([("Einstein", "PERSON")])
    assert st_.entity_of("Einstein")[0] == "Einstein"  # two fit: the rules leave it apart
    dry = judge(st_.db, ScriptedChatModel(replies=["1"]), "llm:scripted", 10, dry_run=True)
    assert [(d.name, d.options, d.choice, d.folded) for d in dry] == [
        ("Einstein", ["Albert Einstein", "Alfred Einstein"], "Albert Einstein", False)]
    assert st_.entity_of("Einstein")[0] == "Einstein"
    model = ScriptedChatModel(replies=["It is 1."])
    (d,) = judge(st_.db, model, "llm:scripted", 10, dry_run=False)
    assert d.folded and "Alfred Einstein" in model.prompts[0][-1].content
    assert st_.entity_of("Einstein")[0] == "Albert Einstein"
    assert ("einstein", "albert einstein", "judged", 2) in st_.state()[1]
    with st_.db.read() as s:
        log = s.connection().exec_driver_sql("SELECT action, kept_name, merged_name FROM merge_log").all()
    assert [tuple(r) for r in log] == [("fuse", "Albert Einstein", "Einstein")]
    st_.veto("einstein")  # undone like any fold, and not asked about again
    assert st_.entity_of("Einstein")[0] == "Einstein"
    assert judge(st_.db, ScriptedChatModel(replies=["1"]), "llm:scripted", 10, dry_run=False) == []
    assert parse_choice("0", 2) is None and parse_choice("3", 2) is None and parse_choice("none", 2) is None
    st_.close()


def test_the_command_line_lists_fusions_and_unfuses_one(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from kg.cli import cli

    path = tmp_path / "kg.db"
    st_ = Store(path)
    st_.add([("Ernest Rutherford", "PERSON")])
    st_.add([("Rutherford", "PERSON")])
    st_.close()

    def kg(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["--db", str(path), *args], env={"KG_DB": None}, prog_name="kg")

    listed = kg("fusions", "--json")
    assert listed.exit_code == 0
    (fused,) = json.loads(listed.output)["fused"]
    assert (fused["name"], fused["into"], fused["rule"]) == ("Rutherford", "Ernest Rutherford", "contained")
    assert "held by one PERSON name only" in fused["why"]
    r = kg("unfuse", "Rutherford")
    assert r.exit_code == 0 and "stays apart from Ernest Rutherford" in r.output
    again = kg("unfuse", "Rutherford")
    assert again.exit_code == 1 and "is not folded into another name" in again.output
    assert json.loads(kg("fusions", "--json").output) == {"fused": [], "undone": [
        {"name": "rutherford", "into": "ernest rutherford"}]}
    assert kg("unfuse", "Rutherford", "--allow").exit_code == 0
    assert len(json.loads(kg("fusions", "--json").output)["fused"]) == 1
    assert [m["action"] for m in json.loads(kg("merges", "--json").output)] == ["allow", "unfuse"]
