# The real FHIR server for integration tests (Medplum's in-memory FHIR router on Node).
set -euo pipefail
command -v node >/dev/null || { echo "node is required for the FHIR test server" >&2; exit 1; }
if [ ! -d tests/fhir_server/node_modules ]; then
  (cd tests/fhir_server && npm ci --no-audit --no-fund --loglevel=error)
fi
