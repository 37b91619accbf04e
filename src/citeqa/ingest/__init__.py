"""Ingest: files of a folder become Documents (text, Markdown, HTML, PDF, Word), then sentences and Chunks.

Pure text functions live here too (sentence spans, BM25 terms). Nothing here loads a model or imports a later stage.
"""
