"""FHIR: the async client for the EHR's server, prefetch fallback, and lenient resource parsing."""
