"""Acceptance tests: the clinical vignettes as fixture patients and hook requests."""
