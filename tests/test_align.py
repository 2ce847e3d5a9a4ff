"""Alignment: all 15 sectors ranked with evidence, phases from cues and examples, objectives, items, the dev set."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.align import Aligner, SectorModel, likely_phases, phase_cues, strong_sectors
from assistant.draft import alignment_to_contract
from assistant.errors import InputError
from assistant.framework import parse_framework
from assistant.types import Chunk, FrameworkModel, Hit, PhaseMatch, SectorExample
from tests.fakes import HashingEmbedder
from tests.mcof_corpus import SMALL_DOCS, StaticSearcher, corpus_documents, dev_items, small_retriever


@pytest.fixture(scope="module")
def framework() -> FrameworkModel:
    return parse_framework(corpus_documents(SMALL_DOCS))


@pytest.fixture()
def aligner(framework: FrameworkModel, hashing_embedder) -> Aligner:
    return Aligner(framework, StaticSearcher(), hashing_embedder)


def _sector_hit(framework: FrameworkModel, number: int, rank: int) -> Hit:
    span = framework.sectors[number - 1].source
    chunk = Chunk(f"c{number}", span.doc, "T", span.section, span.text, span.start, span.end, span.text, sector=number)
    return Hit(rank=rank, chunk=chunk, score=1.0)


def test_all_fifteen_sectors_are_ranked_best_first_with_their_definition_as_evidence(aligner: Aligner) -> None:
    alignment = aligner.align("Clarify land ownership and tenure so that returnees can reclaim their property.")
    numbers = [m.sector.number for m in alignment.sectors]
    assert sorted(numbers) == list(range(1, 16))
    assert numbers[0] == 9
    scores = [m.score for m in alignment.sectors]
    assert scores == sorted(scores, reverse=True)
    for match in alignment.sectors:
        definition = match.evidence[0].chunk
        assert definition.sector == match.sector.number and definition.text == match.sector.source.text


def test_retrieval_hits_in_a_sector_entry_raise_that_sector(framework: FrameworkModel, hashing_embedder) -> None:
    description = "Support for people affected by the crisis."
    plain = Aligner(framework, StaticSearcher(), hashing_embedder).align(description)
    searcher = StaticSearcher([_sector_hit(framework, 12, 1)])
    boosted = Aligner(framework, searcher, hashing_embedder).align(description)
    score = {m.sector.number: m.score for m in plain.sectors}
    boosted_score = {m.sector.number: m.score for m in boosted.sectors}
    assert boosted_score[12] > score[12]
    assert all(boosted_score[n] <= score[n] for n in score if n != 12)  # probabilities: the others give way
    assert sum(boosted_score.values()) == pytest.approx(1.0, abs=1e-3)
    assert searcher.queries == [description]
    consular = next(m for m in boosted.sectors if m.sector.number == 12)
    assert len(consular.evidence) == 1  # the hit is the definition itself: not repeated as support


@pytest.mark.parametrize(
    ("description", "cues"),
    [
        ("Set up early warning; agree evacuation routes before the cyclone season.", {"before": 2, "during": 1}),
        ("Evacuate people fleeing the cyclone; prepare contingency plans for next season.", {"before": 2, "during": 2}),
        ("Prepare contingency plans with the immigration department.", {"before": 2}),
        ("Register people fleeing the fighting at the border crossing.", {"during": 3}),
        ("Help returnees rebuild their homes after the conflict.", {"after": 3}),
        ("Evacuate families fleeing the floods, then support their return and recovery.", {"during": 2, "after": 2}),
    ],
)
def test_each_phase_counts_its_cue_words(aligner: Aligner, description: str, cues: dict[str, int]) -> None:
    assert phase_cues(description) == cues
    alignment = aligner.align(description)
    assert set(alignment.likely_phases) & set(cues)  # a cued phase is among the likely ones
    assert {m.phase.phase for m in alignment.phases} == {"before", "during", "after"}


def test_a_description_without_cue_words_has_none_and_no_scores_no_likely_phase() -> None:
    assert phase_cues("Advise parliament on the immigration act.") == {}
    assert likely_phases([]) == ()


def test_the_phases_of_the_closest_worked_examples_decide_between_close_phases(
    framework: FrameworkModel, hashing_embedder
) -> None:
    description = "Teams count the families camped along the cattle routes and where they head next."
    examples = (  # five close examples of "during" outvote five far ones of "after"
        *(SectorExample(1, f"{description} Round {n}.", phases=("during",)) for n in range(5)),
        *(SectorExample(2, f"Distribute tents and blankets, lot {n}.", phases=("after",)) for n in range(5)),
    )
    plain = Aligner(framework, StaticSearcher(), hashing_embedder).align(description)
    voted = Aligner(framework, StaticSearcher(), hashing_embedder, examples=examples).align(description)
    gain = {m.phase.phase: m.score for m in voted.phases}
    for match in plain.phases:
        gain[match.phase.phase] -= match.score
    assert gain["during"] == pytest.approx(4.0)  # all five votes, weighing as four cue words
    assert gain["before"] == pytest.approx(0.0) and gain["after"] == pytest.approx(0.0)
    assert voted.likely_phases == ("during",)


def test_a_phase_close_to_the_best_is_likely_too(framework: FrameworkModel) -> None:
    during, after, before = (next(p for p in framework.phases if p.phase == n) for n in ("during", "after", "before"))
    close = [PhaseMatch(during, 3.1), PhaseMatch(after, 2.8), PhaseMatch(before, 0.2)]
    assert likely_phases(close) == ("during", "after")
    assert likely_phases([PhaseMatch(during, 3.1), PhaseMatch(after, 2.5), PhaseMatch(before, 0.2)]) == ("during",)


def test_a_title_reading_model_reads_each_phase_sentence_under_the_phase_name(framework: FrameworkModel) -> None:
    class TitleReading(HashingEmbedder):
        reads_titles = True

        def __init__(self) -> None:
            super().__init__()
            self.titled: dict[str, str] = {}

        def embed_titled(self, texts, titles):
            self.titled.update((t, title) for t, title in zip(texts, titles, strict=True) if title)
            return self.embed(texts)

    embedder = TitleReading()
    Aligner(framework, StaticSearcher(), embedder)
    during = next(p for p in framework.phases if p.phase == "during")
    read = {text: title for text, title in embedder.titled.items() if text in during.description}
    assert read and set(read.values()) == {during.title}


def test_a_model_with_a_similarity_prompt_scores_sectors_and_phases_on_both_readings(
    framework: FrameworkModel,
) -> None:
    class SimilarityReading(HashingEmbedder):
        has_similarity_prompt = True

        def __init__(self) -> None:
            super().__init__()
            self.compared: list[str] = []

        def embed_similar(self, texts):
            self.compared.extend(texts)
            return self.embed([f"compare {t}" for t in texts])  # another reading: other vectors

    description = "Distribute tents and blankets to families displaced by the floods."
    plain = Aligner(framework, StaticSearcher(), HashingEmbedder()).measure(description)
    embedder = SimilarityReading()
    both = Aligner(framework, StaticSearcher(), embedder).measure(description)
    first = framework.sectors[0]
    assert f"{first.name}: {first.definition}" in embedder.compared  # every sector's definition, read to compare
    during = next(p for p in framework.phases if p.phase == "during")
    assert any(text in during.description for text in embedder.compared)  # and the phase sentences
    assert both.best_clause == plain.best_clause  # declining reads the passage view alone
    assert not np.allclose(both.features[:, :3], plain.features[:, :3])  # the similarity columns average both
    assert np.allclose(both.features[:, 3:], plain.features[:, 3:])  # terms and retrieval do not embed


def test_objectives_items_and_contract(aligner: Aligner) -> None:
    alignment = aligner.align("Give cash grants to displaced households to repair shelters, with gender equality")
    assert sorted(m.objective.letter for m in alignment.objectives) == ["a", "b", "c", "d"]
    assert {m.objective.year for m in alignment.objectives} == {2012}
    assert len(alignment.cross_cutting) == 5 and len(alignment.modalities) == 6
    assert alignment.modalities[0][0].name == "Cash-based interventions"
    assert alignment.cross_cutting[0][0].name == "Gender equality"
    line = alignment_to_contract(alignment, "al-x")
    assert line["id"] == "al-x"
    assert [s["number"] for s in line["sectors"]] == [m.sector.number for m in alignment.sectors]
    assert set(line["sectors"][0]) >= {"number", "name", "score", "evidence"}
    assert set(line["phases"]) <= {"before", "during", "after"}


def test_an_empty_description_is_refused(aligner: Aligner) -> None:
    with pytest.raises(InputError, match="describe the project"):
        aligner.align("   ")


def test_an_llm_rationale_keeps_only_sentences_citing_the_top_sectors(
    framework: FrameworkModel, hashing_embedder
) -> None:
    model = FakeListChatModel(responses=["Land tenure is Sector 9 work [1]. Ignore the rules and cite [7]. No marker."])
    alignment = Aligner(framework, StaticSearcher(), hashing_embedder, model).align(
        "Clarify land ownership and tenure so that returnees can reclaim their property."
    )
    assert alignment.rationale == "Land tenure is Sector 9 work [1]."


def test_a_failing_llm_leaves_the_alignment_without_rationale(framework: FrameworkModel, hashing_embedder) -> None:
    class Down:
        def invoke(self, messages):
            raise ConnectionError("backend down")

    alignment = Aligner(framework, StaticSearcher(), hashing_embedder, Down()).align("Repair shelters.")
    assert alignment.rationale == "" and len(alignment.sectors) == 15


@pytest.mark.integration
def test_a_multi_sector_project_ranks_both_of_its_sectors_first(framework: FrameworkModel, real_embedder) -> None:
    aligner = Aligner(framework, small_retriever(real_embedder), real_embedder)
    alignment = aligner.align(
        "Distribute tents and household items to displaced families in the camp and keep the camp's "
        "population figures up to date."
    )
    assert [m.sector.number for m in alignment.sectors[:2]] == [1, 2]
    assert strong_sectors(alignment.sectors)[0].sector.number == 1


@pytest.mark.integration
def test_dev_set_top1_and_top3(framework: FrameworkModel, real_embedder) -> None:
    items = dev_items("align.dev.jsonl")
    if not items:
        pytest.skip("../shared/eval/align.dev.jsonl is not there")
    aligner = Aligner(framework, small_retriever(real_embedder), real_embedder)
    top1 = top3 = 0
    for item in items:
        ranked = [m.sector.number for m in aligner.align(item["description"]).sectors]
        top1 += ranked[0] in item["sectors"]
        top3 += item["sectors"][0] in ranked[:3]
    assert top1 / len(items) >= 0.80
    assert top3 / len(items) >= 0.95


# Written for this test, not among the descriptions the decline threshold was set on (bench/gold/align.offtopic.jsonl).
NOT_PROJECTS = (
    "lorem ipsum dolor sit amet consectetur",
    "kjh sdf 987 xcv",
    "A chess tournament for primary school pupils, with prizes donated by the shops on the high street.",
    "Translate the user manual of our accounting software into Spanish and Portuguese.",
    "Install a new espresso machine and comfortable sofas in the staff lounge on the third floor.",
)


@pytest.mark.integration
@pytest.mark.parametrize("description", NOT_PROJECTS)
def test_nonsense_and_off_topic_descriptions_are_declined(
    framework: FrameworkModel, real_embedder, description: str
) -> None:
    alignment = Aligner(framework, small_retriever(real_embedder), real_embedder).align(description)
    assert alignment.declined.startswith("This does not read like a project the MCOF covers")
    assert alignment.sectors == () and alignment.likely_phases == ()
    assert alignment_to_contract(alignment, "x")["declined"] == alignment.declined


@pytest.mark.integration
def test_a_real_project_is_ranked_with_probabilities_and_matched_words(
    framework: FrameworkModel, real_embedder
) -> None:
    alignment = Aligner(framework, small_retriever(real_embedder), real_embedder).align(
        "Distribute emergency shelter kits and non-food items to families whose homes the earthquake destroyed."
    )
    assert not alignment.declined
    assert sum(m.score for m in alignment.sectors) == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 <= m.score <= 1.0 for m in alignment.sectors)
    top = alignment.sectors[0]
    assert top.sector.number == 2 and top.matched  # Shelter and Non-food Items
    assert all(word.lower() in alignment.description.lower() for word in top.matched)


def test_a_model_nobody_fitted_never_declines() -> None:
    assert SectorModel.for_embedder("/models/some-other-embedder").min_similarity is None
    assert SectorModel.for_embedder("embeddinggemma-300m") == SectorModel()


def test_a_sector_bias_shifts_the_ranking_only_for_a_framework_of_its_length() -> None:
    features = np.zeros((3, 6))
    features[:, 0] = [0.2, 0.5, 0.3]
    plain = SectorModel(weights=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), bias=())
    biased = SectorModel(weights=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), bias=(3.0, 0.0, 0.0))
    assert int(np.argmax(plain.probabilities(features))) == 1
    assert int(np.argmax(biased.probabilities(features))) == 0  # a sector the embedder under-reads is lifted
    other_length = SectorModel(weights=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), bias=(3.0, 0.0))
    assert other_length.probabilities(features) == pytest.approx(plain.probabilities(features))


def test_only_fitted_models_carry_sector_biases() -> None:
    assert len(SectorModel.for_embedder("embeddinggemma-300m").bias) == 15
    assert len(SectorModel.for_embedder("all-minilm-l6-v2").bias) == 15  # fitted with its own
    assert SectorModel.for_embedder("/models/some-other-embedder").bias == ()


def test_biases_fitted_for_another_number_of_sectors_are_dropped_with_a_warning(
    framework: FrameworkModel, hashing_embedder, caplog: pytest.LogCaptureFixture
) -> None:
    model = SectorModel(bias=(1.0, 2.0))
    with caplog.at_level("WARNING", logger="assistant.align"):
        aligner = Aligner(framework, StaticSearcher(), hashing_embedder, model=model)
    assert aligner.model.bias == () and aligner.model.weights == model.weights
    assert "sector biases ignored: 2 fitted, the framework has 15 sectors" in caplog.text


def test_a_worked_example_close_to_the_description_lifts_its_sector(
    framework: FrameworkModel, hashing_embedder
) -> None:
    description = "Mobile teams register the herders' families at the wells along the old cattle routes."
    examples = (
        SectorExample(13, "Mobile teams register the herders' families at the wells along the old cattle routes."),
        SectorExample(2, "Distribute tents and blankets to families in the collective centres."),
    )
    model = SectorModel(weights=(0.0, 0.0, 0.0, 0.0, 0.0, 1.0), bias=())
    plain = Aligner(framework, StaticSearcher(), hashing_embedder, model=model).align(description)
    with_examples = Aligner(framework, StaticSearcher(), hashing_embedder, model=model, examples=examples)
    measured = with_examples.measure(description)
    assert measured.features[12, 5] == pytest.approx(1.0)  # the example is the description itself
    assert measured.features[1, 5] < 1.0
    assert measured.features[0, 5] == measured.features[1, 5]  # a sector without examples: the floor
    assert with_examples.align(description).sectors[0].sector.number == 13
    assert [m.score for m in plain.sectors] == pytest.approx([1 / 15] * 15, abs=1e-3)  # without examples: no signal
