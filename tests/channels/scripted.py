"""A channel of the tests' own (the core's tests, H5): its sender and follower record every call and
answer what the test scripts (the real channels, WeCom and email, are tested in their own suites).
`scripted` registers it for one test."""
from __future__ import annotations

import base64
import os
import threading

import pytest

from engine.channels import registry

TEST_CHANNEL = "testchan"


class ScriptedChannel:
    """Calls are recorded; `answers` / `follow_answers` are Outcomes (or exceptions) handed out in order,
    then `default` / `follow_default`."""

    def __init__(self):
        self.sent: list[registry.Outgoing] = []
        self.followed: list[registry.Outgoing] = []
        self.tested: list[dict] = []
        self.answers: list = []
        self.follow_answers: list = []
        self.default = registry.Outcome("sent", provider_id="p-1")
        self.follow_default = registry.Outcome("sent")
        self.lock = threading.Lock()

    def _next(self, answers, default):
        with self.lock:
            answer = answers.pop(0) if answers else default
        if isinstance(answer, Exception):
            raise answer
        return answer

    def send(self, engine, item):
        self.sent.append(item)
        return self._next(self.answers, self.default)

    def follow(self, engine, item):
        self.followed.append(item)
        return self._next(self.follow_answers, self.follow_default)

    def test(self, engine, values):
        self.tested.append(values)
        if values.get("host") == "unreachable.example":
            raise registry.ChannelError("cannot reach unreachable.example: connection refused")
        return f"connected to {values['host']} as {values['user']}"

    def channel(self, *, limit=None) -> registry.Channel:
        return registry.Channel(
            TEST_CHANNEL, "测试渠道", "Test channel",
            (registry.SettingField("host", "主机", "Host"),
             registry.SettingField("user", "用户", "User"),
             registry.SettingField("password", "密码", "Password", secret=True),
             registry.SettingField("port", "端口", "Port", kind="int", required=False, default=25),
             registry.SettingField("mode", "模式", "Mode", kind="choice", choices=("ssl", "starttls"),
                                   required=False, default="ssl"),
             registry.SettingField("from_address", "发件人", "From", kind="email", required=False)),
            send=self.send, follow=self.follow, test=self.test, monthly_limit_per_candidate=limit)


@pytest.fixture
def scripted():
    """The test channel, registered (monthly limit 2) for the test and removed after it."""
    fake = ScriptedChannel()
    registry.register(fake.channel(limit=2))
    yield fake
    registry.unregister(TEST_CHANNEL)


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
