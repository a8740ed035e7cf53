"""Errors the command line turns into exit code 2 (bad usage or bad input), and the exit code of
an interrupted command."""

from __future__ import annotations


class UsageError(Exception):
    """Bad usage: the command line prints this message and exits 2."""


#: Exit code of a command stopped by Ctrl-C (SIGINT): 128 + the signal's number, as shells use.
EXIT_INTERRUPTED = 130
