"""Exact and near-duplicate detection: shingles, MinHash, LSH, verified clusters."""
