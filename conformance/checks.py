"""Comparing an answer with a step's expectation; each difference is one readable sentence."""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cached_property
from typing import Any

from lxml import etree

from conformance.messages import NS, GarbageAnswer, read_soap
from conformance.plans import Check, Step
from conformance.values import Values

FHIR_TRANSACTIONS = {"ITI-65", "ITI-66", "ITI-67", "ITI-68"}
_SEGMENT = re.compile(r"[^.\[]+(?:\[[^\]]*\])?")


class Answer:
    """An HTTP answer, read as SOAP or FHIR JSON on first use."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        """Keep the answer as received."""
        self.status = status
        self.content_type = content_type
        self.body = body

    @cached_property
    def soap(self) -> etree._Element:
        """The SOAP envelope (GarbageAnswer if there is none)."""
        return read_soap(self.content_type, self.body)

    @cached_property
    def json(self) -> Any:
        """The JSON body (GarbageAnswer if it is not JSON)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GarbageAnswer(f"answer is not JSON: {exc}") from exc

    def select(self, path: str) -> list[str]:
        """Values at a path: `@body`, `@status`, `@header:NAME`, an XPath, or a FHIR dotted path."""
        if path == "@body":
            return [self.body.decode("utf-8", errors="replace")]
        if path == "@status":
            return [str(self.status)]
        if path.startswith("@header:"):
            return [self.content_type] if path.lower() == "@header:content-type" else []
        if "json" in self.content_type.lower():
            return [_scalar(value) for value in dotted(self.json, path)]
        found = self.soap.xpath(path, namespaces=NS)
        if not isinstance(found, list):
            return [_scalar(found)]
        return [_scalar(item) for item in found]


def _scalar(value: Any) -> str:
    if isinstance(value, etree._Element):
        return "".join(value.itertext()).strip()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def dotted(node: Any, path: str) -> list[Any]:
    """Values at a FHIRPath-like dotted path: `entry.*.resource.id`, `issue[severity=error]`."""
    current = [node]
    for segment in _SEGMENT.findall(path):
        name, _, condition = segment.partition("[")
        following: list[Any] = []
        for item in current:
            if isinstance(item, list) and not name.isdigit() and name != "*":
                items = item
            else:
                items = [item]
            for value in items:
                if name == "*" and isinstance(value, list):
                    following.extend(value)
                elif name.isdigit() and isinstance(value, list):
                    if int(name) < len(value):
                        following.append(value[int(name)])
                elif isinstance(value, dict) and name in value:
                    found = value[name]
                    following.extend(found if isinstance(found, list) and condition else [found])
        if condition:
            key, _, wanted = condition.rstrip("]").partition("=")
            following = [
                value
                for value in following
                if any(_scalar(found) == wanted for found in dotted(value, key))
            ]
        current = following
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def check(step: Step, answer: Answer, values: Values) -> list[str]:
    """Every way the answer differs from the step's expectation; empty when it matches."""
    expect = step.expect
    differences = []
    if expect.http is not None and answer.status != expect.http:
        differences.append(f"HTTP status {answer.status}, expected {expect.http}")
    if step.transaction in FHIR_TRANSACTIONS:
        differences += _check_fhir(step, answer)
    else:
        differences += _check_soap(step, answer)
    for item in expect.checks:
        differences += _check_values(item, answer, values)
    return differences


def _check_soap(step: Step, answer: Answer) -> list[str]:
    expect = step.expect
    body = answer.soap.find("s:Body", NS)
    if body is None:
        body = answer.soap.find("s11:Body", NS)
    if body is None:
        raise GarbageAnswer("SOAP Envelope without Body")
    fault = body.find("s:Fault", NS)
    if fault is None:
        fault = body.find("s11:Fault", NS)
    codes = _fault_codes(fault)
    if expect.fault:
        if fault is None:
            return [f"expected a SOAP Fault, got {_summary(body)}"]
        if expect.fault_subcode and not any(expect.fault_subcode in code for code in codes):
            return [f"SOAP Fault codes {codes}, expected one naming {expect.fault_subcode}"]
        return []
    if fault is not None:
        reason = " ".join(fault.xpath(".//s:Text/text() | faultstring/text()", namespaces=NS))
        return [f"unexpected SOAP Fault {codes}: {reason.strip()}"]

    differences = []
    if expect.status is not None:
        found = body.xpath(".//*[@status][1]/@status")
        status = found[0].rpartition(":")[2] if found else None
        if status != expect.status:
            differences.append(f"status {status}, expected {expect.status}")
    if expect.errors is not None:
        codes = [
            error.get("errorCode", "")
            for error in body.iterfind(".//rs:RegistryError", NS)
            if not error.get("severity", "").endswith("Warning")
        ]
        differences += _compare_codes(codes, expect.errors)
    for name, wanted in expect.counts.items():
        if name == "Document":
            count = len(body.xpath(".//xds:DocumentResponse/xds:Document", namespaces=NS))
        else:
            count = len(body.xpath(".//*[local-name()=$name]", name=name))
        if count != wanted:
            differences.append(f"{count} {name}, expected {wanted}")
    return differences


def _fault_codes(fault: etree._Element | None) -> list[str]:
    if fault is None:
        return []
    return [
        str(code).strip()
        for code in fault.xpath(".//s:Value/text() | faultcode/text()", namespaces=NS)
    ]


def _check_fhir(step: Step, answer: Answer) -> list[str]:
    expect = step.expect
    if step.transaction == "ITI-68" or (expect.errors is None and not expect.counts):
        return []
    data = answer.json
    if not isinstance(data, dict):
        raise GarbageAnswer("answer is JSON but not a FHIR resource")
    differences = []
    if expect.errors is not None:
        codes = [_scalar(code) for code in dotted(data, "issue.details.coding.code")]
        codes += [_scalar(code) for code in dotted(data, "issue[severity=error].code")]
        codes += [_scalar(code) for code in dotted(data, "issue[severity=fatal].code")]
        if data.get("resourceType") != "OperationOutcome" and expect.errors:
            differences.append(f"expected an OperationOutcome, got {data.get('resourceType')}")
        differences += _compare_codes(codes, expect.errors)
    for name, wanted in expect.counts.items():
        if name in ("entry", "total"):
            count = len(data.get("entry", [])) if name == "entry" else data.get("total")
        else:
            count = len(dotted(data, f"entry.resource[resourceType={name}]"))
        if count != wanted:
            differences.append(f"{count} {name}, expected {wanted}")
    return differences


def _compare_codes(codes: list[str], wanted: list[str]) -> list[str]:
    if not wanted:
        return [f"errors {codes}, expected none"] if codes else []
    return [f"errors {codes}, expected {code}" for code in wanted if code not in codes]


def _check_values(item: Check, answer: Answer, values: Values) -> list[str]:
    path = values.render(item.path)
    try:
        found = answer.select(path)
    except etree.XPathError as exc:
        return [f"{path}: the plan's XPath is wrong ({exc})"]
    differences = []
    if item.count is not None and len(found) != item.count:
        differences.append(f"{path}: {len(found)} values, expected {item.count}")
    if item.exists is not None and bool(found) != item.exists:
        differences.append(f"{path}: {'found' if found else 'absent'}, expected the opposite")
    if item.equals is not None:
        wanted = values.render(item.equals)
        if not found or any(value != wanted for value in found):
            differences.append(f"{path}: {_short(found)}, expected {wanted!r}")
    if item.contains is not None:
        wanted = values.render(item.contains)
        if not any(wanted in value for value in found):
            differences.append(f"{path}: {_short(found)}, expected one containing {wanted!r}")
    if item.matches is not None:
        pattern = re.compile(values.render(item.matches))
        if not found or not all(pattern.fullmatch(value) for value in found):
            wanted = pattern.pattern
            differences.append(f"{path}: {_short(found)}, expected each to match {wanted!r}")
    if item.decodes_to is not None:
        wanted = values.render(item.decodes_to)
        decoded = [_decoded(value) for value in found]
        if wanted not in decoded:
            differences.append(f"{path}: bytes {_short(decoded)}, expected {wanted!r}")
    return differences


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def _short(found: list[str]) -> str:
    text = repr(found)
    return text if len(text) < 300 else text[:300] + "…"


def _summary(body: etree._Element) -> str:
    first = next(iter(body), None)
    if first is None:
        return "an empty Body"
    status = first.get("status", "")
    return f"{etree.QName(first).localname} {status.rpartition(':')[2]}".strip()
