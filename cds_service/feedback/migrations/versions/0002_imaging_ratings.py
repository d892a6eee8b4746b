"""Appropriateness ratings of spine imaging orders; the card version of each served card.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``imaging_ratings``; add ``served_cards.card_version`` (empty for cards served before)."""
    op.add_column("served_cards", sa.Column("card_version", sa.String(32), nullable=True))
    op.create_table(
        "imaging_ratings",
        sa.Column("hook_instance", sa.String(64), nullable=False),
        sa.Column("order_ref", sa.String(200), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("rating", sa.String(32), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_version", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("hook_instance", "order_ref", name=op.f("pk_imaging_ratings")),
    )
    op.create_index(op.f("ix_imaging_ratings_rated_at"), "imaging_ratings", ["rated_at"])


def downgrade() -> None:
    """Drop ``imaging_ratings`` and ``served_cards.card_version``."""
    with op.batch_alter_table("served_cards") as batch:
        batch.drop_column("card_version")
    op.drop_index(op.f("ix_imaging_ratings_rated_at"), table_name="imaging_ratings")
    op.drop_table("imaging_ratings")
