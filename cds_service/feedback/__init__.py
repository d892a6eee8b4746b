"""CDS Hooks feedback and card analytics.

    schema      the tables (served cards, feedback items)
    store       FeedbackStore: SQLite or PostgreSQL via SQLAlchemy, insert-or-ignore writes
    migrate     Alembic upgrades, run at start-up and by ``cds-service db upgrade``
    intake      a feedback request body → records to store (400 on malformed input)
    recorder    CardRecorder: served cards written in the background, in batches
    runtime     start/stop with the app; ``record_served`` and ``receive`` for the routes
    report      per-rule numbers for ``cds-service feedback-report``
"""
