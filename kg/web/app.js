// The kg explorer: an entity's neighbourhood as a graph, its card, the documents behind it, questions with a
// query trace, and merges. Every piece of stored text reaches the page through textContent, never as markup.
"use strict";

const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("kg-token");
if (TOKEN) sessionStorage.setItem("kg-token", TOKEN);

const COLORS = {
  PERSON: "#3b6fd8", ORG: "#d9822b", GPE: "#2f9e44", LOC: "#5c940d", FAC: "#0c8599", NORP: "#ae3ec9",
  EVENT: "#e03131", WORK_OF_ART: "#f08c00", PRODUCT: "#9c36b5", LAW: "#495057", LANGUAGE: "#1098ad",
  MISC: "#868e96", CHUNK: "#adb5bd",
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

class ApiError extends Error {
  constructor(message, status, suggestions) { super(message); this.status = status; this.suggestions = suggestions || []; }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, method: options.method || "POST", body: JSON.stringify(options.json) };
  }
  const res = await fetch(path, { ...options, headers });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new ApiError(body.error || `HTTP ${res.status}`, res.status, body.suggestions);
  return body;
}

function showError(e) {
  const box = $("error");
  box.replaceChildren(String(e.message || e));
  if (e.suggestions && e.suggestions.length) {
    box.append(" Did you mean: ");
    e.suggestions.forEach((s, i) => {
      if (i) box.append(", ");
      box.append(el("button", { class: "link", onclick: () => openEntity(s) }, s));
    });
  }
  box.hidden = false;
}
function clearError() { $("error").hidden = true; }

// -- the graph -----------------------------------------------------------------------------------------------------
const cy = cytoscape({
  container: $("graph"),
  wheelSensitivity: 0.3,
  style: [
    { selector: "node", style: {
      "background-color": (n) => COLORS[n.data("type")] || COLORS.MISC, label: "data(name)", "font-size": 9,
      "min-zoomed-font-size": 7, "text-outline-color": "#fff", "text-outline-width": 2,
      width: (n) => 14 + Math.min(26, 3 * Math.sqrt(n.data("mentions") || 1)),
      height: (n) => 14 + Math.min(26, 3 * Math.sqrt(n.data("mentions") || 1)),
      "text-valign": "bottom", "text-margin-y": 3, "text-wrap": "ellipsis", "text-max-width": 120 } },
    { selector: "node[?seed]", style: { "border-width": 3, "border-color": "#1d2330" } },
    { selector: "node[kind = 'chunk']", style: { shape: "round-rectangle", width: 18, height: 14 } },
    { selector: "node.trace", style: { "border-width": 4, "border-color": "#e8590c" } },
    { selector: "node.hidden-type", style: { display: "none" } },
    { selector: "edge", style: {
      width: (e) => 1 + Math.min(5, Math.log2(1 + (e.data("weight") || 1))), "line-color": "#c3c9d4",
      "target-arrow-shape": "triangle", "target-arrow-color": "#c3c9d4", "curve-style": "bezier",
      label: "data(label)", "font-size": 8, color: "#556", "text-rotation": "autorotate", "text-opacity": 0,
      "text-background-color": "#fff", "text-background-opacity": 0 } },
    // An edge's predicate and weight show on the edges of the selected or hovered node, and on a hovered edge.
    { selector: "edge.labelled, edge:selected", style: { "text-opacity": 1, "text-background-opacity": 0.85,
      "line-color": "#7d8aa3", "target-arrow-color": "#7d8aa3" } },
    { selector: "edge.trace", style: { "line-color": "#e8590c", "target-arrow-color": "#e8590c", width: 3 } },
    { selector: ":selected", style: { "overlay-color": "#2f5bd3", "overlay-opacity": 0.2 } },
  ],
});
const expansions = new Map();  // node id -> ids of the nodes its expansion added

function nodeData(n) {
  return { id: `e${n.id}`, eid: n.id, name: n.name, type: n.type, mentions: n.mentions, seed: !!n.seed, kind: "entity" };
}

function addGraph(view) {
  const added = [];
  for (const n of view.nodes) {
    if (cy.getElementById(`e${n.id}`).empty()) {
      cy.add({ group: "nodes", data: nodeData(n) });
      added.push(`e${n.id}`);
    }
  }
  for (const e of view.edges) {
    const id = `r${e.head}-${e.tail}-${e.predicate}`;
    if (cy.getElementById(id).empty()) {
      cy.add({ group: "edges", data: { id, source: `e${e.head}`, target: `e${e.tail}`, weight: e.weight,
                                        label: `${e.predicate} ${+e.weight.toFixed(2)}` } });
    }
  }
  return added;
}

function layout() {
  cy.layout({ name: "cose", animate: false, randomize: true, nodeRepulsion: () => 400000, idealEdgeLength: () => 110,
              nodeOverlap: 40, gravity: 0.2, numIter: 1500, padding: 30 }).run();
  applyTypeFilter();
}
cy.on("mouseover", "node", (ev) => ev.target.connectedEdges().addClass("labelled"));
cy.on("mouseout", "node", (ev) => { if (!ev.target.selected()) ev.target.connectedEdges().removeClass("labelled"); });
cy.on("mouseover", "edge", (ev) => ev.target.addClass("labelled"));
cy.on("mouseout", "edge", (ev) => ev.target.removeClass("labelled"));
cy.on("select", "node", (ev) => ev.target.connectedEdges().addClass("labelled"));
cy.on("unselect", "node", (ev) => ev.target.connectedEdges().removeClass("labelled"));

async function showNeighbourhood(entityId) {
  const depth = $("depth").value, cap = Math.max(5, Math.min(300, +$("cap").value || 40));
  const view = await api(`/api/subgraph?names=id:${entityId}&hops=${depth}&limit=${cap}`);
  cy.elements().remove();
  expansions.clear();
  addGraph(view);
  layout();
  cy.getElementById(`e${entityId}`).select();
}

async function toggleExpand(node) {
  const id = node.id();
  if (expansions.has(id)) {  // collapse: what this node's expansion added, unless something else holds it
    const mine = expansions.get(id);
    expansions.delete(id);
    const held = new Set([...expansions.values()].flat());
    for (const nid of mine) {
      const n = cy.getElementById(nid);
      if (!held.has(nid) && !expansions.has(nid) && !n.data("seed")) n.remove();
    }
    return;
  }
  const cap = Math.max(5, Math.min(300, +$("cap").value || 40));
  const view = await api(`/api/subgraph?names=id:${node.data("eid")}&hops=1&limit=${cap}`);
  view.nodes.forEach((n) => { n.seed = false; });
  expansions.set(id, addGraph(view));
  layout();
}

cy.on("tap", "node", async (ev) => {
  clearError();
  const node = ev.target;
  try {
    if (node.data("kind") === "chunk") { openDocument(node.data("doc"), node.data("start"), node.data("end")); return; }
    await showCard(node.data("eid"));
    await toggleExpand(node);
  } catch (e) { showError(e); }
});

// -- the legend and type filter -----------------------------------------------------------------------------------
const hiddenTypes = new Set();
function applyTypeFilter() {
  cy.nodes().forEach((n) => n.toggleClass("hidden-type", hiddenTypes.has(n.data("type"))));
}
function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  for (const [type, color] of Object.entries(COLORS)) {
    const box = el("input", { type: "checkbox", "data-type": type });
    box.checked = !hiddenTypes.has(type);
    box.addEventListener("change", () => { box.checked ? hiddenTypes.delete(type) : hiddenTypes.add(type); applyTypeFilter(); });
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = color;
    legend.append(el("label", {}, box, swatch, type === "CHUNK" ? "passage" : type));
  }
}

// -- search with autocomplete ----------------------------------------------------------------------------------
let suggestTimer = null, active = -1;
$("search").addEventListener("input", () => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, 150);
});
$("search").addEventListener("keydown", (ev) => {
  const items = [...$("suggestions").children];
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    active = (active + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % Math.max(1, items.length);
    items.forEach((li, i) => li.classList.toggle("active", i === active));
    ev.preventDefault();
  } else if (ev.key === "Enter") {
    const pick = items[active] || items[0];
    if (pick) pick.click(); else openEntity($("search").value);
  } else if (ev.key === "Escape") { $("suggestions").hidden = true; }
});
async function suggest() {
  const q = $("search").value.trim(), list = $("suggestions");
  if (!q) { list.hidden = true; return; }
  try {
    const found = await api(`/api/entities?prefix=${encodeURIComponent(q)}&limit=10`);
    active = -1;
    list.replaceChildren(...found.map((e) => el("li", { role: "option", onclick: () => { list.hidden = true; openEntity(`id:${e.id}`); } },
      e.name, " ", el("span", { class: "tag" }, e.type), " ", el("span", { class: "muted" }, `${e.mentions} mentions`))));
    list.hidden = found.length === 0;
  } catch (e) { showError(e); }
}

async function openEntity(name) {
  clearError();
  try {
    const card = await showCard(name);
    await showNeighbourhood(card.id);
  } catch (e) { showError(e); }
}

// -- the entity card -------------------------------------------------------------------------------------------
function section(title, ...content) { return el("div", { class: "card-section" }, el("h3", {}, title), ...content); }

async function showCard(name) {
  const card = await api(`/api/entity?name=${encodeURIComponent(typeof name === "number" ? `id:${name}` : name)}&mentions=8`);
  selectTab("card");
  const box = $("tab-card");
  box.replaceChildren(
    el("h2", {}, card.name, " ", el("span", { class: "tag" }, card.type)),
    el("p", { class: "muted" }, `id:${card.id}`, card.kb_id ? ` · KB ${card.kb_id}` : "", ` · ${card.mention_count} mentions`),
  );
  if (card.description) box.append(el("p", {}, card.description));
  if (card.aliases.length) box.append(section("Aliases", el("p", {}, card.aliases.map((a) => a.alias).join(", "))));
  if (card.fused.length) {
    box.append(section("Fused across documents", el("ul", {}, ...card.fused.map((f) => el("li", {}, f.why, " ",
      el("button", { class: "link", onclick: () => unfuse(f.name, card.id) }, "undo"))))));
  }
  if (card.mentions.length) {
    box.append(section("Mentions", el("ul", {}, ...card.mentions.map((m) => el("li", {},
      el("button", { class: "link", onclick: () => openDocument(m.document_id, m.start, m.end) }, m.document), ": ",
      el("span", { class: "evidence" }, m.snippet))))));
  }
  if (card.relations.length) {
    box.append(section(`Relations (${card.relations.length})`, el("ul", {}, ...card.relations.slice(0, 40).map((r) => el("li", {},
      el("button", { class: "link", onclick: () => openEntity(`id:${r.head_id}`) }, r.head), ` —${r.predicate}→ `,
      el("button", { class: "link", onclick: () => openEntity(`id:${r.tail_id}`) }, r.tail), ` (weight ${r.weight})`,
      ...r.evidence.slice(0, 1).map((ev) => el("div", {}, el("button", {
        class: "link evidence", onclick: () => openDocument(ev.document_id, ev.start, ev.end) }, `“${ev.sentence}”`),
        " ", el("span", { class: "muted" }, ev.document))))))));
  }
  if (card.documents.length) {
    box.append(section("Documents", el("ul", {}, ...card.documents.map((d) => el("li", {},
      el("button", { class: "link", onclick: () => openDocument(d.id) }, d.title), ` (${d.mentions})`)))));
  }
  box.append(section("Merge", el("div", { class: "merge-form" },
    el("button", { class: "link", onclick: () => { $("merge-keep").value = `id:${card.id}`; selectTab("merges"); } },
      "merge another entity into this one…"))));
  return card;
}

// -- the document view -----------------------------------------------------------------------------------------
async function openDocument(docId, focusStart, focusEnd) {
  clearError();
  try {
    const doc = await api(`/api/documents/${docId}`);
    $("doc-title").textContent = doc.title;
    $("doc-source").textContent = doc.source;
    const box = $("doc-text");
    box.replaceChildren();
    let at = 0, focus = null;
    for (const m of doc.mentions) {
      if (m.start < at) continue;
      box.append(doc.text.slice(at, m.start));
      const mark = el("mark", { title: `${m.entity} (${m.type})`, "data-entity": m.entity_id }, doc.text.slice(m.start, m.end));
      mark.addEventListener("click", () => { $("docview").hidden = true; openEntity(`id:${m.entity_id}`); });
      if (focusStart !== undefined && m.start < focusEnd && m.end > focusStart) { mark.classList.add("focus"); focus = focus || mark; }
      box.append(mark);
      at = m.end;
    }
    box.append(doc.text.slice(at));
    $("docview").hidden = false;
    if (focus) focus.scrollIntoView({ block: "center" });
  } catch (e) { showError(e); }
}
$("doc-close").addEventListener("click", () => { $("docview").hidden = true; });
$("docview").addEventListener("click", (ev) => { if (ev.target === $("docview")) $("docview").hidden = true; });
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("docview").hidden = true; });

// -- ask, with the query trace ---------------------------------------------------------------------------------
$("ask-button").addEventListener("click", ask);
async function ask() {
  clearError();
  const question = $("question").value.trim();
  if (!question) return;
  const answer = $("answer");
  answer.replaceChildren();
  $("sources").replaceChildren();
  $("trace").replaceChildren();
  $("ask-button").disabled = true;
  try {
    const headers = { "Content-Type": "application/json" };
    if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
    const res = await fetch("/api/ask", { method: "POST", headers,
      body: JSON.stringify({ question, k: 6, no_llm: $("no-llm").checked }) });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new ApiError(body.error || `HTTP ${res.status}`, res.status);
    }
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const kind = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
        if (kind === "token") answer.append(data.text);
        else if (kind === "answer") showAnswer(data);
        else if (kind === "error") throw new ApiError(data.error, 500);
      }
    }
  } catch (e) { showError(e); } finally { $("ask-button").disabled = false; }
}

function showAnswer(a) {
  const answer = $("answer");
  answer.replaceChildren();
  const cited = new Set(a.citations.map((c) => c.n));
  const spans = new Map(a.results.map((r) => [r.chunk_id, [r.start_char, r.end_char]]));
  const open = (s) => openDocument(s.document_id, ...(spans.get(s.chunk_id) || []));
  for (const part of a.text.split(/(\[\d+\])/)) {
    const m = part.match(/^\[(\d+)\]$/);
    const s = m ? a.sources.find((x) => x.n === +m[1]) : null;
    if (s) answer.append(el("button", { class: "link citation", title: s.title, onclick: () => open(s) }, part));
    else answer.append(part);
  }
  answer.append(el("div", { class: "muted" }, `${a.llm} · ${a.usage.seconds.toFixed(2)} s`));
  $("sources").replaceChildren(...a.sources.map((s) => el("li", { class: cited.has(s.n) ? "cited" : "", value: s.n },
    el("button", { class: "link", onclick: () => open(s) }, s.title), " ", el("span", { class: "muted" }, s.source))));
  drawTrace(a);
}

function drawTrace(a) {
  // The question's entities, the retrieved passages and the graph path from an entity to each passage.
  cy.elements().remove();
  expansions.clear();
  const trace = $("trace");
  trace.replaceChildren(el("h3", {}, "Query trace"));
  for (const q of a.query_entities || []) {
    if (cy.getElementById(`e${q.entity_id}`).empty()) {
      cy.add({ group: "nodes", data: { id: `e${q.entity_id}`, eid: q.entity_id, name: q.name, type: "MISC", seed: true, kind: "entity" } });
    }
    cy.getElementById(`e${q.entity_id}`).addClass("trace");
  }
  const rows = el("ol", {});
  a.results.forEach((r) => {
    const cid = `c${r.chunk_id}`;
    if (cy.getElementById(cid).empty()) {
      cy.add({ group: "nodes", data: { id: cid, name: `${r.title} #${r.ord}`, type: "CHUNK", kind: "chunk",
        doc: r.document_id, start: r.start_char, end: r.end_char } });
    }
    let prev = null;
    for (const step of r.path) {
      const id = step.kind === "chunk" ? `c${step.id}` : `e${step.id}`;
      if (cy.getElementById(id).empty()) {
        cy.add({ group: "nodes", data: step.kind === "chunk"
          ? { id, name: step.label, type: "CHUNK", kind: "chunk", doc: r.document_id, start: r.start_char, end: r.end_char }
          : { id, eid: step.id, name: step.label, type: "MISC", kind: "entity" } });
      }
      if (prev) {
        const eid = `t${prev}-${id}`;
        if (cy.getElementById(eid).empty()) cy.add({ group: "edges", data: { id: eid, source: prev, target: id, label: "" } });
        cy.getElementById(eid).addClass("trace");
      }
      prev = id;
    }
    const share = (k) => ((r.scores[k] || 0) * 100).toFixed(0);
    const words = r.matches.filter((m) => m.kind === "word").slice(0, 5).map((m) => m.label).join(", ");
    const ents = r.matches.filter((m) => m.kind === "entity").slice(0, 4).map((m) => m.label).join(", ");
    rows.append(el("li", {}, el("button", { class: "link", onclick: () => openDocument(r.document_id, r.start_char, r.end_char) }, r.title),
      el("div", { class: "breakdown" }, `score ${r.score.toFixed(3)} · sparse ${share("sparse")}% · graph ${share("graph")}%`,
        words ? ` · word pieces: ${words}` : "", ents ? ` · entities: ${ents}` : "",
        r.path.length ? ` · path: ${r.path.map((p) => p.label).join(" → ")}` : "")));
  });
  trace.append(rows);
  // Colour the traced entities by their type: one request for all of them.
  const ids = cy.nodes("[kind = 'entity']").map((n) => `names=id:${n.data("eid")}`).slice(0, 50);
  if (ids.length) {
    api(`/api/subgraph?${ids.join("&")}&hops=0&limit=${ids.length}`)
      .then((v) => v.nodes.forEach((x) => cy.getElementById(`e${x.id}`).data({ type: x.type, mentions: x.mentions })))
      .catch(() => {});
  }
  layout();
}

// -- merges ---------------------------------------------------------------------------------------------------
$("merge-button").addEventListener("click", async () => {
  clearError();
  try {
    await api("/api/merge", { json: { keep: $("merge-keep").value, other: $("merge-other").value } });
    $("merge-other").value = "";
    await loadMerges();
  } catch (e) { showError(e); }
});
async function loadMerges() {
  const rows = await api("/api/merges");
  $("merge-log").tBodies[0].replaceChildren(...rows.map((r) => el("tr", {},
    el("td", {}, r.action), el("td", {}, r.kept), el("td", {}, r.merged), el("td", {}, r.at),
    el("td", {}, r.action === "merge" && !r.undone
      ? el("button", { class: "link", onclick: () => unmerge(`id:${r.merged_id}`) }, "undo") : ""))));
}
async function unmerge(name) {
  clearError();
  try { await api("/api/unmerge", { json: { name } }); await loadMerges(); } catch (e) { showError(e); }
}
async function unfuse(name, entityId) {
  clearError();
  try { await api("/api/unfuse", { json: { name } }); await showCard(entityId); } catch (e) { showError(e); }
}

// -- tabs and start-up -------------------------------------------------------------------------------------------
function selectTab(name) {
  document.querySelectorAll("#panel nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== `tab-${name}`; });
  if (name === "merges") loadMerges().catch(showError);
}
document.querySelectorAll("#panel nav button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));

async function waitReady() {
  for (;;) {
    try {
      const h = await api("/api/health");
      if (h.error) { $("status").textContent = `not ready: ${h.error}`; return; }
      if (h.ready) {
        const s = h.stats;
        $("status").textContent = `${s.documents} documents · ${s.entities} entities · ${s.relations} relations${h.read_only ? " · read-only" : ""}`;
        document.body.dataset.ready = "1";
        return;
      }
    } catch (e) { showError(e); return; }
    await new Promise((r) => setTimeout(r, 500));
  }
}
renderLegend();
waitReady();
