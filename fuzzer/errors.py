"""Errors the command line turns into exit code 2 (bad usage or bad input), and the command
line's exit codes."""

from __future__ import annotations


class UsageError(Exception):
    """Bad usage: the command line prints this message and exits 2."""


#: Exit codes: nothing failed; a violation or finding; bad usage or input.
EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2
#: Exit code of a command stopped by Ctrl-C (SIGINT): 128 + the signal's number, as shells use.
EXIT_INTERRUPTED = 130
