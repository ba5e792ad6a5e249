"""The page's transfer crypto (static/e2e.js) in a real headless Chromium, against the vectors the
CLI's code made (tests/fixtures/transfer-vectors.*, also checked in test_transfer_vectors.py),
and the other way: what the page seals, the CLI's code opens. A changed header, record or sender
key is refused in the page with the same kind of one-line reason the CLI gives."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from browser_helpers import browser, page_for
from test_transfer_vectors import load_vectors
from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.stream import RecordCipher, StreamDecryptor
from videonet_cli.crypto.wrap import unwrap_file_key
from videonet_protocol import protocol

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: no database paths")

__all__ = ["browser"]

STATIC = Path(__file__).parent.parent / "src" / "videonet_daemon" / "web" / "static"

# Opens the vectors in the page: every check's outcome, by name (true, or the error's message).
OPEN_VECTORS = """
async ([v, records64]) => {
  const e2e = await import("/static/e2e.js");
  const b = e2e.fromBase64;
  const out = {};
  const subtle = crypto.subtle;
  const privateKey = await subtle.importKey("pkcs8", b(v.recipient.x25519_private_pkcs8),
    { name: "X25519" }, false, ["deriveBits"]);
  const publicKey = await subtle.importKey("raw", b(v.recipient.x25519_public),
    { name: "X25519" }, true, []);
  out.extractable = privateKey.extractable;
  const keyPair = { privateKey, publicKey };
  const fileKey = await e2e.unwrapFileKey(b(v.wrapped_key), keyPair, v.stream_id,
    v.recipient.device_id);
  out.fileKey = e2e.toBase64(fileKey);
  const senderEd = b(v.sender.ed25519_public);
  const signed = await e2e.parseHeader(b(v.header));
  await e2e.verifyHeader(signed, fileKey, senderEd);
  out.headerHash = e2e.toHex(signed.hash);
  out.files = signed.header.files;
  out.sender = [signed.header.senderUserId, signed.header.senderUsername,
    signed.header.senderDeviceId];
  out.certified = await e2e.verifyCertificate(b(v.sender.identity_public), {
    userId: v.sender.user_id, deviceId: v.sender.device_id, x25519: b(v.sender.x25519_public),
    ed25519: senderEd, label: v.sender.label }, b(v.sender.certificate));
  out.otherLabelCertified = await e2e.verifyCertificate(b(v.sender.identity_public), {
    userId: v.sender.user_id, deviceId: v.sender.device_id, x25519: b(v.sender.x25519_public),
    ed25519: senderEd, label: "someone-else" }, b(v.sender.certificate));
  out.recipientFingerprint = await e2e.deviceFingerprint(b(v.recipient.x25519_public),
    b(v.recipient.ed25519_public));

  const records = b(records64);
  const openAll = async (bytes, header, piece) => {
    const cipher = await e2e.RecordCipher.create(fileKey, header.hash);
    const reader = new e2e.RecordReader(cipher, header.header.totalSize);
    const hashes = [];
    let fileIndex = 0, left = header.header.files[0].size, h = e2e.sha256Stream();
    for (let pos = 0; pos < bytes.length; pos += piece) {
      for (let plain of await reader.push(bytes.subarray(pos, pos + piece))) {
        while (plain.length) {
          const n = Math.min(left, plain.length);
          h.update(plain.subarray(0, n));
          plain = plain.subarray(n);
          left -= n;
          while (left === 0 && fileIndex < header.header.files.length) {
            hashes.push(e2e.toHex(h.digest()));
            fileIndex += 1;
            h = e2e.sha256Stream();
            const next = header.header.files[fileIndex];
            left = next ? next.size : -1;
          }
        }
      }
    }
    reader.finish();
    return hashes;
  };
  out.hashes = await openAll(records, signed, 65536);
  out.hashesOnePiece = await openAll(records, signed, records.length);
  const digests = await e2e.openSeal(b(v.seal), signed, fileKey, senderEd);
  out.sealed = digests.map(e2e.toHex);
  out.batch = await e2e.batchDigest(out.sealed);
  out.verdictMac = await e2e.verdictMac(fileKey, signed.hash, v.verdict.user_id, out.batch);

  const refused = async (what) => {
    try { await what(); return "accepted"; } catch (e) { return `${e.name}: ${e.message}`; }
  };
  const flip = (bytes, at) => { const c = bytes.slice(); c[at] ^= 1; return c; };
  out.refused = {
    headerByte: await refused(async () => e2e.verifyHeader(
      await e2e.parseHeader(flip(b(v.header), 60)), fileKey, senderEd)),
    headerMac: await refused(async () => {
      const blob = b(v.header);
      const parsed = await e2e.parseHeader(flip(blob, blob.length - 70));
      return e2e.verifyHeader(parsed, fileKey, senderEd);
    }),
    forgedSender: await refused(async () => e2e.verifyHeader(signed, fileKey,
      b(v.recipient.ed25519_public))),
    otherFileKey: await refused(async () => e2e.verifyHeader(signed, flip(fileKey, 0), senderEd)),
    record: await refused(() => openAll(flip(records, records.length - 20), signed, 65536)),
    firstRecord: await refused(() => openAll(flip(records, 5), signed, 65536)),
    cutShort: await refused(() => openAll(records.subarray(0, 1048576 + 16), signed, 65536)),
    extraByte: await refused(() => openAll(e2e.concat(records, new Uint8Array(1)), signed, 65536)),
    wrappedKey: await refused(() => e2e.unwrapFileKey(flip(b(v.wrapped_key), 40), keyPair,
      v.stream_id, v.recipient.device_id)),
    wrappedForAnotherStream: await refused(() => e2e.unwrapFileKey(b(v.wrapped_key), keyPair,
      "0".repeat(32), v.recipient.device_id)),
    sealHash: await refused(() => e2e.openSeal(flip(b(v.seal), 20), signed, fileKey, senderEd)),
    sealDigest: await refused(() => e2e.openSeal(flip(b(v.seal), 45), signed, fileKey, senderEd)),
  };
  return out;
}
"""

# The page seals a transfer for the vectors' recipient with a device key it makes.
SEAL_IN_PAGE = """
async ([v, plain64]) => {
  const e2e = await import("/static/e2e.js");
  const b = e2e.fromBase64;
  const device = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const edPublic = new Uint8Array(await crypto.subtle.exportKey("raw", device.publicKey));
  const fileKey = crypto.getRandomValues(new Uint8Array(32));
  const plain = b(plain64);
  const streamId = "d4".repeat(16);
  const header = {
    transferId: "e5".repeat(16), roomId: "f6".repeat(16), senderUserId: 7,
    senderUsername: "carol", senderDeviceId: "c7".repeat(16),
    recipients: [{ userId: v.recipient.user_id, deviceId: v.recipient.device_id,
      fingerprint: "ABCD" }],
    kind: "directory", name: "clips", streamId,
    source: crypto.getRandomValues(new Uint8Array(32)),
    files: [{ path: "a/one.bin", size: 3, mode: 0o644 },
      { path: "two.bin", size: plain.length - 3, mode: 0o600 }],
  };
  const sealed = await e2e.sealHeader(header, fileKey, device.privateKey);
  const cipher = await e2e.RecordCipher.create(fileKey, sealed.hash);
  const parts = [];
  const layout = e2e.layout(plain.length);
  for (let i = 0; i < layout.records; i++) {
    const start = i * e2e.E2E_RECORD_BYTES;
    parts.push(await cipher.encrypt(i, plain.subarray(start, start + layout.plaintextLength(i)),
      i === layout.last));
  }
  const digests = [await e2e.sha256(plain.subarray(0, 3)), await e2e.sha256(plain.subarray(3))];
  return {
    edPublic: e2e.toBase64(edPublic),
    header: e2e.toBase64(sealed.blob),
    records: e2e.toBase64(e2e.concat(...parts)),
    wrapped: e2e.toBase64(await e2e.wrapFileKey(fileKey, b(v.recipient.x25519_public), streamId,
      v.recipient.device_id)),
    seal: e2e.toBase64(await e2e.makeSeal(sealed.hash, digests, fileKey, device.privateKey)),
  };
}
"""


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def test_the_page_opens_the_cli_vectors_and_refuses_tampering(daemon: Daemon, browser: Any) -> None:
    vectors, records = load_vectors()
    page = page_for(browser, daemon)
    out = page.evaluate(OPEN_VECTORS, [vectors, base64.b64encode(records).decode()])
    assert out["extractable"] is False
    assert out["fileKey"] == vectors["file_key"]
    assert out["headerHash"] == vectors["header_hash"]
    assert out["files"] == [
        {"path": f["path"], "size": f["size"], "mode": f["mode"]} for f in vectors["files"]
    ]
    assert out["sender"] == [1, "alice", vectors["sender"]["device_id"]]
    assert out["certified"] is True and out["otherLabelCertified"] is False
    recipient = vectors["recipient"]
    assert out["recipientFingerprint"] == protocol.device_fingerprint(
        _b(recipient["x25519_public"]), _b(recipient["ed25519_public"])
    )
    expected = [f["sha256"] for f in vectors["files"]]
    assert out["hashes"] == expected and out["hashesOnePiece"] == expected
    assert out["sealed"] == expected
    assert out["batch"] == vectors["verdict"]["sha256"]
    assert out["verdictMac"] == vectors["verdict"]["mac"]
    refused = out["refused"]
    assert refused["headerByte"].startswith("E2eError: the header's signature does not verify")
    assert refused["headerMac"] == "E2eError: the header's MAC does not verify under the file key"
    assert refused["forgedSender"].startswith("E2eError: the header's signature")
    assert refused["otherFileKey"].startswith("E2eError: the header's MAC")
    assert refused["record"].startswith("TamperedError: encrypted record 1 does not verify")
    assert refused["firstRecord"].startswith("TamperedError: encrypted record 0 does not verify")
    # Record 0 alone verifies as a record that is not the last: the stream was cut.
    assert refused["cutShort"] == "E2eError: the transfer ended before its last record (cut short)"
    assert refused["extraByte"].startswith("TamperedError: encrypted record 2")
    assert refused["wrappedKey"].startswith("E2eError: the file key was not wrapped")
    assert refused["wrappedForAnotherStream"].startswith("E2eError: the file key was not wrapped")
    assert refused["sealHash"] == "E2eError: the seal belongs to another transfer's header"
    assert refused["sealDigest"].startswith("E2eError: the seal's signature does not verify")
    assert page.errors == []  # type: ignore[attr-defined]


def test_what_the_page_seals_the_cli_code_opens(daemon: Daemon, browser: Any) -> None:
    vectors, _ = load_vectors()
    plain = hashlib.sha256(b"page").digest() * 40_000  # 1.2 MiB: two records
    page = page_for(browser, daemon)
    out = page.evaluate(SEAL_IN_PAGE, [vectors, base64.b64encode(plain).decode()])
    pkcs8 = _b(vectors["recipient"]["x25519_private_pkcs8"])
    recipient = X25519PrivateKey.from_private_bytes(pkcs8[-32:])
    file_key = unwrap_file_key(
        _b(out["wrapped"]), recipient, "d4" * 16, vectors["recipient"]["device_id"]
    )
    signed = hdr.parse_header(_b(out["header"]))
    edpub = _b(out["edPublic"])

    def verify(label: bytes, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(edpub).verify(
                signature, len(label).to_bytes(2, "big") + label + message
            )
        except InvalidSignature:
            return False
        return True

    hdr.verify_header(signed, file_key, verify)
    h = signed.header
    assert (h.kind, h.name, h.sender_username) == ("directory", "clips", "carol")
    assert [(f.path, f.size, f.mode) for f in h.files] == [
        ("a/one.bin", 3, 0o644),
        ("two.bin", len(plain) - 3, 0o600),
    ]
    decryptor = StreamDecryptor(RecordCipher(file_key, hdr.record_binding(signed.hash)), len(plain))
    assert b"".join(decryptor.feed(_b(out["records"]))) == plain
    decryptor.finish()
    digests = hdr.open_seal(_b(out["seal"]), signed, file_key, verify)
    assert digests == [hashlib.sha256(plain[:3]).digest(), hashlib.sha256(plain[3:]).digest()]


def test_the_page_speaks_the_contract_of_protocol_py() -> None:
    source = (STATIC / "e2e.js").read_text(encoding="utf-8")
    constants = dict(re.findall(r"^export const ([A-Z0-9_]+) = (\d+);$", source, re.MULTILINE))
    assert len(constants) >= 10
    for name, value in constants.items():
        assert getattr(protocol, name) == int(value), name


def test_the_vendored_crypto_is_served_with_its_licence(daemon: Daemon) -> None:
    import urllib.request

    with urllib.request.urlopen(daemon.url + "/static/e2e-vendor.min.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert b"@hpke/core 1.9.0" in response.read(300)
    with urllib.request.urlopen(daemon.url + "/static/e2e-vendor.LICENSE") as response:
        text = response.read().decode()
    assert "@hpke/core 1.9.0" in text and "@noble/hashes" in text and "MIT License" in text
