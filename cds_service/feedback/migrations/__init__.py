"""Alembic migrations of the feedback store (``cds-service db upgrade``; also run at start-up).

A schema change is a new file in ``versions/`` written in the shape of ``0001_initial.py`` (the next
number as ``revision``, the previous one as ``down_revision``) together with the matching change to
``feedback/schema.py``; tests/unit/test_feedback_store.py checks that the two agree.
"""
