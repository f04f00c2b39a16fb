"""Console: users, residents, consents, audit trail, teams, agencies, escalations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Adds the request lifecycle's columns, per-category deadlines (minutes from receipt to a helper
on site), and on PostgreSQL a trigger that NOTIFYs `linli_requests` on every request change so
the console's live queue works across several workers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEADLINES = {
    "emergency": 20,
    "electrical": 120,
    "plumbing": 120,
    "health": 240,
    "appliance": 1440,
    "meals": 1440,
    "errands": 1440,
    "company": 2880,
    "other": 2880,
}

NOTIFY_FUNCTION = """
CREATE FUNCTION linli_notify_request() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('linli_requests', NEW.community_id::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER help_request_notify AFTER INSERT OR UPDATE ON help_request
FOR EACH ROW EXECUTE FUNCTION linli_notify_request()
"""
# The audit trail is append-only in the database itself, not only by convention.
APPEND_ONLY_PG = [
    """
CREATE FUNCTION linli_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
FOR EACH ROW EXECUTE FUNCTION linli_append_only()
""",
]
APPEND_ONLY_SQLITE = [
    """
CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END
""",
    """
CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END
""",
]


def upgrade():
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('session_generation', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    op.create_table('agency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('endpoint_url', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_agency_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_agency_community_id'))
    )
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_community_id'), ['community_id'], unique=False)

    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('what', sa.String(length=300), nullable=False),
    sa.Column('why', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_audit_entry_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_resident_id'), ['resident_id'], unique=False)

    op.create_table('team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('category_codes', sa.JSON(), nullable=False),
    sa.Column('lead_user_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_team_community_id_community')),
    sa.ForeignKeyConstraint(['lead_user_id'], ['user_account.id'], name=op.f('fk_team_lead_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_team_community_id'))
    )
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_community_id'), ['community_id'], unique=False)

    op.create_table('user_community',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_user_community_community_id_community')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_community_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', 'community_id', name=op.f('pk_user_community'))
    )
    op.create_table('resident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('is_living_alone', sa.Boolean(), nullable=False),
    sa.Column('mobility', sa.String(length=16), nullable=False),
    sa.Column('emergency_contact_name', sa.String(length=100), nullable=True),
    sa.Column('emergency_contact_phone', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_resident_community_id_community')),
    sa.ForeignKeyConstraint(['room_id'], ['room.id'], name=op.f('fk_resident_room_id_room')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resident'))
    )
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resident_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_resident_room_phone', ['room_id', 'phone'], unique=False)

    op.create_table('consent_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_consent_record_resident_id_resident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_record'))
    )
    with op.batch_alter_table('consent_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_record_resident_id'), ['resident_id'], unique=False)

    op.create_table('escalation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('delivery_status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_escalation_agency_id_agency')),
    sa.ForeignKeyConstraint(['request_id'], ['help_request.id'], name=op.f('fk_escalation_request_id_help_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation'))
    )
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_delivery_status'), ['delivery_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_request_id'), ['request_id'], unique=False)

    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline_minutes', sa.Integer(), nullable=True))

    with op.batch_alter_table('help_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.String(length=16), server_default='normal', nullable=False))
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('volunteers', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('resident_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hours', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('satisfaction', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_help_request_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_help_request_team_id'), ['team_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_help_request_resident_id_resident'), 'resident', ['resident_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_help_request_duplicate_of_id_help_request'), 'help_request', ['duplicate_of_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_help_request_team_id_team'), 'team', ['team_id'], ['id'])

    with op.batch_alter_table('request_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='status', nullable=False))

    category = sa.table("category", sa.column("code", sa.String), sa.column("deadline_minutes", sa.Integer))
    for code, minutes in DEADLINES.items():
        op.execute(category.update().where(category.c.code == code).values(deadline_minutes=minutes))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)
        for statement in APPEND_ONLY_PG:
            op.execute(statement)
    else:
        for statement in APPEND_ONLY_SQLITE:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER help_request_notify ON help_request")
        op.execute("DROP FUNCTION linli_notify_request()")
    with op.batch_alter_table('request_event', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('help_request', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_help_request_team_id_team'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_help_request_duplicate_of_id_help_request'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_help_request_resident_id_resident'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_help_request_team_id'))
        batch_op.drop_index(batch_op.f('ix_help_request_resident_id'))
        batch_op.drop_column('closed_at')
        batch_op.drop_column('arrived_at')
        batch_op.drop_column('satisfaction')
        batch_op.drop_column('outcome')
        batch_op.drop_column('hours')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('resident_id')
        batch_op.drop_column('volunteers')
        batch_op.drop_column('team_id')
        batch_op.drop_column('priority')

    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.drop_column('deadline_minutes')

    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_request_id'))
        batch_op.drop_index(batch_op.f('ix_escalation_delivery_status'))

    op.drop_table('escalation')
    with op.batch_alter_table('consent_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_record_resident_id'))

    op.drop_table('consent_record')
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_index('ix_resident_room_phone')
        batch_op.drop_index(batch_op.f('ix_resident_community_id'))

    op.drop_table('resident')
    op.drop_table('user_community')
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_community_id'))

    op.drop_table('team')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_resident_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_community_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))

    op.drop_table('audit_entry')
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agency_community_id'))

    op.drop_table('agency')
    op.drop_table('user_account')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION linli_append_only()")
