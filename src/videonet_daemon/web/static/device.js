// This browser as one more device of its user, as a second laptop is (docs/web.md):
//
// - Its keys are made here with WebCrypto: X25519 (receives wrapped file keys) and Ed25519 (signs
//   what it sends). The private halves are non-extractable CryptoKeys kept in IndexedDB: no
//   script, this page's included, can read them out; only the public halves go to the daemon.
// - It counts only once the user's identity certified it. The page takes the identity from the
//   recovery key (`videonet devices restore`'s road): the key is decoded and checked here, its
//   public half pinned in IndexedDB as this account's identity, the certificate made, and the
//   private key dropped (it is never stored). Linking by a short code (`videonet devices link`)
//   needs python-spake2's SPAKE2 in the page, which no npm package reproduces: not offered.
// - Nothing the daemon says makes this browser trust an identity: a certificate counts only
//   under the identity pinned from the recovery key, and a different identity listed later is
//   the one loud warning.
import * as e2e from "./e2e.js";
import { headers as languageHeaders, t } from "./i18n.js";

const DB_NAME = "videonet";
const STORE = "keys";
const DEVICE = "device";
const LABEL = "web browser";
const RECOVERY_CHECKSUM_BYTES = 3;
// RFC 8410's PKCS#8 prefix for an Ed25519 private key: WebCrypto imports a seed only so.
const ED25519_PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

// --- IndexedDB ------------------------------------------------------------------------------
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function stored(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const load = (key) => stored("readonly", (s) => s.get(key));
export const save = (key, value) => stored("readwrite", (s) => s.put(value, key));
export const remove = (key) => stored("readwrite", (s) => s.delete(key));
/** Every value whose key starts with `prefix`. */
export const loadAll = (prefix) => stored("readonly", (s) => s.getAll(IDBKeyRange.bound(prefix, prefix + "\uffff")));
const accountKey = (userId) => `account:${userId}`;

/** This browser's device: made on first use, the same for every account used here. */
export async function thisDevice() {
  let device = await load(DEVICE);
  if (device) return device;
  const x25519 = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const ed25519 = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const raw = async (key) => new Uint8Array(await crypto.subtle.exportKey("raw", key));
  device = {
    deviceId: e2e.toHex(crypto.getRandomValues(new Uint8Array(16))),
    label: LABEL,
    x25519, // CryptoKeyPair: the private key cannot be exported
    ed25519,
    x25519Public: await raw(x25519.publicKey),
    ed25519Public: await raw(ed25519.publicKey),
  };
  await save(DEVICE, device);
  return device;
}

// --- the daemon -------------------------------------------------------------------------------
export async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...languageHeaders() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
  return data;
}

export function decodeKey(text) {
  try {
    const raw = e2e.fromBase64(text || "");
    return raw.length === 32 ? raw : null;
  } catch {
    return null;
  }
}

export const same = (a, b) => a && b && a.length === b.length && a.every((x, i) => x === b[i]);

function publish(device) {
  return call("POST", "/api/keys", {
    device_id: device.deviceId,
    public_key: e2e.toBase64(device.x25519Public),
    signing_key: e2e.toBase64(device.ed25519Public),
    label: device.label,
  });
}

/**
 * Where this browser stands for the logged-in account: `{ linked, reason, device, userId,
 * username, identity }`. `linked` only when the identity pinned here (from the recovery key)
 * certified exactly these keys and did not revoke them. The device is published only once it
 * was linked for this account: a browser used only to chat and call is no device of anyone's,
 * so senders are not told about it on every send.
 */
export async function enroll() {
  const device = await thisDevice();
  let listed = await call("GET", "/api/keys");
  if (await load(accountKey(listed.user_id))) {
    await publish(device); // again on each visit: the daemon keeps it (or lost it: a new row)
    listed = await call("GET", "/api/keys");
  }
  return standing(device, listed);
}

async function standing(device, listed) {
  const out = { linked: false, device, userId: listed.user_id, username: listed.username };
  const account = await load(accountKey(listed.user_id));
  const remote = decodeKey(listed.identity_key);
  out.identity = account ? account.identityPublic : null;
  if (!account) {
    out.reason = t("this browser is not linked to your identity: it can chat and call but gets no "
      + "file keys; enter your recovery key to link it");
    return out;
  }
  if (!same(remote, account.identityPublic)) {
    out.reason = t("the daemon lists another identity for your account {name} than the "
      + "one this browser restored: someone may have taken over the account, or the daemon is "
      + "lying; no file keys until this is cleared up", { name: listed.username });
    out.changed = true;
    return out;
  }
  const info = listed.devices.find((d) => d.device_id === device.deviceId);
  if (!info) {
    out.reason = t("the daemon did not list this browser's device");
    return out;
  }
  const revocation = info.revocation ? e2e.fromBase64(info.revocation) : null;
  const revokedMessage = e2e.revocationMessage(listed.user_id, device.deviceId,
    device.x25519Public, device.ed25519Public);
  if (revocation && await e2e.verifyIdentityBlob(account.identityPublic, revokedMessage, revocation)) {
    out.reason = t("this browser was removed from your devices: it gets no file keys");
    return out;
  }
  const certificate = info.certificate ? e2e.fromBase64(info.certificate) : null;
  const ok = await e2e.verifyCertificate(account.identityPublic, {
    userId: listed.user_id, deviceId: device.deviceId, x25519: device.x25519Public,
    ed25519: device.ed25519Public, label: info.label,
  }, certificate);
  if (!ok) {
    out.reason = t("this browser is not certified by your identity: enter your recovery key to link it");
    return out;
  }
  out.linked = true;
  out.label = info.label;
  out.fingerprint = await e2e.deviceFingerprint(device.x25519Public, device.ed25519Public);
  return out;
}

// --- the recovery key (identity/signing.py's decode_recovery_key) ------------------------------
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const out = [];
  let bits = 0, value = 0;
  for (const ch of text) {
    const v = alphabet.indexOf(ch);
    if (v < 0) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

async function decodeRecoveryKey(text) {
  const letters = [...text.toUpperCase()].filter((c) => /[A-Z0-9]/.test(c)).join("");
  const raw = base32(letters);
  const bad = new Error(t("that is not a recovery key (14 groups of four letters and digits)"));
  if (!raw || raw.length !== 32 + RECOVERY_CHECKSUM_BYTES) throw bad;
  const seed = raw.subarray(0, 32);
  const check = await e2e.sha256(e2e.concat(new TextEncoder().encode("videonet/recovery"), seed));
  if (!same(check.subarray(0, RECOVERY_CHECKSUM_BYTES), raw.subarray(32))) throw bad;
  const pkcs8 = e2e.concat(ED25519_PKCS8_PREFIX, seed);
  // Extractable only to learn the public half (JWK "x"); the key lives in this function alone.
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const x = jwk.x.replace(/-/g, "+").replace(/_/g, "/");
  return { key, publicKey: e2e.fromBase64(x + "=".repeat((4 - (x.length % 4)) % 4)) };
}

/**
 * Link this browser with the recovery key: check it against the account's identity (recording
 * it on the daemon if the account has none yet), pin it here, certify this device. The key
 * itself is not kept.
 */
export async function restore(recoveryText) {
  const device = await thisDevice();
  const identity = await decodeRecoveryKey(recoveryText);
  let listed = await call("GET", "/api/keys");
  const remote = decodeKey(listed.identity_key);
  if (remote && !same(remote, identity.publicKey)) {
    throw new Error(t("that recovery key is not for {name}'s identity on this daemon", { name: listed.username }));
  }
  if (!remote) listed = await call("PUT", "/api/identity", { identity_key: e2e.toBase64(identity.publicKey) });
  await publish(device);
  listed = await call("GET", "/api/keys");
  const info = listed.devices.find((d) => d.device_id === device.deviceId);
  if (!info) throw new Error(t("the daemon did not list this browser's device"));
  const message = e2e.certificateMessage(listed.user_id, device.deviceId, device.x25519Public,
    device.ed25519Public, info.label);
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, identity.key, message));
  await call("PATCH", `/api/keys/${encodeURIComponent(device.deviceId)}`, {
    certificate: e2e.toBase64(e2e.concat(new Uint8Array([1]), signature)),
    label: info.label,
  });
  await save(accountKey(listed.user_id), { identityPublic: identity.publicKey });
  return standing(device, await call("GET", "/api/keys"));
}
