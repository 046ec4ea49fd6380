"""Fetching: HTTP with limits and deadlines, the address guard, per-host politeness,
robots.txt, body decoding, conditional-GET feed state and WARC capture."""
