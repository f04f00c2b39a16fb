"""Counters kept by triggers for /metrics, the change log's settled requests, a merchant's
redemptions by index (issue 12).

change.settled_at: when a request's change row reached a settled state (its changed_at), NULL
for anything else. A kiosk's download from nothing reads its community's unsettled rows in seq
order (ix_change_unsettled, partial) and the requests settled since its bound by time
(ix_change_settled), never the rows settled long ago: it walked uq_change_seq through every
community's rows (302,245 removed by filter, 28,000 pages, 475 ms at 1M).

Each insert, state change or delete of a help request, an applied operation or a recorded
conflict appends a delta row in the same transaction (+1 for the new key, -1 for the old),
so /metrics sums a small table instead of counting a million requests on every scrape, and
two transactions never wait on one counter row. The nightly job folds the deltas into one row
per key from a recount (server.health.counters.reconcile); this migration fills the counters
from the tables as they are.

Revision ID: 0018_city2
Revises: 0017_admin
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_city2"
down_revision = "0017_admin"
branch_labels = None
depends_on = None

COUNTED = {
    # table: (counter, community column or 0, label column or '', columns whose change moves it)
    "help_request": ("requests", "community_id", "status", "status, community_id"),
    "applied_op": ("sync_ops", "0", "status", "status"),
    "sync_conflict": ("sync_conflicts", "0", "''", None),
}
FILL = """
INSERT INTO metric_count (name, community_id, label, value)
SELECT '{name}', {community}, {label}, count(*) FROM {table}{group}
"""


def _row(name: str, community: str, label: str, side: str, value: int) -> str:
    def col(expr: str) -> str:
        return expr if expr in ("0", "''") else f"{side}.{expr}"

    return f"('{name}', {col(community)}, {col(label)}, {value})"


def _changed(community: str, label: str) -> str:
    moved = [c for c in (community, label) if c not in ("0", "''")]
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in moved)


def _postgresql(table: str, name: str, community: str, label: str, moves: str | None) -> list[str]:
    insert = "INSERT INTO metric_count (name, community_id, label, value) VALUES "
    statements = [
        f"""
CREATE FUNCTION linli_count_{table}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {insert}{_row(name, community, label, "NEW", 1)};
    ELSIF TG_OP = 'DELETE' THEN
        {insert}{_row(name, community, label, "OLD", -1)};
    ELSE
        {insert}{_row(name, community, label, "OLD", -1)}, {_row(name, community, label, "NEW", 1)};
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
""",
        f"""
CREATE TRIGGER {table}_count AFTER INSERT OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION linli_count_{table}()
""",
    ]
    if moves:
        statements.append(f"""
CREATE TRIGGER {table}_count_moved AFTER UPDATE OF {moves} ON {table}
FOR EACH ROW WHEN ({_changed(community, label)}) EXECUTE FUNCTION linli_count_{table}()
""")
    return statements


def _sqlite(table: str, name: str, community: str, label: str, moves: str | None) -> list[str]:
    insert = "INSERT INTO metric_count (name, community_id, label, value) VALUES "
    statements = [
        f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} BEGIN "
        f"{insert}{_row(name, community, label, 'NEW', 1)}; END",
        f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} BEGIN "
        f"{insert}{_row(name, community, label, 'OLD', -1)}; END",
    ]
    if moves:
        changed = _changed(community, label).replace("IS DISTINCT FROM", "IS NOT")
        statements.append(
            f"CREATE TRIGGER {table}_count_moved AFTER UPDATE OF {moves} ON {table} "
            f"WHEN {changed} BEGIN {insert}{_row(name, community, label, 'OLD', -1)}, "
            f"{_row(name, community, label, 'NEW', 1)}; END"
        )
    return statements


SETTLED = "'cancelled', 'closed_fixed', 'closed_not_fixed', 'completed', 'duplicate', 'followed_up'"
"""sync.statuses.SETTLED, sorted."""


INDEXES = [
    ("ix_change_unsettled", ["community_id", "seq"], "settled_at IS NULL"),
    ("ix_change_settled", ["community_id", "settled_at"], "settled_at IS NOT NULL"),
]
"""A download from nothing: a community's unsettled rows in seq order, its requests settled
since the bound by time."""


def upgrade() -> None:
    """Create metric_count, fill it from the tables, install the triggers; change.settled_at;
    a merchant's redemptions by index."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_index(
        "ix_ledger_entry_merchant",
        "ledger_entry",
        ["merchant_id", "id"],
        postgresql_where=sa.text("merchant_id IS NOT NULL"),
        sqlite_where=sa.text("merchant_id IS NOT NULL"),
    )
    op.add_column("change", sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    status = "data ->> 'status'" if postgresql else "json_extract(data, '$.status')"
    op.execute(
        f"UPDATE change SET settled_at = changed_at WHERE entity = 'request' "
        f"AND {status} IN ({SETTLED})"
    )
    for name, columns, where in INDEXES:
        op.create_index(
            name,
            "change",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.create_table(
        "metric_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_count")),
    )
    for table, (name, community, label, moves) in COUNTED.items():
        columns = [c for c in (community, label) if c not in ("0", "''")]
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        op.execute(
            FILL.format(name=name, community=community, label=label, table=table, group=group)
        )
        make = _postgresql if postgresql else _sqlite
        for statement in make(table, name, community, label, moves):
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers, metric_count and change.settled_at."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, (_, _, _, moves) in COUNTED.items():
        if postgresql:
            op.execute(f"DROP TRIGGER {table}_count ON {table}")
            if moves:
                op.execute(f"DROP TRIGGER {table}_count_moved ON {table}")
            op.execute(f"DROP FUNCTION linli_count_{table}()")
        else:
            for kind in ("insert", "delete", *(("moved",) if moves else ())):
                op.execute(f"DROP TRIGGER {table}_count_{kind}")
    op.drop_table("metric_count")
    for name, _, _ in INDEXES:
        op.drop_index(name, table_name="change")
    op.drop_index("ix_ledger_entry_merchant", table_name="ledger_entry")
    with op.batch_alter_table("change") as batch:
        batch.drop_column("settled_at")
