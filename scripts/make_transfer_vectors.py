"""Write the transfer test vectors both sides check: the CLI's Python code and the page's JS.

    python scripts/make_transfer_vectors.py   # rewrite tests/fixtures/transfer-vectors.*

A fixed sender (identity, certified device) and recipient device, a signed header of two files
whose stream spans two records, the file key wrapped for the recipient with HPKE, the records,
the seal and a receiver's verdict MAC. Everything is made by the CLI's own functions
(crypto/header.py, crypto/stream.py, crypto/wrap.py, identity/signing.py), so the vectors say
what the CLI sends today. Keys come from fixed seeds; HPKE's ephemeral key is random, so a run
writes different (equally valid) wrapped keys: commit the result of one run.

The records go in ``transfer-vectors.records`` (raw, 1 MiB + a little); the rest, as base64 and
hex, in ``transfer-vectors.json``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
JSON_NAME = "transfer-vectors.json"
RECORDS_NAME = "transfer-vectors.records"
# The X25519 PKCS#8 prefix (RFC 8410): WebCrypto imports a private key only in this form.
X25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b656e04220420")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _seed(name: str) -> bytes:
    return hashlib.sha256(b"videonet/test-vectors/" + name.encode()).digest()


def _plaintext(size: int, salt: int) -> bytes:
    """Reproducible bytes that are not all alike (a pattern GCM would not hide anyway)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(bytes([salt]) + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def build() -> tuple[dict[str, object], bytes]:
    sys.path.insert(0, str(ROOT / "src"))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from videonet_cli.crypto import header as hdr
    from videonet_cli.crypto.stream import RecordCipher, StreamEncryptor
    from videonet_cli.crypto.wrap import wrap_file_key
    from videonet_cli.identity import signing
    from videonet_protocol import protocol

    identity = Ed25519PrivateKey.from_private_bytes(_seed("alice-identity"))
    sender_ed = Ed25519PrivateKey.from_private_bytes(_seed("alice-device-ed25519"))
    sender_x = X25519PrivateKey.from_private_bytes(_seed("alice-device-x25519"))
    recipient_x = X25519PrivateKey.from_private_bytes(_seed("bob-device-x25519"))
    recipient_ed = Ed25519PrivateKey.from_private_bytes(_seed("bob-device-ed25519"))
    sender_user_id, recipient_user_id = 1, 2
    sender_device_id = "a1" * 16
    recipient_device_id = "b2" * 16
    label = "alice-laptop"
    file_key = _seed("file-key")
    stream_id = _seed("stream-id").hex()[:32]
    transfer_id = _seed("transfer-id").hex()[:32]
    room_id = "c3" * 16

    def raw(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
        return key.public_key().public_bytes_raw()

    certificate = signing.sign_blob(
        identity,
        signing.certificate_message(
            sender_user_id, sender_device_id, raw(sender_x), raw(sender_ed), label
        ),
    )
    files = [
        (
            "take 1 ✓.txt",
            _plaintext(1000, 1),
            0o644,
        ),
        ("take2.bin", _plaintext(protocol.E2E_RECORD_BYTES + 500, 2), 0o600),
    ]
    recipients = (
        hdr.Recipient(
            recipient_user_id,
            recipient_device_id,
            protocol.device_fingerprint(raw(recipient_x), raw(recipient_ed)),
        ),
        hdr.Recipient(
            sender_user_id,
            sender_device_id,
            protocol.device_fingerprint(raw(sender_x), raw(sender_ed)),
        ),
    )
    header = hdr.Header(
        transfer_id=transfer_id,
        room_id=room_id,
        sender_user_id=sender_user_id,
        sender_username="alice",
        sender_device_id=sender_device_id,
        recipients=recipients,
        kind=str(protocol.BatchKind.FILES),
        name=files[0][0],
        record_size=protocol.E2E_RECORD_BYTES,
        stream_id=stream_id,
        source=_seed("source"),
        files=tuple(hdr.FileEntry(path, len(data), mode) for path, data, mode in files),
    )

    def sign(label_: bytes, message: bytes) -> bytes:
        return sender_ed.sign(len(label_).to_bytes(2, "big") + label_ + message)

    signed = hdr.seal_header(header, file_key, sign)
    cipher = RecordCipher(file_key, hdr.record_binding(signed.hash))
    stream = b"".join(data for _, data, _ in files)
    encryptor = StreamEncryptor(cipher, len(stream))
    records = b"".join(encryptor.feed(stream) + encryptor.finish())
    digests = [hashlib.sha256(data).digest() for _, data, _ in files]
    seal = hdr.make_seal(signed.hash, digests, file_key, sign)
    wrapped = wrap_file_key(file_key, raw(recipient_x), stream_id, recipient_device_id)
    batch = protocol.batch_digest([d.hex() for d in digests])
    vectors: dict[str, object] = {
        "about": "made by scripts/make_transfer_vectors.py from the CLI's own code; do not edit",
        "transfer_protocol": protocol.TRANSFER_PROTOCOL_VERSION,
        "sender": {
            "user_id": sender_user_id,
            "username": "alice",
            "identity_public": _b64(raw(identity)),
            "device_id": sender_device_id,
            "label": label,
            "x25519_public": _b64(raw(sender_x)),
            "ed25519_public": _b64(raw(sender_ed)),
            "certificate": _b64(certificate),
        },
        "recipient": {
            "user_id": recipient_user_id,
            "device_id": recipient_device_id,
            "x25519_public": _b64(raw(recipient_x)),
            "x25519_private_pkcs8": _b64(X25519_PKCS8_PREFIX + recipient_x.private_bytes_raw()),
            "ed25519_public": _b64(raw(recipient_ed)),
        },
        "transfer_id": transfer_id,
        "room_id": room_id,
        "stream_id": stream_id,
        "file_key": _b64(file_key),
        "wrapped_key": _b64(wrapped),
        "header": _b64(signed.blob),
        "header_hash": signed.hash.hex(),
        "files": [
            {
                "path": path,
                "size": len(data),
                "mode": mode,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for path, data, mode in files
        ],
        "records_file": RECORDS_NAME,
        "records_sha256": hashlib.sha256(records).hexdigest(),
        "records_size": len(records),
        "seal": _b64(seal),
        "verdict": {
            "user_id": recipient_user_id,
            "sha256": batch,
            "mac": hdr.verdict_mac(file_key, signed.hash, recipient_user_id, batch),
        },
    }
    return vectors, records


def main() -> None:
    vectors, records = build()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / RECORDS_NAME).write_bytes(records)
    text = json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"
    (FIXTURES / JSON_NAME).write_text(text, encoding="utf-8")
    print(f"wrote {FIXTURES / JSON_NAME} and {FIXTURES / RECORDS_NAME} ({len(records)} bytes)")


if __name__ == "__main__":
    main()
