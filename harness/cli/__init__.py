"""The `nsharness` command (main): run, kernel, image, shell, doctor, bisect, report.
Its verbs' inputs are checked first (inputs); doctor, bisect, the report verbs (report)
and the CI cache key (cikey) each have their module."""

from .commands import build_parser, main

__all__ = ["build_parser", "main"]
