"""The MCOF model parsed from the real corpus: exact structure, exact spans, clear errors."""

from __future__ import annotations

import json

import pytest

from assistant.errors import FrameworkError
from assistant.framework import framework_from_dict, framework_to_dict, parse_framework
from assistant.types import Document, DocumentMeta, FrameworkModel, Span
from tests.mcof_corpus import EVALUATION, FRAMEWORK_DOC, MOPAN, WEB_PAGE, corpus_documents
from tests.passages import SECTOR_NAMES


@pytest.fixture(scope="module")
def documents() -> tuple[Document, ...]:
    return corpus_documents()


@pytest.fixture(scope="module")
def model(documents: tuple[Document, ...]) -> FrameworkModel:
    return parse_framework(documents)


def _all_spans(model: FrameworkModel) -> list[Span]:
    spans = [s.source for s in model.sectors] + [p.source for p in model.phases]
    spans += [o.source for o in model.objectives]
    spans += [i.source for i in (*model.cross_cutting, *model.modalities)]
    optional = (model.recommendation, model.phase_overview, model.cross_cutting_statement, model.modality_statement)
    return spans + [s for s in optional if s is not None]


def test_exactly_the_fifteen_sectors_with_their_2012_names(model: FrameworkModel) -> None:
    assert [s.number for s in model.sectors] == list(range(1, 16))
    assert [s.name for s in model.sectors] == list(SECTOR_NAMES)
    assert model.sectors[5].definition.startswith("To end displacement situations of individuals or groups")
    assert model.sectors[5].definition.endswith("return and reintegration programmes in countries of origin.")
    assert all(s.source.doc == FRAMEWORK_DOC and s.source.text.startswith(f"Sector {s.number} ") for s in model.sectors)
    assert model.complete


def test_three_phases_with_their_annex_passages(model: FrameworkModel) -> None:
    assert [(p.phase, p.title) for p in model.phases] == [
        ("before", "Before a migration crisis"),
        ("during", "During a migration crisis"),
        ("after", "After a migration crisis"),
    ]
    before, during, after = model.phases
    assert before.description.startswith("The sectors of assistance are geared towards building the capacity")
    assert during.description.endswith("including pre-existing psychological disorders.")
    assert "contributing to durable solutions for the displaced" in after.description
    assert "Annex" not in after.description  # the passage stops at the next heading
    assert model.phase_overview is not None
    assert "“before, during and after” stages" in model.phase_overview.text


def test_objectives_a_to_d_in_the_2012_and_2023_wordings(model: FrameworkModel) -> None:
    assert [(o.year, o.letter) for o in model.objectives] == [
        (2012, "a"), (2012, "b"), (2012, "c"), (2012, "d"), (2023, "a"), (2023, "b"), (2023, "c"), (2023, "d"),
    ]
    a2012, a2023 = model.objectives[0], model.objectives[4]
    assert a2012.source.doc == FRAMEWORK_DOC and a2023.source.doc == WEB_PAGE
    assert a2012.text.endswith("while upholding human rights and humanitarian principles")
    assert a2023.text.endswith("and promoting longer-term development goals")
    assert model.objectives[3].text == (
        "Build on IOM's partnerships with States, international organizations and other relevant actors "
        "in the fields of humanitarian response and migration"
    )
    assert model.objectives[0].source.section == "Introduction, para. 2"


def test_cross_cutting_issues_modalities_and_the_recommendation(model: FrameworkModel) -> None:
    assert [i.name for i in model.cross_cutting] == [
        "Protection mainstreaming", "Gender equality", "Law and policy", "Disaster risk / climate change",
        "Data and evidence",
    ]
    assert [i.name for i in model.modalities] == [
        "Participation and empowerment", "Conflict sensitivity", "Integrated programming", "Collaboration",
        "Localization", "Cash-based interventions",
    ]
    assert model.cross_cutting_statement is not None and model.modality_statement is not None
    assert model.cross_cutting_statement.text.startswith("All work under the MCOF Sectors of Assistance")
    assert model.modality_statement.text.endswith("Localization and Cash-based interventions.")
    assert model.recommendation is not None and model.recommendation.doc == EVALUATION
    assert "have a paragraph on how the project fits under the MCOF" in model.recommendation.text


def test_every_span_is_the_exact_text_of_its_document(model: FrameworkModel, documents: tuple[Document, ...]) -> None:
    texts = {d.meta.doc: d.text for d in documents}
    spans = _all_spans(model)
    assert len(spans) == 15 + 3 + 8 + 5 + 6 + 4
    for span in spans:
        assert texts[span.doc][span.start : span.end] == span.text


def test_the_model_survives_a_json_round_trip(model: FrameworkModel) -> None:
    stored = json.loads(json.dumps(framework_to_dict(model)))
    assert framework_from_dict(stored) == model


def test_a_corpus_without_the_framework_gives_a_clear_error() -> None:
    with pytest.raises(FrameworkError, match=r"15 'Sector N Name: definition' entries.*mcof ingest"):
        parse_framework(corpus_documents((MOPAN, WEB_PAGE)))


def test_phases_are_required() -> None:
    text = "".join(f"Sector {n} Name {n}: To do thing {n}.\n\n" for n in range(1, 16))
    doc = Document(DocumentMeta("sectors.txt", "Sectors"), text, "txt", "0")
    with pytest.raises(FrameworkError, match="before, during, after"):
        parse_framework([doc])


def test_the_framework_text_alone_gives_sectors_phases_and_its_own_objectives() -> None:
    model = parse_framework(corpus_documents((FRAMEWORK_DOC,)))
    assert len(model.sectors) == 15 and len(model.phases) == 3
    assert [(o.year, o.letter) for o in model.objectives] == [(2012, "a"), (2012, "b"), (2012, "c"), (2012, "d")]
    assert model.objectives[0].text.startswith("Improve and systematize")  # paragraph 2, not paragraph 4
    assert model.cross_cutting == () and model.recommendation is None


def test_bulleted_sector_lines_are_read_like_plain_ones() -> None:
    lines = [f"- Sector {n} Name {n}: To do thing {n}." if n % 2 else f"Sector {n} Name {n}: To do thing {n}."
             for n in range(1, 16)]
    phases = "\n\n".join(f"Phase {i}: {w} a migration crisis\n\nText of phase {i}." for i, w in
                         ((1, "Before"), (2, "During"), (3, "After")))
    text = "\n".join(lines) + "\n\n(a) Improve it;\n(b) Help them;\n(c) Respond;\n(d) Build.\n\n" + phases + "\n"
    model = parse_framework([Document(DocumentMeta("f.txt", "F", date="2012"), text, "txt", "0")])
    assert [s.name for s in model.sectors][:2] == ["Name 1", "Name 2"]
    assert model.sectors[0].source.text == "Sector 1 Name 1: To do thing 1."
    assert [p.description for p in model.phases] == ["Text of phase 1.", "Text of phase 2.", "Text of phase 3."]
    assert [o.text for o in model.objectives] == ["Improve it", "Help them", "Respond", "Build"]


def test_an_unreadable_stored_model_asks_for_a_rebuild() -> None:
    with pytest.raises(FrameworkError, match="mcof ingest --rebuild"):
        framework_from_dict({"sectors": [{"number": "x"}]})
