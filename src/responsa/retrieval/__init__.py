"""Retrieval for file search: text extraction, chunking, embeddings, hybrid ranking and
attribute filters. No I/O of its own beyond the embedding endpoint; the store keeps the chunks."""
