"""CDS Hooks service: guideline cards for neck and upper-back pain while ordering."""

from cds_service.fhir import aftercheck, modelclass, nullcheck

__version__ = "0.1.0"

# Before any fhir.resources model class exists, in every process; the service logs the outcome
# at start-up (nullcheck.state()): see cds_service/fhir/nullcheck.py, fhir/aftercheck.py and fhir/modelclass.py.
nullcheck.install()
aftercheck.install()
modelclass.install()
