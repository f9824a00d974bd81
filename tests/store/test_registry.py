import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from tunesmith.errors import TunesmithError, UsageError
from tunesmith.store import (
    MIGRATIONS,
    RunRecord,
    RunRegistry,
    read_run_folder,
    register_run_folder,
)
from tunesmith.store.registry import applied_migrations


def write_run_folder(parent: Path, run_id: str, name: str, **fields: object) -> Path:
    """A run folder as the trainer writes it: run.json and config.yaml."""
    folder = parent / name
    (folder / "checkpoints").mkdir(parents=True)
    run = {
        "id": run_id,
        "name": name,
        "status": "running",
        "method": "lora",
        "model": {"name": "smollm2-135m-instruct", "sha256": "m" * 64},
        "data": {"train": "train.jsonl", "sha256": "d" * 64},
        "created_at": "2025-01-02T10:00:00+00:00",
        "started_at": "2025-01-02T10:00:01+00:00",
        "ended_at": None,
        "steps": 0,
        "best_val_loss": None,
        **fields,
    }
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "config.yaml").write_text("method:\n  name: lora\ntrain:\n  lr: 0.0002\n")
    return folder


def record(run_id: str, name: str | None = None, status: str = "queued", **kw) -> RunRecord:
    """A run record whose folder does not exist (enough for registry-only tests)."""
    name = name or run_id
    return RunRecord(id=run_id, name=name, path=f"/runs/{name}", status=status, **kw)


@pytest.fixture
def registry(tmp_path: Path):
    with RunRegistry(tmp_path / "registry.db") as opened:
        yield opened


def recording_migration(name: str, calls: list[str]):
    def step(conn: sqlite3.Connection) -> None:
        calls.append(name)
        conn.execute(f"CREATE TABLE {name} (x)")

    return (name, step)


# -- opening and migrations ----------------------------------------------------------------


def test_default_database_is_created_under_tunesmith_home(isolated_home: Path):
    with RunRegistry() as registry:
        assert registry.path == isolated_home / "tunesmith.db"
    assert (isolated_home / "tunesmith.db").is_file()


def test_migrations_are_applied_once_and_recorded(tmp_path: Path):
    path = tmp_path / "r.db"
    RunRegistry(path).close()
    with RunRegistry(path) as registry:
        rows = registry._conn.execute("SELECT name, applied_at FROM _migrations").fetchall()
    assert [row["name"] for row in rows] == [name for name, _ in MIGRATIONS]
    assert all(row["applied_at"] for row in rows)


def test_new_migration_is_the_only_one_applied_on_next_open(tmp_path: Path):
    path, calls = tmp_path / "r.db", []
    first = [recording_migration("m1", calls), recording_migration("m2", calls)]
    RunRegistry(path, migrations=first).close()
    with RunRegistry(path, migrations=[*first, recording_migration("m3", calls)]) as registry:
        assert applied_migrations(registry._conn) == ["m1", "m2", "m3"]
    assert calls == ["m1", "m2", "m3"]


def test_failed_migration_leaves_no_table_and_no_record(tmp_path: Path):
    broken = ("m_broken", "CREATE TABLE half (x); CREATE TABLE half (y);")
    with pytest.raises(TunesmithError, match="half already exists"):
        RunRegistry(tmp_path / "r.db", migrations=[broken])
    conn = sqlite3.connect(tmp_path / "r.db")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "half" not in tables
    assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == 0


def test_database_uses_wal_mode(registry: RunRegistry):
    assert registry._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_damaged_database_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "r.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(TunesmithError, match="cannot open the run registry") as info:
        RunRegistry(path)
    assert "move it aside" in (info.value.hint or "")


# -- runs: upsert and the state machine -----------------------------------------------------


def test_upsert_updates_a_run_and_keeps_its_first_created_at(registry: RunRegistry):
    registry.upsert_run(record("r1", created_at="2025-01-01T00:00:00+00:00"))
    updated = registry.upsert_run(record("r1", method="full", summary={"steps": 5}))
    assert updated.method == "full"
    assert updated.summary == {"steps": 5}
    assert updated.created_at == "2025-01-01T00:00:00+00:00"


ALLOWED = [
    ("queued", "running"),
    ("queued", "failed"),
    ("queued", "cancelled"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("failed", "running"),
    ("cancelled", "running"),
]
FORBIDDEN = [
    ("queued", "succeeded"),
    ("queued", "queued"),
    ("running", "queued"),
    ("running", "running"),
    ("succeeded", "running"),
    ("succeeded", "failed"),
    ("failed", "succeeded"),
    ("cancelled", "queued"),
]


@pytest.mark.parametrize(("before", "after"), ALLOWED)
def test_allowed_transition_changes_status(registry: RunRegistry, before: str, after: str):
    registry.upsert_run(record("r1", status=before))
    assert registry.set_status("r1", after).status == after
    assert registry.get_run("r1").status == after


@pytest.mark.parametrize(("before", "after"), FORBIDDEN)
def test_forbidden_transition_raises_naming_the_allowed_ones(
    registry: RunRegistry, before: str, after: str
):
    registry.upsert_run(record("r1", status=before))
    with pytest.raises(TunesmithError, match=f"cannot go from {before} to {after}") as info:
        registry.set_status("r1", after)
    assert not isinstance(info.value, UsageError)
    assert "can go to" in info.value.hint or "final" in info.value.hint
    assert registry.get_run("r1").status == before


def test_finishing_sets_ended_at_and_merges_summary(registry: RunRegistry):
    registry.upsert_run(record("r1", status="running", summary={"trainable_parameters": 7}))
    done = registry.set_status("r1", "succeeded", summary={"best_val_loss": 1.5})
    assert done.ended_at is not None
    assert registry.get_run("r1").summary == {"trainable_parameters": 7, "best_val_loss": 1.5}


def test_resuming_keeps_started_at_and_clears_ended_at(registry: RunRegistry):
    registry.upsert_run(record("r1", status="running", started_at="2025-01-01T00:00:00+00:00"))
    registry.set_status("r1", "failed", ended_at="2025-01-01T01:00:00+00:00")
    resumed = registry.set_status("r1", "running")
    assert (resumed.started_at, resumed.ended_at) == ("2025-01-01T00:00:00+00:00", None)


def test_unknown_status_is_a_usage_error(registry: RunRegistry):
    registry.upsert_run(record("r1"))
    with pytest.raises(UsageError, match="unknown run status 'done'"):
        registry.set_status("r1", "done")


# -- finding runs ---------------------------------------------------------------------------


def test_get_run_by_id(registry: RunRegistry):
    registry.upsert_run(record("abc123", "first"))
    assert registry.get_run("abc123").name == "first"


def test_get_run_by_unique_id_prefix(registry: RunRegistry):
    registry.upsert_run(record("abc123", "first"))
    registry.upsert_run(record("abd456", "second"))
    assert registry.get_run("abc").id == "abc123"


def test_get_run_by_unique_name(registry: RunRegistry):
    registry.upsert_run(record("abc123", "first"))
    assert registry.get_run("first").id == "abc123"


def test_get_run_by_folder_path(registry: RunRegistry, tmp_path: Path):
    folder = write_run_folder(tmp_path, "abc123", "first")
    register_run_folder(folder, registry)
    assert registry.get_run(str(folder)).id == "abc123"


def test_ambiguous_prefix_lists_the_matching_runs(registry: RunRegistry):
    registry.upsert_run(record("abc123", "first"))
    registry.upsert_run(record("abd456", "second"))
    with pytest.raises(UsageError, match="'ab' is ambiguous: it matches 2 runs") as info:
        registry.get_run("ab")
    assert "abc123 (first)" in info.value.hint
    assert "abd456 (second)" in info.value.hint


def test_shared_name_is_ambiguous(registry: RunRegistry):
    registry.upsert_run(RunRecord(id="r1", name="nightly", path="/runs/a"))
    registry.upsert_run(RunRecord(id="r2", name="nightly", path="/runs/b"))
    with pytest.raises(UsageError, match="ambiguous"):
        registry.get_run("nightly")


def test_unknown_run_suggests_close_matches(registry: RunRegistry):
    registry.upsert_run(record("abc123", "support-lora"))
    with pytest.raises(UsageError, match="no run 'support-lorra'") as info:
        registry.get_run("support-lorra")
    assert "support-lora" in info.value.hint


# -- listing --------------------------------------------------------------------------------


def test_deleted_run_folder_is_listed_as_missing(registry: RunRegistry, tmp_path: Path):
    folder = write_run_folder(tmp_path, "r1", "gone")
    register_run_folder(folder, registry)
    shutil.rmtree(folder)
    [run] = registry.list_runs()
    assert run.missing
    assert run.to_dict()["missing"] is True
    assert registry.get_run("gone").missing


def test_list_runs_filters_by_status(registry: RunRegistry):
    registry.upsert_run(record("r1", status="running"))
    registry.upsert_run(record("r2", status="succeeded"))
    registry.upsert_run(record("r3", status="succeeded"))
    assert sorted(run.id for run in registry.list_runs(status="succeeded")) == ["r2", "r3"]


def test_list_runs_is_newest_first(registry: RunRegistry):
    registry.upsert_run(record("old", created_at="2025-01-01T00:00:00+00:00"))
    registry.upsert_run(record("new", created_at="2025-02-01T00:00:00+00:00"))
    assert [run.id for run in registry.list_runs()] == ["new", "old"]


def test_forget_removes_the_record_but_not_the_folder(registry: RunRegistry, tmp_path: Path):
    folder = write_run_folder(tmp_path, "r1", "keep-files")
    register_run_folder(folder, registry)
    registry.forget_run("keep-files")
    assert registry.list_runs() == []
    assert (folder / "run.json").is_file()


# -- run folders ----------------------------------------------------------------------------


def test_register_run_folder_reads_run_json_and_config(registry: RunRegistry, tmp_path: Path):
    folder = write_run_folder(tmp_path, "r1", "first", steps=12, best_val_loss=2.25)
    run = register_run_folder(folder, registry)
    assert (run.id, run.name, run.status, run.method) == ("r1", "first", "running", "lora")
    assert (run.model, run.base_model_sha256, run.data_sha256) == (
        "smollm2-135m-instruct",
        "m" * 64,
        "d" * 64,
    )
    assert run.path == str(folder.resolve())
    assert run.config == {"method": {"name": "lora"}, "train": {"lr": 0.0002}}
    assert run.summary["steps"] == 12 and run.summary["best_val_loss"] == 2.25


def test_register_run_folder_uses_the_default_registry(tmp_path: Path):
    register_run_folder(write_run_folder(tmp_path, "r1", "first"))
    with RunRegistry() as registry:
        assert registry.get_run("r1").name == "first"


def test_folder_without_run_json_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="has no run.json"):
        read_run_folder(tmp_path)


def test_broken_run_json_is_a_failure(tmp_path: Path):
    folder = write_run_folder(tmp_path, "r1", "first")
    (folder / "run.json").write_text("{not json")
    with pytest.raises(TunesmithError, match="cannot read") as info:
        read_run_folder(folder)
    assert not isinstance(info.value, UsageError)


# -- evaluations ----------------------------------------------------------------------------


def test_evals_are_listed_per_run(registry: RunRegistry):
    registry.upsert_run(record("r1"))
    registry.record_eval(model_key="base", kind="general", scores={"acc": 0.5})
    stored = registry.record_eval(run_id="r1", model_key="r1", kind="domain", scores={"f1": 0.8})
    assert [e.to_dict() for e in registry.list_evals("r1")] == [stored.to_dict()]
    assert len(registry.list_evals()) == 2


def test_eval_for_an_unregistered_run_is_a_usage_error(registry: RunRegistry):
    with pytest.raises(UsageError, match="not in the run registry"):
        registry.record_eval(run_id="nope", model_key="x", kind="domain", scores={})


def test_forgetting_a_run_keeps_its_evals(registry: RunRegistry):
    registry.upsert_run(record("r1"))
    registry.record_eval(run_id="r1", model_key="r1", kind="domain", scores={"f1": 0.8})
    registry.forget_run("r1")
    [kept] = registry.list_evals()
    assert (kept.run_id, kept.model_key, kept.scores) == (None, "r1", {"f1": 0.8})


# -- several processes ----------------------------------------------------------------------


def run_in_threads(*targets) -> list[BaseException]:
    """Start the targets together; return what they raised."""
    barrier, errors = threading.Barrier(len(targets)), []

    def wrapped(target):
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_concurrent_writers_on_two_connections_do_not_error(tmp_path: Path):
    path = tmp_path / "r.db"
    RunRegistry(path).close()

    def writer(prefix: str):
        def write() -> None:
            with RunRegistry(path) as registry:
                for i in range(40):
                    registry.upsert_run(record(f"{prefix}{i}"))
                    registry.set_status(f"{prefix}{i}", "running")
                    registry.list_runs()

        return write

    assert run_in_threads(writer("a"), writer("b")) == []
    with RunRegistry(path) as registry:
        runs = registry.list_runs(status="running")
    assert len(runs) == 80


def test_simultaneous_first_opens_apply_each_migration_once(tmp_path: Path):
    path, calls = tmp_path / "r.db", []
    migrations = [recording_migration("m1", calls), recording_migration("m2", calls)]
    errors = run_in_threads(*[lambda: RunRegistry(path, migrations=migrations).close()] * 4)
    assert errors == []
    assert calls == ["m1", "m2"]


def test_write_blocked_past_the_busy_timeout_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "r.db"
    RunRegistry(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        registry = RunRegistry(path, timeout=0.05)
        with pytest.raises(TunesmithError, match="cannot write to the run registry"):
            registry.upsert_run(record("r1"))
        registry.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
