"""Import every module of the installed mlform packages; fail on any ImportError.

Run in a venv holding only the core install (no extras): a module that
imports an extra's SDK at import time, or a core dependency pyproject.toml
does not declare, fails here. Extras are imported lazily, inside the
functions that need them, behind engine/extras.py's require_extra().
"""
import importlib
import pkgutil
import sys

failed = []
count = 0
for top in ("mlform.engine", "mlform.providers", "mlform.schemas"):
    pkg = importlib.import_module(top)
    for info in pkgutil.walk_packages(pkg.__path__, top + "."):
        if info.name.endswith("__main__"):
            continue
        count += 1
        try:
            importlib.import_module(info.name)
        except ImportError as e:
            failed.append(f"{info.name}: {type(e).__name__}: {e}")
for f in failed:
    print(f"import failed: {f}", file=sys.stderr)
print(f"imported {count - len(failed)} of {count} modules without extras")
sys.exit(1 if failed else 0)
