"""Documents added in the app: their own folder, never mixed with the official corpus.

Each upload is a file in the uploads folder plus an entry in its `manifest.json` (title,
publisher, date, who added it and when). Its document id is "uploads/<file name>", so an
upload can never stand in for an official source; a file name already taken (by an official
source or another upload) gets a free one. Official sources are read-only here: only uploads
can be replaced, edited or deleted. Callers hold the ingest lock while changing the folder.

>>> free_name("notes.md", {"notes.md", "notes-2.md"})
'notes-3.md'
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Collection
from dataclasses import asdict, replace
from pathlib import Path

from assistant.errors import InputError
from assistant.files import replace_file, replace_text
from assistant.types import Document, DocumentMeta
from ingest.manifest import MANIFEST_NAME, corpus_files, read_manifest

UPLOAD_PREFIX = "uploads/"


def free_name(name: str, taken: Collection[str]) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`... when it is taken."""
    path = Path(name)
    n = 1
    while name in taken:
        n += 1
        name = f"{path.stem}-{n}{path.suffix}"
    return name


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` through a hidden temporary file: never ingested half-copied."""
    try:
        replace_file(target, lambda partial: shutil.copyfile(source, partial))
    except OSError as exc:
        raise InputError(f"{source.name}: cannot be copied into {target.parent} ({exc.strerror or exc})") from exc


def is_upload(doc: str) -> bool:
    return doc.startswith(UPLOAD_PREFIX)


class UploadFolder:
    """The uploads folder at `root`: its files and their manifest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def files(self) -> list[Path]:
        return corpus_files(self.root) if self.root.is_dir() else []

    def entries(self) -> dict[str, DocumentMeta]:
        """Document id ("uploads/x.md") → metadata, for the files that are there."""
        present = {UPLOAD_PREFIX + p.name for p in self.files()}
        return {doc: meta for doc, meta in read_manifest(self.root).items() if doc in present}

    def add(
        self,
        path: Path,
        load: Callable[[Path], Document],
        *,
        user: str,
        when: str,
        official: Collection[str],
        replace_own: bool = False,
    ) -> DocumentMeta:
        """Store a copy of `path` (after `load` read it: a file it rejects is never stored); returns its entry.

        A name taken by an official source or another upload gets a free one, unless `replace_own`
        and the upload of that name was added by `user`: then it is replaced (a new version).
        """
        document = load(path)  # raises DocumentError for an empty or unreadable file
        entries = self.entries()
        doc = UPLOAD_PREFIX + path.name
        own = doc in entries and entries[doc].uploaded_by == user
        if not (replace_own and own and path.name not in official):
            taken = set(official) | {d.removeprefix(UPLOAD_PREFIX) for d in entries}
            doc = UPLOAD_PREFIX + free_name(path.name, taken)
        previous = entries.get(doc)
        fallback = document.meta
        meta = DocumentMeta(
            doc=doc,
            title=previous.title if previous else fallback.title,
            publisher=previous.publisher if previous else "",
            date=previous.date if previous else "",
            kind=previous.kind if previous else "upload",
            uploaded_by=user,
            uploaded=when,
        )
        self.root.mkdir(parents=True, exist_ok=True)
        copy_file(path, self.root / doc.removeprefix(UPLOAD_PREFIX))
        self._write({**entries, doc: meta})
        return meta

    def edit(self, doc: str, title: str, publisher: str, date: str) -> None:
        """Change an upload's title, publisher and date (a title cannot be empty)."""
        entries = self._own(doc)
        if not title.strip():
            raise InputError("a document needs a title")
        meta = replace(entries[doc], title=title.strip(), publisher=publisher.strip(), date=date.strip())
        self._write({**entries, doc: meta})

    def delete(self, doc: str) -> None:
        entries = self._own(doc)
        (self.root / doc.removeprefix(UPLOAD_PREFIX)).unlink(missing_ok=True)
        self._write({d: m for d, m in entries.items() if d != doc})

    def _own(self, doc: str) -> dict[str, DocumentMeta]:
        """The entries, after checking that `doc` is an upload that is there."""
        if not is_upload(doc):
            raise InputError(f"{doc} is an official source: it cannot be changed or deleted in the app")
        entries = self.entries()
        if doc not in entries:
            raise InputError(f"{doc}: no such uploaded document (already deleted?)")
        return entries

    def _write(self, entries: dict[str, DocumentMeta]) -> None:
        rows = [{k: v for k, v in asdict(m).items() if v not in ("", ())} for m in entries.values()]
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / MANIFEST_NAME
        replace_text(path, json.dumps({"documents": rows}, indent=2, ensure_ascii=False))
