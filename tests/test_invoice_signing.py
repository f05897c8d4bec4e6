"""Invoice signatures (exports/invoice_signing.py): demo keys in a passphrase-protected PKCS#12, a PAdES
signature in the PDF and a detached CMS `.p7s` over the signed PDF, both validated with pyhanko against the
issuer CA and the `.p7s` also with `openssl cms -verify`; tampered, garbage and mismatched files fail."""
from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pytest

from exports.invoice_signing import (
    CA_FILE,
    P12_FILE,
    KeysExist,
    SigningKeyError,
    init_keys,
    load_signer,
    load_trust_roots,
    sign_invoice,
    signing_config,
    verify_pair,
)

PASSPHRASE = b"s3cret passphrase"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def simple_pdf(text: str = "Invoice 2026-000001: 394,58 €") -> bytes:
    from reportlab.pdfgen import canvas

    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, pageCompression=0, invariant=1)
    pdf.drawString(72, 720, text.encode("latin-1", "replace").decode("latin-1"))
    pdf.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return init_keys(tmp_path_factory.mktemp("keys"), PASSPHRASE, NOW)


@pytest.fixture(scope="module")
def signed(keys):
    signer = load_signer(keys.signer_p12, PASSPHRASE)
    return sign_invoice(simple_pdf(), signer, NOW)


@pytest.fixture(scope="module")
def roots(keys):
    return load_trust_roots(keys.ca_cert)


def test_init_keys_makes_a_ca_and_a_signing_certificate_in_a_protected_pkcs12(keys):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    assert (keys.ca_cert.name, keys.signer_p12.name) == (CA_FILE, P12_FILE)
    assert keys.signer_p12.stat().st_mode & 0o077 == 0
    data = keys.signer_p12.read_bytes()
    assert b"PRIVATE KEY" not in data
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, None)
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong")
    key, cert, extra = pkcs12.load_key_and_certificates(data, PASSPHRASE)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca = x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    assert cert.issuer == ca.subject and [c.subject for c in extra] == [ca.subject]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE" not in keys.ca_cert.read_bytes()  # the CA's key is not kept at all


def test_init_keys_never_overwrites(keys, tmp_path):
    with pytest.raises(KeysExist, match="never overwritten"):
        init_keys(keys.ca_cert.parent, PASSPHRASE, NOW)
    (tmp_path / P12_FILE).write_bytes(b"someone's key")
    with pytest.raises(KeysExist, match=P12_FILE):
        init_keys(tmp_path, PASSPHRASE, NOW)
    assert (tmp_path / P12_FILE).read_bytes() == b"someone's key" and not (tmp_path / CA_FILE).exists()
    with pytest.raises(SigningKeyError, match="passphrase"):
        init_keys(tmp_path / "new", b"", NOW)


def test_load_signer_says_what_is_wrong(keys, tmp_path):
    with pytest.raises(SigningKeyError, match="wrong passphrase"):
        load_signer(keys.signer_p12, b"wrong")
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_signer(tmp_path / "missing.p12", PASSPHRASE)
    with pytest.raises(SigningKeyError, match="No passphrase"):
        load_signer(keys.signer_p12, None)


def test_both_signatures_are_valid_against_the_issuer_ca(signed, roots):
    pdf, p7s = signed
    result = verify_pair(pdf, p7s, roots)
    assert result.valid and result.pdf_signature_ok and result.cms_ok is True and result.problems == []
    assert result.signer == "Cards Online Invoicing, Cards Online Issuer"
    assert result.signed_at is not None and abs(result.signed_at - NOW) < timedelta(seconds=1)
    alone = verify_pair(pdf, None, roots)
    assert alone.valid and alone.cms_ok is None


def test_pyhanko_itself_validates_the_pades_signature(signed, keys):
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    _kind, _headers, der = pem.unarmor(keys.ca_cert.read_bytes())
    [embedded] = PdfFileReader(BytesIO(signed[0])).embedded_signatures
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[x509.Certificate.load(der)]))
    assert status.bottom_line and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES


def openssl_verify(tmp_path: Path, pdf: bytes, p7s: bytes, ca: Path) -> subprocess.CompletedProcess:
    (tmp_path / "x.pdf").write_bytes(pdf)
    (tmp_path / "x.pdf.p7s").write_bytes(p7s)
    return subprocess.run([OPENSSL, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "x.pdf.p7s"),
                           "-content", str(tmp_path / "x.pdf"), "-CAfile", str(ca), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True)


def test_openssl_verifies_the_detached_signature(signed, keys, tmp_path):
    result = openssl_verify(tmp_path, *signed, keys.ca_cert)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr


def test_a_tampered_pdf_fails_both_signatures(signed, roots, keys, tmp_path):
    pdf, p7s = signed
    assert pdf.count(b"2026-000001") == 1
    tampered = pdf.replace(b"2026-000001", b"2026-000002")
    result = verify_pair(tampered, p7s, roots)
    assert not result.valid and not result.pdf_signature_ok and result.cms_ok is False
    assert any("changed after it was signed" in p for p in result.problems)
    assert any(".p7s signature does not match this PDF" in p for p in result.problems)
    assert openssl_verify(tmp_path, tampered, p7s, keys.ca_cert).returncode != 0


def test_something_appended_to_the_pdf_is_caught(signed, roots):
    pdf, p7s = signed
    result = verify_pair(pdf + b"\n% a new revision\n", None, roots)
    assert not result.valid and any("does not cover the whole file" in p for p in result.problems)


@pytest.mark.parametrize("pdf_kind, p7s_kind, expected", [
    ("garbage", "good", "not a readable PDF"),
    ("truncated", "good", "not a readable PDF"),
    ("good", "garbage", "not a CMS signature"),
    ("good", "truncated", "not a CMS signature"),
    ("unsigned", None, "no digital signature"),
    ("empty", "empty", "not a readable PDF"),
])
def test_bad_files_give_a_reason_never_an_exception(signed, roots, pdf_kind, p7s_kind, expected):
    pdf, p7s = signed
    pdfs = {"good": pdf, "garbage": b"this is no pdf", "truncated": pdf[: len(pdf) // 2], "unsigned": simple_pdf(),
            "empty": b""}
    p7ss = {"good": p7s, "garbage": b"\x30\x03abc", "truncated": p7s[:100], "empty": b"", None: None}
    result = verify_pair(pdfs[pdf_kind], p7ss[p7s_kind], roots)
    assert not result.valid
    assert any(expected in p for p in result.problems), result.problems


def test_a_p7s_of_another_pdf_does_not_match(keys, signed, roots):
    other_pdf, other_p7s = sign_invoice(simple_pdf("another invoice"), load_signer(keys.signer_p12, PASSPHRASE), NOW)
    result = verify_pair(signed[0], other_p7s, roots)
    assert not result.valid and result.pdf_signature_ok and result.cms_ok is False
    assert any("belongs to another file" in p for p in result.problems)


def test_signatures_of_another_ca_are_not_trusted(signed, tmp_path):
    stranger = init_keys(tmp_path, b"other", NOW, organisation="Somebody Else")
    result = verify_pair(*signed, load_trust_roots(stranger.ca_cert))
    assert not result.valid and not result.pdf_signature_ok and result.cms_ok is False
    assert any("not trusted" in p for p in result.problems)
    assert not verify_pair(*signed, []).valid


def test_signing_config_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CARDSONLINE_SIGNING_P12", str(tmp_path / "x.p12"))
    monkeypatch.setenv("CARDSONLINE_SIGNING_PASSPHRASE", "pass")
    monkeypatch.setenv("CARDSONLINE_ISSUER_CA", str(tmp_path / "ca.pem"))
    config = signing_config()
    assert (config.p12, config.passphrase, config.ca_cert) == (tmp_path / "x.p12", b"pass", tmp_path / "ca.pem")
    assert "pass" not in repr(config)
    for name in ("CARDSONLINE_SIGNING_P12", "CARDSONLINE_SIGNING_PASSPHRASE", "CARDSONLINE_ISSUER_CA"):
        monkeypatch.delenv(name)
    from store.db import data_dir

    config = signing_config()
    assert config.p12 == data_dir() / "keys" / P12_FILE and config.ca_cert == data_dir() / "keys" / CA_FILE
    assert config.passphrase is None


async def test_verify_works_inside_a_running_event_loop(signed, roots):
    assert verify_pair(*signed, roots).valid


def test_an_rsa_pkcs12_from_another_ca_signs_and_verifies_too(tmp_path):
    """A production PKCS#12 usually holds an RSA key: the same code signs with it (openssl agrees)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(name("Real CA")).issuer_name(name("Real CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(NOW - timedelta(days=1))
          .not_valid_after(NOW + timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(name("Issuer invoicing")).issuer_name(name("Real CA"))
            .public_key(key.public_key()).serial_number(2).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    p12 = tmp_path / "real.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"real", key, cert, [ca],
                                                          serialization.BestAvailableEncryption(b"pw")))
    ca_file = tmp_path / "real-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pdf, p7s = sign_invoice(simple_pdf(), load_signer(p12, b"pw"), NOW)
    result = verify_pair(pdf, p7s, load_trust_roots(ca_file))
    assert result.valid and result.signer == "Issuer invoicing", result.problems
    check = openssl_verify(tmp_path, pdf, p7s, ca_file)
    assert check.returncode == 0, check.stderr


async def test_signing_works_inside_a_running_event_loop(keys, roots):
    pdf, p7s = sign_invoice(simple_pdf(), load_signer(keys.signer_p12, PASSPHRASE), NOW)
    assert verify_pair(pdf, p7s, roots).valid
