"""Print one of README.md's shell command blocks, so CI runs exactly what a user copies.

Usage: python3 .ci/readme_command.py N   (1: install and apply the quickstart, 2: run the tests)
"""
import pathlib
import re
import sys

readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
blocks = re.findall(r"^```sh\n(.*?)^```", readme.read_text(encoding="utf-8"), re.S | re.M)
n = int(sys.argv[1])
if len(blocks) < n:
    sys.exit(f"README.md has {len(blocks)} sh blocks; wanted block {n}")
print(blocks[n - 1].strip())
