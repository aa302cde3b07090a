"""calls and call_claims

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("received_at", when, nullable=False),
        sa.Column("ended_at", when),
        sa.Column("flow_file", sa.String(1024)),
        sa.Column("flow_name", sa.String(256)),
        sa.Column("to_number", sa.String(64)),
        sa.Column("from_number", sa.String(64)),
        sa.Column("outcome", sa.String(32)),
        sa.Column("ended_how", sa.String(64)),
        sa.Column("replica", sa.String(256)),
        sa.Column(
            "record", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("written_at", when, nullable=False),
    )
    op.create_index("ix_calls_received_at", "calls", ["received_at"])
    op.create_index("ix_calls_flow_name", "calls", ["flow_name", "received_at"])
    op.create_index("ix_calls_to_number", "calls", ["to_number", "received_at"])
    op.create_index("ix_calls_from_number", "calls", ["from_number", "received_at"])
    op.create_index("ix_calls_outcome", "calls", ["outcome", "received_at"])
    op.create_table(
        "call_claims",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("replica", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_until", when, nullable=False),
        sa.Column("claimed_at", when, nullable=False),
    )
    op.create_index("ix_call_claims_claimed_at", "call_claims", ["claimed_at"])


def downgrade() -> None:
    op.drop_table("call_claims")
    op.drop_table("calls")
