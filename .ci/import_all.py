"""Import every module of the installed mlform packages; fail on any ImportError.

Run in a venv holding only the core install (no extras): a module that
imports an extra's SDK at import time, or a core dependency pyproject.toml
does not declare, fails here. Extras are imported lazily, inside the
functions that need them, behind engine/extras.py's require_extra(); the
few modules that exist only for an extra are listed in EXTRA_ONLY below.
"""
import importlib
import pkgutil
import sys

# Modules that exist only to serve an extra, and import its SDK at the top: each is
# imported only behind require_extra() for that extra. Here they may fail only on a
# module of that extra (engine/extras.py's table); anything else is still a failure.
EXTRA_ONLY = {
    "mlform.providers.server.grpc_server": "grpc",
    "mlform.providers.ray.app": "ray",  # the Serve deployments, imported on the cluster by import path
}

from mlform.engine.extras import EXTRAS  # noqa: E402

failed = []
count = 0
skipped = []
for top in ("mlform.engine", "mlform.providers", "mlform.schemas"):
    pkg = importlib.import_module(top)
    for info in pkgutil.walk_packages(pkg.__path__, top + "."):
        if info.name.endswith("__main__"):
            continue
        count += 1
        try:
            importlib.import_module(info.name)
        except ImportError as e:
            extra = EXTRA_ONLY.get(info.name)
            missing = getattr(e, "name", None) or ""
            if extra and any(missing == m or missing.startswith(m + ".") or m.startswith(missing + ".")
                             for m in EXTRAS[extra]):
                skipped.append(f"{info.name} (needs mlform[{extra}]: {missing} is not installed)")
                continue
            failed.append(f"{info.name}: {type(e).__name__}: {e}")
for f in failed:
    print(f"import failed: {f}", file=sys.stderr)
for s in skipped:
    print(f"not imported: {s}")
print(f"imported {count - len(failed) - len(skipped)} of {count} modules without extras")
sys.exit(1 if failed else 0)
