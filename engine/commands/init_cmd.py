"""init: check providers and backend, create .mlform/, migrate state when the backend changed.

As Terraform's ``init``: the backend set up last time is recorded (in
``.mlform/backend.json``). When the configuration names another one and the
old one holds state, ``init`` stops and says what to do: ``--migrate-state``
copies the state across (asking for ``yes``; ``--force-copy`` answers for
you), ``--reconfigure`` uses the new backend as it is.
"""

from __future__ import annotations

import sys
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error


def _check_providers(s: C.Session, cfg: Any) -> set[str]:
    from mlform.engine.providers.registry import available, get_provider_class
    names = {p.name for p in cfg.providers.values()} | {r.provider_name for r in cfg.resources.values()}
    missing = [n for n in sorted(names) if get_provider_class(n) is None]
    if missing:
        s.fail(Diagnostics([error(f'Provider "{m}" is not available',
                                  f"Installed providers: {', '.join(available())}. Install the extra that brings it "
                                  "(e.g. pip install 'mlform[aws]').") for m in missing]))
    return names


def _confirm(old: str, new: str) -> bool:
    sys.stdout.write(f"\nDo you want to copy the existing state to the new backend?\n  The state in {old} will be "
                     f"copied to {new}; the old copy is left as it is.\n  Only 'yes' will be accepted to "
                     "approve.\n\n  Enter a value: ")
    sys.stdout.flush()
    return sys.stdin.readline().strip() == "yes"


def run_init(s: C.Session, migrate: bool = False, force_copy: bool = False, reconfigure: bool = False,
             lock_timeout: str = "0s") -> int:
    """``mlform init [--migrate-state] [--force-copy] [--reconfigure] [--lock-timeout D]``."""
    from mlform.engine.state.factory import migrate_state

    cfg, _ = C.load(s)
    (s.directory / ".mlform").mkdir(exist_ok=True)
    names = _check_providers(s, cfg)
    kind, conf = C.backend_settings(cfg)
    rng = cfg.backend.rng if cfg.backend is not None else None
    new = C.backend_for(s, kind, conf, rng)
    # Before any init, the project used the default local file.
    old_kind, old_conf = C.recorded_backend(s) or C.backend_settings(None)
    if migrate and reconfigure:
        s.fail(Diagnostics([error("Conflicting options", "--migrate-state copies the state to the new backend and "
                                  "--reconfigure ignores it; choose one.")]))
    if (old_kind, old_conf) != (kind, conf) and not reconfigure:
        old = C.backend_for(s, old_kind, old_conf)
        if old.read() is not None:
            if not (migrate or force_copy):
                s.fail(Diagnostics([error(
                    "Backend configuration changed",
                    f"The state is in {old.location}, but the configuration now names {new.location}. Run "
                    "`mlform init --migrate-state` to copy it there, or `mlform init --reconfigure` to start "
                    "from whatever the new backend holds (the old state stays where it is).", rng)]))
            if not force_copy:
                if not sys.stdin.isatty():
                    s.fail(Diagnostics([error(
                        "No terminal to confirm the state migration",
                        f"Copying the state from {old.location} to {new.location} needs `yes` at a terminal. "
                        "Pass --force-copy to copy without asking.", rng)]))
                if not _confirm(old.location, new.location):
                    sys.stdout.write("\nMigration cancelled; nothing was copied.\n")
                    return C.EXIT_ERROR
            try:
                st = migrate_state(old, new, lock_timeout_s=C.parse_duration(lock_timeout))
            except DiagnosticsError as e:
                s.fail(e)
            sys.stdout.write(f"Copied the state (serial {st.serial if st else 0}) from {old.location} to "
                             f"{new.location}. The old copy is unchanged; remove it once the new backend works.\n")
    C.record_backend(s, kind, conf)
    C.state_manager(s, cfg).load()
    sys.stdout.write(f"Initialized mlform in {s.directory}\n  providers: {', '.join(sorted(names)) or 'none'}\n"
                     f"  backend: {kind}\n")
    return C.EXIT_OK
