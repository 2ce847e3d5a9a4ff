"""Hybrid retrieval over small literal documents (hashing embedder), and one run with the real model."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from assistant.errors import InputError
from assistant.retrieval import MAX_QUERY_CHARS, RetrievalConfig, Retriever
from assistant.types import Document, DocumentMeta
from ingest.chunking import chunk_document, sentences_of
from ingest.loaders import load_document
from ingest.manifest import read_manifest
from tests.fakes import HashingEmbedder, InMemoryIndex

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

FRAMEWORK = (
    "Overview\n\n"
    "The Migration Crisis Operational Framework (MCOF) organises the response of the organisation to crises "
    "around phases and sectors of assistance. It was welcomed by the Council and applies to every office that "
    "plans work on mobility in emergencies. Offices report on its use to the Council every year.\n\n"
    "Shelter\n\n"
    "Shelter and non-food items are distributed to displaced families after floods and storms. Teams coordinate "
    "the logistics pipeline, provide technical support and hand out emergency and transitional shelter kits to "
    "households that lost their homes in floods and storms. Local suppliers are used where markets still work.\n\n"
    "Consular assistance\n\n"
    "Consular officials support States in issuing emergency travel documents to their nationals caught in a "
    "crisis abroad, so that stranded migrants can be identified, documented and evacuated home safely when "
    "borders close or flights stop. Embassies and the host authorities agree on the lists in advance.\n"
)
REVIEW = (
    "Findings\n\n"
    "The review found that shelter kits reached displaced families within two weeks, although the assessors "
    "noted delays in remote districts and weak monitoring of distributions by partners in the field offices "
    "that were visited during the assessment. Partners asked for clearer targets and more frequent reports.\n\n"
    "Health\n\n"
    "Health clinics run by mobile teams vaccinated children in camps every month against measles and polio, "
    "and referral systems connected patients with hospitals in nearby towns for the treatment of serious "
    "conditions and injuries. Supplies were stored in cold rooms that the teams checked every morning.\n"
)
GUIDE = (
    "Training\n\n"
    "Staff training on the Migration Crisis Operational Framework covers planning, coordination and "
    "partnerships. Each regional office runs two workshops a year for programme managers and field staff "
    "working in emergency operations and recovery programmes. Participants practise with case studies "
    "drawn from past responses.\n"
)


def document(name: str, title: str, text: str, aliases: tuple[str, ...] = ()) -> Document:
    return Document(DocumentMeta(name, title, aliases=aliases), text, "txt", name)


DOCUMENTS = (
    document("framework.txt", "Crisis Framework", FRAMEWORK, ("2012 framework", "key elements")),
    document("review.txt", "Donor Review", REVIEW, ("mopan", "the review")),
    document("guide.txt", "Staff Guide", GUIDE),
)


def build(documents: tuple[Document, ...] = DOCUMENTS, config: RetrievalConfig | None = None,
          embedder: object | None = None) -> Retriever:
    embedder = embedder or HashingEmbedder()
    chunks = [c for d in documents for c in chunk_document(d)]
    sentences = [s for c in chunks for s in sentences_of(c)]
    return Retriever(InMemoryIndex(documents, chunks, sentences, embedder), embedder, config)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return build()


def heading(text: str) -> str:
    """The first line of a passage: the section heading in these literal documents."""
    return text.split("\n\n", 1)[0]


def test_the_literal_corpus_has_one_chunk_per_section(retriever: Retriever) -> None:
    assert [heading(c.text) for d in DOCUMENTS for c in retriever.chunks_of(d.meta.doc)] == [
        "Overview", "Shelter", "Consular assistance", "Findings", "Health", "Training"
    ]


# --- ranking -------------------------------------------------------------------------------------------


def test_hits_are_ranked_from_1_with_non_increasing_scores(retriever: Retriever) -> None:
    hits = retriever.search("shelter kits for displaced families", k=4)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len(hits) >= 2
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(0 < h.score <= 1 for h in hits)
    assert len({h.chunk.id for h in hits}) == len(hits)


def test_the_passage_about_the_query_ranks_first(retriever: Retriever) -> None:
    assert heading(retriever.search("emergency travel documents for stranded nationals", k=3)[0].text) == (
        "Consular assistance"
    )
    assert heading(retriever.search("vaccinate children against measles", k=3)[0].text) == "Health"


def test_hit_text_is_the_chunk_span_of_its_document(retriever: Retriever) -> None:
    texts = {d.meta.doc: d.text for d in DOCUMENTS}
    for hit in retriever.search("displaced families shelter health", k=10):
        assert texts[hit.doc][hit.chunk.start : hit.chunk.end] == hit.text
        assert hit.chunk.title in {"Crisis Framework", "Donor Review", "Staff Guide"}


def test_naming_a_document_by_alias_ranks_its_passage_first(retriever: Retriever) -> None:
    unnamed = retriever.search("What was said about shelter kits for displaced families?", 3)
    assert (unnamed[0].doc, heading(unnamed[0].text)) == ("framework.txt", "Shelter")
    for alias in ("MOPAN", "mopan", "the review"):
        named = retriever.search(f"What did {alias} say about shelter kits for displaced families?", 3)
        assert (named[0].doc, heading(named[0].text)) == ("review.txt", "Findings"), alias


def test_naming_a_document_wins_over_a_closer_wording_elsewhere(retriever: Retriever) -> None:
    for query in ("MOPAN shelter", "What does MOPAN say about shelter and non-food items for displaced families?"):
        assert retriever.search(query, 3)[0].doc == "review.txt", query


def test_an_alias_inside_another_word_does_not_name_the_document(retriever: Retriever) -> None:
    hits = retriever.search("What did mopanesque say about shelter kits for displaced families?", 3)
    assert hits[0].doc == "framework.txt"


def test_k_larger_than_the_matches_returns_each_matching_passage_once() -> None:
    hits = build(config=RetrievalConfig.bm25_only()).search("shelter kits", k=50)
    assert [(h.doc, heading(h.text)) for h in hits] == [("framework.txt", "Shelter"), ("review.txt", "Findings")]


def test_k_limits_the_number_of_hits(retriever: Retriever) -> None:
    assert len(retriever.search("crisis displaced families shelter staff health consular", k=2)) == 2


@pytest.mark.parametrize("config", [RetrievalConfig(), RetrievalConfig.bm25_only()], ids=["hybrid", "bm25"])
def test_k_larger_than_the_corpus_returns_every_passage_that_shares_a_term(config: RetrievalConfig) -> None:
    retriever = build(config=config)
    hits = retriever.search("crisis displaced families shelter staff health consular", k=50)
    assert len(hits) == retriever.chunk_count == 6  # every chunk holds one of the terms ("Overview": crisis)


def test_best_sentence_lies_inside_the_chunk_and_holds_the_match(retriever: Retriever) -> None:
    texts = {d.meta.doc: d.text for d in DOCUMENTS}
    hits = retriever.search("emergency travel documents", k=3)
    assert hits[0].best_sentence is not None
    start, end = hits[0].best_sentence
    assert "emergency travel documents" in texts[hits[0].doc][start:end]
    for hit in hits:
        if hit.best_sentence is not None:
            assert hit.chunk.start <= hit.best_sentence[0] < hit.best_sentence[1] <= hit.chunk.end


@pytest.mark.parametrize("config", [RetrievalConfig.dense_only(), RetrievalConfig.bm25_only()], ids=["dense", "bm25"])
def test_single_retriever_configurations_still_find_the_passage(config: RetrievalConfig) -> None:
    hits = build(config=config).search("emergency travel documents for stranded nationals", k=3)
    assert hits and heading(hits[0].text) == "Consular assistance"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_an_acronym_in_the_query_finds_a_passage_that_only_spells_it_out(retriever: Retriever) -> None:
    assert retriever.acronyms == {"MCOF": "Migration Crisis Operational Framework"}
    hits = retriever.search("MCOF", k=5)
    training = [h for h in hits if h.doc == "guide.txt"]
    assert training and "MCOF" not in training[0].text
    assert training[0].rank <= 2


def test_an_acronym_query_finds_nothing_spelled_out_when_no_document_defines_it() -> None:
    retriever = build(DOCUMENTS[1:])  # without the framework text that says "(MCOF)"
    assert retriever.acronyms == {}
    assert all(h.doc != "guide.txt" for h in retriever.search("MCOF", k=5))


def test_a_lexical_search_matching_no_term_returns_no_hits() -> None:
    assert build(config=RetrievalConfig.bm25_only()).search("zebra xylophone quantum", k=5) == []


# --- bad queries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "\x00\x01\x02", "\x1b\x7f "])
def test_an_empty_or_control_character_query_is_an_input_error(retriever: Retriever, query: str) -> None:
    with pytest.raises(InputError, match="empty"):
        retriever.search(query)


def test_an_oversized_query_is_an_input_error(retriever: Retriever) -> None:
    with pytest.raises(InputError, match=str(MAX_QUERY_CHARS)):
        retriever.search("shelter " * 625)  # 5,000 characters
    assert retriever.search("shelter " * 400, k=1)  # 3,200 characters: fine


def test_control_characters_inside_a_query_are_ignored(retriever: Retriever) -> None:
    clean = retriever.search("emergency travel documents", k=3)
    dirty = retriever.search("emergency\x00 travel\x07 documents", k=3)
    assert [h.chunk.id for h in dirty] == [h.chunk.id for h in clean]


# --- the real model on the 2012 framework -------------------------------------------------------------


@pytest.fixture(scope="module")
def framework_retriever(real_embedder: object) -> Retriever:
    name = "mcof-2012-key-elements.txt"
    doc = load_document(CORPUS / name, read_manifest(CORPUS).get(name))
    return build((doc,), embedder=real_embedder)


@pytest.mark.integration
def test_real_model_finds_the_three_phases(framework_retriever: Retriever) -> None:
    hits = framework_retriever.search("What are the three phases of a migration crisis?", k=3)
    assert any("before, during and after" in h.text for h in hits)


@pytest.mark.integration
def test_real_model_finds_the_sector_for_emergency_travel_documents(framework_retriever: Retriever) -> None:
    hits = framework_retriever.search("Which sector covers emergency travel documents for nationals?", k=3)
    assert 12 in [h.chunk.sector for h in hits]


def test_a_passage_that_never_mentions_a_name_of_the_question_loses_a_share_of_its_score() -> None:
    documents = (
        document(
            "protection.txt",
            "Protection Guide",
            "Training\n\nTraining on sexual exploitation and abuse is compulsory for all new staff of every office.\n",
        ),
        document(
            "framework.txt",
            "Crisis Framework",
            "Learning\n\nThe Migration Crisis Operational Framework (MCOF) online course should be made mandatory "
            "for all new staff.\n",
        ),
    )
    query = "Is the MCOF training compulsory for new staff?"
    plain = {h.doc: h.score for h in build(documents, RetrievalConfig(unnamed_penalty=1.0)).search(query, 2)}
    named = {h.doc: h.score for h in build(documents, RetrievalConfig(unnamed_penalty=0.3)).search(query, 2)}
    assert plain["protection.txt"] > plain["framework.txt"]  # "compulsory", "training": the words match there
    assert named["framework.txt"] == plain["framework.txt"]  # "MCOF", spelled out, is there
    assert named["protection.txt"] == pytest.approx(0.3 * plain["protection.txt"], abs=1e-3)
    assert named["framework.txt"] > named["protection.txt"]


def test_a_label_the_documents_head_is_spelled_out_within_the_query_limit() -> None:
    entry = "Sector 12 Emergency Consular Assistance: To support States."
    sectors = document("sectors.txt", "Sectors", f"Sectors\n\n{entry}\n")
    labelled = build((*DOCUMENTS, sectors), config=RetrievalConfig(max_query_chars=80))
    assert labelled.labels == {"Sector 12": "Emergency Consular Assistance"}
    assert labelled.spell_out_labels("What is sector 12?") == "What is sector 12 (Emergency Consular Assistance)?"
    near_the_limit = "What is Sector 12? " + "x" * 50
    assert labelled.spell_out_labels(near_the_limit) == near_the_limit
