"""Benchmarks of the service against a bare FastAPI floor (run with ``bench/run`` or ``python -m bench``)."""
