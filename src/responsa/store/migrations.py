"""Schema migrations: ordered, named, append-only, one list per dialect.

Never edit or reorder a migration that has shipped; add a new one at the end. Each store applies
the pending ones on `open()` and records their names in `schema_migrations`.

JSON columns hold the exact text we serialized (`text` in SQLite, `json` in PostgreSQL — never
`jsonb`, which reorders keys), so stored objects come back verbatim.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SQLite-only default need not import the PostgreSQL driver
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statements: tuple[str, ...]  # one statement each: sqlite3 runs one per execute()


# Children hang off an integer surrogate key, not the random text id: new responses get
# increasing keys, so their items and events append to the right edge of each index instead of
# dirtying a random leaf (a SQLite save writes ~10 pages instead of ~15).

SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_responses_items_event_batches",
        (
            """
            CREATE TABLE responses (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                previous_response_id TEXT,  -- no foreign key: deleting an ancestor leaves a gap
                created_at INTEGER NOT NULL,
                status TEXT,
                response TEXT NOT NULL
            )
            """,
            # Rowid tables: a row of a WITHOUT ROWID table spills to overflow pages past ~1 KB,
            # and events carrying a whole response are bigger than that.
            """
            CREATE TABLE input_items (
                response_pk INTEGER NOT NULL REFERENCES responses (pk) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                item_id TEXT,
                item TEXT NOT NULL,
                PRIMARY KEY (response_pk, position)
            )
            """,
            # The event log in batches (see _rows.EventBatch). Keyed by the last sequence number:
            # `get_events(starting_after=N)` reads exactly the batches with last > N.
            """
            CREATE TABLE event_batches (
                response_pk INTEGER NOT NULL REFERENCES responses (pk) ON DELETE CASCADE,
                first_sequence_number INTEGER NOT NULL,
                last_sequence_number INTEGER NOT NULL,
                events TEXT NOT NULL,  -- a JSON array of the events, in order
                PRIMARY KEY (response_pk, last_sequence_number)
            )
            """,
        ),
    ),
    Migration(
        "0002_conversations",
        (
            """
            CREATE TABLE conversations (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                metadata TEXT NOT NULL
            )
            """,
            # Positions only grow (an append goes after the largest); deleting leaves gaps.
            """
            CREATE TABLE conversation_items (
                conversation_pk INTEGER NOT NULL REFERENCES conversations (pk) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                item_id TEXT NOT NULL,
                item TEXT NOT NULL,
                PRIMARY KEY (conversation_pk, position)
            )
            """,
            "CREATE INDEX conversation_items_by_id"
            " ON conversation_items (conversation_pk, item_id)",
        ),
    ),
    Migration(
        "0003_prompts",
        (
            """
            CREATE TABLE prompts (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                latest_version INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE prompt_versions (
                prompt_pk INTEGER NOT NULL REFERENCES prompts (pk) ON DELETE CASCADE,
                version INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                template TEXT NOT NULL,
                PRIMARY KEY (prompt_pk, version)
            )
            """,
        ),
    ),
    Migration(
        "0004_background_runs",
        (
            # One row per background run until it ends: the durable queue. `owner` is the
            # replica driving it, alive while `lease_until` (unix seconds) is in the future.
            """
            CREATE TABLE background_runs (
                response_id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                body TEXT NOT NULL,
                owner TEXT NOT NULL,
                lease_until REAL NOT NULL,
                cancel_requested INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX background_runs_by_lease ON background_runs (lease_until)",
        ),
    ),
    Migration(
        "0005_files_vector_stores",
        (
            # Uploaded files: the File object; the bytes live on disk (api/file_blobs.py).
            """
            CREATE TABLE files (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                purpose TEXT NOT NULL,
                file TEXT NOT NULL
            )
            """,
            # `file_counts`, `usage_bytes` and `status` are computed from the files on read.
            """
            CREATE TABLE vector_stores (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                store TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE vector_store_file_batches (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                vector_store_pk INTEGER NOT NULL REFERENCES vector_stores (pk) ON DELETE CASCADE,
                batch TEXT NOT NULL,
                cancelled INTEGER NOT NULL DEFAULT 0
            )
            """,
            # `status` and `usage_bytes` mirror the object's, for counting.
            """
            CREATE TABLE vector_store_files (
                pk INTEGER PRIMARY KEY,
                vector_store_pk INTEGER NOT NULL REFERENCES vector_stores (pk) ON DELETE CASCADE,
                file_id TEXT NOT NULL,
                batch_id TEXT,
                status TEXT NOT NULL,
                usage_bytes INTEGER NOT NULL DEFAULT 0,
                item TEXT NOT NULL,
                UNIQUE (vector_store_pk, file_id)
            )
            """,
            "CREATE INDEX vector_store_files_by_file ON vector_store_files (file_id)",
            "CREATE INDEX vector_store_files_by_batch ON vector_store_files (batch_id)",
            # One row per chunk; `embedding` is float32 little-endian (retrieval/vectors.py).
            """
            CREATE TABLE file_chunks (
                pk INTEGER PRIMARY KEY,
                vector_store_file_pk INTEGER NOT NULL
                    REFERENCES vector_store_files (pk) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                text TEXT NOT NULL,
                embedding BLOB NOT NULL
            )
            """,
            "CREATE INDEX file_chunks_by_file ON file_chunks (vector_store_file_pk)",
            # Full-text index over the chunks, kept in step by triggers (cascades fire them).
            """
            CREATE VIRTUAL TABLE file_chunks_fts USING fts5 (
                text, content = 'file_chunks', content_rowid = 'pk',
                tokenize = 'porter unicode61'
            )
            """,
            """
            CREATE TRIGGER file_chunks_indexed AFTER INSERT ON file_chunks BEGIN
                INSERT INTO file_chunks_fts (rowid, text) VALUES (new.pk, new.text);
            END
            """,
            """
            CREATE TRIGGER file_chunks_unindexed AFTER DELETE ON file_chunks BEGIN
                INSERT INTO file_chunks_fts (file_chunks_fts, rowid, text)
                VALUES ('delete', old.pk, old.text);
            END
            """,
        ),
    ),
    Migration(
        "0006_containers",
        (
            # Code interpreter containers; their files' bytes live in the container's folder.
            """
            CREATE TABLE containers (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_active_at INTEGER NOT NULL,
                expires_minutes INTEGER NOT NULL,
                memory_limit TEXT NOT NULL,
                status TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE container_files (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                container_pk INTEGER NOT NULL REFERENCES containers (pk) ON DELETE CASCADE,
                path TEXT NOT NULL,
                bytes INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                source TEXT NOT NULL,
                stamp TEXT NOT NULL,
                UNIQUE (container_pk, path)
            )
            """,
        ),
    ),
    Migration(
        "0007_webhook_deliveries",
        (
            # One row per (endpoint, event) until the endpoint acknowledges it or it is dropped:
            # the durable delivery queue (store/webhooks.py). `body` is the notice exactly as
            # signed; a claimed row is `owner`'s until `lease_until` (unix seconds).
            """
            CREATE TABLE webhook_deliveries (
                webhook_id TEXT PRIMARY KEY,
                endpoint TEXT NOT NULL,
                body TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL NOT NULL,
                owner TEXT,
                lease_until REAL
            )
            """,
            "CREATE INDEX webhook_deliveries_by_due ON webhook_deliveries (next_attempt_at)",
        ),
    ),
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_responses_items_event_batches",
        (
            """
            CREATE TABLE responses (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                previous_response_id text,  -- no foreign key: deleting an ancestor leaves a gap
                created_at bigint NOT NULL,
                status text,
                response json NOT NULL
            )
            """,
            """
            CREATE TABLE input_items (
                response_pk bigint NOT NULL REFERENCES responses (pk) ON DELETE CASCADE,
                position integer NOT NULL,
                item_id text,
                item json NOT NULL,
                PRIMARY KEY (response_pk, position)
            )
            """,
            """
            CREATE TABLE event_batches (
                response_pk bigint NOT NULL REFERENCES responses (pk) ON DELETE CASCADE,
                first_sequence_number bigint NOT NULL,
                last_sequence_number bigint NOT NULL,
                events json NOT NULL,  -- a JSON array of the events, in order
                PRIMARY KEY (response_pk, last_sequence_number)
            )
            """,
            # One round trip per save, and correct under concurrent saves of one response: the
            # upsert locks the response row first, and each later statement of a VOLATILE
            # function takes a fresh snapshot, so it sees (and replaces) whatever children a
            # concurrent save or append committed meanwhile. Items are upserted rather than
            # deleted and reinserted so a re-save rewrites only what changed; the log is one row.
            """
            CREATE FUNCTION responsa_save_response(
                p_id text, p_previous_response_id text, p_created_at bigint, p_status text,
                p_response json, p_item_ids text[], p_items json[],
                p_first_sequence_number bigint, p_last_sequence_number bigint, p_events json
            ) RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
            DECLARE
                v_pk bigint;
            BEGIN
                INSERT INTO responses (id, previous_response_id, created_at, status, response)
                VALUES (p_id, p_previous_response_id, p_created_at, p_status, p_response)
                ON CONFLICT (id) DO UPDATE SET
                    previous_response_id = EXCLUDED.previous_response_id,
                    created_at = EXCLUDED.created_at,
                    status = EXCLUDED.status,
                    response = EXCLUDED.response
                RETURNING pk INTO v_pk;

                DELETE FROM input_items
                WHERE response_pk = v_pk AND position >= cardinality(p_items);
                INSERT INTO input_items AS cur (response_pk, position, item_id, item)
                SELECT v_pk, t.n - 1, t.item_id, t.item
                FROM unnest(p_item_ids, p_items) WITH ORDINALITY AS t (item_id, item, n)
                ON CONFLICT (response_pk, position) DO UPDATE SET
                    item_id = EXCLUDED.item_id, item = EXCLUDED.item
                WHERE cur.item_id IS DISTINCT FROM EXCLUDED.item_id
                    OR cur.item::text <> EXCLUDED.item::text;

                DELETE FROM event_batches WHERE response_pk = v_pk;
                IF p_events IS NOT NULL THEN
                    INSERT INTO event_batches
                        (response_pk, first_sequence_number, last_sequence_number, events)
                    VALUES (v_pk, p_first_sequence_number, p_last_sequence_number, p_events);
                END IF;
            END
            $fn$
            """,
            # Locking the response row serializes appends with each other and with saves, and
            # the fresh snapshot of the next statement then sees the log they committed, so the
            # continuity check holds. `known` is false for an unknown response; `appended` is
            # false when the batch does not start past `stored_last` (the caller raises).
            """
            CREATE FUNCTION responsa_append_events(
                p_id text, p_first_sequence_number bigint, p_last_sequence_number bigint,
                p_events json,
                OUT known boolean, OUT appended boolean, OUT stored_last bigint
            ) LANGUAGE plpgsql VOLATILE AS $fn$
            DECLARE
                v_pk bigint;
            BEGIN
                SELECT pk INTO v_pk FROM responses WHERE id = p_id FOR NO KEY UPDATE;
                known := v_pk IS NOT NULL;
                appended := false;
                IF NOT known OR p_events IS NULL THEN
                    RETURN;
                END IF;
                SELECT max(last_sequence_number) INTO stored_last
                FROM event_batches WHERE response_pk = v_pk;
                IF stored_last IS NULL OR p_first_sequence_number > stored_last THEN
                    INSERT INTO event_batches
                        (response_pk, first_sequence_number, last_sequence_number, events)
                    VALUES (v_pk, p_first_sequence_number, p_last_sequence_number, p_events);
                    appended := true;
                END IF;
            END
            $fn$
            """,
        ),
    ),
    Migration(
        "0002_conversations",
        (
            """
            CREATE TABLE conversations (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                created_at bigint NOT NULL,
                metadata json NOT NULL
            )
            """,
            """
            CREATE TABLE conversation_items (
                conversation_pk bigint NOT NULL REFERENCES conversations (pk) ON DELETE CASCADE,
                position integer NOT NULL,
                item_id text NOT NULL,
                item json NOT NULL,
                PRIMARY KEY (conversation_pk, position)
            )
            """,
            "CREATE INDEX conversation_items_by_id"
            " ON conversation_items (conversation_pk, item_id)",
            # Locking the conversation row serializes appends to one conversation; the next
            # statement's fresh snapshot (VOLATILE) then sees every item they committed, so the
            # positions continue without collisions. Returns false for an unknown conversation.
            """
            CREATE FUNCTION responsa_append_conversation_items(
                p_id text, p_item_ids text[], p_items json[]
            ) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
            DECLARE
                v_pk bigint;
                v_last integer;
            BEGIN
                SELECT pk INTO v_pk FROM conversations WHERE id = p_id FOR NO KEY UPDATE;
                IF v_pk IS NULL THEN
                    RETURN false;
                END IF;
                SELECT max(position) INTO v_last FROM conversation_items
                WHERE conversation_pk = v_pk;
                INSERT INTO conversation_items (conversation_pk, position, item_id, item)
                SELECT v_pk, COALESCE(v_last, -1) + t.n, t.item_id, t.item
                FROM unnest(p_item_ids, p_items) WITH ORDINALITY AS t (item_id, item, n);
                RETURN true;
            END
            $fn$
            """,
        ),
    ),
    Migration(
        "0003_prompts",
        (
            """
            CREATE TABLE prompts (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                created_at bigint NOT NULL,
                latest_version integer NOT NULL
            )
            """,
            """
            CREATE TABLE prompt_versions (
                prompt_pk bigint NOT NULL REFERENCES prompts (pk) ON DELETE CASCADE,
                version integer NOT NULL,
                created_at bigint NOT NULL,
                template json NOT NULL,
                PRIMARY KEY (prompt_pk, version)
            )
            """,
        ),
    ),
    Migration(
        "0004_background_runs",
        (
            # Leases use the database clock, so replicas with skewed clocks agree on expiry.
            """
            CREATE TABLE background_runs (
                response_id text PRIMARY KEY,
                created_at bigint NOT NULL,
                body json NOT NULL,
                owner text NOT NULL,
                lease_until timestamptz NOT NULL,
                cancel_requested boolean NOT NULL DEFAULT false
            )
            """,
            "CREATE INDEX background_runs_by_lease ON background_runs (lease_until)",
            # A live run's flush: the batch joins the log (same checks as
            # responsa_append_events), the snapshot is replaced, and followers on every
            # replica are woken, delivered at commit.
            """
            CREATE FUNCTION responsa_publish_run_events(
                p_id text, p_status text, p_response json,
                p_first_sequence_number bigint, p_last_sequence_number bigint, p_events json,
                OUT known boolean, OUT appended boolean, OUT stored_last bigint
            ) LANGUAGE plpgsql VOLATILE AS $fn$
            BEGIN
                SELECT a.known, a.appended, a.stored_last INTO known, appended, stored_last
                FROM responsa_append_events(p_id, p_first_sequence_number,
                                            p_last_sequence_number, p_events) AS a;
                IF appended OR (known AND p_events IS NULL) THEN
                    UPDATE responses SET status = p_status, response = p_response
                    WHERE id = p_id;
                    PERFORM pg_notify('responsa_runs', 'events:' || p_id);
                END IF;
            END
            $fn$
            """,
        ),
    ),
    Migration(
        "0005_files_vector_stores",
        (
            """
            CREATE TABLE files (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                purpose text NOT NULL,
                file json NOT NULL
            )
            """,
            """
            CREATE TABLE vector_stores (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                store json NOT NULL
            )
            """,
            """
            CREATE TABLE vector_store_file_batches (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                vector_store_pk bigint NOT NULL REFERENCES vector_stores (pk) ON DELETE CASCADE,
                batch json NOT NULL,
                cancelled boolean NOT NULL DEFAULT false
            )
            """,
            """
            CREATE TABLE vector_store_files (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                vector_store_pk bigint NOT NULL REFERENCES vector_stores (pk) ON DELETE CASCADE,
                file_id text NOT NULL,
                batch_id text,
                status text NOT NULL,
                usage_bytes bigint NOT NULL DEFAULT 0,
                item json NOT NULL,
                UNIQUE (vector_store_pk, file_id)
            )
            """,
            "CREATE INDEX vector_store_files_by_file ON vector_store_files (file_id)",
            "CREATE INDEX vector_store_files_by_batch ON vector_store_files (batch_id)",
            # Vectors as real[] scanned exactly (pgvector is not in Debian 12's PostgreSQL 15);
            # the full-text vector is generated, with a GIN index for `@@`.
            """
            CREATE TABLE file_chunks (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                vector_store_file_pk bigint NOT NULL
                    REFERENCES vector_store_files (pk) ON DELETE CASCADE,
                position integer NOT NULL,
                text text NOT NULL,
                embedding real[] NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
            )
            """,
            "CREATE INDEX file_chunks_by_file ON file_chunks (vector_store_file_pk)",
            "CREATE INDEX file_chunks_tsv ON file_chunks USING gin (tsv)",
        ),
    ),
    Migration(
        "0006_containers",
        (
            """
            CREATE TABLE containers (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                name text NOT NULL,
                created_at bigint NOT NULL,
                last_active_at bigint NOT NULL,
                expires_minutes integer NOT NULL,
                memory_limit text NOT NULL,
                status text NOT NULL
            )
            """,
            """
            CREATE TABLE container_files (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                container_pk bigint NOT NULL REFERENCES containers (pk) ON DELETE CASCADE,
                path text NOT NULL,
                bytes bigint NOT NULL,
                created_at bigint NOT NULL,
                source text NOT NULL,
                stamp text NOT NULL,
                UNIQUE (container_pk, path)
            )
            """,
        ),
    ),
    Migration(
        "0007_webhook_deliveries",
        (
            # Due times and leases on the database clock, as for background runs.
            """
            CREATE TABLE webhook_deliveries (
                webhook_id text PRIMARY KEY,
                endpoint text NOT NULL,
                body json NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL,
                owner text,
                lease_until timestamptz
            )
            """,
            "CREATE INDEX webhook_deliveries_by_due ON webhook_deliveries (next_attempt_at)",
        ),
    ),
)

# Any constant will do, as long as every replica uses the same one.
POSTGRES_MIGRATION_LOCK = 0x7265_7370_6F6E_7361  # "responsa"

_CREATE_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name TEXT PRIMARY KEY,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
)
_CREATE_POSTGRES_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


class MigrationError(RuntimeError):
    pass


def pending(known: Sequence[Migration], applied: Iterable[str]) -> list[Migration]:
    """The known migrations not yet applied, in order.

    Names the database has but we don't know come from a newer release and are left alone; a gap
    (a later migration applied, an earlier one not) means the history was edited.
    """
    done = set(applied)
    todo = [m for m in known if m.name not in done]
    if todo:
        first = known.index(todo[0])
        late = [m.name for m in known[first + 1 :] if m.name in done]
        if late:
            raise MigrationError(
                f"migration {todo[0].name!r} is pending but later ones are applied: {late}"
            )
    return todo


def migrate_sqlite(
    conn: sqlite3.Connection, known: Sequence[Migration] = SQLITE_MIGRATIONS
) -> list[str]:
    """Apply pending migrations in one transaction; returns the names applied.

    BEGIN IMMEDIATE takes the write lock up front, so processes opening the same file at once
    apply each migration exactly once (the others wait on busy_timeout, then find nothing to do).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE_SQLITE_TABLE)
        applied = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
        todo = pending(known, applied)
        for migration in todo:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (migration.name,))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return [m.name for m in todo]


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (a failed COMMIT may or may not have ended it),
    so the original error is the one that surfaces."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


async def migrate_postgres(
    conn: asyncpg.Connection | PoolConnectionProxy, known: Sequence[Migration] = POSTGRES_MIGRATIONS
) -> list[str]:
    """Apply pending migrations in one transaction; returns the names applied.

    The transaction-scoped advisory lock serializes replicas opening the same database at once;
    it is released on commit or rollback, so a crashed replica cannot leave it held.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", POSTGRES_MIGRATION_LOCK)
        await conn.execute(_CREATE_POSTGRES_TABLE)
        applied = [row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")]
        todo = pending(known, applied)
        for migration in todo:
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", migration.name)
    return [m.name for m in todo]
