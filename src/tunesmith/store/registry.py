"""The run registry: an SQLite index of runs and evaluations under TUNESMITH_HOME.

The run folder is the source of truth (run.json, config.yaml, weights); the registry is an index
over run folders so that `tunesmith runs list` does not have to crawl the disk and so that
evaluations can refer to runs. A run folder deleted or moved by hand is reported as `missing`,
never as an error.

The schema evolves through named migrations applied on open, in order, each recorded in
`_migrations` so it never runs twice (the approach of simonw/llm). Several processes may open
the file at once (torchrun ranks, a server, the CLI), so it uses WAL mode (readers never block
the writer) and a busy timeout, and every write takes the write lock up front.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError, UsageError
from tunesmith.home import tunesmith_home

DB_FILENAME = "tunesmith.db"
DEFAULT_TIMEOUT_S = 30.0

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
# queued -> running -> succeeded | failed | cancelled; a failed or cancelled run may be resumed.
# A queued run may also fail (its setup broke) or be cancelled before it starts, as the
# trainer's run folder allows (train/runfolder.py).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "failed", "cancelled"),
    "running": ("succeeded", "failed", "cancelled"),
    "succeeded": (),
    "failed": ("running",),
    "cancelled": ("running",),
}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

# A migration is a name and either an SQL script or a function given the connection. Both run
# inside a transaction that also records the name: a function must not commit.
Migration = tuple[str, str | Callable[[sqlite3.Connection], None]]

MIGRATIONS: list[Migration] = [
    (
        "m001_runs",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            status TEXT NOT NULL,
            method TEXT,
            model TEXT,
            base_model_sha256 TEXT,
            data_sha256 TEXT,
            created_at TEXT,
            started_at TEXT,
            ended_at TEXT,
            config_json TEXT NOT NULL DEFAULT '{}',
            summary_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX runs_name ON runs(name);
        CREATE INDEX runs_path ON runs(path);
        CREATE INDEX runs_status ON runs(status);
        """,
    ),
    (
        "m002_evals",
        # SET NULL: forgetting a run must not throw away scores that took long to compute;
        # model_key still says which model they belong to.
        """
        CREATE TABLE evals (
            id INTEGER PRIMARY KEY,
            run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
            model_key TEXT NOT NULL,
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL,
            scores_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX evals_run_id ON evals(run_id);
        """,
    ),
]

# run.json keys copied into a run's summary (what `runs list` shows without opening files).
SUMMARY_KEYS = (
    "wall_seconds",
    "trainable_parameters",
    "total_parameters",
    "peak_memory_mb",
    "tokens_seen",
    "steps",
    "final_train_loss",
    "best_val_loss",
    "error",
    "best_step",
    "stopped_early",
    "trainable_share",
)


def utc_now() -> str:
    """The current time as ISO 8601 UTC (`2025-01-02T10:00:00Z`), as run.json writes it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunRecord:
    """One run as the registry knows it; `path` is the absolute run folder."""

    id: str
    name: str
    path: str
    status: str = "queued"
    method: str | None = None
    model: str | None = None
    base_model_sha256: str | None = None
    data_sha256: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> bool:
        """True when the run folder no longer exists (deleted or moved by hand)."""
        return not Path(self.path).is_dir()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missing": self.missing}


@dataclass
class EvalRecord:
    """One evaluation result: scores of one model (`model_key`) on one kind of evaluation."""

    id: int
    run_id: str | None
    model_key: str
    kind: str
    created_at: str
    scores: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunRegistry:
    """The SQLite run registry; use as a context manager or call `close()`."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.path = Path(path) if path is not None else tunesmith_home() / DB_FILENAME
        self._conn = _connect(self.path, timeout)
        try:
            migrate(self._conn, migrations)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise _database_error(self.path, exc) from exc

    def __enter__(self) -> RunRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    # -- runs -----------------------------------------------------------------------------

    def upsert_run(self, record: RunRecord) -> RunRecord:
        """Insert or replace what the registry knows about a run, as the run folder says it.

        This mirrors a run folder, so it does not check the state machine (`set_status` does);
        `created_at` is kept from the first insert when the new record has none.
        """
        _check_status(record.status)
        record = replace(record, path=str(Path(record.path).expanduser().resolve()))
        row = _record_to_row(record)
        columns = ", ".join(row)
        values = ", ".join(
            "COALESCE(:created_at, :now)" if name == "created_at" else f":{name}" for name in row
        )
        updates = ", ".join(
            "created_at = COALESCE(:created_at, runs.created_at)"
            if name == "created_at"
            else f"{name} = excluded.{name}"
            for name in row
            if name != "id"
        )
        # ON CONFLICT ... DO UPDATE, not INSERT OR REPLACE: a replace deletes the row first,
        # which would detach the run's evaluations.
        with self._write():
            self._conn.execute(
                f"INSERT INTO runs ({columns}) VALUES ({values}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                {**row, "now": utc_now()},
            )
        return self.get_run(record.id)

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        ended_at: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Move a run along the state machine; `summary` is merged into the stored summary."""
        _check_status(status)
        with self._write():
            record = self._fetch_by_id(run_id)
            if record is None:
                raise UsageError(f"no run with id {run_id!r} in the run registry")
            _check_transition(record, status)
            if status == "running":
                record.started_at = record.started_at or utc_now()
                record.ended_at = None  # a resumed run is no longer finished
            else:
                record.ended_at = ended_at or utc_now()
            record.status = status
            record.summary = {**record.summary, **(summary or {})}
            self._conn.execute(
                "UPDATE runs SET status = ?, started_at = ?, ended_at = ?, summary_json = ? "
                "WHERE id = ?",
                (status, record.started_at, record.ended_at, _dumps(record.summary), run_id),
            )
        return record

    def get_run(self, ref: str) -> RunRecord:
        """A run by id, run folder path, unique name or unique id prefix (in that order)."""
        if not ref.strip():
            raise UsageError("an empty run reference matches nothing", hint="pass a run id or name")
        found = self._fetch_by_id(ref) or self._unique(ref, "path = ?", _as_path(ref))
        found = found or self._unique(ref, "name = ?", ref)
        found = found or self._unique(ref, "substr(id, 1, ?) = ?", len(ref), ref)
        if found is None:
            raise self._not_found(ref)
        return found

    def list_runs(self, status: str | None = None) -> list[RunRecord]:
        """Runs, newest first; only those with `status` when given."""
        where, params = ("", ()) if status is None else ("WHERE status = ?", (status,))
        if status is not None:
            _check_status(status)
        rows = self._conn.execute(
            f"SELECT * FROM runs {where} ORDER BY created_at IS NULL, created_at DESC, id",
            params,
        ).fetchall()
        return [_row_to_record(row) for row in rows]

    def forget_run(self, ref: str) -> RunRecord:
        """Remove a run from the registry (never touches its folder); returns what was removed."""
        record = self.get_run(ref)
        with self._write():
            self._conn.execute("DELETE FROM runs WHERE id = ?", (record.id,))
        return record

    # -- evals ----------------------------------------------------------------------------

    def record_eval(
        self,
        *,
        model_key: str,
        kind: str,
        scores: dict[str, Any],
        run_id: str | None = None,
        created_at: str | None = None,
    ) -> EvalRecord:
        """Store one evaluation result; `run_id`, when given, must be a registered run."""
        if run_id is not None and self._fetch_by_id(run_id) is None:
            raise UsageError(
                f"cannot record an evaluation for run {run_id!r}: it is not in the run registry",
                hint="register the run folder first, or record the evaluation without a run",
            )
        record = EvalRecord(0, run_id, model_key, kind, created_at or utc_now(), dict(scores))
        with self._write():
            cursor = self._conn.execute(
                "INSERT INTO evals (run_id, model_key, kind, created_at, scores_json) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, model_key, kind, record.created_at, _dumps(record.scores)),
            )
        record.id = int(cursor.lastrowid or 0)
        return record

    def list_evals(self, run_id: str | None = None) -> list[EvalRecord]:
        """Evaluations in the order they were recorded; only those of `run_id` when given."""
        where, params = ("", ()) if run_id is None else ("WHERE run_id = ?", (run_id,))
        rows = self._conn.execute(f"SELECT * FROM evals {where} ORDER BY id", params).fetchall()
        return [
            EvalRecord(
                id=row["id"],
                run_id=row["run_id"],
                model_key=row["model_key"],
                kind=row["kind"],
                created_at=row["created_at"],
                scores=json.loads(row["scores_json"]),
            )
            for row in rows
        ]

    # -- helpers --------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction; the lock is taken at BEGIN, so a busy database is waited for
        (busy timeout) instead of failing halfway when a read would have to turn into a write."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full
            raise TunesmithError(
                f"cannot write to the run registry {self.path}: {exc}",
                hint="another tunesmith process may hold it for long; retry",
            ) from exc

    def _fetch_by_id(self, run_id: str) -> RunRecord | None:
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _row_to_record(row) if row is not None else None

    def _unique(self, ref: str, where: str, *params: object) -> RunRecord | None:
        rows = self._conn.execute(
            f"SELECT * FROM runs WHERE {where} ORDER BY id LIMIT 11", params
        ).fetchall()
        if len(rows) > 1:
            count = "more than 10" if len(rows) > 10 else str(len(rows))
            matches = ", ".join(f"{row['id']} ({row['name']})" for row in rows[:10])
            raise UsageError(
                f"run {ref!r} is ambiguous: it matches {count} runs",
                hint=f"use a full or longer id: {matches}",
            )
        return _row_to_record(rows[0]) if rows else None

    def _not_found(self, ref: str) -> UsageError:
        rows = self._conn.execute("SELECT id, name FROM runs").fetchall()
        candidates = [row["id"] for row in rows] + [row["name"] for row in rows]
        close = difflib.get_close_matches(ref, candidates, n=5, cutoff=0.5)
        if close:
            hint = "did you mean: " + ", ".join(dict.fromkeys(close)) + "?"
        elif (Path(ref).expanduser() / "run.json").is_file():
            hint = "that folder has a run.json but is not registered (training registers its runs)"
        else:
            hint = "see `tunesmith runs list` for the known runs"
        return UsageError(f"no run {ref!r} in the run registry", hint=hint)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply, in order, the migrations not yet recorded in `_migrations`; return their names.

    Each migration runs in its own write transaction together with its record, so a failed
    migration leaves nothing behind, and two processes opening a new database at once cannot
    both apply it (the second sees the record once it gets the lock).
    """
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    applied: list[str] = []
    for name, step in migrations:
        if _is_applied(conn, name):  # cheap check without the write lock
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _is_applied(conn, name):
                _run_step(conn, step)
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, utc_now()))
                applied.append(name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return applied


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the applied migrations, in the order they were applied."""
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def register_run_folder(run_dir: Path, registry: RunRegistry | None = None) -> RunRecord:
    """Read a run folder's run.json and config.yaml and upsert the run into the registry.

    Called by the trainer when a run starts and ends; also re-indexes a run folder copied from
    another machine. Opens (and closes) the default registry when none is given.
    """
    record = read_run_folder(run_dir)
    if registry is not None:
        return registry.upsert_run(record)
    with RunRegistry() as default_registry:
        return default_registry.upsert_run(record)


def read_run_folder(run_dir: Path) -> RunRecord:
    """A RunRecord built from a run folder's run.json and config.yaml (nothing is stored)."""
    run_dir = Path(run_dir).expanduser().resolve()
    run = read_run_json(run_dir)
    if run is None:
        raise UsageError(
            f"{run_dir} is not a run folder: it has no run.json",
            hint="pass the folder that training wrote (it holds run.json and config.yaml)",
        )
    if not run.get("id"):
        raise TunesmithError(f"{run_dir / 'run.json'} has no run id", hint="it is not a run.json")
    model, data = run.get("model") or {}, run.get("data") or {}
    return RunRecord(
        id=str(run["id"]),
        name=str(run.get("name") or run_dir.name),
        path=str(run_dir),
        status=str(run.get("status") or "queued"),
        method=_text(run.get("method")),
        model=_text(model.get("name") if isinstance(model, dict) else model),
        base_model_sha256=model.get("sha256") if isinstance(model, dict) else None,
        data_sha256=data.get("sha256") if isinstance(data, dict) else None,
        created_at=run.get("created_at"),
        started_at=run.get("started_at"),
        ended_at=run.get("ended_at"),
        config=_read_config_yaml(run_dir),
        summary={key: run.get(key) for key in SUMMARY_KEYS},
    )


def read_run_json(run_dir: Path) -> dict[str, Any] | None:
    """A run folder's run.json, or None when the folder or the file is gone."""
    path = Path(run_dir) / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    if not isinstance(data, dict):
        raise _unreadable(path, "not a JSON object")
    return data


def _read_config_yaml(run_dir: Path) -> dict[str, Any]:
    import yaml

    path = run_dir / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # a run registered before its config was written still gets indexed
    except (OSError, yaml.YAMLError) as exc:
        raise _unreadable(path, exc) from exc
    return data if isinstance(data, dict) else {}


def _unreadable(path: Path, problem: object) -> TunesmithError:
    return TunesmithError(f"cannot read {path}: {problem}", hint="is the run folder intact?")


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves (see _write).
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        _use_wal(conn, timeout)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode, much faster
        conn.execute("PRAGMA foreign_keys = ON")
    except (OSError, sqlite3.DatabaseError) as exc:
        raise _database_error(path, exc) from exc
    return conn


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL mode, retrying while other processes hold it.

    Switching needs an exclusive lock and SQLite reports "database is locked" at once instead of
    waiting the busy timeout, so several processes opening a new registry together would fail.
    WAL persists in the file, so this is a cheap read once done. On file systems without shared
    memory (some network mounts) SQLite keeps its old journal mode: correct, only slower.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _database_error(path: Path, exc: Exception) -> TunesmithError:
    return TunesmithError(
        f"cannot open the run registry {path}: {exc}",
        hint="if another tunesmith process holds it, retry; if the file is damaged, move it "
        "aside (run folders are untouched and can be registered again)",
    )


def _is_applied(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is not None


def _run_step(conn: sqlite3.Connection, step: str | Callable[[sqlite3.Connection], None]) -> None:
    if callable(step):
        step(conn)
        return
    # Statement by statement: executescript() would COMMIT our open transaction first.
    for statement in _split_sql(step):
        conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    """Split a script into complete statements (sqlite3.complete_statement knows triggers)."""
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return [s for s in statements if s.strip(" \n\t;")]


def _check_status(status: str) -> None:
    if status not in STATUSES:
        allowed = ", ".join(STATUSES)
        raise UsageError(f"unknown run status {status!r}", hint=f"use one of: {allowed}")


def _check_transition(record: RunRecord, status: str) -> None:
    allowed = TRANSITIONS[record.status]
    if status not in allowed:
        raise TunesmithError(
            f"run {record.name} ({record.id}) cannot go from {record.status} to {status}",
            hint=f"from {record.status} it can go to: {', '.join(allowed)}"
            if allowed
            else f"{record.status} is final",
        )


def _as_path(ref: str) -> str:
    return str(Path(ref).expanduser().resolve())


def _text(value: Any) -> str | None:
    """A name from a string or a `{"name": ...}` mapping (run.json may use either)."""
    if isinstance(value, dict):
        value = value.get("name")
    return None if value is None else str(value)


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _record_to_row(record: RunRecord) -> dict[str, Any]:
    row = asdict(record)
    row["config_json"] = _dumps(row.pop("config"))
    row["summary_json"] = _dumps(row.pop("summary"))
    return row


def _row_to_record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    data["config"] = json.loads(data.pop("config_json") or "{}")
    data["summary"] = json.loads(data.pop("summary_json") or "{}")
    # Only known columns: an older tunesmith may open a database a newer one has migrated.
    return RunRecord(**{key: value for key, value in data.items() if key in _RUN_FIELDS})


_RUN_FIELDS = frozenset(item.name for item in fields(RunRecord))
