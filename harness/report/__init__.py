"""Run reports: typed records (model), collection during a pytest run (collect), merge,
diff, coverage of the behaviour catalogue, and rendering (terminal, HTML)."""

from .model import OUTCOMES, SCHEMA_VERSION, Report, RunInfo, TestRecord, VmRecord, validate

__all__ = ["OUTCOMES", "SCHEMA_VERSION", "Report", "RunInfo", "TestRecord", "VmRecord", "validate"]
