"""The explorer in a real browser: Playwright driving Debian's Chromium against ``kg serve`` on a copy of the
sample store. Screenshots of each view are saved in ``tests/artifacts/``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest
from conftest import ROOT
from test_serve_api import HOSTILE, copy_store, serving

from kg.api import KnowledgeGraph

CHROMIUM = next((p for p in (os.environ.get("KG_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p), None)
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium; .ci/run does it)")


@pytest.fixture(scope="module")
def server(sample_kg: KnowledgeGraph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from kg.serve import create_app

    tmp = tmp_path_factory.mktemp("serve")
    g = KnowledgeGraph(copy_store(sample_kg, tmp))
    kb = tmp / "kb.jsonl"
    kb.write_text(json.dumps({"id": "X1", "name": HOSTILE, "type": "ORG", "description": "<b>bold</b> claims"}) + "\n",
                  encoding="utf-8")
    g.import_kb(kb)
    doc = tmp / "hostile.txt"
    doc.write_text(f"Hostile\n\nThe <script>window.__pwned = 1; alert(2)</script> Society was founded by Marie Curie "
                   f"in Paris. {HOSTILE} is a company in Warsaw.\n", encoding="utf-8")
    assert g.ingest([doc]).errors == []
    with serving(create_app(g)) as url:
        yield url
    g.close()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 900})
        pg.dialogs = []  # type: ignore[attr-defined]
        pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
        pg.goto(server + "/")
        pg.wait_for_selector("body[data-ready='1']", timeout=120_000)
        yield pg
        browser.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_search_open_the_card_and_expand_a_node(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#search", "Curie")
    page.wait_for_selector("#suggestions li")
    page.locator("#suggestions li", has_text="Marie Curie").filter(has_text="PERSON").first.click()
    page.wait_for_selector("#tab-card h2:has-text('Marie Curie')")
    page.wait_for_function("cy.nodes().length > 3")
    before = page.evaluate("cy.nodes().length")
    assert page.locator("#legend input").count() > 5
    shot(page, "1-entity")
    grew = page.evaluate("""() => new Promise((done) => {
        const n = cy.nodes().filter((x) => !x.data('seed') && x.data('kind') === 'entity')[0];
        n.emit('tap');
        setTimeout(() => done(cy.nodes().length), 2500);
    })""")
    assert grew >= before
    card = page.locator("#tab-card h2").inner_text()
    assert card and card != "Marie Curie"  # the tapped node's card
    shot(page, "2-expanded")


def test_an_evidence_sentence_opens_the_document_at_its_place(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#search", "Radium Institute")
    page.wait_for_selector("#suggestions li")
    page.locator("#suggestions li").first.click()
    page.wait_for_selector("#tab-card h2:has-text('Radium Institute')")
    page.locator("#tab-card button.evidence").first.click()
    page.wait_for_selector("#docview:not([hidden])")
    assert page.locator("#doc-text mark").count() > 3
    assert page.locator("#doc-text mark.focus").count() >= 1
    shot(page, "3-document")
    page.locator("#doc-text mark").first.click()  # a mention leads to its entity
    page.wait_for_selector("#docview", state="hidden")


def test_ask_gives_a_cited_answer_and_the_query_trace(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#panel nav button[data-tab='ask']")
    page.fill("#question", "When was the Radium Institute founded?")
    page.check("#no-llm")
    page.click("#ask-button")
    page.wait_for_selector("#sources li", timeout=60_000)
    assert page.locator("#answer button.citation").count() >= 1
    assert "1909" in page.locator("#answer").inner_text()
    assert page.locator("#trace li").count() >= 3 and "score" in page.locator("#trace li").first.inner_text()
    assert page.evaluate("cy.nodes('.trace').length") >= 1
    assert page.evaluate("cy.nodes('[kind = \"chunk\"]').length") >= 3
    shot(page, "4-ask-trace")


def test_merge_and_undo_from_the_merge_log(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.click("#panel nav button[data-tab='merges']")
    page.fill("#merge-keep", "Mari Curi")  # a misspelling: an error with close matches, nothing merged
    page.fill("#merge-other", "Warsaw")
    page.click("#merge-button")
    page.wait_for_selector("#error:not([hidden])")
    assert "Did you mean" in page.locator("#error").inner_text()
    ids = [page.evaluate(f"fetch('/api/entities?prefix={n}&type=GPE').then((r) => r.json())")[0]["id"]
           for n in ("Warsaw", "Manchester")]
    page.fill("#merge-keep", f"id:{ids[0]}")
    page.fill("#merge-other", f"id:{ids[1]}")
    page.click("#merge-button")
    page.wait_for_selector("#merge-log button.link")
    assert page.locator("#merge-log tbody tr").first.inner_text().startswith("merge")
    shot(page, "5-merged")
    page.locator("#merge-log button.link").first.click()
    page.wait_for_selector("#merge-log tbody tr td:text-is('unmerge')")
    shot(page, "6-unmerged")


def test_hostile_names_and_text_render_as_text(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#search", "<img")
    page.wait_for_selector("#suggestions li")
    assert HOSTILE in page.locator("#suggestions").inner_text()
    page.locator("#suggestions li").first.click()
    page.wait_for_selector(f"#tab-card h2:has-text('{HOSTILE}')")
    assert "<b>bold</b> claims" in page.locator("#tab-card").inner_text()
    page.fill("#search", "Hostile")
    docs = page.evaluate("fetch('/api/documents').then((r) => r.json())")
    hostile = next(d for d in docs if d["source"].endswith("hostile.txt"))
    page.evaluate(f"openDocument({hostile['id']})")
    page.wait_for_selector("#docview:not([hidden])")
    assert "<script>window.__pwned = 1; alert(2)</script>" in page.locator("#doc-text").inner_text()
    shot(page, "7-hostile")
    assert page.evaluate("window.__pwned === undefined && document.querySelectorAll('#panel img, #doc-text img, "
                         "#doc-text script').length === 0")
    assert page.dialogs == []  # no alert() ever ran
