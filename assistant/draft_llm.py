"""Checking a chat model's draft paragraph sentence by sentence against what it may rest on (pure).

The model rewrites the composed draft for the project, weaving in the description's own
specifics. Each sentence of its reply stands only when

- it ends in [n] markers naming the given sources;
- every text between quotation marks is in a source it cites, word for word;
- every figure, date and capitalised name is in the description, a source it cites, or the
  composed sentence carrying the same marker (which is that source rendered);
- every content word is in one of those too, or is proposal vocabulary (`PROPOSAL_WORDS`; its verbs,
  `PROPOSAL_VERBS`, not in a sentence naming a way of working, where the verb is the claim: "delivered
  through", "provides cash-based interventions");
- it names no framework element (sector, phase, objective, cross-cutting issue, modality) that
  neither the composed draft nor the description names;
- it says nothing the reply already said;
- its cosine to a source it cites reaches `min_support`. (Its cosine to the description does not
  count: on the dev drafts, averaged in or embedded with the source, it made a sentence citing the
  wrong source or none at all score as well as a correctly cited one.)

A sentence the model left without markers is first given the marker of the composed sentence
it restates (`cite_uncited`), then checked like the others. A failing sentence is dropped. A
framework element the composed draft named and the kept sentences no longer name brings back the
composed sentence that named it, in reading order, so the rewrite never covers less than the
composed draft. Beyond the word budget, sentences are cut from the end, never one whose element
nothing else names; then the model's sentences, from the end, give way to the composed ones.

>>> composed = split_cited("The project fits Sector 2 Shelter and Non-food Items [1].")
>>> grounds = Grounds("Repair 300 flooded homes in Sylhet.", tuple(composed),
...                   ("Sector 2 Shelter and Non-food Items: to address the needs for shelters",),
...                   framework_elements(["Shelter and Non-food Items", "Health Support"]))
>>> checked = verify_rewrite("Repairing 300 homes in Sylhet fits Sector 2 Shelter and Non-food Items [1]. "
...                          "It also serves Sector 4 Health Support [1].", grounds)
>>> [s.text for s in checked.sentences], checked.dropped[0][1]
(['Repairing 300 homes in Sylhet fits Sector 2 Shelter and Non-food Items.'], 'states 4, Health, Support')
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .citations import MARKER_RE, CitedSentence, render_sentences, split_cited, unstated_facts
from .textutil import fold, terms, words

log = logging.getLogger(__name__)

Support = Callable[[str, Sequence[str]], Sequence[float]]  # (sentence, texts) → cosine of the sentence to each

FRAMEWORK_NAME = "Migration Crisis Operational Framework"
# The genre's own words: a proposal paragraph may use them whatever its sources say. The verbs say how a
# project relates to the framework ("fits under", "falls under", "serves objective (b)").
_VOCABULARY = (
    "project projects proposal proposed IOM International Organization for Migration framework MCOF sector "
    "sectors phase phases objective objectives activities addition additionally furthermore moreover "
    "particular specifically overall"
)
_VERBS = "aims supports contributes fits falls belongs serves works provides addresses"
PROPOSAL_WORDS = frozenset(terms(_VOCABULARY))
PROPOSAL_VERBS = frozenset(terms(_VERBS))
_QUOTE_RE = re.compile(r"“([^”]*)”?|\"([^\"]*)\"?")
_ELISION_RE = re.compile(r"…|\.\.\.")
_DASH_RE = re.compile(r"[‐‑‒–—―−]")
_PHASES = ("before", "during", "after")
_OBJECTIVES = "abcd"


@dataclass(frozen=True)
class Element:
    """A framework element a paragraph names (a sector, a phase, an objective...), found by `pattern`
    in the text's plain words (`plain`); `way`: an operational modality, a way of working."""

    label: str
    pattern: re.Pattern[str]
    way: bool = False

    def named_in(self, text: str) -> bool:
        return bool(self.pattern.search(plain(text)))


def framework_elements(names: Sequence[str], ways: Sequence[str] = ()) -> tuple[Element, ...]:
    """The framework's own name, the given names (sectors, cross-cutting issues), its ways of working
    (the operational modalities), the three phases ("during a crisis") and the objectives
    ("objective (c)", "objectives (b) and (c)").

    >>> [e.label for e in framework_elements(["Health Support"]) if e.named_in("It works during the crisis.")]
    ['during']
    >>> [e.label for e in framework_elements([]) if e.named_in("It serves objectives (b) and (c).")]
    ['objective (b)', 'objective (c)']
    """
    named = [
        Element(n, re.compile(re.escape(plain(n))), way=n in ways)
        for n in (FRAMEWORK_NAME, *names, *ways)
        if plain(n).strip()
    ]
    phases = [Element(p, re.compile(rf" {p} (?:\w+ ){{0,3}}cris[ie]s ")) for p in _PHASES]
    objectives = [
        Element(f"objective ({x})", re.compile(rf" objectives? (?:(?:[a-d]|and|or) ){{0,4}}{x} ")) for x in _OBJECTIVES
    ]
    return (*named, *phases, *objectives)


@dataclass(frozen=True)
class Grounds:
    """What the sentences of a rewrite may rest on: the description, the composed draft's sentences
    (one marker each), the cited sources' texts (source n at n - 1) and the elements a draft can name."""

    project: str
    composed: tuple[CitedSentence, ...]
    sources: tuple[str, ...]
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class CheckedRewrite:
    """The rewrite's verified sentences in reading order, numbered as the sources were given: `written`
    of them the model's; `restored`: composed sentences put back for what they name; `dropped`:
    (sentence, why) for each sentence that failed a check; for length, `cut` sentences were left out
    and `gave_way` of the model's were replaced by the composed ones they rewrite."""

    sentences: tuple[CitedSentence, ...]
    written: int
    restored: int
    dropped: tuple[tuple[str, str], ...]
    cut: int = 0
    gave_way: int = 0


def verify_rewrite(
    reply: str,
    grounds: Grounds,
    support: Support | None = None,
    min_support: float = 0.0,
    max_words: int | None = None,
) -> CheckedRewrite:
    """Keep the sentences of `reply` that pass every check, put back composed sentences for the
    elements no longer named, and cut to `max_words` (see the module's docstring)."""
    kept: list[CitedSentence] = []
    dropped: list[tuple[str, str]] = []
    for sentence in cite_uncited(split_cited(reply), grounds):
        problem = "says again what it said" if any(k.text == sentence.text for k in kept) else ""
        problem = problem or sentence_problem(sentence, grounds)
        if not problem and support is not None:
            score = support_score(sentence, grounds, support)
            problem = f"support {score:.2f} below {min_support:.2f}" if score < min_support else ""
        if problem:
            log.info("draft rewrite: dropped %r: %s", sentence.text, problem)
            dropped.append((sentence.text, problem))
        else:
            kept.append(sentence)
    restored = restore(kept, grounds)
    final, cut, gave_way = within(restored, grounds, max_words) if max_words is not None else (restored, 0, 0)
    written = sum(1 for s in final if s in kept)
    return CheckedRewrite(tuple(final), written, len(restored) - len(kept), tuple(dropped), cut, gave_way)


def cite_uncited(sentences: Sequence[CitedSentence], grounds: Grounds) -> list[CitedSentence]:
    """Each finished sentence without markers given the marker of the composed sentence it restates:
    the one sharing most of its content words that are neither the description's nor proposal
    vocabulary, when at least two. Otherwise it stays uncited, and is dropped: a sentence about the
    project alone has no framework span to cite, and a reply cut off at its token limit ends in a stub.

    >>> grounds = Grounds("Clinics for migrants.", tuple(split_cited("It fits Health Support [1]. "
    ...                   "It works during the crisis [2].")), ("", ""), ())
    >>> cite_uncited(split_cited("Clinics for migrants fit Health Support. Clinics for migrants."), grounds)
    [CitedSentence(text='Clinics for migrants fit Health Support.', sources=(1,)), \
CitedSentence(text='Clinics for migrants.', sources=())]
    """
    own = set(PROPOSAL_WORDS) | set(terms(_unhyphen(grounds.project)))
    restates = [
        set(terms(_unhyphen(c.text))) | set().union(*(terms(_unhyphen(grounds.sources[n - 1]))
                                                      for n in c.sources if 1 <= n <= len(grounds.sources)))
        for c in grounds.composed
    ]
    out = []
    for sentence in sentences:
        framework_words = set(terms(_unhyphen(sentence.text))) - own
        shared = [len(framework_words & words_) for words_ in restates]
        if sentence.sources or not shared or max(shared) < 2 or not _finished(sentence.text):
            out.append(sentence)
            continue
        out.append(CitedSentence(sentence.text, grounds.composed[shared.index(max(shared))].sources))
    return out


def sentence_problem(sentence: CitedSentence, grounds: Grounds) -> str:
    """Why `sentence` cannot stand in the draft ("" when it can), by every check but the cosine one."""
    if not sentence.sources:
        return "no citation"
    if not all(1 <= n <= len(grounds.sources) for n in sentence.sources):
        return "cites a source not given"
    cited = [grounds.sources[n - 1] for n in sentence.sources]
    drafted = [c.text for c in grounds.composed if set(c.sources) & set(sentence.sources)]
    misquoted = misquotes(sentence.text, cited)
    if misquoted:
        return f"quotes {misquoted[0]!r}, not in its source"
    missing = unstated_facts(sentence.text, [grounds.project, *cited, *drafted, _VOCABULARY])
    if missing:
        return f"states {', '.join(missing)}"
    way = any(e.way and e.named_in(sentence.text) for e in grounds.elements)
    unknown = unknown_words(sentence.text, [grounds.project, *cited, *drafted], verbs=not way)
    if unknown:
        return f"uses {', '.join(unknown)}"
    allowed = " ".join([grounds.project, *(c.text for c in grounds.composed)])
    new = [e.label for e in grounds.elements if e.named_in(sentence.text) and not e.named_in(allowed)]
    return f"names {', '.join(new)}, which the draft and the description do not" if new else ""


def unknown_words(sentence: str, texts: Sequence[str], verbs: bool = True) -> list[str]:
    """Content words (stems) of `sentence` found in none of `texts` and not in `PROPOSAL_WORDS` (nor,
    when `verbs`, in `PROPOSAL_VERBS`).

    >>> unknown_words("The project provides cash-based interventions.", ["Cash grants for the families."])
    ['base', 'intervent']
    >>> unknown_words("The project provides cash-based interventions.", ["Cash-based interventions"], verbs=False)
    ['provid']
    """
    known = set(PROPOSAL_WORDS | (PROPOSAL_VERBS if verbs else set())).union(*(terms(_unhyphen(t)) for t in texts))
    return list(dict.fromkeys(t for t in terms(_unhyphen(sentence)) if t not in known))


def misquotes(sentence: str, sources: Sequence[str]) -> list[str]:
    """Quoted stretches of `sentence` (between “ ” or " "; "…" marks an elision) that none of `sources`
    contains word for word, case, spacing, quotation marks and dashes aside.

    >>> source = "To provide comprehensive migrant health-care services during the crisis."
    >>> misquotes("It aims “to provide comprehensive … services during the crisis”.", [source])
    []
    >>> misquotes('It aims "to provide free health care".', [source])
    ['to provide free health care']
    """
    haystacks = [_flat(s) for s in sources]
    out = []
    for match in _QUOTE_RE.finditer(sentence):
        quote = match.group(1) if match.group(1) is not None else match.group(2)
        for piece in _ELISION_RE.split(quote):
            piece = _flat(piece).strip(" ,;:.'")
            if piece and not any(piece in h for h in haystacks):
                out.append(piece)
    return out


def support_score(sentence: CitedSentence, grounds: Grounds, support: Support) -> float:
    """The sentence's cosine to the closest of the sources it cites."""
    return float(max(support(sentence.text, [grounds.sources[n - 1] for n in sentence.sources])))


def restore(kept: Sequence[CitedSentence], grounds: Grounds) -> list[CitedSentence]:
    """`kept` with the composed sentence that first named each element the composed draft names and
    `kept` no longer does, placed before the first kept sentence drawn from a later composed one.

    >>> composed = tuple(split_cited("It fits Health Support [1]. It works during a crisis [2]."))
    >>> grounds = Grounds("", composed, ("", ""), framework_elements(["Health Support"]))
    >>> [s.text for s in restore(split_cited("Clinics help during the crisis [2]."), grounds)]
    ['It fits Health Support.', 'Clinics help during the crisis.']
    """
    out = list(kept)
    for element in grounds.elements:
        first = next((i for i, c in enumerate(grounds.composed) if element.named_in(c.text)), None)
        if first is None or element.named_in(" ".join(s.text for s in out)):
            continue
        at = next((j for j, s in enumerate(out) if _origin(s, grounds) > first), len(out))
        out.insert(at, grounds.composed[first])
    return out


def within(
    sentences: Sequence[CitedSentence], grounds: Grounds, max_words: int
) -> tuple[list[CitedSentence], int, int]:
    """`sentences` within `max_words`: first those naming nothing no other one names are cut, latest
    first; then the model's own sentences, latest first, give way to the shorter composed sentence
    they rewrite (composed sentences come back for whatever that loses). Returns the sentences, how
    many were cut and how many gave way.

    >>> composed = tuple(split_cited("It fits Health Support [1]. It works during a crisis [2]. More [3]."))
    >>> grounds = Grounds("", composed, ("", "", ""), framework_elements(["Health Support"]))
    >>> fitted, cut, gave_way = within(composed, grounds, 12)
    >>> [s.text for s in fitted], cut, gave_way
    (['It fits Health Support.', 'It works during a crisis.'], 1, 0)
    >>> long = split_cited("Clinics for 300 migrants fit Health Support [1]. "
    ...                    "Clinics work for them during a crisis [2].")
    >>> fitted, cut, gave_way = within(long, grounds, 14)
    >>> [s.text for s in fitted], cut, gave_way
    (['Clinics for 300 migrants fit Health Support.', 'It works during a crisis.'], 0, 1)
    """
    needed = [e for e in grounds.elements if any(e.named_in(c.text) for c in grounds.composed)]
    out = list(sentences)

    def over() -> bool:
        return word_count(render_sentences(out)) > max_words

    cut = 0
    for sentence in reversed(list(sentences)):
        if not over():
            break
        rest = " ".join(s.text for s in out if s is not sentence)
        if all(e.named_in(rest) for e in needed if e.named_in(sentence.text)):
            out.remove(sentence)
            cut += 1
    gave_way = 0
    for i in reversed(range(len(out))):
        if not over():
            break
        origin = _origin(out[i], grounds)
        if out[i] in grounds.composed or origin == len(grounds.composed):
            continue
        composed = grounds.composed[origin]
        if len(composed.text.split()) < len(out[i].text.split()):
            out[i : i + 1] = [] if composed in out else [composed]
            gave_way += 1
    return (restore(out, grounds) if gave_way else out), cut, gave_way


def _origin(sentence: CitedSentence, grounds: Grounds) -> int:
    """Index of the first composed sentence sharing a marker with `sentence` (the composed one itself
    when it is one)."""
    if sentence in grounds.composed:
        return grounds.composed.index(sentence)
    shared = [i for i, c in enumerate(grounds.composed) if set(c.sources) & set(sentence.sources)]
    return min(shared, default=len(grounds.composed))


def word_count(paragraph: str) -> int:
    """Words as the grader counts them, markers excluded."""
    return len(MARKER_RE.sub(" ", paragraph).split())


def plain(text: str) -> str:
    """Lowercased words joined by single spaces, with a space at either end: the form element
    patterns match ("Shelter and Non-food Items" → " shelter and non food items ")."""
    return " " + " ".join(words(_unhyphen(text))) + " "


def _finished(text: str) -> bool:
    return text.rstrip("”\"')] ").endswith((".", "!", "?", "…"))


def _unhyphen(text: str) -> str:
    return re.sub(r"[-/‐‑–—]", " ", text)


def _flat(text: str) -> str:
    text = _DASH_RE.sub("-", fold(text)).replace("“", '"').replace("”", '"')
    return " ".join(text.split())
