// Whom the page trusts, decided here and never by the daemon (identity/trust.py and certify.py):
// other users' identities pinned in IndexedDB on first use ("first use") and compared every time
// after; a device counts only while its user's identity certifies exactly its keys and label
// and has not revoked it (a revocation seen once is remembered).
import * as e2e from "./e2e.js";
import { decodeKey, load, same, save } from "./device.js";
import { t } from "./i18n.js";

export const deviceName = (label, id) => `${label} (${id.slice(0, 8)})`;

/** A pinned identity of another user: `{ username, identityPublic, state, revoked }` or undefined. */
export const pinOf = (userId) => load(`pin:${userId}`);
export const savePin = (userId, pin) => save(`pin:${userId}`, pin);

export function changedIdentity(name) {
  return new Error(t("{name}'s identity changed since this browser first saw it: someone may be "
    + "impersonating them, or the daemon is lying; nothing from or to them until you compare "
    + "safety numbers (videonet keys verify)", { name }));
}

/**
 * One listed device checked against its user's identity: `{ device }` (userId, username,
 * deviceId, label, x25519, ed25519, fingerprint) or `{ skipped: reason }`. A valid revocation
 * is added to `pin.revoked` (the caller saves the pin).
 */
export async function checkDevice(info, userId, username, identity, pin) {
  const x25519 = decodeKey(info.public_key);
  const ed25519 = decodeKey(info.signing_key);
  if (!x25519 || !ed25519) return { skipped: t("unusable key (not a pair of 32-byte public keys)") };
  if (pin && pin.revoked.includes(info.device_id)) return { skipped: t("revoked") };
  const revocation = info.revocation ? e2e.fromBase64(info.revocation) : null;
  if (revocation && await e2e.verifyIdentityBlob(identity,
    e2e.revocationMessage(userId, info.device_id, x25519, ed25519), revocation)) {
    if (pin) pin.revoked.push(info.device_id);
    return { skipped: t("revoked") };
  }
  const certificate = info.certificate ? e2e.fromBase64(info.certificate) : null;
  const certified = await e2e.verifyCertificate(identity, {
    userId, deviceId: info.device_id, x25519, ed25519, label: info.label,
  }, certificate);
  if (!certified) return { skipped: t("not certified by {name}'s identity", { name: username }) };
  return {
    device: {
      userId, username, deviceId: info.device_id, label: info.label, x25519, ed25519,
      fingerprint: await e2e.deviceFingerprint(x25519, ed25519),
    },
  };
}

/** A pin made now, on first use of an identity (the caller has shown it, or was asked to). */
export function firstUsePin(username, identity) {
  return { username, identityPublic: identity, state: "first use", revoked: [] };
}

export { same };
