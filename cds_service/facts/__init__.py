"""FHIR resources → PatientFacts and DraftOrders: the only code that walks codings and dates."""

from cds_service.facts.model import AgeRange, DraftOrder, Dose, Fact, Imaging, Medication, PatientFacts, RedFlag

__all__ = ["AgeRange", "DraftOrder", "Dose", "Fact", "Imaging", "Medication", "PatientFacts", "RedFlag"]
