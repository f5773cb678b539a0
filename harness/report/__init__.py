"""Run reports, with no pytest in them: typed records and the JSON document (model), merge,
diff, coverage of the behaviour catalogue, rendering (terminal, html) and the KCIDB export
(kcidb). The plugin's collector fills them during a run; the CLI reads them after."""

from .model import OUTCOMES, SCHEMA_VERSION, Report, RunInfo, TestRecord, VmRecord, validate

__all__ = ["OUTCOMES", "SCHEMA_VERSION", "Report", "RunInfo", "TestRecord", "VmRecord", "validate"]
