"""Served cards and feedback items.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``served_cards`` and ``feedback``."""
    op.create_table(
        "served_cards",
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook_instance", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_version", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("card_uuid", name=op.f("pk_served_cards")),
    )
    op.create_index(op.f("ix_served_cards_rule_id_served_at"), "served_cards", ["rule_id", "served_at"])
    op.create_index(op.f("ix_served_cards_served_at"), "served_cards", ["served_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=True),
        sa.Column("override_code", sa.Text(), nullable=True),
        sa.Column("override_system", sa.Text(), nullable=True),
        sa.Column("override_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint(
            "card_uuid", "outcome", "outcome_at", name=op.f("uq_feedback_card_uuid_outcome_outcome_at")
        ),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name=op.f("ck_feedback_outcome")),
    )
    op.create_index(op.f("ix_feedback_outcome_at"), "feedback", ["outcome_at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index(op.f("ix_feedback_outcome_at"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_index(op.f("ix_served_cards_served_at"), table_name="served_cards")
    op.drop_index(op.f("ix_served_cards_rule_id_served_at"), table_name="served_cards")
    op.drop_table("served_cards")
