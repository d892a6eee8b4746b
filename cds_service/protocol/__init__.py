"""The protocol: CDS Hooks request, response and discovery models, and the services this one declares."""
