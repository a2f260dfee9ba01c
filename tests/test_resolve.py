"""store.resolve: linking across documents as a pure function of the set of document-local entities."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from store.kinds import type_compat
from store.resolve import KBEntry, Local, clusters, pick_kb


def local(i: int, type: str, description: str | None = None, name: str = "Paris") -> Local:
    return Local(i, i, name, type, description, False, None)


def partition(block: list[Local]) -> set[frozenset[int]]:
    return {frozenset(m.id for m in c.members) for c in clusters(block)}


def test_types_split_a_name_and_confusable_labels_of_one_group_share_an_entity() -> None:
    block = [local(1, "GPE"), local(2, "LOC"), local(3, "PERSON"), local(4, "GPE")]
    assert partition(block) == {frozenset({1, 2, 4}), frozenset({3})}
    (place,) = [c for c in clusters(block) if c.key[0] == "place"]
    assert place.type == "GPE" and place.name == "Paris"


def test_an_undescribed_cluster_joins_the_only_described_one_of_its_group() -> None:
    band = [local(1, "ORG", "band"), local(2, "ORG"), local(3, "ORG")]
    assert partition(band) == {frozenset({1, 2, 3})}
    two = [local(1, "ORG", "band"), local(2, "ORG", "company"), local(3, "ORG")]
    assert partition(two) == {frozenset({1}), frozenset({2}), frozenset({3})}


def local_t(i: int, type: str, is_title: bool = False) -> Local:
    return Local(i, i, "Irène Joliot-Curie", type, None, is_title, None)


def test_one_type_per_entity_by_a_clear_majority_of_documents() -> None:
    # NER calls her PERSON in three documents and ORG in one: one entity, a person.
    block = [local_t(1, "PERSON"), local_t(2, "PERSON"), local_t(3, "ORG"), local_t(4, "PERSON")]
    (c,) = clusters(block)
    assert c.type == "PERSON" and len(c.members) == 4
    # No clear majority, a person and a place, or a document about each: kept apart.
    assert partition([local_t(1, "PERSON"), local_t(2, "ORG")]) == {frozenset({1}), frozenset({2})}
    assert partition([local_t(1, "PERSON"), local_t(2, "PERSON"), local_t(3, "GPE")]) == {frozenset({1, 2}),
                                                                                       frozenset({3})}
    assert partition([local_t(1, "PERSON", True), local_t(2, "PERSON"), local_t(3, "ORG", True)]) == {
        frozenset({1, 2}), frozenset({3})}


def test_the_document_about_an_entity_decides_its_type_against_a_majority() -> None:
    # His own article's opening sentence makes him a PERSON; NER calls him ORG in three other documents.
    block = [local_t(1, "PERSON", True), local_t(2, "ORG"), local_t(3, "ORG"), local_t(4, "ORG"), local_t(5, "MISC")]
    (c,) = clusters(block)
    assert c.type == "PERSON" and c.size == 5
    # A type NER does not confuse with a person stays apart, and so does anything when two articles disagree.
    assert partition([local_t(1, "PERSON", True), local_t(2, "GPE"), local_t(3, "GPE")]) == {
        frozenset({1}), frozenset({2, 3})}


def test_untyped_locals_join_the_largest_cluster_or_their_described_one() -> None:
    block = [local(1, "GPE"), local(2, "GPE"), local(3, "PERSON"), local(4, "MISC"),
             local(5, "WORK_OF_ART", "film"), local(6, "MISC", "film")]
    assert partition(block) == {frozenset({1, 2, 4}), frozenset({3}), frozenset({5, 6})}
    assert partition([local(1, "MISC"), local(2, "MISC")]) == {frozenset({1, 2})}


def test_the_name_is_the_most_common_spelling_and_ties_break_alphabetically() -> None:
    block = [local(1, "GPE", name="PARIS"), local(2, "GPE", name="Paris"), local(3, "GPE", name="Paris")]
    assert clusters(block)[0].name == "Paris"
    assert clusters([local(1, "GPE", name="b"), local(2, "GPE", name="a")])[0].name == "a"


def test_a_cluster_takes_the_kb_entity_of_the_closest_type() -> None:
    (c,) = clusters([local(1, "GPE")])
    kb = [KBEntry(7, "Q90", "GPE", "capital of France"), KBEntry(8, "Q1", "PERSON", None),
          KBEntry(9, "Q2", "ORG", None)]
    assert pick_kb(c, kb) == kb[0]
    assert pick_kb(c, [kb[1]]) is None  # a person is never a place
    assert type_compat("GPE", "ORG") == 0.5


TYPES = ["PERSON", "GPE", "LOC", "ORG", "WORK_OF_ART", "EVENT", "NORP", "MISC"]
locals_ = st.lists(st.tuples(st.sampled_from(TYPES), st.sampled_from([None, "band", "film", "city"]),
                             st.sampled_from(["Paris", "PARIS", "paris"])), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(spec=locals_, order=st.randoms(use_true_random=False))
def test_clusters_do_not_depend_on_the_order_of_the_locals(spec: list, order) -> None:  # type: ignore[no-untyped-def]
    block = [local(i, t, d, n) for i, (t, d, n) in enumerate(spec)]
    shuffled = block[:]
    order.shuffle(shuffled)
    a, b = clusters(block), clusters(shuffled)
    assert [(c.key, c.name, c.type, sorted(m.id for m in c.members)) for c in a] == \
           [(c.key, c.name, c.type, sorted(m.id for m in c.members)) for c in b]
    assert sorted(m.id for c in a for m in c.members) == list(range(len(block)))  # a partition
