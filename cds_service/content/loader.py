"""Load ``cards/``: rule content files, shared files and value sets, all validated before use.

A problem anywhere rejects the whole set with every problem found, each naming its file and
line; the caller keeps serving the previous set. Loading compiles every template once.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ValidationError

from cds_service.content.model import ContentInfo, FactsContent, LayoutContent, RedFlagTermsContent, RuleContent
from cds_service.content.templates import (
    CARD_NAMES, FACT_NAMES, FOOTER_NAMES, SUGGESTION_NAMES, UNCERTAIN_NAMES, Wording, compile_wording, undeclared,
)
from cds_service.facts.codes import CodeIndex
from cds_service.rules import REGISTRY
from cds_service.terminology import Terminology, TerminologyError, load_terminology
from cds_service.terminology.canonical import CanonicalBase

CONTENT_FILE = "_content.yaml"
FACTS_FILE = "_facts.yaml"
LAYOUT_FILE = "_layout.yaml"
TERMS_FILE = "_red_flag_terms.yaml"
FACT_TERMS_FILE = "_fact_terms.yaml"


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """Something wrong in a content file, at a 1-based line (loader, lint and code checks alike)."""

    file: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ContentError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class CompiledRule:
    content: RuleContent
    summary: Wording
    detail: Wording
    reasons: Mapping[str, Wording]
    labels: Mapping[str, Wording]
    actions: Mapping[tuple[str, str], Wording]
    params: Mapping[str, Any]  # validated against the rule's params model (``rules.params``)
    # The parts of its cards that only the content and the base URL decide, built on first use
    # (``content.render.cited``): each load compiles new rules, so none outlives its content.
    cited: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.content.rule


@dataclass(frozen=True)
class ContentSet:
    """One consistent, immutable generation of content; a reload swaps the whole object."""

    rules: Mapping[str, CompiledRule]
    facts: FactsContent
    fact_labels: Mapping[str, Wording]
    layout: LayoutContent
    footer: Wording
    uncertain_note: Wording
    terminology: Terminology
    index: CodeIndex
    version: str
    canonical_base: CanonicalBase  # the base of the content's canonical URLs (``_content.yaml``)
    directory: Path = field(compare=False)

    @functools.cached_property
    def rule_params(self) -> dict[str, Mapping[str, Any]]:
        """Params of the rules that run (active or shadow), worked out once per content generation."""
        return {rid: r.params for rid, r in self.rules.items() if r.content.mode != "off"}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(str(path), line, message))


def _yaml(path: Path, errors: _Collector) -> tuple[Any, Any] | None:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        errors.add(path, (mark.line + 1) if mark else 1, f"YAML syntax: {getattr(exc, 'problem', exc)}")
        return None
    if not isinstance(data, dict):
        errors.add(path, 1, "expected a mapping at the top level")
        return None
    return data, node


def line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at a pydantic error location (closest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _model(cls: type[BaseModel], data: Any, node: Any, path: Path, errors: _Collector) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "file"
            errors.add(path, line_of(node, err["loc"]), f"{where}: {err['msg']}")
        return None


def _template(
    source: str, names: frozenset[str], path: Path, node: Any, loc: tuple[Any, ...], errors: _Collector, markdown: bool = True
) -> Wording | None:
    line = line_of(node, loc)
    try:
        unknown = undeclared(source) - names
        template = compile_wording(source, markdown)
    except TemplateSyntaxError as exc:
        errors.add(path, line + max((exc.lineno or 1) - 1, 0), f"{'.'.join(map(str, loc))}: template syntax: {exc.message}")
        return None
    if unknown:
        errors.add(path, line, f"{'.'.join(map(str, loc))}: unknown placeholder(s): {', '.join(sorted(unknown))}")
        return None
    return template


def _params(model: type[BaseModel], given: Mapping[str, Any], node: Any, path: Path, errors: _Collector) -> dict[str, Any]:
    """``given`` validated against the rule's params model: each problem at the line of its value."""
    try:
        return model.model_validate(dict(given)).model_dump()
    except ValidationError as exc:
        for err in exc.errors():
            loc = ("params", *err["loc"])
            name = ".".join(str(p) for p in loc)
            field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
            extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
            hint = f" ({extra['unit']})" if extra.get("unit") else ""
            value = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err["input"], dict) else ""
            errors.add(path, line_of(node, loc), f"{name}{hint}: {err['msg']}{value}")
        return {}


def _compile_rule(path: Path, errors: _Collector, valuesets: Collection[str] | None = None) -> CompiledRule | None:
    loaded = _yaml(path, errors)
    if loaded is None:
        return None
    data, node = loaded
    content = _model(RuleContent, data, node, path, errors)
    if content is None:
        return None
    before = len(errors.problems)
    if content.rule != path.stem:
        errors.add(path, line_of(node, ("rule",)), f"rule: '{content.rule}' does not match the file name '{path.stem}'")
    spec = REGISTRY.get(content.rule)
    params: Mapping[str, Any] = {}
    if spec is None:
        errors.add(path, line_of(node, ("rule",)), f"rule: no rule '{content.rule}' exists in the code")
    else:
        for kind, needed, given in (
            ("reasons", spec.reasons, content.reasons),
            ("suggestions", spec.suggestions, content.suggestions),
        ):
            for key in needed:
                if key not in given:
                    errors.add(path, line_of(node, (kind,)), f"{kind}: missing '{key}' (the rule uses it)")
        params = _params(spec.params_model, content.params, node, path, errors)
        for vs_id in spec.valuesets:
            if valuesets is not None and vs_id not in valuesets:
                errors.add(path, line_of(node, ("rule",)), f"rule: the rule reads value set '{vs_id}', but valuesets/{vs_id}.json is missing")
    summary = _template(content.summary, CARD_NAMES, path, node, ("summary",), errors, markdown=False)
    detail = _template(content.detail, CARD_NAMES, path, node, ("detail",), errors)
    reasons = {k: _template(r.text, CARD_NAMES, path, node, ("reasons", k, "text"), errors) for k, r in content.reasons.items()}
    labels = {
        k: _template(s.label, SUGGESTION_NAMES, path, node, ("suggestions", k, "label"), errors, markdown=False)
        for k, s in content.suggestions.items()
    }
    actions = {
        (k, a): _template(text, SUGGESTION_NAMES, path, node, ("suggestions", k, "actions", a), errors, markdown=False)
        for k, s in content.suggestions.items()
        for a, text in s.actions.items()
    }
    if len(errors.problems) > before or summary is None or detail is None:
        return None
    return CompiledRule(content, summary, detail, reasons, labels, actions, params)  # type: ignore[arg-type]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def content_files(directory: Path) -> list[Path]:
    """Every file a content set is built from (for change detection)."""
    return sorted([*directory.glob("*.yaml"), *(directory / "valuesets").glob("*.json")])


def load_content(directory: Path) -> ContentSet:
    """A validated, compiled ContentSet from ``directory``; ContentError lists every problem."""
    directory = Path(directory)
    errors = _Collector()
    if not directory.is_dir():
        raise ContentError([Problem(str(directory), 0, "content directory not found")])
    info, _ = _shared(directory / CONTENT_FILE, ContentInfo, errors)
    base = CanonicalBase(info.canonical_base) if info is not None else None
    terminology = None
    if base is not None:  # value set urls are checked against the canonical base
        try:
            terminology = load_terminology(directory, base)
        except TerminologyError as exc:
            errors.add(Path(exc.path), exc.line, exc.message)
    rules: dict[str, CompiledRule] = {}
    rule_files = [path for path in sorted(directory.glob("*.yaml")) if not path.name.startswith("_")]
    for path in rule_files:
        compiled = _compile_rule(path, errors, terminology.valuesets if terminology is not None else None)
        if compiled is not None:
            rules[compiled.id] = compiled
    present = {path.stem for path in rule_files}
    for rule_id in REGISTRY:
        if rule_id not in present:  # a deleted file must not silence a safety card: use `mode: off`
            errors.add(directory / f"{rule_id}.yaml", 0, f"rule '{rule_id}' has no content file (to stop it, keep the file with mode: off)")
    facts, fact_labels = _shared(directory / FACTS_FILE, FactsContent, errors)
    layout, layout_node = _shared(directory / LAYOUT_FILE, LayoutContent, errors)
    footer = note = None
    if layout is not None:
        path = directory / LAYOUT_FILE
        footer = _template(layout.detail_footer, FOOTER_NAMES, path, layout_node, ("detail_footer",), errors)
        note = _template(layout.uncertain_note, UNCERTAIN_NAMES, path, layout_node, ("uncertain_note",), errors)
    red_flag_text = _red_flag_terms(directory / TERMS_FILE, errors)
    fact_text = _fact_terms(directory / FACT_TERMS_FILE, errors)
    labels: dict[str, Wording] = {}
    if facts is not None:
        for key, text in facts.labels.items():
            compiled_label = _template(text, FACT_NAMES, directory / FACTS_FILE, fact_labels, ("labels", key), errors)
            if compiled_label is not None:
                labels[key] = compiled_label
    if (
        errors.problems or base is None or terminology is None or facts is None or layout is None or footer is None
        or note is None or red_flag_text is None or fact_text is None
    ):  # fmt: skip
        raise ContentError(errors.problems or [Problem(str(directory), 0, "incomplete content")])
    return ContentSet(
        rules=rules,
        facts=facts,
        fact_labels=labels,
        layout=layout,
        footer=footer,
        uncertain_note=note,
        terminology=terminology,
        index=CodeIndex(terminology, red_flag_text, fact_text),
        version=_digest(content_files(directory)),
        canonical_base=base,
        directory=directory,
    )


def read_canonical_base(directory: Path) -> CanonicalBase:
    """The canonical base ``directory/_content.yaml`` sets; ContentError (file and line) when it cannot be read."""
    errors = _Collector()
    info, _ = _shared(Path(directory) / CONTENT_FILE, ContentInfo, errors)
    if info is None:
        raise ContentError(errors.problems)
    return CanonicalBase(info.canonical_base)


def _shared(path: Path, cls: type[BaseModel], errors: _Collector) -> tuple[Any, Any]:
    if not path.exists():
        errors.add(path, 0, "required shared content file is missing")
        return None, None
    loaded = _yaml(path, errors)
    if loaded is None:
        return None, None
    data, node = loaded
    return _model(cls, data, node, path, errors), node


def _red_flag_terms(path: Path, errors: _Collector) -> re.Pattern[str] | None:
    """The red-flag words of ``_red_flag_terms.yaml`` as one whole-word pattern, written in lower
    case and matched against lowercased text (so any case); None (with the problems, at their lines)
    when a term is not in lower case, does not compile or could match nothing."""
    read = _term_groups(path, errors)
    if read is None:
        return None
    groups, node = read
    return _words(path, errors, [a for items in groups.values() for a in items], line_of(node, ("terms",)), "terms")


def _fact_terms(path: Path, errors: _Collector) -> dict[str, re.Pattern[str]] | None:
    """The words of ``_fact_terms.yaml``, one whole-word pattern per group (a patient fact's name:
    ``physical-therapy`` …), checked as the red-flag words are."""
    read = _term_groups(path, errors)
    if read is None:
        return None
    groups, node = read
    patterns: dict[str, re.Pattern[str]] = {}
    for group, items in groups.items():
        pattern = _words(path, errors, items, line_of(node, ("terms", group)), f"terms.{group}")
        if pattern is None:
            return None
        patterns[group] = pattern
    return patterns


def _term_groups(path: Path, errors: _Collector) -> tuple[dict[str, list[str]], Any] | None:
    """A terms file's groups, each item checked and wrapped as an alternative (``(?:item)``); None,
    with the problems at their lines, when an item is not in lower case, does not compile or could
    match nothing, or a group is empty; with the file's YAML node."""
    terms, node = _shared(path, RedFlagTermsContent, errors)
    if terms is None:
        return None
    before = len(errors.problems)
    groups: dict[str, list[str]] = {}
    for group, items in terms.terms.items():
        alternatives = groups[group] = []
        if not items:
            errors.add(path, line_of(node, ("terms", group)), f"terms.{group}: the list is empty")
        for i, item in enumerate(items):
            where, line = f"terms.{group}[{i}]", line_of(node, ("terms", group, i))
            if item != item.lower():  # matched against the lowercased text (a case-insensitive search is slower)
                errors.add(path, line, f"{where}: write terms in lower case (they match any case)")
                continue
            try:
                compiled = re.compile(item)
            except re.error as exc:
                errors.add(path, line, f"{where}: not a regular expression: {exc}")
                continue
            if not item.strip() or compiled.fullmatch("") is not None:
                errors.add(path, line, f"{where}: matches an empty text")
                continue
            alternatives.append(f"(?:{item})")
    return None if len(errors.problems) > before else (groups, node)


def _words(path: Path, errors: _Collector, alternatives: list[str], line: int, where: str) -> re.Pattern[str] | None:
    """``alternatives`` as one whole-word pattern; None (a problem at ``where``) when they do not combine."""
    try:
        # Whole words by look-around rather than \b: the same matches, found about twice as fast.
        return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
    except re.error as exc:  # e.g. an inline global flag, valid alone but not inside the alternation
        errors.add(path, line, f"{where}: the terms do not combine into one pattern: {exc}")
        return None
