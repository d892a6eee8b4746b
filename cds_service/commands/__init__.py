"""The ``cds-service`` sub-commands (the top layer: they may import any package)."""
