"""The card preview page (``/preview``): fixture patients and orders, rendered as an EHR shows cards.

Served only when ``CDS_PREVIEW_ENABLED`` is true; it evaluates fixture patients only, never a
real patient, and calls no FHIR server.
"""
