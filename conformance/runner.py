"""The conformance runner: sends each plan's steps to a target and compares the answers."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin
from xml.sax.saxutils import escape

import httpx
from fhir.resources.R4B import get_fhir_model_class
from lxml import etree

from conformance import messages
from conformance.callback import CallbackListener
from conformance.checks import Answer, check
from conformance.messages import NS, SOAP_CONTENT_TYPE, GarbageAnswer
from conformance.plans import TEMPLATES, Step, Suite, Test
from conformance.values import MissingValue, Values

DEFAULT_HOME = "urn:oid:2.16.578.1.12.4.5.100.1"
DEFAULT_REPOSITORY = "2.16.578.1.12.4.5.100.1.2"
# The IHE Connectathon test patient domain: no national identifier rule applies to it.
DEFAULT_PATIENT_DOMAIN = "1.3.6.1.4.1.21367.13.20.1000"
XCA = "/XCA/services/RespondingGatewayService"
REGISTRY = "/Registry/services/RegistryService"
REPOSITORY = "/Repository/services/RepositoryService"
FHIR = "/fhir"
# Transaction: endpoint path and request wsa:Action (ITI TF-2b, ITI TF-2x Appendix V).
SOAP_TRANSACTIONS = {
    "ITI-18": (REGISTRY, "urn:ihe:iti:2007:RegistryStoredQuery"),
    "ITI-38": (XCA, "urn:ihe:iti:2007:CrossGatewayQuery"),
    "ITI-39": (XCA, "urn:ihe:iti:2007:CrossGatewayRetrieve"),
    "ITI-41": (REPOSITORY, "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"),
    "ITI-42": (REGISTRY, "urn:ihe:iti:2007:RegisterDocumentSet-b"),
    "ITI-43": (REPOSITORY, "urn:ihe:iti:2007:RetrieveDocumentSet"),
    "ITI-57": (REGISTRY, "urn:ihe:iti:2010:UpdateDocumentSet"),
    "ITI-62": (REGISTRY, "urn:ihe:iti:2010:DeleteDocumentSet"),
    "ITI-86": (REPOSITORY, "urn:ihe:iti:2017:RemoveDocuments"),
}
SHOWN_BYTES = 64 * 1024
INCLUDE = re.compile(r"<\?include\s+([\w.\-]+)(?:\s+([\w.\-]+))?\s*\?>")
SCOPED = re.compile(r"\{\{\s*(uuid|uid):")
LEADING_COMMENTS = re.compile(r"\A(?:\s*<!--.*?-->)+\s*", re.DOTALL)


@dataclass(frozen=True)
class Options:
    """How to reach the target and which ids it has."""

    target: str
    home_community_id: str = DEFAULT_HOME
    repository_unique_id: str = DEFAULT_REPOSITORY
    patient_domain: str = DEFAULT_PATIENT_DOMAIN
    timeout: float = 30.0
    callback: str | None = None
    callback_url: str | None = None
    callback_timeout: float = 30.0


@dataclass
class Exchange:
    """A request sent and the answer got, as text for the report (cut at SHOWN_BYTES)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response: str = ""


@dataclass
class StepResult:
    """How one step went: passed, failed (the answer differs) or error (no usable answer)."""

    name: str
    transaction: str
    outcome: str
    differences: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass
class TestResult:
    """How one test went: passed, failed, error or skipped (with the reason)."""

    suite: str
    id: str
    title: str
    spec: str
    outcome: str
    seconds: float = 0.0
    reason: str = ""
    steps: list[StepResult] = field(default_factory=list)


@dataclass
class Request:
    """An HTTP request ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""
    message_id: str | None = None


def load_template(name: str, alias: str | None = None) -> str:
    """A request template, its `<?include FILE [NAME]?>` lines replaced by the files they name.

    In an included file `$` stands for NAME, so one fragment serves each object of a request.
    """
    text = LEADING_COMMENTS.sub("", (TEMPLATES / name).read_text(encoding="utf-8"))
    if alias:
        text = text.replace("$", alias)
    return INCLUDE.sub(lambda found: load_template(found.group(1), found.group(2)), text)


def _scoped(text: str, scope: str | None) -> str:
    """Prefix every fresh id of a template with `scope/`, for a second request of one template."""
    return SCOPED.sub(rf"{{{{\1:{scope}/", text) if scope else text


class StepError(Exception):
    """A step that got no answer to compare: target down, too slow, or a plan value missing."""


def _text(data: bytes) -> str:
    shown = data[:SHOWN_BYTES].decode("utf-8", errors="replace")
    return shown if len(data) <= SHOWN_BYTES else f"{shown}\n… ({len(data)} bytes in all)"


def _xml_escape(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _json_escape(value: str) -> str:
    return json.dumps(value)[1:-1]


class Runner:
    """Runs tests against one target, one at a time, each with fresh ids."""

    def __init__(self, options: Options) -> None:
        """Open the HTTP client and, with `options.callback`, the callback listener."""
        self.options = options
        self.base = options.target.rstrip("/")
        self.http = httpx.Client(timeout=options.timeout, follow_redirects=False)
        self.listener: CallbackListener | None = None
        if options.callback:
            host, _, port = options.callback.rpartition(":")
            if not port.isdigit():
                raise ValueError(f"--callback wants HOST:PORT, not {options.callback!r}")
            self.listener = CallbackListener(host or "127.0.0.1", int(port), options.callback_url)

    def close(self) -> None:
        """Close the client and the listener."""
        self.http.close()
        if self.listener:
            self.listener.close()

    def run(
        self, suites: Iterable[Suite], progress: Callable[[TestResult], None] | None = None
    ) -> list[TestResult]:
        """Run every test of the suites in order; never raises for a target's fault."""
        results = []
        for suite in suites:
            for test in suite.tests:
                result = self.run_test(test)
                results.append(result)
                if progress:
                    progress(result)
        return results

    def run_test(self, test: Test) -> TestResult:
        """Run one test's steps until one does not pass."""
        result = TestResult(test.suite, test.id, test.title, test.spec, "passed")
        if test.asynchronous and self.listener is None:
            result.outcome = "skipped"
            result.reason = "not run: --callback not configured"
            return result

        values = Values(
            self.options.home_community_id,
            self.options.repository_unique_id,
            self.options.patient_domain,
        )
        started = time.monotonic()
        for step in test.steps:
            step_result = self.run_step(step, values)
            result.steps.append(step_result)
            if step_result.outcome != "passed":
                result.outcome = step_result.outcome
                result.reason = f"step {step.name}: {step_result.differences[0]}"
                break
        result.seconds = time.monotonic() - started
        return result

    def run_step(self, step: Step, values: Values) -> StepResult:
        """Send one step and compare its answer with the expectation."""
        result = StepResult(step.name, step.transaction, "passed")
        shadowed = {name: values.known.get(name) for name in step.values}
        try:
            for name, value in step.values.items():
                values.save(name, values.render(value))
            request = self.build(step, values)
            answer = self.send(request, result)
            if step.asynchronous:
                answer = self.await_callback(request, answer, result)
            result.differences = check(step, answer, values)
            if not result.differences:
                self.keep(step, answer, values)
        except StepError as exc:
            result.outcome = "error"
            result.differences = [str(exc)]
        except GarbageAnswer as exc:
            result.outcome = "failed"
            result.differences = [str(exc)]
        except MissingValue as exc:
            result.outcome = "error"
            result.differences = [f"the plan names an unknown value {exc}"]
        except etree.XPathError as exc:
            result.outcome = "error"
            result.differences = [f"the plan has a wrong XPath: {exc}"]
        except Exception as exc:  # one broken step must not end the run of every other test
            result.outcome = "error"
            result.differences = [f"runner error: {type(exc).__name__}: {exc}"]
        values.restore(shadowed)
        if result.differences and result.outcome == "passed":
            result.outcome = "failed"
        return result

    def build(self, step: Step, values: Values) -> Request:
        """The HTTP request of one step, every placeholder filled."""
        if step.transaction in SOAP_TRANSACTIONS:
            return self._soap_request(step, values)
        return self._fhir_request(step, values)

    def _soap_request(self, step: Step, values: Values) -> Request:
        path, action = SOAP_TRANSACTIONS[step.transaction]
        action = step.action or action
        message_id = f"urn:uuid:{uuid.uuid4()}"
        values.save("message_id", message_id)
        url = self.base + (step.path or path)
        if step.raw is not None:
            content_type = step.content_type or SOAP_CONTENT_TYPE
            body = values.render(step.raw).encode()
            return Request("POST", url, {"Content-Type": content_type}, body, message_id)

        body = self._soap_body(step, values)
        if step.remove or step.set:
            body = _edit_xml(body, step, values)
        reply_to = self.listener.url if step.asynchronous and self.listener else messages.ANONYMOUS
        message = messages.envelope(action, body, message_id, reply_to)
        if step.transaction == "ITI-41":
            data, content_type = messages.as_mtom(message, action)
        else:
            data, content_type = message.encode(), step.content_type or SOAP_CONTENT_TYPE
        return Request("POST", url, {"Content-Type": content_type}, data, message_id)

    def _soap_body(self, step: Step, values: Values) -> str:
        if step.template:
            return values.render(_scoped(load_template(step.template), step.scope), _xml_escape)
        if step.query:
            parameters = {
                name: [values.render(value) for value in items]
                for name, items in step.parameters.items()
            }
            home = (
                step.home
                if step.home is not None
                else ("{{home}}" if step.transaction == "ITI-38" else "")
            )
            return messages.adhoc_query(
                step.query, step.return_type, parameters, values.render(home) or None
            )
        if step.transaction in ("ITI-39", "ITI-43", "ITI-86"):
            documents = []
            for document in step.documents:
                filled = {"repository": "{{repository}}", **document}
                if step.transaction == "ITI-39":
                    filled.setdefault("home", "{{home}}")
                documents.append({key: values.render(value) for key, value in filled.items()})
            element = (
                "RemoveDocumentsRequest"
                if step.transaction == "ITI-86"
                else "RetrieveDocumentSetRequest"
            )
            return messages.document_requests(element, documents)
        if step.transaction == "ITI-62":
            return messages.remove_objects([values.render(item) for item in step.objects])
        raise StepError(f"{step.transaction} step without template, query or documents")

    def _fhir_request(self, step: Step, values: Values) -> Request:
        if step.transaction == "ITI-65":
            url = self.base + (step.path or FHIR)
            if step.raw is not None:
                body = values.render(step.raw).encode()
            else:
                text = _scoped(load_template(step.template or ""), step.scope)
                bundle = json.loads(values.render(text, _json_escape))
                _edit_json(bundle, step, values)
                body = _fhir_body(bundle, step.content_type)
            headers = {
                "Content-Type": step.content_type or "application/fhir+json",
                "Accept": "application/fhir+json",
            }
            return Request("POST", url, headers, body)

        path = values.render(step.path or "")
        url = (
            path
            if path.startswith(("http://", "https://"))
            else urljoin(self.base + "/", path.lstrip("/"))
        )
        params = [
            (name, values.render(value))
            for name, items in step.parameters.items()
            for value in items
        ]
        if params:
            url = str(httpx.URL(url, params=params))
        accept = "*/*" if step.transaction == "ITI-68" else "application/fhir+json"
        return Request("GET", url, {"Accept": step.content_type or accept})

    def send(self, request: Request, result: StepResult) -> Answer:
        """Send a request; a target that is down or too slow is a StepError, not a crash."""
        exchange = Exchange(request.method, request.url, dict(request.headers), _text(request.body))
        result.exchanges.append(exchange)
        try:
            response = self.http.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
        except httpx.TimeoutException as exc:
            raise StepError(
                f"no answer within {self.options.timeout:g} s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise StepError(f"target unreachable: {type(exc).__name__}: {exc}") from exc
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response = _text(response.content)
        return Answer(
            response.status_code, response.headers.get("content-type", ""), response.content
        )

    def await_callback(
        self, request: Request, acknowledgement: Answer, result: StepResult
    ) -> Answer:
        """The asynchronous answer (ITI TF-2x V.3): HTTP 202 now, the message later at ReplyTo."""
        if acknowledgement.status != 202:
            raise GarbageAnswer(
                f"asynchronous request answered HTTP {acknowledgement.status}, expected 202"
            )
        assert self.listener is not None
        delivery = self.listener.wait_for(request.message_id or "", self.options.callback_timeout)
        if delivery is None:
            raise StepError(
                f"no asynchronous answer RelatesTo {request.message_id} at {self.listener.url}"
                f" within {self.options.callback_timeout:g} s"
            )
        result.exchanges.append(
            Exchange(
                "POST",
                self.listener.url,
                {"Content-Type": delivery.content_type},
                "(delivered by the target)",
                200,
                {"Content-Type": delivery.content_type},
                _text(delivery.body),
            )
        )
        return Answer(200, delivery.content_type, delivery.body)

    def keep(self, step: Step, answer: Answer, values: Values) -> None:
        """Save the values a step names for later steps."""
        for name, path in step.save.items():
            found = answer.select(values.render(path))
            if not found:
                raise GarbageAnswer(f"nothing at {path} to save as {name}")
            values.save(name, found[0])


def _edit_xml(body: str, step: Step, values: Values) -> str:
    root = etree.fromstring(body.encode(), messages.PARSER)
    for path in step.remove:
        for node in _xpath(root, values.render(path)):
            if isinstance(node, etree._Element):
                node.getparent().remove(node)
            else:
                node.getparent().attrib.pop(node.attrname, None)
    for path, value in step.set.items():
        rendered = values.render(path)
        target, _, attribute = rendered.rpartition("/@") if "/@" in rendered else (rendered, "", "")
        nodes = _xpath(root, target)
        if not nodes:
            raise StepError(f"set: nothing at {path} in the template")
        for node in nodes:
            if attribute:
                node.set(attribute, values.render(value))
            else:
                node.text = values.render(value)
    return etree.tostring(root, encoding="unicode")


def _xpath(root: etree._Element, path: str) -> list[Any]:
    try:
        return root.xpath(path, namespaces=NS)
    except etree.XPathError as exc:
        raise StepError(f"the plan has a wrong XPath {path!r}: {exc}") from exc


def _edit_json(bundle: dict[str, Any], step: Step, values: Values) -> None:
    for path in step.remove:
        *parents, last = values.render(path).split(".")
        holder = _walk(bundle, parents)
        if isinstance(holder, list):
            del holder[int(last)]
        else:
            holder.pop(last, None)
    for path, value in step.set.items():
        *parents, last = values.render(path).split(".")
        holder = _walk(bundle, parents)
        parsed = _json_value(values.render(value))
        if isinstance(holder, list):
            holder[int(last)] = parsed
        else:
            holder[last] = parsed


def _fhir_body(resource: dict[str, Any], content_type: str | None) -> bytes:
    """A template's resource in the format its Content-Type names: FHIR XML or JSON."""
    if content_type and "xml" in content_type:
        model = get_fhir_model_class(resource["resourceType"])
        try:
            return model.model_validate(resource).model_dump_xml()
        except ValueError as exc:
            raise StepError(f"the plan's resource cannot be written as FHIR XML: {exc}") from exc
    return json.dumps(resource).encode()


def _json_value(text: str) -> Any:
    """A JSON number, boolean, object or list as such; any other text as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _walk(node: Any, keys: list[str]) -> Any:
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node
