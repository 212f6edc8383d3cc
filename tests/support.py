"""Helpers shared by tests: fixture bundles and tiny generated diagrams."""
from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENGINE_BUNDLE = FIXTURES / "engine" / "workflows"
ROOT = FIXTURES.parent.parent

# PostgreSQL for tests: RECALL_TEST_POSTGRES_URL; RECALL_TEST_POSTGRES=0 skips it, =1 makes
# an unreachable server an error instead of a skip (CI).
PG_URL = os.environ.get("RECALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_MODE = os.environ.get("RECALL_TEST_POSTGRES", "auto")


def _pg_reachable() -> bool:
    if PG_MODE == "0":
        return False
    try:
        probe = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
        return True
    except Exception:
        if PG_MODE == "1":
            raise
        return False


PG_AVAILABLE = _pg_reachable()


FORM = '{"type": "object", "properties": {"note": {"type": "string"}}}'


def script_process(key: str, script: str, *, after: str = "") -> str:
    """start → script task `run_script` → user task `check` → (optional second script) → end."""
    second = ""
    flow_after = '<bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end"/>'
    if after:
        second = f"""
    <bpmn:scriptTask id="after_check"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>{escape(after)}</bpmn:script></bpmn:scriptTask>"""
        flow_after = ('<bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="after_check"/>'
                      '<bpmn:sequenceFlow id="f4" sourceRef="after_check" targetRef="end"/>')
    end_in = "f4" if after else "f3"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d_{key}" targetNamespace="t">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="run_script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="check">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="check.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>{second}
    <bpmn:endEvent id="end"><bpmn:incoming>{end_in}</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="run_script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="run_script" targetRef="check"/>
    {flow_after}
  </bpmn:process>
</bpmn:definitions>
"""


def write_bundle(root: Path, processes: dict[str, str]) -> Path:
    """Write {key: bpmn_xml} as root/workflows/<key>.bpmn plus the shared form; returns the workflows dir."""
    workflows = root / "workflows"
    forms = root / "forms"
    workflows.mkdir(parents=True, exist_ok=True)
    forms.mkdir(parents=True, exist_ok=True)
    (forms / "check.schema.json").write_text(FORM)
    for key, xml in processes.items():
        (workflows / f"{key}.bpmn").write_text(xml)
    return workflows


def deploy_unchecked(engine, workflows_dir: Path) -> None:
    """Deploy, skipping the script checks: as if a diagram slipped past validation
    (e.g. stored by an older release), to prove the runtime contains it on its own."""
    from engine.bundle import load_bundle
    from engine.definitions import deploy_bundle

    bundle = load_bundle([workflows_dir])
    bundle.diagnostics = [d for d in bundle.diagnostics if d.element_id != "run_script"]
    with engine.db.transaction() as s:
        deploy_bundle(s, bundle, engine.serializer, actor="test", now=engine.clock.now())
