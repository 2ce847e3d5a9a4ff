"""Synthetic corpora for the scale benchmark: `factor` perturbed copies of every corpus file.

Each copy gets a new file name, its paragraphs (blank-line blocks) in a shuffled order after
the first one, and every sentence perturbed: one corpus word inserted and, in sentences of
four words or more, two neighbouring words swapped. The text stays corpus-like (vocabulary,
structure, lengths) but no sentence repeats, so nothing comes from the embedding cache.
Deterministic per seed.
Written under `bench/synthetic/` (not committed):

    python -m bench.synth --factor 10          # → bench/synthetic/10x/synth-000-<name> ...
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from assistant.textutil import sentence_spans
from ingest.manifest import corpus_files

from .runner import REPO

MIN_WORDS = 3  # shorter pieces (headings, labels) are not indexed as sentences: kept as they are


def perturb(text: str, rng: random.Random, vocabulary: Sequence[str]) -> str:
    """Perturb every sentence of every line of `text`; line breaks stay where they are.

    >>> perturb("Camps are managed well by the agency.\\nSector 1", random.Random(0), ["shelter"])
    'Camps are managed well shelter the by agency.\\nSector 1'
    """
    lines = []
    for line in text.split("\n"):
        pieces, last = [], 0
        for start, end in sentence_spans(line):
            pieces += [line[last:start], _perturb_sentence(line[start:end], rng, vocabulary)]
            last = end
        lines.append("".join(pieces) + line[last:])
    return "\n".join(lines)


def _perturb_sentence(sentence: str, rng: random.Random, vocabulary: Sequence[str]) -> str:
    words = sentence.split(" ")
    if len(words) < MIN_WORDS:
        return sentence
    if len(words) > MIN_WORDS:  # never the first or the last word (keeps its full stop)
        i = rng.randrange(1, len(words) - 2)
        words[i], words[i + 1] = words[i + 1], words[i]
    words.insert(rng.randrange(1, len(words)), rng.choice(vocabulary))
    return " ".join(words)


def synthesize(source: Path, target: Path, factor: int, seed: int = 0) -> list[Path]:
    """Write `factor` perturbed copies of each file of `source` into `target` (emptied first)."""
    files = corpus_files(source)
    texts = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in files}
    vocabulary = sorted({w.lower() for text in texts.values() for w in re.findall(r"[A-Za-z]{4,}", text)})
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    written = []
    for copy in range(factor):
        rng = random.Random(f"{seed}-{copy}")
        for name, text in texts.items():
            head, *rest = text.split("\n\n")
            rng.shuffle(rest)
            out = target / f"synth-{copy:03d}-{name}"
            out.write_text(perturb("\n\n".join([head, *rest]), rng, vocabulary), encoding="utf-8")
            written.append(out)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=int, required=True, help="copies of each corpus file")
    parser.add_argument("--source", type=Path, default=REPO / "corpus", help="corpus folder (default corpus/)")
    parser.add_argument("--target", type=Path, help="output folder (default bench/synthetic/<factor>x)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    target = args.target or REPO / "bench" / "synthetic" / f"{args.factor}x"
    files = synthesize(args.source, target, args.factor, args.seed)
    print(f"{len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
