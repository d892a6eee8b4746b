"""The CDS Hooks wire protocol: models, service declarations, discovery and prefetch."""
