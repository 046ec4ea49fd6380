"""Counters shared by benchmark steps running in-process (``__main__`` functions are
pickled by value, so their globals would be copies)."""

from collections import Counter

TALLY: Counter = Counter()
