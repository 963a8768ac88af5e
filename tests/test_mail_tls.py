"""Mail over STARTTLS and over TLS, with a user name and password, sent end to end to a
real SMTP server on loopback (aiosmtpd) holding a certificate made here; and a server
whose certificate the box does not trust is refused with a clear reason."""

import datetime as dt
import ipaddress
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from billing_addon import lowbalance, settings

from .test_low_balance import free_port

USER, PASSWORD = "desk@example.org", "mail-secret-7"


class Inbox:
    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        # STARTTLS sets session.ssl; over implicit TLS the transport itself is the TLS one
        encrypted = session.ssl is not None or server.transport.get_extra_info("cipher") is not None
        self.messages.append((encrypted, envelope))
        return "250 OK"


def authenticate(inbox):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
        inbox.logins.append((mechanism, ok))
        if ok:
            return AuthResult(success=True)
        # aiosmtpd 1.4 says nothing after a plain failure; a real server answers 535
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Authentication credentials invalid")
    return check


def certificate(folder, name="127.0.0.1"):
    """A self-signed certificate for ``name`` (its key in a file beside it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(name))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_server(db_path, tmp_path):
    started = []
    cert_file, key_file = certificate(tmp_path)

    def start(security):
        inbox = Inbox()
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(cert_file, key_file)
        port = free_port()
        if security == "tls":
            # (aiosmtpd offers AUTH over implicit TLS only when it is not told to require
            # TLS for it: it counts STARTTLS alone; the session is encrypted all the same)
            controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=server_tls,
                                    authenticator=authenticate(inbox), auth_require_tls=False)
        else:
            controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=server_tls,
                                    require_starttls=True, authenticator=authenticate(inbox),
                                    auth_require_tls=True)
        controller.start()
        started.append(controller)
        for key, value in (("smtp_host", "127.0.0.1"), ("smtp_port", str(port)),
                           ("smtp_security", security), ("smtp_user", USER),
                           ("smtp_password", PASSWORD)):
            settings.put(key, value)
        return inbox

    yield start, cert_file
    for controller in started:
        controller.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_is_sent_encrypted_with_the_user_and_password(tls_server, monkeypatch, security):
    start, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the box trusts this server
    inbox = start(security)
    lowbalance.send("ops@example.org", "Low balance: 1002", "1002 has $2.00 left")
    (encrypted, envelope), = inbox.messages
    assert encrypted
    assert inbox.logins == [(inbox.logins[0][0], True)]
    assert envelope.mail_from == USER and envelope.rcpt_tos == ["ops@example.org"]
    assert b"1002 has $2.00 left" in envelope.content


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_server_the_box_does_not_trust_gets_no_password(tls_server, security):
    start, _cert_file = tls_server
    inbox = start(security)
    with pytest.raises(lowbalance.MailError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        lowbalance.send("ops@example.org", "Low balance: 1002", "1002 has $2.00 left")
    assert inbox.messages == [] and inbox.logins == []


def test_a_wrong_password_is_reported_and_nothing_is_sent(tls_server, monkeypatch):
    start, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    inbox = start("starttls")
    settings.put("smtp_password", "not-the-password")
    with pytest.raises(lowbalance.MailError, match="535"):
        lowbalance.send("ops@example.org", "Low balance: 1002", "1002 has $2.00 left")
    assert inbox.messages == []
