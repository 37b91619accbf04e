"""The error hierarchy: the library raises these, the CLI and UI turn them into messages."""

from __future__ import annotations


class CiteqaError(Exception):
    """Base of every error citeqa reports to a user; ``str(err)`` is the message."""

    exit_code = 1


class InputError(CiteqaError):
    """A question, argument or uploaded file that cannot be used."""

    exit_code = 2


class IndexReadOnlyError(InputError):
    """The index folder exists but cannot be written (read-only mount, no permission): reading it still works."""


class CorpusError(CiteqaError):
    """The corpus folder is missing, empty or holds nothing readable."""

    exit_code = 3


class IndexMissingError(CiteqaError):
    """No index has been built in the index folder."""

    exit_code = 4


class IndexIncompatibleError(CiteqaError):
    """The index was built with another model, dimension, settings or format."""

    exit_code = 4


class IndexCorruptError(CiteqaError):
    """A file of the index is damaged or missing."""

    exit_code = 4


class IndexBusyError(CiteqaError):
    """Another process is building the index."""

    exit_code = 5


class ModelError(CiteqaError):
    """The embedding model cannot be loaded."""

    exit_code = 6


class EngineError(CiteqaError):
    """A distributed engine is missing, or its cluster cannot be reached or failed the job."""

    exit_code = 7


class BindError(CiteqaError):
    """The server cannot listen on the address and port asked for (in use, not this machine's, unknown name)."""

    exit_code = 8


class DiskFullError(CiteqaError):
    """The disk filled up while writing (an index build, an upload); the message names the folder."""

    exit_code = 74
