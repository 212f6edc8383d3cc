"""`recall demo` runs one whole case on the simulated clock and prints its timeline."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from cli.demo import demo

from .lifecycle import WORKFLOWS, cadence

CADENCE = cadence()                       # the demo works the bundle's first two follow-ups
FIRST, SECOND = CADENCE.dated[:2]
KEY_STEPS = {
    "zh": ["候选人未到岗", "记录未到岗原因", CADENCE.name(FIRST.timer, "zh"), FIRST.zh, SECOND.zh, "候选人回复",
           "评估候选人回复", "请经理联系候选人", "2 天未完成", "经理联系候选人", "准备新 offer", "审批新 offer",
           "发出新 offer", "收到候选人答复", "约定入职目标", "入职日", "新员工反馈", "24 小时未回复",
           "HRBP 处理反馈", "月度目标回顾", "月度目标回顾", "月度目标回顾", "试用期评估", "留任"],
    "en": ["Offer declined", "Archive decline", CADENCE.name(FIRST.timer, "en"), FIRST.en, SECOND.en,
           "Candidate replied", "Assess reply", "Ask manager to call", "2 days open", "Manager contacts candidate",
           "Prepare re-offer", "Approve re-offer", "Send re-offer", "Offer answered", "Agree goals", "Start date",
           "New-hire feedback", "24 h unanswered", "HRBP answers feedback", "Monthly check-in",
           "Monthly check-in", "Monthly check-in", "Probation review", "Retained"],
}
HEADINGS = {"zh": ("天", "角色", "步骤"), "en": ("Day", "Actor", "Step")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_demo_prints_the_whole_case_as_a_timeline(lang, tmp_path):
    args = ["--database-url", f"sqlite:///{tmp_path / 'demo.sqlite3'}", "--workflows", str(WORKFLOWS)]
    if lang == "en":
        args += ["--lang", "en"]
    result = CliRunner().invoke(demo, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(HEADINGS[lang][0]))
    assert all(h in lines[header] for h in HEADINGS[lang])
    rows = [line for line in lines[header + 2:] if re.match(r"D\+\d+ ", line)]
    cells = [re.split(r" {2,}", r.rstrip(), maxsplit=3) for r in rows]     # day, actor, step[, message]
    steps = iter(c[2] for c in cells)
    for step in KEY_STEPS[lang]:                       # all there, in this order
        assert step in steps, f"{step!r} missing or out of order:\n{result.output}"
    assert cells[0][0] == "D+0" and cells[-1][1:3] == (["引擎", "留任"] if lang == "zh" else ["engine", "Retained"])
    assert lines[-1] == ("结果:留任" if lang == "zh" else "Outcome: Retained")

    def row(step):
        return next(r for r, c in zip(rows, cells) if c[2] == step)

    greeting, day_90 = row(FIRST.label(lang)), row(SECOND.label(lang))
    assert greeting.startswith(f"D+{CADENCE.day(FIRST)} ") and day_90.startswith(f"D+{CADENCE.day(SECOND)} ")
    if lang == "zh":
        assert "HR 李" in greeting and greeting.rstrip().endswith("您好,好久没联系啦!")
        assert "还记得您问过「这个岗位的晋升路径是什么?」吗?" in day_90
        assert "用人经理 王" in row("经理联系候选人") and "HRBP 周" in row("审批新 offer")
        assert "候选人" in row("新员工反馈") and "引擎" in row("24 小时未回复")
    else:
        assert "HR (Li)" in greeting and greeting.rstrip().endswith("Hi there, it has been a while!")
        assert 'Do you remember asking "What is the promotion path for this role?"' in day_90
        assert "manager (Wang)" in row("Manager contacts candidate") and "HRBP (Zhou)" in row("Approve re-offer")
        assert "candidate" in row("New-hire feedback") and "engine" in row("24 h unanswered")
        assert not re.search(r"[\u4e00-\u9fff]", "\n".join(rows)), "English timeline has Chinese in it"


def test_demo_defaults_to_chinese_in_a_throwaway_database(monkeypatch):
    monkeypatch.setenv("RECALL_WORKFLOWS_DIR", str(WORKFLOWS))
    result = CliRunner().invoke(demo, [])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.output.startswith("入职召回演示") and "结果:留任" in result.output
