"""Placeholders of request templates: `{{name}}`, filled fresh for every test run.

- `{{patient}}` the test's patient as CX (`id^^^&domain&ISO`), `{{patient:NAME}}` another one;
  `{{patient_id}}` / `{{patient_id:NAME}}` the bare id. Each is new on every run.
- `{{uid:NAME}}` an OID and `{{uuid:NAME}}` a `urn:uuid:`, new the first time NAME is seen in a
  test and the same ever after in that test. A step with `scope: S` renders its template's
  `{{uid:NAME}}` as `{{uid:S/NAME}}`, so one template serves a second submission of a test.
- `{{home}}`, `{{repository}}`, `{{patient_domain}}`: the target's ids (runner options).
- `{{source_id}}` the sourceId of the runner's SubmissionSets.
- `{{now}}` the DTM of the run (UTC), `{{fhir_now}}` the same as a FHIR instant.
- `{{message_id}}` the wsa:MessageID of the step's own SOAP request.
- any name an earlier step saved from an answer (`save:`), or a value of this step (`values:`).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

# The sourceId of every conformance SubmissionSet: an OID under the IHE test arc, no one's system.
SOURCE_ID = "1.3.6.1.4.1.21367.13.80.1"
PLACEHOLDER = re.compile(r"\{\{\s*([\w:./\-]+)\s*\}\}")


class MissingValue(KeyError):
    """A placeholder that names nothing known."""


class Values:
    """The values one test's steps share."""

    def __init__(self, home: str, repository: str, patient_domain: str) -> None:
        """Start with the target's ids; everything fresh is made on first use."""
        now = datetime.now(UTC)
        self.known: dict[str, str] = {
            "home": home,
            "repository": repository,
            "patient_domain": patient_domain,
            "source_id": SOURCE_ID,
            "now": now.strftime("%Y%m%d%H%M%S"),
            "fhir_now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.patient_domain = patient_domain

    def get(self, name: str) -> str:
        """The value of one placeholder name, made fresh if it is a new id."""
        if name in self.known:
            return self.known[name]
        kind, _, key = name.partition(":")
        if kind == "uid":
            value = f"2.25.{uuid.uuid4().int}"
        elif kind == "uuid":
            value = f"urn:uuid:{uuid.uuid4()}"
        elif kind == "patient_id":
            value = f"CONF{secrets.token_hex(6).upper()}"
        elif kind == "patient":
            bare = self.get(f"patient_id:{key}" if key else "patient_id")
            value = f"{bare}^^^&{self.patient_domain}&ISO"
        else:
            raise MissingValue(name)
        self.known[name] = value
        return value

    def render(self, text: str, escape: Callable[[str], str] = str) -> str:
        """Fill every placeholder of a text, each value passed through `escape`."""
        return PLACEHOLDER.sub(lambda match: escape(self.get(match.group(1))), text)

    def restore(self, previous: dict[str, str | None]) -> None:
        """Put back the values a step's own `values:` hid, so they hold for that step alone."""
        for name, value in previous.items():
            if value is None:
                self.known.pop(name, None)
            else:
                self.known[name] = value

    def save(self, name: str, value: str) -> None:
        """Keep a value taken from an answer, for later steps."""
        self.known[name] = value
