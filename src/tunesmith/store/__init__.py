"""Store: the SQLite registry of runs and evaluations under TUNESMITH_HOME."""

from tunesmith.store.registry import (
    MIGRATIONS,
    STATUSES,
    SUMMARY_KEYS,
    TRANSITIONS,
    EvalRecord,
    RunRecord,
    RunRegistry,
    read_run_folder,
    read_run_json,
    register_run_folder,
)

__all__ = [
    "MIGRATIONS",
    "STATUSES",
    "SUMMARY_KEYS",
    "TRANSITIONS",
    "EvalRecord",
    "RunRecord",
    "RunRegistry",
    "read_run_folder",
    "read_run_json",
    "register_run_folder",
]
