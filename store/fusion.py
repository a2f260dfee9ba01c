"""Fusion across documents of names that differ: a short name folds into the one longer name that holds it
("Frédéric Joliot" in "Frédéric Joliot-Curie", "ESPCI" in "ESPCI Paris") or that it abbreviates ("U.S." for
"United States"), when the two are typed alike; a function of the set of names the store's documents hold.

A name's *redirect* is decided from its own profile (its type vote and in how many documents it is a local
entity) and from the longer names that hold or expand it (``candidates``): it folds when those candidates come
to exactly one root name of its type group, that name is not rarer than the short one by more than ``PRIOR``,
no document names a lone surname and the full name beside it as two people (its own linking kept them apart:
father and son), and no user undid the fold. Redirects are flat: a target is never itself redirected. A
decision depends only on longer names, so deciding names from the longest down reaches the one fixed point a
from-scratch build reaches; after a change, ``refresh`` re-decides the changed names and every shorter name
inside them, and cascades to the shorter names inside any name whose redirect moved. ``resolve`` then clusters
each root's block together with the blocks redirected into it. A name a user unfused stays its own; a judge's
fold (``kg fuse``) is pinned.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from store.kinds import NON_PERSON_HEADS, TYPE_GROUPS, UNKNOWN
from store.rows import batched

# Groups whose short forms name one thing in a corpus ("Einstein", "ESPCI"). A place's short form is usually
# another place ("York" and "New York"), and an event's another event ("World War" and "World War II").
CONTAINED = frozenset({"person", "org"})
PRIOR = 2  # a short name found in more than this many times the documents of its one candidate is left alone
CAP = 32  # a name held by more longer names than this is left alone: it is generic, and reading them is bounded
MAX_WORDS = 8  # longer names are neither filed under their parts nor fused
SKIP = frozenset({"of", "the", "and", "for", "de", "du", "des", "la", "le", "les", "et", "in", "on", "at", "a",
                  "an", "von", "der", "di", "del"})
_ACRONYM = re.compile(r"(?:[A-Z]\.){2,8}|[A-Z]{2,8}")


@dataclass(frozen=True)
class Profile:
    norm: str
    group: str | None  # the type group most of its locals have (of its documents about it first); None if tied
    described: bool  # some document gives it a description ("Paris (band)"): a disambiguated name stays put
    locals: int  # document-local entities by this name: about the documents that use it
    acronym: bool  # written as an acronym somewhere ("EU", "U.S.")

    @property
    def words(self) -> list[str]:
        return self.norm.split()


def acronym_of(norm: str) -> str | None:
    """The initials of a name of two words or more, skipping function words: 'european union' -> 'eu'."""
    words = norm.split()
    initials = "".join(w[0] for w in words if w not in SKIP and w[0].isalpha())
    return initials if len(words) >= 2 and len(initials) >= 2 else None


def parts(norm: str) -> set[str]:
    """Every shorter run of a name's words that is not only function words."""
    words = norm.split()
    if len(words) > MAX_WORDS:
        return set()
    out = set()
    for i in range(len(words)):
        for j in range(i + 1, len(words) + 1):
            if j - i < len(words) and not all(w in SKIP for w in words[i:j]):
                out.add(" ".join(words[i:j]))
    return out


def _keys(norm: str) -> list[tuple[str, str, str]]:
    keys = [(p, "w", norm) for p in sorted(parts(norm))]
    acr = acronym_of(norm) if len(norm.split()) <= MAX_WORDS else None
    return keys + ([(acr, "a", norm)] if acr else [])


def _profiles(cur, norms: Iterable[str]) -> dict[str, Profile]:  # type: ignore[no-untyped-def]
    rows: dict[str, list[tuple]] = {}
    for part in batched(sorted(set(norms))):
        for row in cur.execute("SELECT norm, type, description, name, n, is_title FROM local_entity_counts "
                               f"WHERE norm IN ({','.join('?' * len(part))})", part):
            rows.setdefault(row[0], []).append(row[1:])
    out = {}
    for norm, rs in rows.items():
        groups: Counter[str] = Counter()
        titled: Counter[str] = Counter()
        for typ, _, _, n, title in rs:
            if typ != UNKNOWN:
                groups[TYPE_GROUPS.get(typ, typ)] += n
                if title:
                    titled[TYPE_GROUPS.get(typ, typ)] += n
        top = (titled or groups).most_common(2)  # a document about it says what it is
        group = top[0][0] if top and (len(top) == 1 or top[0][1] > top[1][1]) else None
        out[norm] = Profile(norm, group, any(d for _, d, _, _, _ in rs), sum(n for _, _, _, n, _ in rs),
                            any(_ACRONYM.fullmatch(name) for _, _, name, _, _ in rs))
    return out


def _present(cur, norms: Iterable[str]) -> set[str]:  # type: ignore[no-untyped-def]
    out: set[str] = set()
    for part in batched(sorted(set(norms))):
        out.update(n for (n,) in cur.execute(
            f"SELECT DISTINCT norm FROM local_entity_counts WHERE norm IN ({','.join('?' * len(part))})", part))
    return out


def display_name(cur, norm: str) -> str:  # type: ignore[no-untyped-def]
    """How a name is most often written in the store's documents ('Joliot-Curie' for 'joliot curie')."""
    row = cur.execute("SELECT name FROM local_entity_counts WHERE norm = ? ORDER BY n DESC, name LIMIT 1",
                      (norm,)).fetchone()
    return row[0] if row else norm


def redirects(cur, norms: Iterable[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """norm -> the name it folds into, for those of ``norms`` that fold."""
    out: dict[str, str] = {}
    for part in batched(sorted(set(norms))):
        out.update(cur.execute(f"SELECT norm, target FROM name_redirects WHERE norm IN ({','.join('?' * len(part))})",
                               part).fetchall())
    return out


def root(cur, norm: str) -> str:  # type: ignore[no-untyped-def]
    """The name whose block holds ``norm``'s locals: its redirect target, or itself."""
    row = cur.execute("SELECT target FROM name_redirects WHERE norm = ?", (norm,)).fetchone()
    return row[0] if row else norm


def members(cur, roots: Iterable[str]) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """root -> the names in its block: itself, then the names redirected into it."""
    out = {r: [r] for r in roots}
    for part in batched(sorted(out)):
        for norm, target in cur.execute("SELECT norm, target FROM name_redirects WHERE target IN "
                                        f"({','.join('?' * len(part))}) ORDER BY norm", part):
            out[target].append(norm)
    return out


def _candidates(cur, p: Profile) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
    """The longer names that hold ("contained") or expand ("acronym") ``p``'s, with how each was found; None when
    it may not fold or is held by more than ``CAP`` names."""
    if p.described or p.group is None or len(p.words) > MAX_WORDS:
        return None
    short_acronym = p.acronym and len(p.words) == 1
    found: dict[str, str] = {}
    for kind, rule, wanted in (("a", "acronym", short_acronym),
                               ("w", "contained", p.group in CONTAINED and (len(p.words) >= 2 or p.group == "person"
                                                                           or short_acronym))):
        if wanted:
            names = [n for (n,) in cur.execute("SELECT norm FROM name_keys WHERE part = ? AND kind = ? LIMIT ?",
                                               (p.norm, kind, CAP + 1))]
            if len(names) > CAP:
                return None
            found |= dict.fromkeys(names, rule)
    return found if 0 < len(found) <= CAP else None


@dataclass
class Options:
    """The roots a name could fold into, with the documents of their candidates and how each was found."""

    weighed: int
    support: Counter[str]
    rules: dict[str, set[str]]
    apart: set[str]  # candidates some document names beside the short name as another entity


def _apart(cur, short: str, long: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether a document has both names as entities of its own of one type: its linking, which gives a lone
    surname to the person named in full before it, kept them apart ('Sreenivasan' the father beside 'Vineeth
    Sreenivasan' his son). Two types say nothing: NER may have mislabelled one."""
    return cur.execute("SELECT 1 FROM local_entities a INDEXED BY ix_local_entities_norm WHERE a.norm = ? AND "
                       "EXISTS (SELECT 1 FROM local_entities b INDEXED BY ix_local_entities_document_id WHERE "
                       "b.document_id = a.document_id AND b.norm = ? AND b.type = a.type) LIMIT 1",
                       (short, long)).fetchone() is not None


def options(cur, p: Profile, vetoed: set[str]) -> Options | None:  # type: ignore[no-untyped-def]
    """The roots of the longer names of ``p``'s type group that hold or expand it, less the vetoed ones."""
    found = _candidates(cur, p)
    if found is None:
        return None
    profiles = _profiles(cur, found)
    alike = sorted(c for c in found if c in profiles and not profiles[c].described and profiles[c].group == p.group
                   and not (p.group == "person" and c.split()[-1] in NON_PERSON_HEADS))  # a road named after one
    where = redirects(cur, alike)
    support: Counter[str] = Counter()
    rules: dict[str, set[str]] = {}
    for c in alike:
        r = where.get(c, c)
        if r not in vetoed:
            support[r] += profiles[c].locals
            rules.setdefault(r, set()).add(found[c])
    # Only a lone surname is weighed so: the document's linking does not fold longer short forms or names of
    # organisations ('Kaiser Wilhelm Society' beside its full name), so their being apart there says nothing.
    lone = p.group == "person" and len(p.words) == 1
    return Options(len(found), support, rules, {c for c in alike if lone and _apart(cur, p.norm, c)})


def decide(cur, p: Profile, vetoed: set[str], pinned: str | None = None  # type: ignore[no-untyped-def]
           ) -> tuple[str, str, int] | None:
    """(target, rule, candidates weighed) when ``p``'s name folds into one longer name, else None. A ``pinned``
    target (a judge's decision) wins while it is still one of the options; a name a user unfused (``vetoed``
    holds the target it had) stays its own."""
    if vetoed:
        return None
    o = options(cur, p, vetoed)
    if o is None:
        return None
    if pinned is not None:
        pin = redirects(cur, [pinned]).get(pinned, pinned)
        if pin in o.support:
            return pin, "judged", o.weighed
    if len(o.support) != 1 or o.apart:
        return None
    ((target, n),) = o.support.items()
    if p.locals > PRIOR * n:
        return None
    return target, "contained" if "contained" in o.rules[target] else "acronym", o.weighed


def uncertain(cur, limit: int) -> list[tuple[Profile, list[str]]]:  # type: ignore[no-untyped-def]
    """Names the rules leave apart though longer names of their type hold them: two or more roots fit, or the one
    that fits is used in far fewer documents. The most used first, at most ``limit``; a full scan of the names,
    for ``kg fuse``."""
    out: list[tuple[Profile, list[str]]] = []
    names = cur.execute("SELECT norm, sum(n) FROM local_entity_counts GROUP BY norm ORDER BY 2 DESC, 1").fetchall()
    done = {n for (n,) in cur.execute("SELECT norm FROM name_redirects UNION SELECT norm FROM fusion_vetoes "
                                      "UNION SELECT norm FROM fusion_pins")}
    for norm, _ in names:
        if len(out) >= limit:
            break
        if norm in done:
            continue
        p = _profiles(cur, [norm]).get(norm)
        if p is None:
            continue
        o = options(cur, p, set())
        if o is not None and o.support:
            out.append((p, sorted(o.support, key=lambda r: (-o.support[r], r))))
    return out


def _shorter(cur, norm: str) -> set[str]:  # type: ignore[no-untyped-def]
    """The names in the store that are runs of ``norm``'s words or its acronym: those it may be a candidate of."""
    acr = acronym_of(norm)
    return _present(cur, parts(norm) | ({acr} if acr else set()))


def refresh(cur, touched: Iterable[str]) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """File the ``touched`` names (those whose locals changed) under their keys, re-decide every redirect that
    may have changed, and return norm -> (old root, new root) for each name whose block moved."""
    touched = sorted(set(touched))
    present = _present(cur, touched)
    for part in batched(touched):
        cur.execute(f"DELETE FROM name_keys WHERE norm IN ({','.join('?' * len(part))})", part)
    cur.executemany("INSERT OR IGNORE INTO name_keys (part, kind, norm) VALUES (?, ?, ?)",
                    [k for n in touched if n in present for k in _keys(n)])
    queued = set(touched)
    for n in touched:
        queued |= _shorter(cur, n)
    heap = [(-len(n.split()), n) for n in queued]
    heapq.heapify(heap)
    moved: dict[str, tuple[str, str]] = {}
    while heap:
        _, norm = heapq.heappop(heap)
        old = cur.execute("SELECT target, rule, candidates FROM name_redirects WHERE norm = ?", (norm,)).fetchone()
        profile = _profiles(cur, [norm]).get(norm)
        vetoed = {t for (t,) in cur.execute("SELECT target FROM fusion_vetoes WHERE norm = ?", (norm,))}
        pin = cur.execute("SELECT target FROM fusion_pins WHERE norm = ?", (norm,)).fetchone()
        new = decide(cur, profile, vetoed, pin[0] if pin else None) if profile is not None else None
        if (tuple(old) if old else None) == new:
            continue
        cur.execute("DELETE FROM name_redirects WHERE norm = ?", (norm,))
        if new is not None:
            cur.execute("INSERT INTO name_redirects (norm, target, rule, candidates) VALUES (?, ?, ?, ?)",
                        (norm, *new))
        was = moved[norm][0] if norm in moved else (old[0] if old else norm)
        moved[norm] = (was, new[0] if new else norm)
        for n in _shorter(cur, norm) - queued:  # their candidate's root moved
            queued.add(n)
            heapq.heappush(heap, (-len(n.split()), n))
    return {n: m for n, m in moved.items() if m[0] != m[1]}
