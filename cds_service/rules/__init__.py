"""Guideline rules: pure functions of PatientFacts and draft orders (see ``base``)."""

from cds_service.rules import imaging, physical_therapy  # noqa: F401  (registers the rules)
from cds_service.rules import procedures, surgery  # noqa: F401  (registers the rules)
from cds_service.rules import analgesics, muscle_relaxants, opioids  # noqa: F401  (registers the rules)
from cds_service.rules.base import REGISTRY, Finding, RuleInput, RuleSpec

__all__ = ["REGISTRY", "Finding", "RuleInput", "RuleSpec"]
