// The CLI's end-to-end transfer crypto, for the page: the signed header, the seal, the verdict
// MAC, HPKE key wrapping and the STREAM records. Byte for byte what src/videonet_cli/crypto/
// (header.py, stream.py, wrap.py) and identity/signing.py do; tests/fixtures/transfer-vectors.*
// (made by scripts/make_transfer_vectors.py from the Python code) are checked on both sides.
//
// Primitives: WebCrypto (Ed25519, X25519, HKDF-SHA256, HMAC-SHA256, AES-256-GCM, SHA-256) and
// the vendored e2e-vendor.min.js (@hpke/core for RFC 9180 HPKE, @noble/hashes for a SHA-256
// that hashes a file piece by piece, which WebCrypto cannot). Nothing here trusts the daemon:
// every function takes the keys and ids the caller has checked itself.

import {
  Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256, sha256 as nobleSha256,
} from "./e2e-vendor.min.js";
import { t } from "./i18n.js";

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

// The contract (src/videonet_protocol/protocol.py); tests/test_web_e2e.py compares each.
export const TRANSFER_PROTOCOL_VERSION = 2;
export const E2E_RECORD_BYTES = 1048576;
export const E2E_TAG_BYTES = 16;
export const E2E_WRAPPED_KEY_BYTES = 80;
export const E2E_MAX_KEYS_PER_TRANSFER = 1024;
export const TRANSFER_HEADER_MAX_BYTES = 655360;
export const TRANSFER_BATCH_MAX_FILES = 10000;
export const TRANSFER_PATH_MAX_BYTES = 1024;
export const TRANSFER_PATH_MAX_DEPTH = 32;
export const TRANSFER_NAME_MAX_BYTES = 255;

const HEADER_MAGIC = utf8.encode("VNTH");
const SEAL_MAGIC = utf8.encode("VNTS");
const MAC_BYTES = 32;
const SIGNATURE_BYTES = 64;
const HASH_BYTES = 32;
const SOURCE_BYTES = 32;
const FILE_KEY_BYTES = 32;
const INDEX_BYTES = 11;
const KINDS = ["files", "directory"];
const HEADER_SIGNATURE_LABEL = utf8.encode("videonet/transfer-header/v2\0");
const SEAL_SIGNATURE_LABEL = utf8.encode("videonet/transfer-seal/v2\0");
const HEADER_MAC_INFO = utf8.encode("videonet/header-mac/v2");
const SEAL_MAC_INFO = utf8.encode("videonet/seal-mac/v2");
const VERDICT_MAC_INFO = utf8.encode("videonet/verdict-mac/v2");
const STREAM_KEY_LABEL = utf8.encode("videonet/stream-key/v2");
const STREAM_AAD_LABEL = utf8.encode("videonet/stream-record/v2");
const WRAP_INFO_LABEL = utf8.encode("videonet/file-key/v1");
const CERTIFICATE_LABEL = utf8.encode("videonet/device-certificate");
const REVOCATION_LABEL = utf8.encode("videonet/device-revocation");
const CERTIFICATE_VERSION = 1;

/** A header, seal, record or key that is malformed or does not verify: `message` is for people. */
export class E2eError extends Error {
  constructor(message) {
    super(message);
    this.name = "E2eError";
  }
}

/** A record that does not verify where it stands (changed, moved, dropped, cut short). */
export class TamperedError extends E2eError {
  constructor(index) {
    super(t("encrypted record {index} does not verify (changed or moved on the way); nothing was kept", { index }));
    this.name = "TamperedError";
    this.index = index;
  }
}

// --- bytes ----------------------------------------------------------------------------------
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function u16(n) { return new Uint8Array([(n >> 8) & 255, n & 255]); }
function u32(n) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; }
function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

/** 2-byte length + bytes: identity/signing.py's `field`, wrap.py's `_field`, stream.py's `_bound`. */
function field(bytes) { return concat(u16(bytes.length), bytes); }

export function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// --- primitives -----------------------------------------------------------------------------
export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest("SHA-256", bytes));
}

/** A SHA-256 fed piece by piece (a file is never whole in memory). */
export function sha256Stream() {
  return nobleSha256.create();
}

/** HKDF-SHA256 with no salt (RFC 5869: a hash-length of zeros, which HMAC pads alike). */
async function derive(key, info) {
  const base = await subtle.importKey("raw", key, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, base, 256);
  return new Uint8Array(bits);
}

async function hmac(key, message) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, message));
}

async function ed25519Verify(publicRaw, message, signature) {
  try {
    const key = await subtle.importKey("raw", publicRaw, { name: "Ed25519" }, false, ["verify"]);
    return await subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false; // a key that is not a point: no signature verifies under it
  }
}

/** What a device signs: trust.py's `_signed` (2-byte label length, label, message). */
function labelled(label, message) { return concat(u16(label.length), label, message); }

/** Does the device with this Ed25519 public key sign `message` under `label`? */
export function verifyDeviceSignature(ed25519Public, label, message, signature) {
  return ed25519Verify(ed25519Public, labelled(label, message), signature);
}

/** Sign as this device (a non-extractable Ed25519 CryptoKey). */
export async function signAsDevice(privateKey, label, message) {
  return new Uint8Array(await subtle.sign({ name: "Ed25519" }, privateKey, labelled(label, message)));
}

// --- identities -----------------------------------------------------------------------------
export function certificateMessage(userId, deviceId, x25519, ed25519, label) {
  return concat(field(CERTIFICATE_LABEL), new Uint8Array([CERTIFICATE_VERSION]), u64(userId),
    field(utf8.encode(deviceId)), field(x25519), field(ed25519), field(utf8.encode(label)));
}

export function revocationMessage(userId, deviceId, x25519, ed25519) {
  return concat(field(REVOCATION_LABEL), new Uint8Array([CERTIFICATE_VERSION]), u64(userId),
    field(utf8.encode(deviceId)), field(x25519), field(ed25519));
}

/** Does `blob` (version byte + signature) sign `message` under this identity? */
export async function verifyIdentityBlob(identityPublic, message, blob) {
  if (!blob || blob.length !== 1 + SIGNATURE_BYTES || blob[0] !== CERTIFICATE_VERSION) return false;
  return ed25519Verify(identityPublic, message, blob.subarray(1));
}

/** Does `certificate` (version byte + signature) say this identity certified this device? */
export async function verifyCertificate(identityPublic, device, certificate) {
  if (!certificate || certificate.length !== 1 + SIGNATURE_BYTES) return false;
  if (certificate[0] !== CERTIFICATE_VERSION) return false;
  const message = certificateMessage(device.userId, device.deviceId, device.x25519,
    device.ed25519, device.label);
  return ed25519Verify(identityPublic, message, certificate.subarray(1));
}

/** protocol.key_fingerprint: base32 of SHA-256's first 20 bytes, groups of four. */
export async function keyFingerprint(publicBytes) {
  const digest = (await sha256(publicBytes)).subarray(0, 20);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0, text = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      text += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return text.match(/.{1,4}/g).join("-");
}

export function deviceFingerprint(x25519Public, ed25519Public) {
  return keyFingerprint(concat(x25519Public, ed25519Public));
}

// --- paths (transfer/tree.py's path_problem and check_manifest) -----------------------------
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\\]/u;

export function pathProblem(path) {
  if (!path || utf8.encode(path).length > TRANSFER_PATH_MAX_BYTES) return t("empty or too long a path");
  if (path.startsWith("/")) return t("an absolute path");
  const parts = path.split("/");
  if (parts.length > TRANSFER_PATH_MAX_DEPTH) return t("too deep a path");
  for (const part of parts) {
    if (part === "" || part === "." || part === "..") return t("an empty, '.' or '..' component");
    if (UNSAFE.test(part)) return t("a backslash or control character in a name");
    if (utf8.encode(part).length > TRANSFER_NAME_MAX_BYTES) return t("a name longer than 255 bytes");
  }
  return null;
}

function checkManifest(kind, files) {
  const seen = new Set();
  for (const f of files) {
    let problem = pathProblem(f.path);
    if (!problem && kind === "files" && f.path.includes("/")) problem = t("a directory in a loose file's name");
    if (!problem && seen.has(f.path)) problem = t("a duplicate");
    if (problem) throw new E2eError(t("refusing the offered batch: {path} is {problem}", { path: JSON.stringify(f.path), problem }));
    seen.add(f.path);
  }
  for (const path of seen) {
    let head = path.slice(0, Math.max(0, path.lastIndexOf("/")));
    while (head) {
      if (seen.has(head)) throw new E2eError(t("refusing the offered batch: {path} is a file and a directory", { path: JSON.stringify(head) }));
      head = head.slice(0, Math.max(0, head.lastIndexOf("/")));
    }
  }
}

// --- the header -----------------------------------------------------------------------------
class Reader {
  constructor(bytes) { this.bytes = bytes; this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length); this.pos = 0; }
  take(n) {
    if (this.pos + n > this.bytes.length) throw new E2eError(t("the header is truncated"));
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8() { return this.take(1)[0]; }
  u16() { this.take(2); return this.view.getUint16(this.pos - 2); }
  u32() { this.take(4); return this.view.getUint32(this.pos - 4); }
  u64() {
    this.take(8);
    const n = this.view.getBigUint64(this.pos - 8);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new E2eError(t("a number in the header is too large"));
    return Number(n);
  }
  text(width) {
    const size = width === 1 ? this.u8() : this.u16();
    try {
      return utf8Strict.decode(this.take(size));
    } catch (e) {
      if (e instanceof E2eError) throw e;
      throw new E2eError(t("a header field is not UTF-8"));
    }
  }
}

/**
 * The header blob's fields, checked for form, limits and paths (header.py's parse_header and
 * the receiver's check_manifest) — not yet for signature or MAC: `verifyHeader`.
 */
export async function parseHeader(blob) {
  if (!(blob instanceof Uint8Array)) throw new E2eError(t("the header is not bytes"));
  if (blob.length > TRANSFER_HEADER_MAX_BYTES) throw new E2eError(t("the header is larger than {most} bytes", { most: TRANSFER_HEADER_MAX_BYTES }));
  if (blob.length < HEADER_MAGIC.length + 1 + MAC_BYTES + SIGNATURE_BYTES) throw new E2eError(t("the header is truncated"));
  const body = blob.subarray(0, blob.length - MAC_BYTES - SIGNATURE_BYTES);
  const r = new Reader(body);
  if (!equalBytes(r.take(4), HEADER_MAGIC)) throw new E2eError(t("not a transfer header"));
  const version = r.u8();
  if (version !== TRANSFER_PROTOCOL_VERSION) {
    throw new E2eError(t("transfer header version {version}: this page speaks transfer protocol {speaks}", { version, speaks: TRANSFER_PROTOCOL_VERSION }));
  }
  const h = { version };
  h.transferId = r.text(1);
  h.roomId = r.text(1);
  h.senderUserId = r.u64();
  h.senderUsername = r.text(1);
  h.senderDeviceId = r.text(1);
  const count = r.u16();
  if (count > E2E_MAX_KEYS_PER_TRANSFER) throw new E2eError(t("too many recipients in the header"));
  h.recipients = [];
  for (let i = 0; i < count; i++) {
    const userId = r.u64();
    h.recipients.push({ userId, deviceId: r.text(1), fingerprint: r.text(1) });
  }
  const kind = r.u8();
  if (kind >= KINDS.length) throw new E2eError(t("unknown batch kind in the header"));
  h.kind = KINDS[kind];
  h.name = r.text(2);
  h.recordSize = r.u32();
  if (h.recordSize !== E2E_RECORD_BYTES) throw new E2eError(t("record size {size} is not {expected}", { size: h.recordSize, expected: E2E_RECORD_BYTES }));
  h.streamId = r.text(1);
  h.source = r.take(SOURCE_BYTES);
  h.totalSize = r.u64();
  const fileCount = r.u32();
  if (fileCount < 1 || fileCount > TRANSFER_BATCH_MAX_FILES) throw new E2eError(t("a transfer holds 1 to {most} files", { most: TRANSFER_BATCH_MAX_FILES }));
  h.files = [];
  let sum = 0;
  for (let i = 0; i < fileCount; i++) {
    const path = r.text(2);
    const size = r.u64();
    const mode = r.u16();
    h.files.push({ path, size, mode });
    sum += size;
  }
  if (r.pos !== body.length) throw new E2eError(t("bytes after the header's last field"));
  if (sum !== h.totalSize) throw new E2eError(t("the sizes in the header do not add up to its total"));
  if (new Set(h.files.map((f) => f.path)).size !== h.files.length) throw new E2eError(t("a path appears twice in the header"));
  if (!h.name || h.name.includes("/") || h.name === "." || h.name === "..") throw new E2eError(t("the transfer's name is not a plain name"));
  checkManifest(h.kind, h.files);
  const mac = blob.slice(body.length, body.length + MAC_BYTES);
  const signature = blob.slice(body.length + MAC_BYTES);
  return { header: h, body: body.slice(), mac, signature, hash: await sha256(body) };
}

/** Throws unless `senderEd25519` signed the header and its MAC holds under the file key. */
export async function verifyHeader(signed, fileKey, senderEd25519) {
  if (!await verifyDeviceSignature(senderEd25519, HEADER_SIGNATURE_LABEL, signed.body, signed.signature)) {
    throw new E2eError(t("the header's signature does not verify against the sender's device"));
  }
  const expected = await hmac(await derive(fileKey, HEADER_MAC_INFO), signed.body);
  if (!equalBytes(expected, signed.mac)) throw new E2eError(t("the header's MAC does not verify under the file key"));
}

/** The canonical body of a header (header.py's encode_body), for a page that sends. */
export function encodeHeaderBody(h) {
  const str = (value, width) => {
    const raw = utf8.encode(value);
    if (raw.length >= 2 ** (8 * width)) throw new E2eError(t("a header field is too long"));
    return concat(width === 1 ? new Uint8Array([raw.length]) : u16(raw.length), raw);
  };
  const kind = KINDS.indexOf(h.kind);
  if (kind < 0) throw new E2eError(t("unknown batch kind {kind}", { kind: h.kind }));
  if (h.source.length !== SOURCE_BYTES) throw new E2eError(t("the source fingerprint is 32 bytes"));
  const parts = [HEADER_MAGIC, new Uint8Array([TRANSFER_PROTOCOL_VERSION]), str(h.transferId, 1),
    str(h.roomId, 1), u64(h.senderUserId), str(h.senderUsername, 1), str(h.senderDeviceId, 1),
    u16(h.recipients.length)];
  for (const rc of h.recipients) parts.push(u64(rc.userId), str(rc.deviceId, 1), str(rc.fingerprint, 1));
  const total = h.files.reduce((n, f) => n + f.size, 0);
  parts.push(new Uint8Array([kind]), str(h.name, 2), u32(E2E_RECORD_BYTES), str(h.streamId, 1),
    h.source, u64(total), u32(h.files.length));
  for (const f of h.files) parts.push(str(f.path, 2), u64(f.size), u16(f.mode & 0o7777));
  const body = concat(...parts);
  if (body.length + MAC_BYTES + SIGNATURE_BYTES > TRANSFER_HEADER_MAX_BYTES) {
    throw new E2eError(t("the manifest is too large for one transfer"));
  }
  return body;
}

/** The header blob (body, MAC, signature) signed by this device's Ed25519 CryptoKey. */
export async function sealHeader(h, fileKey, signingKey) {
  const body = encodeHeaderBody(h);
  const mac = await hmac(await derive(fileKey, HEADER_MAC_INFO), body);
  const signature = await signAsDevice(signingKey, HEADER_SIGNATURE_LABEL, body);
  return { blob: concat(body, mac, signature), hash: await sha256(body) };
}

// --- the seal and the verdict ---------------------------------------------------------------
async function sealMac(fileKey, headerHash, body) {
  return hmac(await derive(fileKey, concat(SEAL_MAC_INFO, headerHash)), body);
}

/** Each file's SHA-256 (32 bytes each) from a seal of exactly this header, or E2eError. */
export async function openSeal(blob, signed, fileKey, senderEd25519) {
  const count = signed.header.files.length;
  const fixed = SEAL_MAGIC.length + 1 + HASH_BYTES + 4;
  if (!(blob instanceof Uint8Array) || blob.length !== fixed + count * HASH_BYTES + MAC_BYTES + SIGNATURE_BYTES) {
    throw new E2eError(t("the seal is malformed (not one SHA-256 per file of the header)"));
  }
  const body = blob.subarray(0, fixed + count * HASH_BYTES);
  const mac = blob.subarray(body.length, body.length + MAC_BYTES);
  const signature = blob.subarray(body.length + MAC_BYTES);
  if (!equalBytes(body.subarray(0, 4), SEAL_MAGIC) || body[4] !== TRANSFER_PROTOCOL_VERSION) {
    throw new E2eError(t("not a transfer seal of this version"));
  }
  if (!equalBytes(body.subarray(5, 5 + HASH_BYTES), signed.hash)) throw new E2eError(t("the seal belongs to another transfer's header"));
  if (new DataView(body.buffer, body.byteOffset).getUint32(5 + HASH_BYTES) !== count) {
    throw new E2eError(t("the seal does not hold one SHA-256 per file"));
  }
  if (!await verifyDeviceSignature(senderEd25519, SEAL_SIGNATURE_LABEL, body, signature)) {
    throw new E2eError(t("the seal's signature does not verify against the sender's device"));
  }
  if (!equalBytes(mac, await sealMac(fileKey, signed.hash, body))) throw new E2eError(t("the seal's MAC does not verify under the file key"));
  const out = [];
  for (let i = 0; i < count; i++) out.push(body.slice(fixed + i * HASH_BYTES, fixed + (i + 1) * HASH_BYTES));
  return out;
}

/** The seal blob for these per-file digests, MAC'd and signed by this device. */
export async function makeSeal(headerHash, digests, fileKey, signingKey) {
  const body = concat(SEAL_MAGIC, new Uint8Array([TRANSFER_PROTOCOL_VERSION]), headerHash, u32(digests.length), ...digests);
  const mac = await sealMac(fileKey, headerHash, body);
  return concat(body, mac, await signAsDevice(signingKey, SEAL_SIGNATURE_LABEL, body));
}

/** A receiver's proof that it holds the file key and got `sha256Hex` (hex, as header.py). */
export async function verdictMac(fileKey, headerHash, userId, sha256Hex) {
  const key = await derive(fileKey, concat(VERDICT_MAC_INFO, headerHash));
  return toHex(await hmac(key, concat(u64(userId), utf8.encode(sha256Hex))));
}

/** protocol.batch_digest: SHA-256 over each file's hex digest and a newline. */
export async function batchDigest(hexDigests) {
  return toHex(await sha256(utf8.encode(hexDigests.map((d) => d + "\n").join(""))));
}

// --- HPKE key wrapping (wrap.py) ------------------------------------------------------------
const SUITE = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm(),
});

export function wrapInfo(streamId, deviceId) {
  return concat(WRAP_INFO_LABEL, field(utf8.encode(streamId)), field(utf8.encode(deviceId)));
}

/** The file key, from its copy wrapped for this device (`keyPair`: its X25519 CryptoKeyPair). */
export async function unwrapFileKey(wrapped, keyPair, streamId, deviceId) {
  if (wrapped.length !== E2E_WRAPPED_KEY_BYTES) throw new E2eError(t("the wrapped file key is malformed"));
  try {
    const key = new Uint8Array(await SUITE.open(
      { recipientKey: keyPair, enc: wrapped.slice(0, 32), info: wrapInfo(streamId, deviceId) },
      wrapped.slice(32)));
    if (key.length !== FILE_KEY_BYTES) throw new RangeError(); // answered below, as any failure
    return key;
  } catch {
    throw new E2eError(t("the file key was not wrapped for this device and transfer, or was changed on the way"));
  }
}

/** The file key wrapped for one device's raw X25519 public key (80 bytes). */
export async function wrapFileKey(fileKey, recipientPublic, streamId, deviceId) {
  const recipientPublicKey = await SUITE.kem.deserializePublicKey(recipientPublic);
  const sealed = await SUITE.seal({ recipientPublicKey, info: wrapInfo(streamId, deviceId) }, fileKey);
  return concat(new Uint8Array(sealed.enc), new Uint8Array(sealed.ct));
}

// --- records (stream.py) --------------------------------------------------------------------
export function recordNonce(index, final) {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(3, BigInt(index)); // 11 big-endian bytes: 3 zeros + 8
  nonce[INDEX_BYTES] = final ? 1 : 0;
  return nonce;
}

/** Where records lie, from the plaintext size (stream.py's StreamLayout). */
export function layout(plaintextSize) {
  const records = Math.max(1, Math.ceil(plaintextSize / E2E_RECORD_BYTES));
  return {
    records,
    last: records - 1,
    ciphertextSize: plaintextSize + records * E2E_TAG_BYTES,
    plaintextLength: (i) => (i < records - 1 ? E2E_RECORD_BYTES : plaintextSize - (records - 1) * E2E_RECORD_BYTES),
    ciphertextOffset: (i) => i * (E2E_RECORD_BYTES + E2E_TAG_BYTES),
  };
}

/** Seals and opens the records of one transfer, bound to its header hash (key commitment). */
export class RecordCipher {
  static async create(fileKey, headerHash) {
    const binding = utf8.encode("header:" + toHex(headerHash));
    const raw = await derive(fileKey, concat(STREAM_KEY_LABEL, field(binding)));
    const key = await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    return new RecordCipher(key, concat(STREAM_AAD_LABEL, field(binding)));
  }

  constructor(key, aad) { this.key = key; this.aad = aad; }

  async encrypt(index, plaintext, final) {
    const params = { name: "AES-GCM", iv: recordNonce(index, final), additionalData: this.aad, tagLength: 128 };
    return new Uint8Array(await subtle.encrypt(params, this.key, plaintext));
  }

  async decrypt(index, record, final) {
    const size = record.length;
    const ok = size === E2E_RECORD_BYTES + E2E_TAG_BYTES
      || (final && size >= E2E_TAG_BYTES && size <= E2E_RECORD_BYTES + E2E_TAG_BYTES);
    if (!ok) throw new TamperedError(index);
    try {
      const params = { name: "AES-GCM", iv: recordNonce(index, final), additionalData: this.aad, tagLength: 128 };
      return new Uint8Array(await subtle.decrypt(params, this.key, record));
    } catch {
      throw new TamperedError(index);
    }
  }
}

/**
 * Ciphertext pieces in (any size), verified plaintext records out, in order: e2e_stream.py's
 * RecordReader. `push` returns the plaintexts of the records the piece completed; `finish`
 * throws unless the final record came. At most one record is buffered.
 */
export class RecordReader {
  constructor(cipher, plaintextSize, startRecord = 0) {
    this.cipher = cipher;
    this.layout = layout(plaintextSize);
    this.index = startRecord;
    this.buffer = new Uint8Array(E2E_RECORD_BYTES + E2E_TAG_BYTES);
    this.have = 0;
  }

  get complete() { return this.index > this.layout.last; }

  async push(chunk) {
    const out = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.complete) throw new TamperedError(this.index); // bytes after the final record
      const want = this.layout.plaintextLength(this.index) + E2E_TAG_BYTES;
      const take = Math.min(want - this.have, chunk.length - pos);
      this.buffer.set(chunk.subarray(pos, pos + take), this.have);
      this.have += take;
      pos += take;
      if (this.have < want) break;
      this.have = 0;
      const final = this.index === this.layout.last;
      out.push(await this.cipher.decrypt(this.index, this.buffer.subarray(0, want), final));
      this.index += 1;
    }
    return out;
  }

  /** Forget a record received in part; where the next record starts in the ciphertext (a
   * download cut off continues there). */
  restart() {
    this.have = 0;
    return this.layout.ciphertextOffset(this.index);
  }

  finish() {
    if (!this.complete) throw new E2eError(t("the transfer ended before its last record (cut short)"));
  }
}
