"""What to fetch: the sources file, feed parsing into entries, canonical URLs and ids."""
