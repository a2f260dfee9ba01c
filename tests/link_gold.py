"""A small cross-document linking gold set written for the tests: eleven short encyclopedic documents whose
mentions are linked to global ids, with entities recurring under varied names ("Marie Curie" / "Maria
Skłodowska" / "Curie", "United States" / "U.S.", "Institute for Advanced Study" / "IAS") and one name shared by
two entities: Marie Curie the physicist and Marie Curie the charity.

Mentions are listed in reading order as (surface, global id); ``records`` finds their offsets in the text.
"""

from __future__ import annotations

from typing import Any

DOCS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Marie Curie",
     "Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity. Born Maria "
     "Skłodowska in Warsaw, she moved to Paris in 1891 to study at the University of Paris. In 1903 Curie shared the "
     "Nobel Prize in Physics with her husband Pierre Curie and with Henri Becquerel.",
     [("Marie Curie", "marie_curie"), ("Maria Skłodowska", "marie_curie"), ("Warsaw", "warsaw"),
      ("Paris", "paris"), ("University of Paris", "university_of_paris"), ("Curie", "marie_curie"),
      ("Nobel Prize in Physics", "nobel_physics"), ("Pierre Curie", "pierre_curie"),
      ("Henri Becquerel", "henri_becquerel")]),
    ("Pierre Curie",
     "Pierre Curie was a French physicist and a pioneer in crystallography and magnetism. He married Marie "
     "Skłodowska in 1895, and the couple isolated polonium and radium in a shed in Paris. Pierre Curie died in a "
     "street accident in Paris in 1906.",
     [("Pierre Curie", "pierre_curie"), ("Marie Skłodowska", "marie_curie"), ("Paris", "paris"),
      ("Pierre Curie", "pierre_curie"), ("Paris", "paris")]),
    ("Radium Institute",
     "The Radium Institute was founded in Paris in 1909 by the University of Paris and the Pasteur Institute. "
     "Its first director of the physics laboratory was Marie Curie. The institute later became part of the "
     "Institut Curie.",
     [("Radium Institute", "radium_institute"), ("Paris", "paris"), ("University of Paris", "university_of_paris"),
      ("Pasteur Institute", "pasteur_institute"), ("Marie Curie", "marie_curie"),
      ("Institut Curie", "institut_curie")]),
    ("Marie Curie (charity)",
     "Marie Curie is a British charity that provides care for people with terminal illnesses. The charity was "
     "founded in London in 1948 and runs nine hospices across the UK.",
     [("Marie Curie", "marie_curie_charity"), ("London", "london"), ("UK", "united_kingdom")]),
    ("Albert Einstein",
     "Albert Einstein was a German-born theoretical physicist who received the Nobel Prize in Physics in 1921. "
     "In 1933 he emigrated to the United States, where he joined the Institute for Advanced Study in Princeton, "
     "New Jersey. Einstein became a U.S. citizen in 1940.",
     [("Albert Einstein", "albert_einstein"), ("Nobel Prize in Physics", "nobel_physics"),
      ("United States", "united_states"), ("Institute for Advanced Study", "ias"), ("Princeton", "princeton"),
      ("New Jersey", "new_jersey"), ("Einstein", "albert_einstein"), ("U.S.", "united_states")]),
    ("Institute for Advanced Study",
     "The Institute for Advanced Study, or IAS, is an independent research centre in Princeton, New Jersey. Its "
     "early faculty included Albert Einstein and John von Neumann. The IAS was founded in 1930 by Abraham "
     "Flexner with money from Louis Bamberger.",
     [("Institute for Advanced Study", "ias"), ("IAS", "ias"), ("Princeton", "princeton"),
      ("New Jersey", "new_jersey"), ("Albert Einstein", "albert_einstein"), ("John von Neumann", "von_neumann"),
      ("IAS", "ias"), ("Abraham Flexner", "abraham_flexner"), ("Louis Bamberger", "louis_bamberger")]),
    ("John von Neumann",
     "John von Neumann was a Hungarian mathematician and physicist. Born in Budapest, he moved to the United "
     "States in 1930 and taught at Princeton University. Von Neumann later worked on the Manhattan Project.",
     [("John von Neumann", "von_neumann"), ("Budapest", "budapest"), ("United States", "united_states"),
      ("Princeton University", "princeton_university"), ("Von Neumann", "von_neumann"),
      ("Manhattan Project", "manhattan_project")]),
    ("Manhattan Project",
     "The Manhattan Project was a research programme during World War II that produced the first nuclear "
     "weapons. It was led by the United States with the support of the United Kingdom and Canada. J. Robert "
     "Oppenheimer directed its laboratory at Los Alamos in New Mexico.",
     [("Manhattan Project", "manhattan_project"), ("World War II", "world_war_ii"),
      ("United States", "united_states"), ("United Kingdom", "united_kingdom"), ("Canada", "canada"),
      ("J. Robert Oppenheimer", "oppenheimer"), ("Los Alamos", "los_alamos"), ("New Mexico", "new_mexico")]),
    ("NASA",
     "The National Aeronautics and Space Administration (NASA) is the civil space agency of the U.S. federal "
     "government. NASA was established in 1958 under President Dwight D. Eisenhower. In 1969 its mission "
     "Apollo 11 landed Neil Armstrong and Buzz Aldrin on the Moon.",
     [("National Aeronautics and Space Administration", "nasa"), ("NASA", "nasa"), ("U.S.", "united_states"),
      ("NASA", "nasa"), ("Dwight D. Eisenhower", "eisenhower"), ("Apollo 11", "apollo_11"),
      ("Neil Armstrong", "neil_armstrong"), ("Buzz Aldrin", "buzz_aldrin")]),
    ("Neil Armstrong",
     "Neil Armstrong was an American astronaut and aeronautical engineer. Before he joined NASA, he flew as a "
     "naval aviator in the Korean War. As commander of Apollo 11, Armstrong became the first person to walk on "
     "the Moon.",
     [("Neil Armstrong", "neil_armstrong"), ("NASA", "nasa"), ("Korean War", "korean_war"),
      ("Apollo 11", "apollo_11"), ("Armstrong", "neil_armstrong")]),
    ("Dwight D. Eisenhower",
     "Dwight D. Eisenhower was the 34th president of the United States from 1953 to 1961. During World War II he "
     "was Supreme Commander of the Allied forces in Europe. As president, Eisenhower signed the law that created "
     "NASA.",
     [("Dwight D. Eisenhower", "eisenhower"), ("United States", "united_states"), ("World War II", "world_war_ii"),
      ("Europe", "europe"), ("Eisenhower", "eisenhower"), ("NASA", "nasa")]),
]


def records() -> list[dict[str, Any]]:
    """The documents as docs.jsonl records, each mention's offsets found in reading order."""
    out = []
    for i, (title, text, mentions) in enumerate(DOCS):
        entities, cursor = [], 0
        for surface, gid in mentions:
            start = text.index(surface, cursor)
            end = start + len(surface)
            assert (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()), \
                (title, surface)
            entities.append({"id": gid, "start": start, "end": end})
            cursor = end
        out.append({"id": f"doc{i + 1}", "title": title, "text": text, "entities": entities})
    return out
