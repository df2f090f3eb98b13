"""The engine core (:class:`Core`): validate, plan, apply, refresh, import, recover and run
suites for one project, from Python, without the CLI. See :mod:`mlform.engine.core.core`."""

from mlform.engine.core.core import Core, PlanOptions, Progress, import_target_check
from mlform.engine.core.results import (
    ApplyResult, ImportResult, PlanResult, RecoverResult, RefreshResult, SuitesResult, ValidateResult,
)

__all__ = ["ApplyResult", "Core", "ImportResult", "PlanOptions", "PlanResult", "Progress", "RecoverResult",
           "RefreshResult", "SuitesResult", "ValidateResult", "import_target_check"]
