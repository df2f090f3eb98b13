"""Packages live in engine/, providers/ and schemas/ and install as mlform.*.

pyproject.toml maps the folders (package-dir); this file only lists the
sub-packages, which setuptools' own finder cannot rename.
"""
from setuptools import find_packages, setup

TOPS = ("engine", "providers", "schemas")
packages = []
for top in TOPS:
    packages.append(f"mlform.{top}")
    # providers/testing is the test suite's provider (tests/conftest.py registers it): not shipped.
    packages += [f"mlform.{top}.{sub}" for sub in find_packages(top, exclude=["testing", "testing.*"])]

setup(packages=packages)
