"""One exception hierarchy for everything that can go wrong with one record.

Each error carries a short, stable ``reason`` code (``http_404``, ``timeout``,
``feed_malformed`` ...) that lands in the failures dataset, and a message a user
can act on. Stages catch ``MarsadError`` and turn it into a failure row; anything
else is a bug and is dead-lettered with reason ``internal_error``. At the
command line a ``MarsadError`` is one ``marsad: error [reason]: message`` line
and its ``hint`` (what to do about it); see docs/troubleshooting.md.
"""

from __future__ import annotations

# A message is read by a person in one line of a terminal or one cell of a table; a
# hostile input (a 2 GB YAML alias expansion, a 50 MB body) must not become one.
MAX_MESSAGE_CHARS = 2000


def bounded(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``str(text)`` cut to ``limit`` characters, saying how much was cut."""
    value = str(text)
    if len(value) <= limit:
        return value
    return f"{value[: limit - 40]}... [{len(value) - limit + 40} more characters]"


class MarsadError(Exception):
    """Base class. ``reason`` is the machine-readable code, ``str(e)`` the message."""

    reason: str = "error"
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        http_status: int | None = None,
        attempts: int = 1,
        hint: str | None = None,
    ) -> None:
        super().__init__(bounded(message))
        if reason is not None:
            self.reason = reason
        if hint is not None:
            self.hint = hint
        self.http_status = http_status
        self.attempts = attempts


class SourcesError(MarsadError):
    """The sources file is malformed. Raised before any fetch."""

    reason = "sources_invalid"
    hint = "the sources file format is in README.md, 'Running on real feeds'"


class FetchError(MarsadError):
    """An HTTP fetch failed (status, timeout, size, scheme, redirect loop ...)."""

    reason = "fetch_failed"


class FeedError(MarsadError):
    """A feed body could not be turned into entries."""

    reason = "feed_malformed"


class EntryError(MarsadError):
    """A feed entry is unusable (no link, unsupported URL)."""

    reason = "entry_invalid"


class ExtractionError(MarsadError):
    """No usable article text from the page nor from the feed."""

    reason = "extraction_empty"


class InputError(MarsadError):
    """A table or option given on the command line is unusable (missing column, bad value)."""

    reason = "input_invalid"


class StorageError(MarsadError):
    """The output folder cannot be read or written as the run needs (read-only, full,
    a corrupt state file). Raised before anything of the run is committed."""

    reason = "storage_error"


class UsageError(InputError):
    """The command line itself is wrong: an unknown option, a bad value, a missing argument."""

    reason = "usage"


class OutputError(InputError):
    """The output path cannot be used (a file where a folder is needed, not writable)."""

    reason = "output_unusable"
