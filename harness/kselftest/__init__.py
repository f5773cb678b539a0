"""Kernel selftests (tools/testing/selftests) built from each kernel's own source and run
in its guest, under the harness (`--kselftest SPEC`, see docs/kselftest.md).

- spec: what `nsfs,pidfd,net:rtnetlink.sh` selects; the errors a selection can meet.
- source: the source a kernel was built from (its `--kernel-src` tree, or Debian's
  `linux-source-X.Y` of the kernel package's version) and its uapi headers.
- build: targets built once per (source, target), laid out as kselftest installs them.
- guest: install into the guest and run a program as kselftest's runner does.
- result: what a program did and the runner's verdict; per-check records of net scripts.
- records: a program's subtests as report records; ktap: the KTAP/TAP parser.

No pytest here: the items, one per program per kernel, are the plugin's (plugin/kselftest.py).
"""

from .build import (
    DEFAULT_TIMEOUT,
    BuiltTarget,
    InstalledTree,
    Program,
    build,
    build_target,
    settings_timeout,
)
from .guest import GUEST_ROOT, install, run_program
from .records import clip, program_test_id, subtest_records, subtest_test_id
from .result import SKIP_RC, TIMEOUT_RC, ProgramResult, Verdict, script_checks
from .source import Source, debian_source, debian_source_package, source_for, tree_source
from .spec import KselftestError, NotInSource, SpecError, TargetSpec, parse_spec, parse_specs

__all__ = [
    "DEFAULT_TIMEOUT",
    "GUEST_ROOT",
    "SKIP_RC",
    "TIMEOUT_RC",
    "BuiltTarget",
    "InstalledTree",
    "KselftestError",
    "NotInSource",
    "Program",
    "ProgramResult",
    "Source",
    "SpecError",
    "TargetSpec",
    "Verdict",
    "build",
    "build_target",
    "clip",
    "debian_source",
    "debian_source_package",
    "install",
    "parse_spec",
    "parse_specs",
    "program_test_id",
    "run_program",
    "script_checks",
    "settings_timeout",
    "source_for",
    "subtest_records",
    "subtest_test_id",
    "tree_source",
]
