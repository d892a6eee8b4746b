"""CDS Hooks service: guideline cards for neck and upper-back pain while ordering."""

from cds_service.fhir import aftercheck, nullcheck

__version__ = "0.1.0"

nullcheck.install()  # before any fhir.resources model class exists: see cds_service/fhir/nullcheck.py
aftercheck.install()  # likewise (cds_service/fhir/aftercheck.py)
