"""Fixtures for the channels' tests: `mail_servers` (a private dovecot and an aiosmtpd, tests/fakes/mail.py);
`recall`, `api` and the databases come from tests/conftest.py."""
from tests.fakes.mail import mail_servers, mail_servers_tls  # noqa: F401
from tests.channels.scripted import scripted  # noqa: F401
