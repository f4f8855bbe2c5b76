"""Append-only guards: the database itself rejects UPDATE and DELETE on these tables.

Autogenerate does not see triggers, so the migrations call these by hand.
"""

from __future__ import annotations


def append_only_sql(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
                BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
            for op in ("UPDATE", "DELETE")
        ]
    return [
        f"""CREATE OR REPLACE FUNCTION reject_change_{table}() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only' USING ERRCODE = 'insufficient_privilege';
            END $$ LANGUAGE plpgsql""",
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION reject_change_{table}()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION reject_change_{table}()""",
    ]


def drop_append_only_sql(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]
    return [f"DROP FUNCTION IF EXISTS reject_change_{table}() CASCADE"]


def balanced_transfer_sql() -> list[str]:
    """PostgreSQL only: at commit, every transfer's entries balance per currency."""
    return [
        """CREATE OR REPLACE FUNCTION check_transfer_balanced() RETURNS trigger AS $$
            BEGIN
              IF EXISTS (
                SELECT 1 FROM ledger_entries WHERE transfer_id = NEW.transfer_id
                GROUP BY currency
                HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0
              ) THEN
                RAISE EXCEPTION 'ledger transfer % does not balance', NEW.transfer_id
                  USING ERRCODE = 'check_violation';
              END IF;
              RETURN NULL;
            END $$ LANGUAGE plpgsql""",
        """CREATE CONSTRAINT TRIGGER ledger_entries_balanced
            AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION check_transfer_balanced()""",
    ]


def drop_balanced_transfer_sql() -> list[str]:
    return ["DROP FUNCTION IF EXISTS check_transfer_balanced() CASCADE"]
