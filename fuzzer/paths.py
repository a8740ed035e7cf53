"""Where the built-in specs live: the source tree's specs/ (editable installs), or the copy a
regular install puts under <prefix>/share/blefuzz/specs, or $BLEFUZZ_SPECS."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def specs_dir() -> Path:
    env = os.environ.get("BLEFUZZ_SPECS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent / "specs"
    if (here / "invariants.yaml").is_file():
        return here
    return Path(sys.prefix) / "share" / "blefuzz" / "specs"


def corpora_dir() -> Path:
    """The seed programs (corpora/), beside specs/."""
    env = os.environ.get("BLEFUZZ_CORPORA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent / "corpora"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "blefuzz" / "corpora"
