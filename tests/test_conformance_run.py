"""`xcads conformance run` against a real xcads, and against broken targets."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import pytest
import yaml
from lxml import etree
from servers import HOME, REPOSITORY, Server, threaded_uvicorn
from starlette.requests import Request

from conformance.checks import Answer, check
from conformance.plans import PlanError, load_suite, load_suites, select
from conformance.runner import Options, Runner, StepError
from conformance.runner import TestResult as Outcome
from conformance.values import Values
from gateway.cli import main

ALL_SUITES = ["mhd", "mhd-query", "registry", "repository", "xca"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_all(server: Server, callback: str) -> list[Outcome]:
    runner = Runner(Options(server.base, HOME, REPOSITORY, callback=callback, callback_timeout=20))
    try:
        return runner.run(select(load_suites(), "all"))
    finally:
        runner.close()


def not_passed(results: list[Outcome], accepted: tuple[str, ...] = ("passed",)) -> str:
    return "\n".join(
        f"{result.suite}/{result.id} {result.outcome}: {result.reason}"
        for result in results
        if result.outcome not in accepted
    )


# --- The whole suite against xcads -------------------------------------------------------------


def test_all_suites_pass_on_the_embedded_default(tmp_path):
    port = free_port()
    server = Server(
        tmp_path / "data", environment={"XCADS_ASYNC_ALLOWED_REPLY_HOSTS": f"127.0.0.1:{port}"}
    )
    report, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    try:
        code = main(
            [
                "conformance",
                "run",
                "--target",
                server.base,
                "--suite",
                "all",
                "--home-community-id",
                HOME,
                "--repository-unique-id",
                REPOSITORY,
                "--callback",
                f"127.0.0.1:{port}",
                "--report",
                str(report),
                "--junit",
                str(junit),
                "--quiet",
            ]
        )
    finally:
        server.stop()

    suites = etree.parse(str(junit)).getroot()
    failing = [
        f"{case.getparent().get('name')}/{case.get('name')}: {case[0].get('message')}"
        for case in suites.iter("testcase")
        if len(case)
    ]
    assert code == 0 and not failing, "\n".join(failing)
    assert sorted(suite.get("name") for suite in suites) == ALL_SUITES
    assert sum(int(suite.get("tests")) for suite in suites) >= 140
    assert "0 failed, 0 errors, 0 not run" in report.read_text(encoding="utf-8")


def test_all_suites_pass_on_postgresql_and_s3(tmp_path, postgres_database_url, seaweedfs, s3_url):
    port = free_port()
    environment = {
        **seaweedfs.environment(s3_url),
        "XCADS_DATABASE_URL": postgres_database_url,
        "XCADS_ASYNC_ALLOWED_REPLY_HOSTS": f"127.0.0.1:{port}",
    }
    server = Server(tmp_path / "data", environment=environment)
    try:
        results = run_all(server, f"127.0.0.1:{port}")
    finally:
        server.stop()

    assert not not_passed(results), not_passed(results)
    assert {result.suite for result in results} == set(ALL_SUITES)
    assert not (tmp_path / "data" / "registry.sqlite3").exists()


def test_a_second_run_against_the_same_target_passes_with_fresh_ids(tmp_path):
    server = Server(tmp_path / "data")
    suites = select(load_suites(), "registry")
    try:
        runs = []
        for _ in range(2):
            runner = Runner(Options(server.base, HOME, REPOSITORY))
            runs.append(runner.run(suites))
            runner.close()
    finally:
        server.stop()

    # Without --callback the asynchronous tests are skipped; every other test passes twice.
    broken = not_passed(runs[0] + runs[1], accepted=("passed", "skipped"))
    assert not broken, broken
    assert [result.outcome for result in runs[1]].count("passed") >= 80


# --- Broken targets ----------------------------------------------------------------------------

TWO_DOCUMENTS = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://www.w3.org/2005/08/addressing"><s:Header>
<wsa:Action>urn:ihe:iti:2007:CrossGatewayQueryResponse</wsa:Action></s:Header><s:Body>
<query:AdhocQueryResponse xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
 xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
 status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"><rim:RegistryObjectList>
<rim:ExtrinsicObject id="urn:uuid:1" home="urn:oid:9.9"/><rim:ExtrinsicObject id="urn:uuid:2"/>
</rim:RegistryObjectList></query:AdhocQueryResponse></s:Body></s:Envelope>"""
REGISTRY_SUCCESS = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
 status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></s:Body></s:Envelope>"""


class BrokenGateway:
    """A fake target: every submission succeeds, every query finds two documents of another
    community, a retrieve answers XML cut in half, and the registry takes `slow` seconds."""

    def __init__(self, slow: float = 0.0) -> None:
        self.slow = slow

    async def __call__(self, scope, receive, send) -> None:
        body = await Request(scope, receive).body()
        path = scope["path"]
        if path.startswith("/Registry") and self.slow:
            await asyncio.sleep(self.slow)
        if b"CrossGatewayRetrieve" in body:
            answer = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Bo"
        elif b"AdhocQueryRequest" in body:
            answer = TWO_DOCUMENTS.encode()
        else:
            answer = REGISTRY_SUCCESS.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/soap+xml; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture
def broken_gateway() -> Iterator[str]:
    with threaded_uvicorn(BrokenGateway(), lifespan="off") as url:
        yield url


@pytest.fixture
def slow_gateway() -> Iterator[str]:
    with threaded_uvicorn(BrokenGateway(slow=3.0), lifespan="off") as url:
        yield url


def by_id(results: list[Outcome]) -> dict[str, Outcome]:
    return {result.id: result for result in results}


def test_wrong_counts_and_malformed_xml_are_failures_in_the_report(broken_gateway, tmp_path):
    report = tmp_path / "report.html"
    junit = tmp_path / "junit.xml"

    code = main(
        [
            *("conformance", "run", "--target", broken_gateway, "--suite", "xca", "--quiet"),
            *("--report", str(report), "--junit", str(junit)),
        ]
    )

    assert code == 1
    page = report.read_text(encoding="utf-8")
    assert "2 ExtrinsicObject, expected 1" in page
    assert "answer is not well-formed XML" in page
    assert f"request: POST {broken_gateway}/XCA/services/RespondingGatewayService" in page
    assert "CrossGatewayQuery</wsa:Action>" in page.replace("&lt;", "<").replace("&gt;", ">")
    assert "&lt;rim:ExtrinsicObject id=&quot;urn:uuid:2&quot;/&gt;" in page
    cases = {case.get("name"): case for case in etree.parse(str(junit)).iter("testcase")}
    find = cases["iti38-find-documents"][0]
    assert find.tag == "failure"
    assert "step 2-ITI-38" in find.get("message")
    assert "2 ExtrinsicObject, expected 1" in find.text
    assert "urn:oid:9.9" in find.text
    assert cases["iti39-retrieve"][0].tag == "failure"
    assert cases["iti38-async"][0].tag == "skipped"
    assert cases["iti38-async"][0].get("message") == "not run: --callback not configured"


def test_wrong_answers_fail_the_step_they_come_from(broken_gateway):
    runner = Runner(Options(broken_gateway))
    try:
        results = by_id(runner.run(select(load_suites(), "xca")))
    finally:
        runner.close()

    unknown = results["iti39-unknown-document"]
    assert unknown.outcome == "failed"
    assert unknown.steps[0].differences[0].startswith("answer is not well-formed XML")
    missing_param = results["iti38-missing-parameter"]
    assert missing_param.steps[0].differences == [
        "status Success, expected Failure",
        "errors [], expected XDSStoredQueryMissingParam",
    ]
    assert results["iti38-async"].outcome == "skipped"


def test_a_slow_target_is_an_error_per_test_within_the_timeout(slow_gateway):
    runner = Runner(Options(slow_gateway, timeout=0.5))
    suite = load_suites()["registry"]
    started = time.monotonic()
    try:
        results = runner.run([suite.__class__(suite.name, suite.title, suite.tests[:3])])
    finally:
        runner.close()

    assert time.monotonic() - started < 10
    assert [result.outcome for result in results] == ["error"] * 3
    assert results[0].steps[0].differences == ["no answer within 0.5 s (ReadTimeout)"]


def test_a_target_that_is_down_is_an_error_per_test(tmp_path):
    target = f"http://127.0.0.1:{free_port()}"
    junit = tmp_path / "junit.xml"

    code = main(
        [
            "conformance",
            "run",
            "--target",
            target,
            "--suite",
            "mhd",
            "--quiet",
            "--junit",
            str(junit),
        ]
    )

    assert code == 1
    cases = list(etree.parse(str(junit)).iter("testcase"))
    assert cases and all(case[0].tag == "error" for case in cases)
    assert all("target unreachable: ConnectError" in case[0].get("message") for case in cases)


# --- Plans -------------------------------------------------------------------------------------


def test_every_plan_file_loads_and_test_ids_are_unique_per_suite():
    suites = load_suites()

    assert set(suites) == set(ALL_SUITES)
    assert sorted(suite.name for suite in select(suites, "all")) == ALL_SUITES


def test_a_plan_with_an_unknown_transaction_is_refused(tmp_path):
    plan = tmp_path / "broken.yaml"
    plan.write_text(
        "suite: x\ntests:\n  - {id: a, title: t, steps: [{transaction: ITI-99}]}\n",
        encoding="utf-8",
    )

    with pytest.raises(PlanError, match="unknown transaction 'ITI-99'"):
        load_suite(plan)


def test_a_plan_missing_its_steps_is_refused(tmp_path):
    plan = tmp_path / "broken.yaml"
    plan.write_text("suite: x\ntests:\n  - {id: a, title: t, stpes: []}\n", encoding="utf-8")

    with pytest.raises(PlanError, match=r"broken\.yaml: missing 'steps'"):
        load_suite(plan)


def test_an_unknown_suite_exits_2(tmp_path):
    assert main(["conformance", "run", "--target", "http://127.0.0.1:1", "--suite", "nope"]) == 2


def test_test_patterns_choose_the_tests_run(tmp_path):
    junit = tmp_path / "junit.xml"
    target = f"http://127.0.0.1:{free_port()}"

    main(
        [
            *("conformance", "run", "--target", target, "--suite", "all", "--quiet"),
            *("--test", "iti39-*", "--test", "iti43-async", "--junit", str(junit)),
        ]
    )

    names = sorted(case.get("name") for case in etree.parse(str(junit)).iter("testcase"))
    assert names[-1] == "iti43-async" and len(names) > 5
    assert all(name.startswith("iti39-") for name in names[:-1])


def test_list_names_every_test_with_its_transactions(capsys):
    assert main(["conformance", "list", "--suite", "mhd-query"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(load_suites()["mhd-query"].tests)
    assert "mhd-query/iti68-retrieve\tITI-65,ITI-67,ITI-68\t" in "\n".join(lines)


def test_a_callback_that_is_no_host_and_port_exits_2():
    code = main(["conformance", "run", "--target", "http://127.0.0.1:1", "--callback", "nowhere"])

    assert code == 2


def test_every_run_makes_fresh_patients_and_unique_ids():
    first, second = (Values(HOME, REPOSITORY, "1.2.3") for _ in range(2))

    assert first.get("patient") != second.get("patient")
    assert first.get("uid:doc") != second.get("uid:doc")
    assert first.get("uid:doc") == first.get("uid:doc")
    assert first.get("patient").endswith("^^^&1.2.3&ISO")


def iti65_step(tmp_path, **fields) -> object:
    plan = {"suite": "x", "tests": [{"id": "a", "title": "t", "steps": []}]}
    step = {"transaction": "ITI-65", "template": "provide-bundle.json", **fields}
    plan["tests"][0]["steps"] = [step]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    (loaded,) = load_suite(path).tests[0].steps
    return loaded


def test_an_iti65_template_with_an_xml_content_type_is_sent_as_fhir_xml(tmp_path):
    runner = Runner(Options("http://127.0.0.1:1", HOME, REPOSITORY))
    values = Values(HOME, REPOSITORY, "1.2.3")
    try:
        request = runner.build(iti65_step(tmp_path, content_type="application/fhir+xml"), values)
    finally:
        runner.close()

    root = etree.fromstring(request.body)
    fhir = {"f": "http://hl7.org/fhir"}
    assert request.headers["Content-Type"] == "application/fhir+xml"
    assert root.tag == "{http://hl7.org/fhir}Bundle"
    master = root.xpath("//f:DocumentReference/f:masterIdentifier/f:value/@value", namespaces=fhir)
    assert master == [f"urn:oid:{values.get('uid:doc')}"]
    assert len(root.xpath("/f:Bundle/f:entry", namespaces=fhir)) == 4


def test_an_iti65_template_that_is_no_fhir_cannot_be_sent_as_xml(tmp_path):
    runner = Runner(Options("http://127.0.0.1:1", HOME, REPOSITORY))
    step = iti65_step(
        tmp_path, content_type="application/fhir+xml", set={"entry.3.resource.date": "not a date"}
    )
    try:
        with pytest.raises(StepError, match="FHIR XML"):
            runner.build(step, Values(HOME, REPOSITORY, "1.2.3"))
    finally:
        runner.close()


# --- Checks ------------------------------------------------------------------------------------


def fhir_step(expect: dict) -> dict:
    plan = {"suite": "x", "tests": [{"id": "a", "title": "t", "steps": []}]}
    plan["tests"][0]["steps"] = [{"transaction": "ITI-67", "path": "/fhir/x", "expect": expect}]
    return plan


def differences_for(tmp_path, expect: dict, answer: dict, status: int = 200) -> list[str]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(fhir_step(expect)), encoding="utf-8")
    (step,) = load_suite(plan).tests[0].steps
    body = json.dumps(answer).encode()
    return check(step, Answer(status, "application/fhir+json", body), Values(HOME, REPOSITORY, "1"))


BUNDLE = {
    "resourceType": "Bundle",
    "entry": [
        {"resource": {"resourceType": "DocumentReference", "id": "a", "status": "current"}},
        {"resource": {"resourceType": "DocumentReference", "id": "b", "status": "superseded"}},
    ],
}


@pytest.mark.parametrize(
    ("expect", "difference"),
    [
        ({"http": 201}, "HTTP status 200, expected 201"),
        ({"counts": {"entry": 1}}, "2 entry, expected 1"),
        ({"counts": {"DocumentReference": 3}}, "2 DocumentReference, expected 3"),
        (
            {"checks": [{"path": "entry.*.resource.status", "equals": "current"}]},
            "entry.*.resource.status: ['current', 'superseded'], expected 'current'",
        ),
        (
            {"checks": [{"path": "entry.*.resource.id", "contains": "c"}]},
            "entry.*.resource.id: ['a', 'b'], expected one containing 'c'",
        ),
        ({"checks": [{"path": "entry", "count": 3}]}, "entry: 2 values, expected 3"),
        (
            {"checks": [{"path": "total", "exists": True}]},
            "total: absent, expected the opposite",
        ),
        (
            {"checks": [{"path": "entry.*.resource.id", "matches": "[a-z]{2}"}]},
            "entry.*.resource.id: ['a', 'b'], expected each to match '[a-z]{2}'",
        ),
        (
            {"errors": ["XDSRegistryError"]},
            "expected an OperationOutcome, got Bundle",
        ),
    ],
)
def test_each_kind_of_expectation_reports_its_difference(tmp_path, expect, difference):
    assert difference in differences_for(tmp_path, expect, BUNDLE)


def test_a_matching_answer_has_no_differences(tmp_path):
    expect = {
        "http": 200,
        "counts": {"entry": 2, "DocumentReference": 2},
        "checks": [
            {"path": "entry[resource.status=current].resource.id", "equals": "a"},
            {"path": "entry.1.resource.id", "equals": "b"},
            {"path": "entry.*.resource.id", "matches": "[ab]"},
        ],
    }

    assert differences_for(tmp_path, expect, BUNDLE) == []
