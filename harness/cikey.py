"""`python -m harness.cikey --kernel SPEC` (the workflow's and the README's name for it): the
CI cache key, computed by harness.cli.cikey."""

import sys

from .cli.cikey import main

if __name__ == "__main__":
    sys.exit(main())
