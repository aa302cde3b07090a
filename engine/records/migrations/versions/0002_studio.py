"""call_tools and flow_versions, for the studio

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "call_tools",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("received_at", when, nullable=False),
        sa.Column("flow_name", sa.String(256)),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("duration_ms", sa.Float),
    )
    op.create_index("ix_call_tools_received_at", "call_tools", ["received_at"])
    op.create_index("ix_call_tools_tool", "call_tools", ["tool", "received_at"])
    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow_file", sa.String(1024), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("saved_by", sa.String(256), nullable=False),
        sa.Column("saved_at", when, nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
        sa.Column("based_on", sa.String(16)),
    )
    op.create_index("ix_flow_versions_file", "flow_versions", ["flow_file", "saved_at"])
    op.create_index("ix_flow_versions_version", "flow_versions", ["flow_file", "version"])


def downgrade() -> None:
    op.drop_table("flow_versions")
    op.drop_table("call_tools")
