"""One exception tree. Every message says what to do next.

The CLI maps `McofError` to exit status 1 and anything else to 2; the UI shows the
message. Tracebacks go to the log only.
"""

from __future__ import annotations


class McofError(Exception):
    """Root of every error the user can act on."""


class ConfigError(McofError):
    """A setting is missing or malformed."""


class InputError(McofError):
    """A query, description or batch line is unusable (empty, too long, malformed)."""


_EMPTY_INPUT = {
    "query": "the query is empty: type a question or some keywords",
    "question": "the question is empty: type a question about the MCOF documents",
    "description": "the project description is empty: describe the project in a few sentences",
}


class EmptyInputError(InputError):
    """The text of a search, question or project description is empty.

    >>> str(EmptyInputError("project"))
    'the project description is empty: describe the project in a few sentences'
    """

    def __init__(self, what: str) -> None:
        what = "description" if what == "project" else what
        super().__init__(_EMPTY_INPUT.get(what, f"the {what} is empty"))


class NotCoveredError(InputError):
    """The project description reads like nothing the MCOF covers (nonsense, another field)."""


class DocumentError(McofError):
    """A source file cannot be read (binary, corrupt, not UTF-8, too large)."""


class IndexMissingError(McofError):
    def __init__(self, where: str) -> None:
        super().__init__(f"index not found at {where}: run `mcof ingest`")


class IndexMismatchError(McofError):
    """The index was built with another embedding model or dimension."""


class IngestRunningError(McofError):
    def __init__(self) -> None:
        super().__init__("ingest already running: wait for it to finish, then try again")


class FeedbackError(McofError):
    """Feedback could not be saved: the database stayed locked by other writers, or failed."""


class ConversationError(McofError):
    """A conversation could not be saved or read: its database stayed locked by other writers, or failed."""


class StoreError(McofError):
    """The vector store is unreachable or failed."""


class EmbeddingError(McofError):
    """The embedding model cannot be loaded."""


class LLMError(McofError):
    """The LLM backend is down, slow or returned something unusable."""


class FrameworkError(McofError):
    """The corpus does not hold the MCOF structure (sectors, phases, objectives)."""


class ModelError(McofError):
    """A model's files are missing, damaged or could not be installed (see `assistant.models`)."""


class ModelMissingError(ModelError):
    """A model is not installed; the message names the command that installs it.

    >>> str(ModelMissingError("tiny", "run `mcof models install tiny`"))
    "model 'tiny' is not installed: run `mcof models install tiny`"
    """

    def __init__(self, model: str, fix: str) -> None:
        super().__init__(f"model {model!r} is not installed: {fix}")
        self.model = model


class ModelCorruptError(ModelError):
    """A model's files do not match the sha256 pinned in the registry, or changed since they were checked."""


class ModelInstallError(ModelError):
    """A model's parts could not be fetched or assembled."""
