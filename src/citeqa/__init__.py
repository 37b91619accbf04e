"""citeqa: ask questions of a folder of documents; every answer is a verbatim, cited quote."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["QA", "Settings", "__version__"]


def __getattr__(name: str):
    if name == "QA":
        from citeqa.qa import QA

        return QA
    if name == "Settings":
        from citeqa.config import Settings

        return Settings
    raise AttributeError(name)
