"""The issuer's invoice signatures: keys, signing, verifying (Fiche 11: the customer keeps the PDF *and* its
signature).

Every invoice PDF carries an embedded PAdES signature (pyhanko, PAdES B-B, SHA-256), and a detached CMS
signature (`.p7s`, DER, SHA-256) is made over exactly the bytes of that signed PDF, so each file proves the
other unchanged.

Keys. The signing key lives only inside a passphrase-protected PKCS#12 file (`issuer-signing.p12`, with its
certificate and the issuer CA's); nothing here writes it anywhere else unencrypted. The portal trusts the
issuer CA certificate (`issuer-ca.pem`) to verify. `init_keys` makes both for demos and tests (a CA and a
signing certificate with key usage *digital signature* and *non-repudiation*); in production the
configuration points to a PKCS#12 from a real CA. `signing_config()` reads:

    CARDSONLINE_SIGNING_P12         the PKCS#12 (default <data dir>/keys/issuer-signing.p12)
    CARDSONLINE_SIGNING_PASSPHRASE  its passphrase (the demo uses "demo" when unset: demo only!)
    CARDSONLINE_ISSUER_CA           the CA certificate(s) to trust, PEM (default <data dir>/keys/issuer-ca.pem)

where <data dir> is the folder of the default SQLite database (store.db.data_dir()).

The detached signature is checked by OpenSSL too, without this code:

    openssl cms -verify -binary -inform DER -in 2026-000001.pdf.p7s -content 2026-000001.pdf \
        -CAfile issuer-ca.pem -purpose any -out /dev/null

(`-binary`: the PDF is signed byte for byte, no MIME canonicalisation; `-purpose any`: the signing
certificate is a document-signing certificate, not an S/MIME e-mail one, so OpenSSL's default `smimesign`
purpose check does not apply.)

pyhanko, asn1crypto and cryptography load on first use (start-up stays fast).
"""
from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any, Coroutine, TypeVar

from store.i18n import _

__all__ = [
    "CA_FILE", "DEMO_PASSPHRASE", "KeyFiles", "KeysExist", "P12_FILE", "SigningConfig", "SigningKeyError",
    "Verification", "init_keys", "load_signer", "load_trust_roots", "sign_invoice", "signing_config",
    "verify_pair",
]

P12_ENV = "CARDSONLINE_SIGNING_P12"
PASSPHRASE_ENV = "CARDSONLINE_SIGNING_PASSPHRASE"
CA_ENV = "CARDSONLINE_ISSUER_CA"
CA_FILE = "issuer-ca.pem"
P12_FILE = "issuer-signing.p12"
DEMO_PASSPHRASE = b"demo"  # only for the demo's own keys when CARDSONLINE_SIGNING_PASSPHRASE is unset
ISSUER_NAME = "Cards Online Issuer"
SIGNATURE_FIELD = "InvoiceSignature"
DIGEST = "sha256"

T = TypeVar("T")
log = logging.getLogger(__name__)


class SigningKeyError(Exception):
    """The signing key cannot be used (missing file, wrong passphrase, not a PKCS#12 …); the message says why."""


class KeysExist(SigningKeyError, FileExistsError):
    """`init_keys` was asked to write over existing key files."""


@dataclass(frozen=True)
class KeyFiles:
    ca_cert: Path  # issuer-ca.pem: the trust root, public
    signer_p12: Path  # issuer-signing.p12: key + certificate + CA certificate, passphrase-protected


@dataclass(frozen=True)
class SigningConfig:
    p12: Path
    passphrase: bytes | None = field(repr=False)  # None: CARDSONLINE_SIGNING_PASSPHRASE is not set
    ca_cert: Path

    @property
    def key_files(self) -> KeyFiles:
        return KeyFiles(ca_cert=self.ca_cert, signer_p12=self.p12)


@dataclass
class Verification:
    valid: bool
    pdf_signature_ok: bool
    cms_ok: bool | None  # None: no .p7s was given
    problems: list[str] = field(default_factory=list)  # plain words, empty when valid
    signer: str | None = None  # the signing certificate's subject, e.g. "Cards Online Invoicing, Cards Online Issuer"
    signed_at: datetime | None = None  # the time the signer states (PDF signature, else the .p7s)


# --- configuration ---------------------------------------------------------------------------------------

def keys_dir() -> Path:
    from store.db import data_dir

    return data_dir() / "keys"


def signing_config() -> SigningConfig:
    """Where the signing PKCS#12 and the trusted issuer CA are, and the passphrase, from the environment."""
    p12 = os.environ.get(P12_ENV, "").strip()
    ca = os.environ.get(CA_ENV, "").strip()
    passphrase = os.environ.get(PASSPHRASE_ENV)
    return SigningConfig(p12=Path(p12).expanduser() if p12 else keys_dir() / P12_FILE,
                         passphrase=passphrase.encode("utf-8") if passphrase else None,
                         ca_cert=Path(ca).expanduser() if ca else keys_dir() / CA_FILE)


# --- keys --------------------------------------------------------------------------------------------------

def _write_atomic(path: Path, content: bytes, mode: int) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def init_keys(out_dir: Path, passphrase: bytes, now: datetime, organisation: str = ISSUER_NAME) -> KeyFiles:
    """Make a demo/test issuer CA and a signing certificate (digital signature + non-repudiation) in `out_dir`:
    `issuer-ca.pem` (the CA certificate) and `issuer-signing.p12` (the signing key, its certificate and the CA
    certificate, encrypted with `passphrase`). The CA's own key is not kept. Refuses to overwrite (KeysExist)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    if not passphrase:
        raise SigningKeyError(_("A passphrase is needed to protect the signing key: set {variable}.").format(
            variable=PASSPHRASE_ENV))
    out_dir = Path(out_dir).expanduser()
    files = KeyFiles(ca_cert=out_dir / CA_FILE, signer_p12=out_dir / P12_FILE)
    existing = [p for p in (files.ca_cert, files.signer_p12) if p.exists()]
    if existing:
        if len(existing) == 1:
            raise KeysExist(_("{file} already exists: keys are never overwritten. Move it away first, or use another "
                              "folder (--out).").format(file=existing[0]))
        raise KeysExist(_("{first} and {second} already exist: keys are never overwritten. Move them away first, or "
                          "use another folder (--out).").format(first=existing[0], second=existing[1]))
    out_dir.mkdir(parents=True, exist_ok=True)
    now = now.astimezone(timezone.utc)
    start = now - timedelta(days=1)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    # ECDSA P-256 keys: made in a millisecond (an RSA-3072 pair takes seconds), small and fast signatures, read by
    # Acrobat, pyhanko and OpenSSL alike. A production PKCS#12 may hold an RSA or an EC key: both work.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"{organisation} CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(now + timedelta(days=20 * 366))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(ca_ski, critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("Cards Online Invoicing")).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(now + timedelta(days=10 * 366))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    p12 = pkcs12.serialize_key_and_certificates(b"Cards Online invoice signing", key, cert, [ca_cert],
                                                serialization.BestAvailableEncryption(passphrase))
    _write_atomic(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write_atomic(files.signer_p12, p12, 0o600)
    return files


def load_signer(p12: Path, passphrase: bytes | None):
    """The signer (a pyhanko SimpleSigner) from a PKCS#12 file; SigningKeyError with the reason otherwise."""
    p12 = Path(p12).expanduser()
    if not passphrase:
        raise SigningKeyError(_("No passphrase for the signing key {file}: set {variable}.").format(
            file=p12, variable=PASSPHRASE_ENV))
    try:
        data = p12.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(_("The signing key {file} does not exist: run `cardsonline issuer keys init`, or set "
                                "{variable} to the issuer's PKCS#12 file.").format(file=p12, variable=P12_ENV)) from None
    except OSError as exc:
        raise SigningKeyError(_("Cannot read the signing key {file}: {error}.").format(
            file=p12, error=exc.strerror or exc)) from None
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError):
        raise SigningKeyError(_("Cannot open the signing key {file}: wrong passphrase ({variable}), or not a "
                                "PKCS#12 file.").format(file=p12, variable=PASSPHRASE_ENV)) from None
    if key is None or cert is None:
        raise SigningKeyError(_("{file} does not hold a signing key with its certificate.").format(file=p12))
    der = serialization.Encoding.DER
    registry = SimpleCertificateStore()
    registry.register_multiple([asn1_x509.Certificate.load(c.public_bytes(der)) for c in others])
    signer = _signer_class()(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                                                    serialization.NoEncryption())),
        cert_registry=registry)
    signer.private_key = key
    signer.pyca_cert = cert
    signer.pyca_chain = list(others)
    return signer


_SIGNER_CLASS = None


def _signer_class():
    """pyhanko's SimpleSigner, keeping the private key loaded: the stock one parses (and, in cryptography, checks)
    the key again for every signature (about 0.45 s for an RSA-3072 key), far more than the signature itself."""
    global _SIGNER_CLASS
    if _SIGNER_CLASS is None:
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from pyhanko.sign import signers
        from pyhanko_certvalidator.util import get_pyca_cryptography_hash

        class IssuerSigner(signers.SimpleSigner):
            # Set by load_signer: the cryptography key, certificate and the PKCS#12's other certificates.
            private_key = None
            pyca_cert = None
            pyca_chain: list = []

            def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
                mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
                try:
                    name = mechanism.signature_algo
                except ValueError:
                    name = mechanism["algorithm"].native
                digest = get_pyca_cryptography_hash(digest_algorithm)
                if name == "rsassa_pkcs1v15" and isinstance(self.private_key, RSAPrivateKey):
                    return self.private_key.sign(data, PKCS1v15(), digest)
                if name == "ecdsa" and isinstance(self.private_key, EllipticCurvePrivateKey):
                    return self.private_key.sign(data, ECDSA(digest))
                return super().sign_raw(data, digest_algorithm)

        _SIGNER_CLASS = IssuerSigner
    return _SIGNER_CLASS


def load_trust_roots(ca_file: Path) -> list[bytes]:
    """The certificates of a PEM (or DER) file, as DER bytes, for `verify_pair`; SigningKeyError if unusable."""
    from asn1crypto import pem

    try:
        data = Path(ca_file).expanduser().read_bytes()
    except OSError as exc:
        raise SigningKeyError(_("Cannot read the issuer CA certificate {file}: {error}. Set {variable} to the "
                                "issuer's CA certificate (PEM).").format(file=ca_file, error=exc.strerror or exc,
                                                                          variable=CA_ENV)) from None
    if pem.detect(data):
        roots = [der for kind, _headers, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    else:
        roots = [data]
    if not roots:
        raise SigningKeyError(_("{file} holds no certificate.").format(file=ca_file))
    return roots


# --- signing -------------------------------------------------------------------------------------------------

def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a pyhanko coroutine to its end, also when called from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="pyhanko")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _pdf_signer(signer, now: datetime, reason: str):
    from pyhanko.sign import fields, signers

    class ClockedPdfSigner(signers.PdfSigner):
        """Records the injected `now` as the signing time (the PDF's /M), like every other batch time."""

        def init_signing_session(self, pdf_out, *args, **kwargs):
            session = super().init_signing_session(pdf_out, *args, **kwargs)
            session.system_time = now
            return session

    meta = signers.PdfSignatureMetadata(field_name=SIGNATURE_FIELD, md_algorithm=DIGEST,
                                        subfilter=fields.SigSeedSubFilter.PADES, reason=reason,
                                        location="Belgium")
    return ClockedPdfSigner(meta, signer=signer)


def _bytes_reserved(signer) -> int:
    """Room for the CMS object in the PDF: its certificates, the signature and attributes, with a wide margin.
    Giving it spares pyhanko a trial signature to measure it (a third of the signing time)."""
    certs = [signer.signing_cert, *signer.cert_registry]
    return 4096 + 2 * sum(len(cert.dump()) for cert in certs)


def _detached_cms(data: bytes, signer, now: datetime) -> bytes:
    """A DER CMS SignedData over `data`, content detached, SHA-256, with the signer's certificate chain. Made by
    cryptography (OpenSSL), about ten times faster than assembling it in asn1crypto; its signingTime attribute
    is the moment it is made. Without the cryptography objects (a signer not from load_signer): pyhanko's."""
    if getattr(signer, "private_key", None) is not None and getattr(signer, "pyca_cert", None) is not None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

        builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(signer.pyca_cert, signer.private_key,
                                                                           hashes.SHA256())
        for cert in signer.pyca_chain:
            builder = builder.add_certificate(cert)
        return builder.sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    return _run(signer.async_sign_general_data(data, DIGEST, detached=True,
                                               signed_attr_settings=PdfCMSSignedAttributes(signing_time=now))).dump()


async def _sign_pdf(pdf: bytes, signer, now: datetime, reason: str) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    output = await _pdf_signer(signer, now, reason).async_sign_pdf(writer, bytes_reserved=_bytes_reserved(signer))
    return output.getvalue()


def sign_invoice(pdf: bytes, signer, now: datetime, reason: str = "Invoice") -> tuple[bytes, bytes]:
    """(the PDF with an embedded PAdES signature, a DER detached CMS signature over exactly those bytes)."""
    if now.tzinfo is None:
        raise ValueError("sign_invoice needs a timezone-aware time")
    now = now.astimezone(timezone.utc)
    signed = _run(_sign_pdf(pdf, signer, now, reason))
    return signed, _detached_cms(signed, signer, now)


# --- verifying -----------------------------------------------------------------------------------------------

def _subject(cert) -> str:
    try:
        attrs = cert.subject.native
        parts = [attrs.get("common_name"), attrs.get("organization_name")]
        return ", ".join(p for p in parts if p) or cert.subject.human_friendly
    except Exception:  # noqa: BLE001 - a name is only for display
        return _("an unknown signer")


def _validation_context(roots):
    from pyhanko_certvalidator import ValidationContext

    # No CRL/OCSP to fetch for these certificates; offline, revocation is not checked ("soft-fail").
    return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")


def _trust_problem(status, what: str) -> str:
    indication = getattr(status, "trust_problem_indic", None)
    if indication is not None:
        return _("{what}: the signing certificate is not trusted ({detail}): it was not issued by the trusted "
                 "issuer CA, or it has expired or may not sign documents.").format(
            what=what, detail=indication.name.lower().replace("_", " "))
    return _("{what}: the signing certificate is not trusted: it was not issued by the trusted issuer CA, or it "
             "has expired or may not sign documents.").format(what=what)


def _quiet_pyhanko() -> None:
    """pyhanko logs each failed check with a traceback; the Verification already says it in plain words. A
    NullHandler keeps Python's last-resort handler from printing them on stderr (an app's logging still gets
    them)."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


async def _verify(pdf: bytes, p7s: bytes | None, trust_roots: list[bytes]) -> Verification:
    from asn1crypto import cms, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_detached_cms, async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    result = Verification(valid=False, pdf_signature_ok=False, cms_ok=None if p7s is None else False)
    try:
        roots = [x509.Certificate.load(der) for der in trust_roots]
        for root in roots:
            root.native  # noqa: B018 - parse it now, not half-way through a validation
    except Exception:  # noqa: BLE001
        result.problems.append(_("The trusted issuer CA certificate cannot be read."))
        return result
    if not roots:
        result.problems.append(_("No trusted issuer CA certificate was given."))
        return result
    pdf_signer_cert = None
    try:
        if not pdf.startswith(b"%PDF-"):
            raise ValueError("no PDF header")
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # noqa: BLE001 - any parse error is a broken file
        result.problems.append(_("The file is not a readable PDF (damaged, truncated or another kind of file)."))
        signatures = None
    if signatures is not None and not signatures:
        result.problems.append(_("The PDF has no digital signature."))
    elif signatures:
        ok = True
        for index, embedded in enumerate(signatures):
            what = (_("The PDF signature") if len(signatures) == 1 else
                    _("PDF signature {number}").format(number=index + 1))
            try:
                status = await async_validate_pdf_signature(embedded, signer_validation_context=
                                                             _validation_context(roots))
            except Exception as exc:  # noqa: BLE001
                ok = False
                result.problems.append(_("{what} cannot be checked: {error}.").format(what=what, error=exc))
                continue
            if index == len(signatures) - 1:
                pdf_signer_cert = status.signing_cert
                result.signer = _subject(status.signing_cert)
                result.signed_at = status.signer_reported_dt
            if not status.intact:
                ok = False
                result.problems.append(_("{what} does not match the document: the PDF was changed after it was "
                                         "signed.").format(what=what))
            elif not status.valid:
                ok = False
                result.problems.append(_("{what} is broken (its cryptographic check fails).").format(what=what))
            elif not status.trusted:
                ok = False
                result.problems.append(_trust_problem(status, what))
            if status.intact and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
                ok = False
                result.problems.append(_("{what} does not cover the whole file: something was added to the PDF "
                                         "after it was signed.").format(what=what))
        result.pdf_signature_ok = ok
    if p7s is not None:
        try:
            info = cms.ContentInfo.load(p7s)
            if info["content_type"].native != "signed_data":
                raise ValueError("not signed data")
            signed_data = info["content"]
            signed_data.native  # noqa: B018 - parse everything now
        except Exception:  # noqa: BLE001
            result.problems.append(_("The .p7s file is not a CMS signature (damaged, truncated or another kind of "
                                     "file)."))
        else:
            try:
                status = await async_validate_detached_cms(pdf, signed_data,
                                                           signer_validation_context=_validation_context(roots))
            except Exception as exc:  # noqa: BLE001
                result.problems.append(_("The .p7s signature cannot be checked: {error}.").format(error=exc))
            else:
                if result.signer is None:
                    result.signer = _subject(status.signing_cert)
                if result.signed_at is None:
                    result.signed_at = status.signer_reported_dt
                if not status.intact:
                    result.problems.append(_("The .p7s signature does not match this PDF: the PDF was changed, or "
                                             "the .p7s belongs to another file."))
                elif not status.valid:
                    result.problems.append(_("The .p7s signature is broken (its cryptographic check fails)."))
                elif not status.trusted:
                    result.problems.append(_trust_problem(status, _("The .p7s signature")))
                elif pdf_signer_cert is not None and status.signing_cert.dump() != pdf_signer_cert.dump():
                    result.problems.append(_("The .p7s signature was made by another certificate than the PDF's "
                                             "signature."))
                else:
                    result.cms_ok = True
    result.valid = result.pdf_signature_ok and result.cms_ok is not False and not result.problems
    return result


def verify_pair(pdf: bytes, p7s: bytes | None, trust_roots: list[bytes]) -> Verification:
    """Check the PDF's embedded signature and, when given, the detached `.p7s` over the PDF's bytes, both
    against `trust_roots` (DER certificates, e.g. from `load_trust_roots`). Never raises on bad files: the
    answer is valid=False with the problems in plain words."""
    _quiet_pyhanko()
    try:
        return _run(_verify(bytes(pdf or b""), None if p7s is None else bytes(p7s), list(trust_roots)))
    except Exception as exc:  # noqa: BLE001 - the promise: a verdict, never an exception
        log.exception("verify_pair failed")
        return Verification(valid=False, pdf_signature_ok=False, cms_ok=None if p7s is None else False,
                            problems=[_("The files cannot be checked: {error}.").format(error=exc)])
