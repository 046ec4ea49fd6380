"""The exit-code contract of the ``marsad`` command, and how a user error is printed.

A scheduler (cron, a Kubernetes CronJob, CI) acts on the exit code alone, so each
code means one thing and the codes do not move between versions:

==== =================  ======================================================
code name               meaning
==== =================  ======================================================
0    OK                 the run completed (failed feeds within --max_failed_feeds)
1    FAILED             the pipeline failed, or marsad hit a bug (please report)
2    BAD_INPUT          options, sources, topic file, tables or output path unusable;
                        nothing was fetched
3    OUTPUT_IN_USE      another run holds the output folder's lock
4    NOTHING_FETCHED    every feed failed: no article could even be listed
5    TOO_MANY_FAILED    the run completed but more than --max_failed_feeds of
                        the feeds failed
130  INTERRUPTED        stopped by Ctrl-C / SIGINT
==== =================  ======================================================

A user error prints exactly two lines on stderr and no traceback::

    marsad: error [option_unknown]: unknown option --sourcse for `marsad run`
      hint: did you mean --sources? `marsad run --help` lists every option
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import TextIO

from marsad.errors import InputError, MarsadError, SourcesError


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    OUTPUT_IN_USE = 3
    NOTHING_FETCHED = 4
    TOO_MANY_FAILED = 5
    INTERRUPTED = 130


EXIT_CODES_HELP = """\
exit codes:
  0    the run completed (failed feeds, if any, within --max_failed_feeds)
  1    the pipeline failed, or marsad hit a bug (rerun with -v for the traceback)
  2    bad input: options, sources, topic file or output path; nothing was fetched
  3    the output folder is in use by another run (its lock is held)
  4    nothing could be fetched: every feed failed (offline? see the summary)
  5    the run completed but more than --max_failed_feeds of the feeds failed
  130  interrupted (Ctrl-C)
the summary at the end says what happened and what to do; every failure reason
is explained in docs/troubleshooting.md."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code of an error that ended a command before its work was done."""
    # Imported here: the lock module pulls in Beam's filesystems.
    from pipeline.lock import OutputLockedError

    if isinstance(error, OutputLockedError):
        return ExitCode.OUTPUT_IN_USE
    if isinstance(error, InputError | SourcesError):
        return ExitCode.BAD_INPUT
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.FAILED


def default_hint(error: MarsadError) -> str:
    """A hint for errors raised without one: where the reason code is explained."""
    return f"docs/troubleshooting.md explains `{error.reason}`: causes and fixes"


def print_error(error: MarsadError, stream: TextIO | None = None) -> None:
    """``marsad: error [reason]: message`` and one hint line, on stderr."""
    stream = stream or sys.stderr
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = "; ".join(lines) or error.__class__.__name__
    print(f"marsad: error [{error.reason}]: {message}", file=stream)
    print(f"  hint: {error.hint or default_hint(error)}", file=stream)
