"""The committed transfer vectors (tests/fixtures/transfer-vectors.*) open with the CLI's own code.

The page checks the same vectors in Chromium (tests/test_web_e2e.py): what one side makes, the
other opens. scripts/make_transfer_vectors.py writes them; if the CLI's format changes, these
tests fail until the vectors are made again (and the page's e2e.js follows).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.stream import RecordCipher, StreamDecryptor
from videonet_cli.crypto.wrap import unwrap_file_key
from videonet_cli.errors import TamperedError
from videonet_cli.identity import signing
from videonet_protocol import protocol

FIXTURES = Path(__file__).parent / "fixtures"


def load_vectors() -> tuple[dict[str, Any], bytes]:
    vectors = json.loads((FIXTURES / "transfer-vectors.json").read_text(encoding="utf-8"))
    return vectors, (FIXTURES / vectors["records_file"]).read_bytes()


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _verifier(vectors: dict[str, Any]) -> hdr.Verifier:
    public = _b(vectors["sender"]["ed25519_public"])

    def verify(label: bytes, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(public).verify(
                signature, len(label).to_bytes(2, "big") + label + message
            )
        except InvalidSignature:
            return False
        return True

    return verify


def _file_key(vectors: dict[str, Any]) -> bytes:
    pkcs8 = _b(vectors["recipient"]["x25519_private_pkcs8"])
    private = X25519PrivateKey.from_private_bytes(pkcs8[-32:])
    return unwrap_file_key(
        _b(vectors["wrapped_key"]),
        private,
        vectors["stream_id"],
        vectors["recipient"]["device_id"],
    )


def test_the_vectors_open_with_the_cli_code() -> None:
    vectors, records = load_vectors()
    assert vectors["transfer_protocol"] == protocol.TRANSFER_PROTOCOL_VERSION
    assert hashlib.sha256(records).hexdigest() == vectors["records_sha256"]
    file_key = _file_key(vectors)
    assert file_key == _b(vectors["file_key"])
    signed = hdr.parse_header(_b(vectors["header"]))
    hdr.verify_header(signed, file_key, _verifier(vectors))
    assert signed.hash.hex() == vectors["header_hash"]
    h = signed.header
    assert [(f.path, f.size, f.mode) for f in h.files] == [
        (f["path"], f["size"], f["mode"]) for f in vectors["files"]
    ]
    sender = vectors["sender"]
    message = signing.certificate_message(
        sender["user_id"],
        sender["device_id"],
        _b(sender["x25519_public"]),
        _b(sender["ed25519_public"]),
        sender["label"],
    )
    assert signing.verify_blob(_b(sender["identity_public"]), message, _b(sender["certificate"]))
    decryptor = StreamDecryptor(
        RecordCipher(file_key, hdr.record_binding(signed.hash)), h.total_size
    )
    plain = b"".join(decryptor.feed(records))
    decryptor.finish()
    pos, digests = 0, []
    for f in vectors["files"]:
        digests.append(hashlib.sha256(plain[pos : pos + f["size"]]).digest())
        pos += f["size"]
    assert [d.hex() for d in digests] == [f["sha256"] for f in vectors["files"]]
    assert hdr.open_seal(_b(vectors["seal"]), signed, file_key, _verifier(vectors)) == digests
    verdict = vectors["verdict"]
    assert verdict["sha256"] == protocol.batch_digest([d.hex() for d in digests])
    assert hdr.verdict_ok(
        file_key, signed.hash, verdict["user_id"], verdict["sha256"], verdict["mac"]
    )


@pytest.mark.parametrize("where", [10, 400])
def test_a_changed_header_byte_is_refused(where: int) -> None:
    vectors, _ = load_vectors()
    blob = bytearray(_b(vectors["header"]))
    blob[where] ^= 1
    with pytest.raises(hdr.HeaderError):
        hdr.verify_header(hdr.parse_header(bytes(blob)), _file_key(vectors), _verifier(vectors))


def test_a_changed_record_byte_is_refused() -> None:
    vectors, records = load_vectors()
    file_key = _file_key(vectors)
    signed = hdr.parse_header(_b(vectors["header"]))
    tampered = bytearray(records)
    tampered[len(records) - 20] ^= 1
    decryptor = StreamDecryptor(
        RecordCipher(file_key, hdr.record_binding(signed.hash)), signed.header.total_size
    )
    with pytest.raises(TamperedError):
        decryptor.feed(bytes(tampered))


def test_the_script_still_makes_vectors_like_the_committed_ones() -> None:
    """scripts/make_transfer_vectors.py runs against today's code and makes the same header
    (Ed25519 signatures are deterministic; only HPKE's wrapped key differs from run to run)."""
    import importlib.util

    path = FIXTURES.parent.parent / "scripts" / "make_transfer_vectors.py"
    spec = importlib.util.spec_from_file_location("make_transfer_vectors", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    made, records = script.build()
    committed, committed_records = load_vectors()
    assert made["header"] == committed["header"] and made["seal"] == committed["seal"]
    assert records == committed_records
    assert made["wrapped_key"] != committed["wrapped_key"]  # a fresh HPKE encapsulation
