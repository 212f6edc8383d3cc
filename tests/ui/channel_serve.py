"""`python -m tests.ui.channel_serve serve ...`: `recall` with an `email` channel of the tests' own in
place of the real one (the browser tests of the settings page and the send dialog need a channel whose
sender answers at once; the real email channel is tested against real servers in tests/channels)."""
from __future__ import annotations

from engine.channels import registry
from engine.channels.builtin import load_builtin

load_builtin()          # the real channels first: the one below replaces `email`
SENT = []


def _send(engine, item):
    SENT.append(item.id)
    return registry.Outcome("sent", provider_id=f"<{item.id}@ui.test>")


def _test(engine, values):
    if values.get("smtp_host") == "unreachable.example":
        raise registry.ChannelError("cannot reach unreachable.example:587 (connection refused)")
    return f"{values['smtp_host']} accepted {values['username']}"


registry.register(registry.Channel(
    "email", "邮件", "Email",
    (registry.SettingField("smtp_host", "SMTP 服务器", "SMTP server", help_zh="例如 smtp.exmail.qq.com",
                           help_en="e.g. smtp.exmail.qq.com"),
     registry.SettingField("username", "用户名", "User name", kind="email"),
     registry.SettingField("password", "密码", "Password", secret=True),
     registry.SettingField("port", "端口", "Port", kind="int", required=False, default=587),
     registry.SettingField("security", "加密方式", "Security", kind="choice", choices=("starttls", "ssl"),
                           required=False, default="starttls")),
    send=_send, test=_test))

if __name__ == "__main__":
    from cli import main
    main()
