"""BM25 ranking and acronym mining."""

from __future__ import annotations

import doctest
import itertools
import math
from pathlib import Path

import pytest

from assistant import lexical
from assistant.lexical import BM25, mine_acronyms, mine_labels, spell_out_labels
from assistant.textutil import terms
from ingest.loaders import load_document

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


# --- BM25 ------------------------------------------------------------------------------------------


def test_the_document_with_the_rarer_matching_term_ranks_first() -> None:
    docs = [
        ["camp", "manag", "shelter"],
        ["camp", "consular", "document"],
        ["camp", "health"],
        ["camp", "transport"],
    ]
    scores = BM25.from_documents(docs).scores(["camp", "shelter"])
    assert scores[0] > max(scores[1:])  # "shelter" is in one document, "camp" in all
    scores = BM25.from_documents(docs).scores(["shelter", "consular"])
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == scores[3] == 0


def test_a_rare_term_weighs_more_than_a_common_one() -> None:
    index = BM25.from_documents([["camp", "shelter"], ["camp"], ["camp"], ["health"]])
    assert index.idf("shelter") > index.idf("camp") > 0
    assert index.document_frequency("camp") == 3 and index.document_frequency("unknown") == 0
    assert index.idf("shelter") == pytest.approx(math.log(1 + (4 - 1 + 0.5) / (1 + 0.5)))


def test_term_frequency_saturates() -> None:
    """Documents of equal length with 1..6 occurrences: each extra occurrence adds less, up to (k1 + 1) * idf."""
    docs = [["shelter"] * tf + ["other"] * (10 - tf) for tf in range(1, 7)] + [["other"] * 10] * 6
    index = BM25.from_documents(docs)
    scores = index.scores(["shelter"])[:6].tolist()
    gains = [b - a for a, b in itertools.pairwise(scores)]
    assert all(gain > 0 for gain in gains)
    assert all(later < earlier for earlier, later in itertools.pairwise(gains))
    assert scores[-1] < (index.k1 + 1) * index.idf("shelter")


def test_longer_documents_score_lower_for_the_same_term_count() -> None:
    index = BM25.from_documents([["shelter", "kit"], ["shelter", *["word"] * 30]])
    short, long = index.scores(["shelter"])
    assert short > long > 0


def test_a_repeated_query_term_counts_more() -> None:
    index = BM25.from_documents([["shelter", "health"], ["health", "camp"], ["camp"]])
    once = index.scores(["shelter", "health"])
    twice = index.scores(["shelter", "shelter", "health"])
    assert twice[0] > once[0] and twice[1] == once[1]


def test_an_empty_index_and_an_unknown_query_score_zero() -> None:
    assert BM25.from_documents([]).scores(["camp"]).tolist() == []
    assert BM25.from_documents([["camp"], ["shelter"]]).scores(["unknown", "terms"]).tolist() == [0.0, 0.0]


def test_score_follows_the_okapi_formula() -> None:
    index = BM25.from_documents([["camp", "manag"], ["border", "manag"], ["health"]])
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    length_norm = 1.2 * (1 - 0.75 + 0.75 * 2 / (5 / 3))
    expected = idf * 1 * (1.2 + 1) / (1 + length_norm)
    assert index.scores(["border"]).tolist() == pytest.approx([0.0, expected, 0.0], rel=1e-5)
    assert round(expected, 2) == 0.91


def test_docstring_examples_of_the_lexical_module_hold() -> None:
    assert doctest.testmod(lexical).failed == 0


def test_bm25_over_stemmed_terms_matches_plural_and_singular() -> None:
    index = BM25.from_documents([terms("States bear the primary responsibility"), terms("Camps and shelters")])
    assert index.scores(terms("Which state is responsible?"))[0] > 0


# --- acronyms ----------------------------------------------------------------------------------------


def test_full_name_followed_by_the_acronym_in_brackets() -> None:
    text = (
        "IOM leads the Camp Coordination and Camp Management (CCCM) cluster and follows the "
        "Expedited Procedure for Project Endorsement (EPPE) in emergencies."
    )
    assert mine_acronyms([text]) == {
        "CCCM": "Camp Coordination and Camp Management",
        "EPPE": "Expedited Procedure for Project Endorsement",
    }


def test_the_shortest_matching_tail_is_the_expansion() -> None:
    text = "Member States of the International Organization for Migration (IOM) met."
    assert mine_acronyms([text]) == {"IOM": "International Organization for Migration"}


def test_brackets_that_do_not_spell_an_acronym_are_rejected() -> None:
    texts = [
        "The Standing Committee on Programmes and Finance (SCPF) met.",
        "Member States (Geneva) and the Big Apple (NYC) and the Council (IOM) met.",
        "We met on the Tenth Session (Today) of the Council.",
    ]
    assert mine_acronyms(texts) == {"SCPF": "Standing Committee on Programmes and Finance"}


def test_table_pairs_are_mined_and_non_matching_pairs_rejected() -> None:
    table = "\n".join(
        [
            "ADB | Asian Development Bank | OIG | Office of the Inspector General",
            "EPPE | Expedited procedures for project endorsement | SCPF | Standing Committee on Programmes and Finance",
            "XYZ | Something else entirely | Score | Highly satisfactory",
            "HQ | Headquarters",
        ]
    )
    assert mine_acronyms([table]) == {
        "ADB": "Asian Development Bank",
        "OIG": "Office of the Inspector General",
        "EPPE": "Expedited procedures for project endorsement",
        "SCPF": "Standing Committee on Programmes and Finance",
    }


def test_the_first_expansion_found_is_kept() -> None:
    found = mine_acronyms(["Global Compact for Migration (GCM)", "GCM | Global Coordination Mechanism"])
    assert found == {"GCM": "Global Compact for Migration"}


@pytest.fixture(scope="module")
def mopan_acronyms() -> dict[str, str]:
    text = load_document(CORPUS / "mopan-iom-assessment-2017-18.txt").text
    start = text.index("ADB | Asian Development Bank")
    return mine_acronyms([text[start : text.index("Executive summary", start)]])


def test_mopan_acronym_table_pairs_are_found(mopan_acronyms: dict[str, str]) -> None:
    assert mopan_acronyms["EPPE"] == "Expedited procedures for project endorsement"
    assert mopan_acronyms["MCOF"] == "Migration Crisis Operational Framework"
    assert mopan_acronyms["CCCM"] == "Camp Coordination and Camp Management"
    assert mopan_acronyms["UNHCR"] == "Office of the United Nations High Commissioner for Refugees"
    assert "UNFPA" not in mopan_acronyms  # "United Nations Population Fund" does not spell it


def test_mopan_acronyms_with_hyphenated_words(mopan_acronyms: dict[str, str]) -> None:
    assert mopan_acronyms.get("RBM") == "Results-based management"
    assert mopan_acronyms.get("IASC") == "Inter-Agency Standing Committee"


def test_mixed_case_acronym_mig_of(mopan_acronyms: dict[str, str]) -> None:
    assert mopan_acronyms.get("MiGOF") == "Migration Governance Framework"
    assert mine_acronyms(["the Migration Governance Framework (MiGOF) is"]) == {
        "MiGOF": "Migration Governance Framework"
    }


# --- numbered labels -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_labels() -> dict[str, str]:
    return mine_labels(load_document(path).text for path in sorted(CORPUS.glob("*.txt")))


def test_the_corpus_labels_name_sectors_pillars_and_indicators(corpus_labels: dict[str, str]) -> None:
    assert corpus_labels["Sector 12"] == "Emergency Consular Assistance"
    assert corpus_labels["Sector 6"] == "(Re)integration Assistance"
    assert corpus_labels["Pillar 2"] == "Sectors of assistance"
    assert corpus_labels["MI 4.2"] == "Allocated resources disbursed as planned"
    assert len([label for label in corpus_labels if label.startswith("Sector ")]) == 15
    # "Element 1" heads a different criterion under every indicator: it names nothing
    assert not [label for label in corpus_labels if label.startswith("Element")]


def test_a_label_is_spelled_out_once_and_never_inside_a_longer_number() -> None:
    labels = {"Sector 1": "Camp Management", "Sector 12": "Emergency Consular Assistance"}
    assert spell_out_labels("Compare sector 12 and Sector 1.", labels) == (
        "Compare sector 12 (Emergency Consular Assistance) and Sector 1 (Camp Management)."
    )
    named = "What does Sector 12 Emergency Consular Assistance do?"
    assert spell_out_labels(named, labels) == named
    assert spell_out_labels("What is Sector 16?", labels) == "What is Sector 16?"
