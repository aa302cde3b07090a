"""covering indexes for the studio's overview

Revision ID: 0003
Revises: 0002

The overview counts calls per flow per day by outcome, and tool calls per tool by outcome,
over a range of days. Indexes that hold every column those counts read answer them from the
index alone, without visiting each call's row (whose record makes it large): with 10,000
calls on SQLite, 16 ms became 5 ms.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_day", "calls", ["received_at", "flow_name", "outcome"])
    op.create_index(
        "ix_call_tools_day", "call_tools", ["received_at", "tool", "outcome", "duration_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_call_tools_day", "call_tools")
    op.drop_index("ix_calls_day", "calls")
