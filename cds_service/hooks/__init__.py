"""Hook orchestration: a CDS Hooks call from its route through prefetch (with FHIR fallback), facts,
rules and cards to the response; the OpenAPI description of the routes."""
