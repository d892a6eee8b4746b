"""CDS Hooks service: guideline cards for neck and upper-back pain while ordering."""

__version__ = "0.1.0"
