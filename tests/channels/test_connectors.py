"""Service-task connectors (engine/connectors.py) in real SpiffWorkflow runs on both databases: `notify`
writes its notification with the step (and nothing when the step's commit fails), `http` reaches a local
HTTP server on the allow-list through the outbox and is refused for any other host — by `recall validate`
when the URL is literal, at run time when it comes from the case's data — and an operator that is no
connector, or a missing parameter, is refused by validation naming the element and its line."""
from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

import pytest
from sqlalchemy import select

from engine import users
from engine.channels import outbox, registry
from engine.channels import settings as channel_settings
from engine.channels.http import CHANNEL as HTTP_CHANNEL
from engine.channels.models import OutboxMessage
from engine.channels.wecom import CHANNEL as WECOM_CHANNEL
from engine.faults import InjectedFault
from engine.models import ProcessInstance
from tests.channels.scripted import new_key
from tests.fakes.wecom_server import FakeWeCom
from tests.http.test_webhooks import Receiver
from tests.support import write_bundle

MANAGER = "wang.li"


def service_process(key: str, operator: str, params: dict[str, str], *, result: str = "outcome") -> str:
    """start → service task `call_out` (operator, params: id -> expression) → user task `check` → end."""
    rows = "\n".join(f'            <spiffworkflow:parameter id="{name}" type="any" value={quoteattr(value)}/>'
                     for name, value in params.items())
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d_{key}" targetNamespace="t">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="call_out" name="通知 / Call out">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="{result}">
          <spiffworkflow:parameters>
{rows}
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="check">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="check.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call_out"/>
    <bpmn:sequenceFlow id="f2" sourceRef="call_out" targetRef="check"/>
    <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def receiver():
    r = Receiver()              # the webhooks' test receiver: records each POST, answers r.status
    r.status = 204
    yield r
    r.close()


@pytest.fixture
def connected(engine):
    """The engine with WeCom set up against the fake server and the manager in the directory with their WeCom id."""
    with FakeWeCom() as wecom:
        wecom.employees |= {MANAGER}
        registry.register(WECOM_CHANNEL)
        registry.register(HTTP_CHANNEL)
        object.__setattr__(engine, "settings", engine.settings.replacing(
            secret_key=new_key(), http_connector_allow="127.0.0.1, hooks.example.com"))
        channel_settings.install(engine)
        with engine.db.write_transaction() as s:
            channel_settings.save(s, "wecom", wecom.settings(), actor="admin", ops=engine.ops, now=engine.clock.now())
        users.add_user(engine.db, MANAGER, "manager", wecom_user_id=MANAGER)
        yield engine, wecom


def deploy(engine, tmp_path, xml: str, key: str = "call_out_case"):
    engine.deploy([write_bundle(tmp_path, {key: xml})], actor="owner")
    return key


def _outbox(engine) -> list[OutboxMessage]:
    with engine.db.read_transaction() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))
        s.expunge_all()
        return rows


def test_notify_writes_its_notification_with_the_step_and_the_worker_sends_it(connected, tmp_path):
    engine, wecom = connected
    key = deploy(engine, tmp_path, service_process("call_out_case", "notify", {
        "to": "manager", "text": '"请今天联系候选人 " + ref'}))
    case = engine.start_instance(key, variables={"manager": MANAGER, "ref": "R-7"}, actor="hr.li")

    assert [t.element_id for t in case.ready_tasks] == ["check"]
    rows = _outbox(engine)
    assert [(r.channel, r.kind, r.recipient, r.instance_id) for r in rows] == [
        ("wecom", "notification", {"user": MANAGER, "userid": MANAGER}, case.id)]
    assert rows[0].payload["text"] == "请今天联系候选人 R-7"
    assert rows[0].payload["link"].endswith(f"/app/cases/{case.id}")
    data = engine.get_task(case.ready_tasks[0].id).data
    assert data["outcome"] == {"queued": [rows[0].id], "to": [MANAGER]}     # the diagram knows its send
    kinds = [h.kind for h in engine.history(case.id)]
    assert "notification_queued" in kinds

    outbox.send_due(engine)
    assert [(m["touser"], m["content"].split("\n")[0]) for m in wecom.app_messages] == [(MANAGER, "请今天联系候选人 R-7")]


def test_a_fault_after_the_step_leaves_neither_the_step_nor_its_notification(connected, tmp_path):
    engine, _ = connected
    key = deploy(engine, tmp_path, service_process("call_out_case", "notify", {"to": '"wang.li"', "text": '"hi"'}))
    with engine.faults.injected("before_commit", times=1), pytest.raises(InjectedFault):
        engine.start_instance(key, variables={}, actor="hr.li")
    with engine.db.read_transaction() as s:
        assert s.scalar(select(ProcessInstance.id)) is None
    assert _outbox(engine) == []


def test_notify_to_nobody_puts_the_case_in_error_naming_the_connector(connected, tmp_path):
    engine, _ = connected
    key = deploy(engine, tmp_path, service_process("call_out_case", "notify", {"to": "who", "text": '"hi"'}))
    case = engine.start_instance(key, variables={"who": "nobody.here"}, actor="hr.li")
    assert case.status == "error"
    assert "'nobody.here' is no active user and no group" in case.error["message"]
    assert case.error["element_id"] == "call_out"
    assert _outbox(engine) == []


def test_http_to_an_allowed_local_server_is_delivered_through_the_outbox(connected, tmp_path, receiver):
    engine, _ = connected
    key = deploy(engine, tmp_path, service_process("call_out_case", "http", {
        "url": json.dumps(receiver.url), "body": '{"case": ref, "event": "handed_off"}'}))
    case = engine.start_instance(key, variables={"ref": "R-9"}, actor="hr.li")
    assert case.status == "waiting" or case.ready_tasks
    queued = engine.get_task(case.ready_tasks[0].id).data["outcome"]["queued"]
    [row] = _outbox(engine)
    assert (row.id, row.channel, row.kind, row.status) == (queued, "http", "service_call", "pending")
    assert receiver.received == []                  # nothing left during the step

    outbox.send_due(engine)
    [request] = receiver.received
    assert (request["path"], json.loads(request["body"])) == ("/hooks/recall", {"case": "R-9", "event": "handed_off"})
    assert request["headers"]["Recall-Send-Id"] == queued
    [row] = _outbox(engine)
    assert (row.status, row.provider_id) == ("sent", "HTTP 204")


def test_http_redirects_are_not_followed(connected, tmp_path, receiver):
    engine, _ = connected
    receiver.status, receiver.location = 302, "http://127.0.0.1:9/elsewhere"
    key = deploy(engine, tmp_path, service_process("call_out_case", "http", {"url": json.dumps(receiver.url)}))
    engine.start_instance(key, variables={}, actor="hr.li")
    outbox.send_due(engine)
    assert len(receiver.received) == 1
    [row] = _outbox(engine)
    assert (row.status, row.reason) == ("failed", "redirect")


def test_http_to_a_host_not_on_the_allow_list_is_refused_by_validation_naming_the_element(connected, tmp_path):
    engine, _ = connected
    workflows = write_bundle(tmp_path, {"call_out_case": service_process("call_out_case", "http", {
        "url": '"https://evil.example.net/x"'})})
    problems = engine.validate([workflows])
    [problem] = problems.diagnostics
    assert problem.element_id == "call_out" and problem.line == 6
    assert "host 'evil.example.net' is not on the allow-list" in problem.message
    assert str(problem).startswith("workflows/call_out_case.bpmn:6: call_out:")


def test_http_to_a_host_not_on_the_allow_list_is_refused_at_run_time(connected, tmp_path, receiver):
    engine, _ = connected
    key = deploy(engine, tmp_path, service_process("call_out_case", "http", {"url": "target"}))
    case = engine.start_instance(key, variables={"target": "https://evil.example.net/x"}, actor="hr.li")
    assert case.status == "error" and case.error["element_id"] == "call_out"
    assert "host 'evil.example.net' is not on the allow-list" in case.error["message"]
    assert _outbox(engine) == []


def test_the_sender_refuses_a_host_taken_off_the_allow_list_and_a_private_address_by_pattern(connected, tmp_path,
                                                                                             receiver):
    engine, _ = connected
    key = deploy(engine, tmp_path, service_process("call_out_case", "http", {"url": json.dumps(receiver.url)}))
    engine.start_instance(key, variables={}, actor="hr.li")
    object.__setattr__(engine, "settings", engine.settings.replacing(http_connector_allow="*.example.com"))
    outbox.send_due(engine)
    [row] = _outbox(engine)
    assert (row.status, row.reason) == ("failed", "not_allowed") and receiver.received == []


@pytest.mark.parametrize("operator, params, message", [
    ("send_sms", {"to": '"wang.li"'}, "service task operator 'send_sms' is not a connector: use one of http, notify"),
    ("notify", {"to": '"wang.li"'}, "notify needs the parameter 'text' or 'template'"),
    ("http", {"body": "{}"}, "http needs the parameter 'url'"),
    ("notify", {"to": '"x"', "text": '"y"', "colour": '"red"'}, "notify has no parameter 'colour'"),
])
def test_validation_refuses_what_cannot_run_naming_the_element(engine, tmp_path, operator, params, message):
    workflows = write_bundle(tmp_path, {"call_out_case": service_process("call_out_case", operator, params)})
    diagnostics = engine.validate([workflows]).diagnostics
    assert [(d.element_id, d.line) for d in diagnostics] == [("call_out", 6)]
    assert diagnostics[0].message.startswith(message)


def test_erasure_empties_what_a_diagram_told_employees_about_the_person(connected, tmp_path):
    from engine.archive import TalentArchive
    from engine.notification_models import Notification
    engine, _ = connected
    archive = TalentArchive(engine)
    candidate = archive.create_candidate({"name": "吴敏", "consent": {"granted": True, "scope": "similar_roles",
                                                                    "expires_at": "2027-06-30"}}, actor="hr.li")
    key = deploy(engine, tmp_path, service_process("call_out_case", "notify", {
        "to": '"wang.li"', "text": '"请今天联系 " + who'}))
    engine.start_instance(key, variables={"candidate_id": candidate.id, "who": "吴敏"}, actor="hr.li")
    [row] = _outbox(engine)
    assert row.payload["text"] == "请今天联系 吴敏" and row.status == "pending"

    archive.erase(candidate.id, actor="hr.li")
    [row] = _outbox(engine)
    assert (row.payload["text"], row.status, row.reason) == ("", "cancelled", "erased")
    with engine.db.read_transaction() as s:
        assert [n.text for n in s.scalars(select(Notification))] == [""]


@pytest.mark.parametrize("url, allow, addresses, refused", [
    ("https://hooks.example.com/x", ["*.example.com"], ["93.184.216.34"], None),
    ("https://hooks.example.com/x", ["*.example.com"], ["10.0.0.5"], "resolves to a private or loopback address"),
    ("http://meta.example.com/", ["*.example.com"], ["169.254.169.254"], "resolves to a private"),
    ("https://hooks.example.com/x", ["*.example.com"], ["::1"], "resolves to a private"),
    ("https://hooks.example.com/x", ["hooks.example.com"], ["10.0.0.5"], None),          # listed exactly
    ("http://10.0.0.5:8080/x", ["10.0.0.5:8080"], ["10.0.0.5"], None),
    ("http://10.0.0.5:9090/x", ["10.0.0.5:8080"], ["10.0.0.5"], "not on the allow-list"),
    ("https://example.com/x", ["*.example.com"], ["93.184.216.34"], "not on the allow-list"),
    ("https://user:pw@hooks.example.com/x", ["hooks.example.com"], [], "must not carry a user name"),
    ("ftp://hooks.example.com/x", ["hooks.example.com"], [], "not an absolute http"),
])
def test_the_senders_host_rules(url, allow, addresses, refused):
    from engine.channels.http import refusal
    found = refusal(url, allow, addresses)
    assert (found is None) if refused is None else (refused in (found or "")), found


def test_https_checks_the_certificate_of_the_host_it_pinned(connected, tmp_path, receiver, monkeypatch):
    import ssl
    from tests.fakes.mail import _certificate
    engine, _ = connected
    cert, key = _certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    receiver.server.socket = tls.wrap_socket(receiver.server.socket, server_side=True)
    url = receiver.url.replace("http://127.0.0.1", "https://localhost")
    object.__setattr__(engine, "settings", engine.settings.replacing(http_connector_allow="localhost"))
    key_ = deploy(engine, tmp_path, service_process("call_out_case", "http", {"url": json.dumps(url)}))

    engine.start_instance(key_, variables={}, actor="hr.li")
    outbox.send_due(engine)                     # a certificate nobody vouches for: no request, tried again later
    [row] = _outbox(engine)
    assert (row.status, row.reason) == ("pending", "unreachable") and "CERTIFICATE" in row.detail.upper()
    assert receiver.received == []

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))      # the one authority this client trusts
    with engine.db.write_transaction() as s:
        s.get(OutboxMessage, row.id).next_attempt_at = engine.clock.now()
    outbox.send_due(engine)
    [row] = _outbox(engine)
    assert row.status == "sent" and len(receiver.received) == 1
    assert receiver.received[0]["headers"]["Host"] == url.split("/")[2]
