"""Wheel builds carry the guest recipe (vm-images/) and the scenario suite (tests/scenarios/)
inside the package, so an installed nsharness needs no checkout (harness/resources.py)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = (("vm-images", "vm-images"), ("tests/scenarios", "scenarios"))


class BuildWithShipped(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        for src, dst in SHIPPED:
            target = Path(self.build_lib) / "harness" / "_shipped" / dst
            shutil.copytree(
                ROOT / src,
                target,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


setup(cmdclass={"build_py": BuildWithShipped})
