"""`python -m fuzzer` runs the `blefuzz` command line."""

import sys

from fuzzer.cli import main

sys.exit(main())
