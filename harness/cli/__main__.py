"""`python -m harness.cli ...` is the `nsharness` command."""

import sys

from .commands import main

sys.exit(main())
