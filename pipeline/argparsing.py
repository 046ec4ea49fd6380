"""Strict command-line parsing, shared by every ``marsad`` subcommand.

Beam's own ``PipelineOptions`` warns about an option it does not know and runs on
with the defaults, so a typo (``--dedup-threshold``, ``--sourcse``) silently
changes the result. Here:

- ``StrictParser`` (an ``argparse.ArgumentParser``) accepts marsad's long options
  spelt with dashes or underscores, refuses abbreviations, and raises
  ``UsageError`` (one ``marsad: error [code]`` line and a hint, exit code 2)
  instead of printing usage and exiting. Every parser made from it, including
  subcommands added later with ``commands.add_parser(...)``, behaves the same and
  takes ``-v/--verbose`` and ``-q/--quiet``.
- ``check_leftovers`` decides what the parser did not recognise: for commands
  marked with ``accept_beam_options(parser)`` an option is passed to Beam only if
  one of Beam's registered ``PipelineOptions`` classes declares it (and its value
  parses); anything else is an ``option_unknown`` error with a "did you mean".
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence

from marsad.errors import UsageError

# Packages whose PipelineOptions subclasses are marsad's own: their options are
# declared on the subcommands that use them, so they do not count as "Beam options".
_OWN_PACKAGES = ("marsad", "pipeline", "transforms", "schemas")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose; keeps text that has its own line breaks (exit-code tables) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class StrictParser(argparse.ArgumentParser):
    """An ArgumentParser that raises ``UsageError`` and takes ``--a-b`` for ``--a_b``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        # Defaults are set once on the top-level parser: a subcommand's -v must not
        # reset a -v given before the subcommand.
        self.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=argparse.SUPPRESS,
            help="-v: marsad's own log lines; -vv: Beam's too.",
        )
        self.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="No progress display and no summary table; errors and the verdict only.",
        )
        # The deepest parser that handled the command line (see ``command_parser``).
        self.set_defaults(_command_parser=self)

    # -- spelling ------------------------------------------------------------------
    def _respell(self, args: Sequence[str]) -> list[str]:
        """``--dedup-threshold`` → ``--dedup_threshold`` (and the reverse) when declared."""
        known = self._option_string_actions
        result = []
        for position, arg in enumerate(args):
            if arg == "--":
                result.extend(args[position:])
                break
            if arg.startswith("--") and len(arg) > 2:
                name, sep, value = arg.partition("=")
                if name not in known:
                    for variant in (
                        "--" + name[2:].replace("-", "_"),
                        "--" + name[2:].replace("_", "-"),
                    ):
                        if variant in known:
                            arg = variant + sep + value
                            break
            result.append(arg)
        return result

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        import sys

        args = self._respell(list(sys.argv[1:] if args is None else args))
        try:
            return super().parse_known_args(args, namespace)
        except UsageError as error:
            # "--input is required" while "--inptu" was given: the typo is the news.
            if error.reason == "option_missing":
                stray = self._stray_option(args)
                if stray:
                    raise unknown_option(stray, self) from None
            raise

    def _stray_option(self, args: list[str]) -> str | None:
        """The first option in ``args`` that neither this parser nor Beam (if taken) knows."""
        candidates = []
        for arg in args:
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            is_option = name.startswith("-") and len(name) > 1 and not name[1:2].isdigit()
            if is_option and name not in self._option_string_actions:
                candidates.append(name)
        if candidates and self._defaults.get("_beam_options"):
            beam = beam_options_parser()._option_string_actions
            candidates = [c for c in candidates if c not in beam]
        return candidates[0] if candidates else None

    # -- errors --------------------------------------------------------------------
    def error(self, message: str):  # type: ignore[override]
        raise usage_error(self, message)

    def option_names(self) -> list[str]:
        return [
            option
            for action in self._actions
            for option in action.option_strings
            if option.startswith("--") and action.help != argparse.SUPPRESS
        ]


def usage_error(parser: argparse.ArgumentParser, message: str) -> UsageError:
    """A ``UsageError`` with a reason code and a hint from argparse's message."""
    help_hint = f"`{parser.prog} --help` lists every option"
    choice = re.match(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        what, given, allowed = choice.groups()
        options = re.findall(r"'([^']*)'", allowed)
        close = difflib.get_close_matches(given, options, n=1)
        is_command = what.isupper()  # subcommand metavars are COMMAND / WHAT
        reason = "command_unknown" if is_command else "option_invalid"
        noun = "command" if is_command else f"value for {what}"
        text = f"unknown {noun} {given!r} for `{parser.prog}`"
        hint = (
            f"did you mean {close[0]!r}? " if close else ""
        ) + f"choose from {', '.join(options)}"
        return UsageError(text, reason=reason, hint=hint)
    if message.startswith("the following arguments are required"):
        return UsageError(message, reason="option_missing", hint=help_hint)
    if message.startswith("argument "):
        return UsageError(message, reason="option_invalid", hint=help_hint)
    if message.startswith("unrecognized arguments"):
        return UsageError(message, reason="option_unknown", hint=help_hint)
    return UsageError(message, reason="usage", hint=help_hint)


def command_parser(args: argparse.Namespace, default: argparse.ArgumentParser):
    """The (sub)parser of the command that ran, e.g. ``marsad eval topic``'s."""
    return getattr(args, "_command_parser", default)


def accept_beam_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Mark a subcommand whose leftover options go to Beam (after validation)."""
    parser.set_defaults(_beam_options=True)
    return parser


class _BeamOptionsParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(
            f"Beam option {message.removeprefix('argument ')}",
            reason="option_invalid",
            hint="see Beam's pipeline options documentation for the accepted values",
        )


def beam_options_parser() -> argparse.ArgumentParser:
    """A parser declaring every option of Beam's registered ``PipelineOptions`` classes.

    Built as Beam's ``PipelineOptions.get_all_options`` builds its own, minus
    marsad's classes, but strict: no abbreviations, errors raised.
    """
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser_class = type("_StrictBeamParser", (_BeamOptionsParser, _BeamArgumentParser), {})
    parser = parser_class(allow_abbrev=False, add_help=False)
    seen: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        if cls.__module__.split(".")[0] not in _OWN_PACKAGES:
            seen.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)  # the hook Beam itself calls
    return parser


def _suggest(name: str, parser: argparse.ArgumentParser, beam_names: list[str]) -> str | None:
    own = parser.option_names() if isinstance(parser, StrictParser) else []
    typed = name.lstrip("-").replace("-", "_")
    abbreviated = [o for o in own if o.lstrip("-").replace("-", "_").startswith(typed)]
    if typed and len(abbreviated) == 1:  # --out for --output: abbreviations are not accepted
        return abbreviated[0]

    def fold(option: str) -> str:
        return option.lstrip("-").replace("-", "_")

    for candidates in (own, beam_names):
        folded = {fold(option): option for option in candidates}
        close = difflib.get_close_matches(fold(name), list(folded), n=1, cutoff=0.7)
        if close:
            return folded[close[0]]
    return None


def check_leftovers(
    leftovers: list[str], args: argparse.Namespace, parser: argparse.ArgumentParser
) -> list[str]:
    """Leftover arguments a Beam-accepting command passes on; any other is an error."""
    if not leftovers:
        return []
    takes_beam = getattr(args, "_beam_options", False)
    beam = beam_options_parser() if takes_beam else None
    unknown = leftovers
    if beam is not None:
        _known, unknown = beam.parse_known_args(leftovers)
    if not unknown:
        return leftovers
    first = unknown[0]
    if not first.startswith("-"):
        raise UsageError(
            f"unexpected argument {first!r} for `{parser.prog}`",
            reason="option_unknown",
            hint=f"`{parser.prog}` takes options only here; `{parser.prog} --help`",
        )
    raise unknown_option(first.split("=", 1)[0], parser, beam)


def unknown_option(
    name: str, parser: argparse.ArgumentParser, beam: argparse.ArgumentParser | None = None
) -> UsageError:
    """``option_unknown`` for ``name``, suggesting the closest option marsad or Beam has."""
    takes_beam = bool(getattr(parser, "_defaults", {}).get("_beam_options"))
    if takes_beam and beam is None:
        beam = beam_options_parser()
    beam_names = (
        [o for a in beam._actions for o in a.option_strings if o.startswith("--")] if beam else []
    )
    close = _suggest(name, parser, beam_names)
    where = " (nor a Beam pipeline option)" if takes_beam else ""
    hint = f"did you mean {close}? " if close else ""
    hint += f"`{parser.prog} --help` lists every option"
    return UsageError(
        f"unknown option {name} for `{parser.prog}`{where}", reason="option_unknown", hint=hint
    )
