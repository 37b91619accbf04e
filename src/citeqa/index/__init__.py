"""Index: the index folder (layout, manifest, lock, swap), full and incremental builds, the SQLite store,
BM25 postings and the dense vectors (FAISS).
"""
