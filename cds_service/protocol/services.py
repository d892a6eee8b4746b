"""The CDS services this server offers, declared once; discovery is generated from them.

Each declaration names its hook, which draft orders it evaluates and its prefetch queries.
Observation queries list exactly the LOINC codes the rules read, taken from the value sets,
so a tuned value set changes the prefetch without touching code. Medication queries
``_include`` the Medications their entries reference (``medicationReference``), so a client
that supports ``_include`` sends them in the same Bundle (``search.mode = include``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import weakref
from typing import Literal, Protocol

from cds_service.protocol.configuration import discovery_extension
from cds_service.protocol.models import ServiceDescriptor

PATIENT_KEY = "patient"


class CodeSource(Protocol):
    def codes_of(self, valueset_ids: Iterable[str]) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class PrefetchQuery:
    """One prefetch key; ``{codes}`` in the template becomes the value sets' ``system|code`` list."""

    key: str
    template: str
    valuesets: tuple[str, ...] = ()

    def render(self, codes: CodeSource) -> str:
        if not self.valuesets:
            return self.template
        listed = ",".join(f"{system}|{code}" for system, code in codes.codes_of(self.valuesets))
        return self.template.replace("{codes}", listed)


PATIENT = "{{context.patientId}}"
PREFETCH: tuple[PrefetchQuery, ...] = (
    PrefetchQuery(PATIENT_KEY, f"Patient/{PATIENT}"),
    PrefetchQuery("conditions", f"Condition?patient={PATIENT}"),
    PrefetchQuery("procedures", f"Procedure?patient={PATIENT}"),
    PrefetchQuery("medicationRequests", f"MedicationRequest?patient={PATIENT}&_include=MedicationRequest:medication"),
    PrefetchQuery("medicationStatements", f"MedicationStatement?patient={PATIENT}&_include=MedicationStatement:medication"),
    PrefetchQuery(
        "observations",
        f"Observation?patient={PATIENT}&code={{codes}}",
        ("egfr", "body-temperature"),
    ),
    PrefetchQuery("serviceRequests", f"ServiceRequest?patient={PATIENT}"),
    PrefetchQuery("imagingStudies", f"ImagingStudy?patient={PATIENT}"),
)


# Per content index (dropped with it), per service id: the rendered prefetch templates.
_RENDERED: weakref.WeakKeyDictionary[CodeSource, dict[str, dict[str, str]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ServiceDeclaration:
    id: str
    hook: str
    title: str
    description: str
    evaluates: Literal["selections", "all"]
    prefetch: tuple[PrefetchQuery, ...] = PREFETCH
    usage_requirements: str | None = None

    def prefetch_templates(self, codes: CodeSource) -> dict[str, str]:
        """The prefetch templates with the codes of ``codes`` (one content load's index): rendered once
        per index and service, since every call of the service asks for them. Read, never changed."""
        rendered = _RENDERED.setdefault(codes, {})
        templates = rendered.get(self.id)
        if templates is None:
            templates = rendered[self.id] = {q.key: q.render(codes) for q in self.prefetch}
        return templates

    def descriptor(self, codes: CodeSource) -> ServiceDescriptor:
        return ServiceDescriptor(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description,
            prefetch=self.prefetch_templates(codes),
            usage_requirements=self.usage_requirements,
            extension=discovery_extension(),
        )


_USAGE = (
    "Send the prefetch (or fhirServer with a token that can read Patient, Condition, Procedure, "
    "MedicationRequest, MedicationStatement, Medication, Observation, ServiceRequest and ImagingStudy)."
)

SERVICES: tuple[ServiceDeclaration, ...] = (
    ServiceDeclaration(
        id="neck-pain-order-select",
        hook="order-select",
        title="Neck and upper-back pain: order guidance",
        description=(
            "Guideline advice on imaging, medications, injections, surgery and physical therapy for "
            "neck and upper-back pain, evaluated on the selected draft orders."
        ),
        evaluates="selections",
        usage_requirements=_USAGE,
    ),
    ServiceDeclaration(
        id="neck-pain-order-sign",
        hook="order-sign",
        title="Neck and upper-back pain: order check at signing",
        description=(
            "Guideline checks on every draft order for neck and upper-back pain before the orders are signed."
        ),
        evaluates="all",
        usage_requirements=_USAGE,
    ),
)

SERVICES_BY_ID: Mapping[str, ServiceDeclaration] = {s.id: s for s in SERVICES}
