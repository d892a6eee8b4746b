"""``cds-service lint-cards``: everything that can be wrong with a content directory, with file:line.

1. ``load_content``: schema, template syntax and placeholders, rule ids against the code, the
   reasons, suggestions and params each rule uses, the shared files and the value sets.
2. The codes of every value set, per system (``lint_codes``).
3. Every rule's card rendered for every fixture hook request (the real pipeline, no FHIR server),
   and once per reason with sample data, so rules no fixture triggers are rendered too: template
   errors are located in their file and the rendered summary must be under 140 characters.
4. Behaviour: a rule that raises on any fixture is an error in its file, and every fixture
   request must produce exactly the cards its ``fixtureExpected`` states (rule id → indicator;
   shadow-mode rules count as firing, a rule switched ``off`` is a warning). A difference is
   reported in the content file of the rule concerned, naming the fixture.

The hot reload (``content.store``) runs the same checks before it swaps content in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds_service.content.lint_codes import check_valueset_codes
from cds_service.content.loader import FACTS_FILE, LAYOUT_FILE, ContentError, ContentSet, Problem, Severity, line_of, load_content
from cds_service.content.render import SUMMARY_MAX, card_context, fact_line
from cds_service.content.templates import UNCERTAIN_COUNTS
from cds_service.preview.samples import inconclusive, render_sample, sample_findings
from cds_service.preview.simulate import Evaluation, RuleResult, evaluate_body
from cds_service.facts.model import DATA_KEYS, ShownAge, all_facts
from cds_service.fixtures import FIXTURES_DIR, REQUESTS, Expected, expected_outcome, fixture_names, hook_request
from cds_service.content.referral import finding_indicator
from cds_service.rules.base import Finding

@dataclass
class LintReport:
    directory: Path
    issues: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("rules", "requests", "cards", "samples", "codes"), 0))

    @property
    def errors(self) -> list[Problem]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, file: Path | str, line: int, message: str, severity: Severity = "error") -> None:
        issue = Problem(str(file), line, message, severity)
        if issue not in self.issues:
            self.issues.append(issue)

    def as_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "ok": self.ok,
            "checked": dict(self.counts),
            "issues": [{"severity": i.severity, "file": i.file, "line": i.line, "message": i.message} for i in self.issues],
        }


def lint_content(directory: Path, fixtures: Path = FIXTURES_DIR, today: date | None = None) -> LintReport:
    """Every problem in the content under ``directory``, checked against the fixture requests under ``fixtures``."""
    report = LintReport(Path(directory))
    check_codes(report)
    try:
        content = load_content(report.directory)
    except ContentError as exc:
        for problem in exc.problems:
            report.add(problem.file, problem.line, problem.message)
        return report
    check_behaviour(report, content, fixtures, today)
    return report


def check_codes(report: LintReport) -> None:
    """Step 2: every value-set code, per system."""
    code_issues, report.counts["codes"] = check_valueset_codes(report.directory)
    for issue in code_issues:
        report.add(issue.file, issue.line, issue.message, issue.severity)


def uncertain_samples() -> list[dict[str, Any]]:
    """The values ``uncertain_note`` is rendered with: each count alone, every data key unavailable
    alone, and all of them at once."""
    none = dict.fromkeys(UNCERTAIN_COUNTS, 0)
    alone = [{"counts": {**none, kind: 1}, "unavailable": []} for kind in UNCERTAIN_COUNTS]
    missing = [{"counts": none, "unavailable": [key]} for key in DATA_KEYS]
    every = {"counts": {k: 1 if k == "age" else 2 for k in UNCERTAIN_COUNTS}, "unavailable": list(DATA_KEYS)}
    return [*alone, *missing, every]


def check_behaviour(report: LintReport, content: ContentSet, fixtures: Path = FIXTURES_DIR, today: date | None = None) -> None:
    """Steps 3 and 4 on loaded content: every card rendered, every fixture's cards as expected."""
    report.counts["rules"] = len(content.rules)
    locator = _Locator(content)
    for values in uncertain_samples():
        try:
            content.uncertain_note.render(values)
        except Exception as exc:
            path = report.directory / LAYOUT_FILE
            report.add(path, locator.line(path, ("uncertain_note",)), _message("uncertain_note", exc))
    for rule in content.rules.values():
        for sample in sample_findings(rule):  # rules no fixture triggers are rendered too
            result = render_sample(content, sample)
            if not inconclusive(result):
                report.counts["samples"] += 1
                locator.check(report, result, "sample data")
    for name in fixture_names(REQUESTS, fixtures):
        path = fixtures / REQUESTS / f"{name}.json"
        try:
            evaluation = asyncio.run(evaluate_body(content, hook_request(name, today, root=fixtures), today))
        except Exception as exc:  # a fixture that cannot be evaluated is reported, the others still run
            report.add(path, 1, f"fixture request could not be evaluated: {type(exc).__name__}: {exc}")
            continue
        report.counts["requests"] += 1
        for result in evaluation.results:
            report.counts["cards"] += 1
            locator.check(report, result, f"fixture {name}", evaluation.age)
        for rule_id, error in evaluation.failed.items():
            rule_path = report.directory / f"{rule_id}.yaml"
            report.add(rule_path, locator.line(rule_path, ("params",)), f"{rule_id}: the rule raised {error} (fixture {name})")
        _check_expected(report, locator, content, path, name, evaluation)
    if report.counts["requests"] == 0:
        report.add(fixtures / REQUESTS, 0, "no fixture requests found: cards were rendered with sample data only", "warning")


def _check_expected(
    report: LintReport, locator: _Locator, content: ContentSet, path: Path, name: str, evaluation: Evaluation
) -> None:
    """The fixture's cards against its ``fixtureExpected``; each difference in the rule's content file."""
    try:
        expected: Expected | None = expected_outcome(name, path.parent.parent)
    except ValidationError as exc:
        first = exc.errors()[0]
        report.add(path, 1, f"fixtureExpected is malformed: {first['msg']} at {first['loc']}")
        return
    if expected is None:
        report.add(path, 1, "no fixtureExpected: the cards of this request are not checked", "warning")
        return
    fired = {r.rule_id: r.card.indicator if r.card else finding_indicator(content, r.finding) for r in evaluation.results}
    for rule_id in sorted(set(expected.cards) | set(fired)):
        want, got = expected.cards.get(rule_id), fired.get(rule_id)
        if want == got or rule_id in evaluation.failed:  # a rule that raised is reported as such
            continue
        rule = content.rules.get(rule_id)
        rule_path = report.directory / f"{rule_id}.yaml"
        where = ("params",) if rule is not None and rule.params else ("rule",)
        severity: Severity = "error"
        if rule is not None and rule.content.mode == "off":
            message, where, severity = f"mode off, so fixture {name} misses its expected {want} card", ("mode",), "warning"
        elif got is None:
            message = f"fixture {name} expects a {want} card; the rule did not fire"
        elif want is None:
            message = f"fixture {name} expects no card from this rule; it fired ({got})"
        else:
            message, where = f"fixture {name} expects a {want} card; it was {got}", ("reasons",)
        report.add(rule_path, locator.line(rule_path, where), f"{rule_id}: {message}", severity)


def verified_content(directory: Path, fixtures: Path = FIXTURES_DIR, today: date | None = None) -> ContentSet:
    """Content that passes every ``lint-cards`` check (what a reload swaps in); ContentError lists the errors."""
    content = load_content(directory)
    report = LintReport(Path(directory))
    check_codes(report)
    check_behaviour(report, content, fixtures, today)
    if report.errors:
        raise ContentError(report.errors)
    return content


# --------------------------------------------------------------------------- locating problems


class _Locator:
    """Turns a failed or too-long render into issues at the file and line of the template at fault."""

    def __init__(self, content: ContentSet) -> None:
        self.content = content
        self.directory = content.directory
        self._nodes: dict[Path, Any] = {}

    def line(self, path: Path, loc: tuple[Any, ...]) -> int:
        if path not in self._nodes:
            try:
                self._nodes[path] = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
            except (OSError, yaml.YAMLError):
                self._nodes[path] = None
        return line_of(self._nodes[path], loc) if self._nodes[path] is not None else 1

    def check(self, report: LintReport, result: RuleResult, where: str, age: ShownAge = 70) -> None:
        path = self.directory / f"{result.rule_id}.yaml"
        if result.error is not None:
            file, loc, message = self._locate(result.finding, age)
            report.add(file, self.line(file, loc), f"{result.rule_id}: {message or result.error} ({where})")
        elif result.summary is not None and len(result.summary) > SUMMARY_MAX:
            report.add(
                path,
                self.line(path, ("summary",)),
                f"summary renders to {len(result.summary)} characters, over the limit of {SUMMARY_MAX} ({where}): {result.summary!r}",
            )

    def _locate(self, finding: Finding, age: ShownAge) -> tuple[Path, tuple[Any, ...], str | None]:
        content, rule = self.content, self.content.rules[finding.rule_id]
        path = self.directory / f"{rule.id}.yaml"
        for fact in all_facts(r.facts for r in finding.reasons):
            try:
                fact_line(content, fact)
            except Exception as exc:
                return self.directory / FACTS_FILE, ("labels", fact.key), _message(f"labels.{fact.key}", exc)
        for reason in finding.reasons:
            try:
                card_context(content, rule, replace(finding, reasons=(reason,)), age)
            except Exception as exc:
                return path, ("reasons", reason.key, "text"), _message(f"reasons.{reason.key}.text", exc)
        try:
            ctx = card_context(content, rule, finding, age)
        except Exception as exc:
            return path, ("reasons",), _message("reasons", exc)
        for name, template in (("summary", rule.summary), ("detail", rule.detail)):
            try:
                template.render(ctx)
            except Exception as exc:
                return path, (name,), _message(name, exc)
        try:
            content.footer.render({**ctx, "source": rule.content.source.model_dump()})
        except Exception as exc:
            return self.directory / LAYOUT_FILE, ("detail_footer",), _message("detail_footer", exc)
        for spec in finding.suggestions:
            values = {**ctx, "order": None, "days": None}
            try:
                rule.labels[spec.key].render(values)
            except Exception as exc:
                return path, ("suggestions", spec.key, "label"), _message(f"suggestions.{spec.key}.label", exc)
            for action in spec.actions:
                action_template = rule.actions.get((spec.key, action.key))
                try:
                    if action_template is not None:
                        action_template.render({**values, **action.data})
                except Exception as exc:
                    loc = ("suggestions", spec.key, "actions", action.key)
                    return path, loc, _message(".".join(loc), exc)
        return path, ("rule",), None


def _message(where: str, exc: Exception) -> str:
    return f"{where}: template error: {type(exc).__name__}: {exc}"
