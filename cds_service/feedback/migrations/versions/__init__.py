"""Alembic revisions of the feedback store, oldest first."""
