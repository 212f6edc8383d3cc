"""Real mail servers for the email channel's tests: Debian's dovecot (IMAP) and aiosmtpd (SMTP).

`mail_servers` (a pytest fixture) starts, for one test:
- a private dovecot instance on a free port of 127.0.0.1 with its own config, run and state
  directories in a temporary directory (removed afterwards), one passwd-file user (`recall@mail.test`) and a Maildir
  with a Sent folder — no system-wide configuration is read or changed, and the process is stopped
  at teardown (it runs in the foreground, `dovecot -F`, as a child of the test);
- an aiosmtpd server on another free port that keeps every message it accepts (`received`) and
  delivers what is addressed to the mailbox's address into that Maildir, as a mail server would:
  a "reply" a test sends through SMTP lands in the mailbox the worker polls.

SMTP answers can be scripted per recipient (`refuse[address] = (code, text)`: 550 for a mailbox
that does not exist, 451 for "try later"). dovecot missing: the tests that need it are skipped
with the reason (`.ci/run` installs it, so CI never skips).
"""
from __future__ import annotations

import email
import email.policy
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAILBOX_USER = "recall@mail.test"
MAILBOX_PASSWORD = "mailbox-secret-1"
SMTP_USER = "sender@mail.test"
SMTP_PASSWORD = "smtp-secret-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mail_owner() -> tuple[int, int, str, str]:
    """(uid, gid) the Maildir belongs to and the internal/login users dovecot runs its helpers as.
    As root (CI): the `nobody` user owns the mail and dovecot's own users run its helpers; as anyone
    else, that person does everything (dovecot runs unprivileged then)."""
    if os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid, "dovecot", "dovenull"
    me = pwd.getpwuid(os.getuid())
    return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name


def _config(root: Path, port: int, uid: int, gid: int, internal: str, login: str) -> str:
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
mail_location = maildir:{root}/home/%u/Maildir
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
"""


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class MailServers:
    imap_port: int
    smtp_port: int
    root: Path
    uid: int
    gid: int
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)
    host: str = "127.0.0.1"
    address: str = MAILBOX_USER
    imaps_port: int | None = None           # with TLS: IMAP over implicit TLS
    certificate: Path | None = None         # with TLS: the servers' self-signed certificate

    @property
    def maildir(self) -> Path:
        return self.root / "home" / MAILBOX_USER / "Maildir"

    def settings(self, **changes) -> dict:
        """The email channel's settings pointing at these servers (SMTP without TLS, with auth)."""
        return {"smtp_host": self.host, "smtp_port": self.smtp_port, "smtp_security": "none",
                "smtp_username": SMTP_USER, "smtp_password": SMTP_PASSWORD,
                "from_address": "hr@mail.test", "from_name": "李娜 (Offer Recall)", "reply_to": MAILBOX_USER,
                "imap_host": self.host, "imap_port": self.imap_port, "imap_security": "none",
                "imap_username": MAILBOX_USER, "imap_password": MAILBOX_PASSWORD, "imap_folder": "INBOX",
                **changes}

    def deliver(self, data: bytes, folder: str = "") -> Path:
        """Put a message into the mailbox as a delivery agent does: written in tmp/, renamed into new/."""
        box = self.maildir / (f".{folder}" if folder else "")
        for sub in ("tmp", "new", "cur"):
            (box / sub).mkdir(parents=True, exist_ok=True)
            if os.getuid() == 0:
                os.chown(box / sub, self.uid, self.gid)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.mail.test"
        tmp = box / "tmp" / name
        tmp.write_bytes(data.replace(b"\r\n", b"\n"))
        if os.getuid() == 0:
            os.chown(tmp, self.uid, self.gid)
        target = box / "new" / name
        tmp.rename(target)
        return target

    def folder_files(self, folder: str = "") -> list[Path]:
        box = self.maildir / (f".{folder}" if folder else "")
        return sorted(p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir())

    def messages_to(self, address: str) -> list[email.message.EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]


class _Handler:
    def __init__(self, servers: MailServers):
        self.servers = servers
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's names
        refused = self.servers.refuse.get(address.lower())
        if refused is not None:
            return f"{refused[0]} {refused[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        data = envelope.original_content or envelope.content
        with self.lock:
            self.servers.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        if any(r.lower() == self.servers.address for r in envelope.rcpt_tos):
            self.servers.deliver(data)
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
          and auth_data.password.decode() == SMTP_PASSWORD)
    return AuthResult(success=ok, handled=False)     # handled=False: aiosmtpd answers 535 itself


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {process.returncode}: "
                               f"{log.read_text(errors='replace') if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port} within {timeout}s")


def _certificate(root: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (cert.pem, key.pem): the servers' TLS, and
    the only authority the client trusts in a TLS test (SSL_CERT_FILE)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def running_mail_servers(*, tls: bool = False):
    """Start both servers (see the module's docstring); `tls`: SMTP requires STARTTLS and IMAP listens
    with implicit TLS (`imaps_port`), both with a self-signed certificate (`servers.certificate`)."""
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does it)")
    from aiosmtpd.controller import Controller

    # Not under pytest's tmp dir: that is private to its owner (0700) and dovecot's helpers run as
    # other users when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="recall-mail-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "home"):
        (root / sub).mkdir(parents=True)
    uid, gid, internal, login = _mail_owner()
    servers = MailServers(imap_port=free_port(), smtp_port=free_port(), root=root, uid=uid, gid=gid)
    config = _config(root, servers.imap_port, uid, gid, internal, login)
    tls_context = None
    if tls:
        cert, key = _certificate(root)
        servers.certificate, servers.imaps_port = cert, free_port()
        config = config.replace("ssl = no", f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}").replace(
            "  inet_listener imaps {\n    port = 0", f"  inet_listener imaps {{\n    address = 127.0.0.1\n"
                                                   f"    port = {servers.imaps_port}")
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(cert, key)
    (root / "passwd").write_text(f"{MAILBOX_USER}:{{PLAIN}}{MAILBOX_PASSWORD}::::::\n")
    (root / "dovecot.conf").write_text(config)
    home = root / "home" / MAILBOX_USER
    for sub in ("tmp", "new", "cur"):
        (servers.maildir / sub).mkdir(parents=True)
    if os.getuid() == 0:
        for dirpath, _, _ in os.walk(home):
            os.chown(dirpath, uid, gid)
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    controller = Controller(_Handler(servers), hostname="127.0.0.1", port=servers.smtp_port,
                            authenticator=_authenticator, auth_require_tls=tls,
                            tls_context=tls_context, require_starttls=tls)
    try:
        _wait_for_port(servers.imaps_port if tls else servers.imap_port, process, root / "dovecot.log")
        controller.start()
        yield servers
    finally:
        try:
            controller.stop()
        except AssertionError:
            pass                    # never started
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mail_servers():
    """A private dovecot and an aiosmtpd delivering into its Maildir, without TLS; stopped at teardown."""
    with running_mail_servers() as servers:
        yield servers


@pytest.fixture
def mail_servers_tls(monkeypatch):
    """The same with STARTTLS (SMTP) and implicit TLS (IMAP); the client trusts only their certificate."""
    with running_mail_servers(tls=True) as servers:
        monkeypatch.setenv("SSL_CERT_FILE", str(servers.certificate))
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        yield servers
