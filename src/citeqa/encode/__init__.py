"""Encode: the Embedder protocol and its implementations (numpy and torch BERT), weights, pooling, threads."""
