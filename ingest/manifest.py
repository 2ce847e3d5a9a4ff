"""The corpus manifest: `corpus/manifest.json` describes each source document.

Files without an entry are still ingested; their title comes from the first heading
or the file name.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.errors import ConfigError
from assistant.types import DocumentMeta

MANIFEST_NAME = "manifest.json"
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")


def read_manifest(corpus_dir: Path) -> dict[str, DocumentMeta]:
    """File name → metadata, from `corpus_dir/manifest.json` (empty when absent)."""
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["documents"] if isinstance(data, dict) else data
        metas = {}
        for entry in entries:
            meta = DocumentMeta(
                doc=str(entry["doc"]),
                title=str(entry.get("title") or entry["doc"]),
                publisher=str(entry.get("publisher", "")),
                date=str(entry.get("date", "")),
                kind=str(entry.get("kind", "")),
                short_title=str(entry.get("short_title", "")),
                aliases=tuple(str(a) for a in entry.get("aliases", ())),
                uploaded_by=str(entry.get("uploaded_by", "")),
                uploaded=str(entry.get("uploaded", "")),
            )
            metas[meta.doc] = meta
        return metas
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ConfigError(f"{path} is not a valid manifest ({exc}): fix or delete it") from exc


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The ingestible files of a corpus folder, sorted by name (manifest and hidden files excluded)."""
    if not corpus_dir.is_dir():
        raise ConfigError(f"corpus folder not found: {corpus_dir}")
    return sorted(
        p
        for p in corpus_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_SUFFIXES
    )


def fallback_meta(doc: str, text: str) -> DocumentMeta:
    """Metadata for a file the manifest does not describe: first heading line, else the file name.

    >>> fallback_meta("notes.md", "# Field notes\\nbody").title
    'Field notes'
    """
    for line in text.splitlines():
        line = line.strip().strip("#").strip().strip("*").strip()
        if 3 <= len(line) <= 150:
            return DocumentMeta(doc=doc, title=line)
        if line:
            break
    return DocumentMeta(doc=doc, title=Path(doc).stem.replace("-", " ").replace("_", " "))
