"""Errors the command line turns into exit code 2 (bad usage or bad input)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad usage: the command line prints this message and exits 2."""
