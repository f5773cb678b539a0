"""Code that runs inside the guest (copied to /run/nsh and run by its python3).

In the guest these modules import each other by plain name (`import nsops`); the host
imports them only to share constants and to check the op registry, so their directory
goes on sys.path the same way."""

import os as _os
import sys as _sys

_here = _os.path.dirname(_os.path.abspath(__file__))
if _here not in _sys.path:
    _sys.path.append(_here)
