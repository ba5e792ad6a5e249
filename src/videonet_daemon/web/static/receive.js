// Receiving a transfer in the page, as `videonet receive` does (transfer/receiver.py), with the
// same promise: nothing the daemon says is believed.
//
// 1. This browser's wrapped file key (transfer:key), unwrapped with its non-extractable X25519 key.
// 2. The signed header (GET /api/transfers/{id}/header): its form and paths, this transfer, this
//    room and this stream; the sender device certified by the sender's identity pinned here (on
//    first use, as the CLI's receiver does; a changed identity refuses); signature, then MAC.
//    Names, paths and sizes come from the verified header alone.
// 3. The records (GET …/data), verified one by one and written as they come into the origin's
//    private file system (on disk, never the whole file in memory), each file hashed as written.
// 4. The verdict (batch SHA-256 and its MAC under the file key) goes back; the sender's signed
//    seal comes with the answer and each file's SHA-256 must equal the sealed one. Only then is
//    a file offered to save. Any failure deletes what was written and tells the sender why.
import * as e2e from "./e2e.js";
import { call, decodeKey, same } from "./device.js";
import { headers as languageHeaders, t } from "./i18n.js";
import * as trust from "./trust.js";

const KEY_WAIT_MS = 15000; // as the CLI's VIDEONET_KEY_WAIT default
const VERDICT_WAIT_MS = 90000; // the daemon answers a verdict within 60 s
const INCOMING = "incoming";

/** A transfer this page refuses or cannot take: `message` is one line for people. */
export class ReceiveError extends Error {
  constructor(message) {
    super(message);
    this.name = "ReceiveError";
  }
}

/** The connection ended before the last record (the daemon restarted, the network dropped, the
 * sender's upload was interrupted): nothing is kept, and Receive may be pressed again. */
export class CutError extends ReceiveError {
  constructor(done, total) {
    super(t("the download was cut off at {done} of {total} bytes; nothing was kept: Receive again to start over", { done, total }));
    this.name = "CutError";
  }
}

function ask(socket, event, body, ms = 10000) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit(event, body, (err, ack) => {
      if (err) reject(new ReceiveError(t("{event}: no answer from the daemon", { event })));
      else if (!ack.ok) reject(new ReceiveError(ack.error.message));
      else resolve(ack);
    });
  });
}

const fold = (name) => name.normalize("NFKC").toLowerCase();

/** The sending device, checked as identity/trust.py's trusted_sender checks it. */
export async function trustedSender(h, me) {
  const name = h.senderUsername;
  let listed;
  try {
    listed = await call("GET", `/api/users/${encodeURIComponent(name)}/keys`);
  } catch (err) {
    throw new ReceiveError(t("cannot check the sender {name}: {reason}", { name, reason: err.message }));
  }
  if (listed.user_id !== h.senderUserId || fold(listed.username) !== fold(name)) {
    throw new ReceiveError(t("the daemon says {name} is another account than the sender named", { name }));
  }
  const identity = decodeKey(listed.identity_key);
  let trustState = "own";
  let pin = null;
  if (h.senderUserId === me.userId) {
    if (!same(identity, me.identity)) {
      throw new ReceiveError(t("the daemon lists another identity for your own account than the one this browser restored"));
    }
  } else {
    if (!identity) throw new ReceiveError(t("{name} has no identity: nothing from them is trusted", { name }));
    pin = await trust.pinOf(h.senderUserId);
    if (pin && !same(pin.identityPublic, identity)) throw new ReceiveError(trust.changedIdentity(name).message);
    if (!pin) {
      pin = trust.firstUsePin(listed.username, identity);
      await trust.savePin(h.senderUserId, pin);
    }
    trustState = pin.state;
  }
  const info = listed.devices.find((d) => d.device_id === h.senderDeviceId);
  if (!info) throw new ReceiveError(t("{name} has no device {device}", { name, device: h.senderDeviceId }));
  const revokedBefore = pin ? pin.revoked.length : 0;
  const checked = await trust.checkDevice(info, h.senderUserId, listed.username, identity, pin);
  if (pin && pin.revoked.length !== revokedBefore) await trust.savePin(h.senderUserId, pin);
  if (checked.skipped) {
    throw new ReceiveError(t("{name}'s device {device}: {reason}; nothing from it is accepted", {
      name, device: trust.deviceName(info.label, h.senderDeviceId), reason: checked.skipped,
    }));
  }
  return { ...checked.device, trust: trustState };
}

async function fileKey(socket, offer, me) {
  const deadline = Date.now() + KEY_WAIT_MS;
  for (;;) {
    const reply = await ask(socket, "transfer:key", { transfer_id: offer.transfer_id, device_id: me.device.deviceId });
    if (reply.wrapped) {
      return e2e.unwrapFileKey(e2e.fromBase64(reply.wrapped), me.device.x25519,
        offer.e2e.stream_id, me.device.deviceId);
    }
    const left = deadline - Date.now();
    if (!reply.sender_online || left <= 0) {
      throw new ReceiveError(t("{name} was not encrypted for this browser ({fingerprint}): "
        + "ask {sender} to run the same videonet send again while you are here",
      { name: offer.name, fingerprint: me.fingerprint, sender: offer.sender_name }));
    }
    await new Promise((resolve) => {
      const done = (event) => {
        if (event && event.transfer_id !== offer.transfer_id) return;
        socket.off("transfer:key-added", done);
        resolve();
      };
      socket.on("transfer:key-added", done);
      setTimeout(done, left);
    });
  }
}

/** The offer's header, verified: `{ signed, sender, fileKey }`; throws ReceiveError. */
export async function verifiedOffer(socket, offer, roomId, me) {
  if (!offer.e2e || typeof offer.e2e.stream_id !== "string") {
    throw new ReceiveError(t("{name} from {sender} is offered without end-to-end encryption: refused",
      { name: offer.name, sender: offer.sender_name }));
  }
  const key = await fileKey(socket, offer, me);
  let signed;
  try {
    const stored = await call("GET", `/api/transfers/${encodeURIComponent(offer.transfer_id)}/header`);
    signed = await e2e.parseHeader(e2e.fromBase64(stored.header || ""));
  } catch (err) {
    throw new ReceiveError(t("refusing this offer: {reason}", { reason: err.message }));
  }
  const h = signed.header;
  if (h.transferId !== offer.transfer_id || h.roomId !== roomId) {
    throw new ReceiveError(t("refusing this offer: its signed header is for another transfer or room"));
  }
  if (h.streamId !== offer.e2e.stream_id) throw new ReceiveError(t("refusing this offer: its header names another stream"));
  const sender = await trustedSender(h, me);
  try {
    await e2e.verifyHeader(signed, key, sender.ed25519);
  } catch (err) {
    throw new ReceiveError(t("refusing this offer: {reason}", { reason: err.message }));
  }
  return { signed, sender, fileKey: key };
}

// --- where the bytes go: the origin private file system (on disk) --------------------------------
async function incoming() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(INCOMING, { create: true });
}

// What a page receives stays in its storage while the page is open (its Save links read it);
// a lock held until the page closes marks it as in use, and the next page to start deletes the
// rest (`sweep`), so received files do not pile up in the browser's storage.
const LOCK = "videonet-incoming:";

function holdWhileOpen(transferId) {
  if (navigator.locks) navigator.locks.request(LOCK + transferId, () => new Promise(() => {}));
}

/** Delete what earlier pages received and no open page still offers to save. */
export async function sweep() {
  if (!navigator.locks) return;
  const held = new Set((await navigator.locks.query()).held.map((l) => l.name));
  const dir = await incoming();
  for await (const name of dir.keys()) {
    if (!held.has(LOCK + name)) await dir.removeEntry(name, { recursive: true }).catch(() => undefined);
  }
}

export async function discard(transferId) {
  try {
    await (await incoming()).removeEntry(transferId, { recursive: true });
  } catch {
    // nothing was written
  }
}

async function fileHandle(dir, path) {
  const parts = path.split("/");
  for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
  return dir.getFileHandle(parts[parts.length - 1], { create: true });
}

/**
 * Take a verified offer: accept, fetch, decrypt, write, hash, send the verdict, check the seal.
 * `progress(bytes, total)` is called as records land. Returns the verified files
 * `[{ path, size, sha256, file }]` (`file`: a File on disk, to save).
 */
export async function take(socket, offer, verified, me, progress) {
  const { signed, sender, fileKey: key } = verified;
  const h = signed.header;
  const id = offer.transfer_id;
  const estimate = navigator.storage.estimate ? await navigator.storage.estimate() : null;
  if (estimate && estimate.quota - estimate.usage < h.totalSize) {
    throw new ReceiveError(t("not enough room in this browser's storage for {name} ({size} bytes; "
      + "a private window has little, a normal one more)", { name: h.name, size: h.totalSize }));
  }
  await discard(id); // no resume yet: a leftover of an earlier try is never a verified prefix
  holdWhileOpen(id);
  const dir = await (await incoming()).getDirectoryHandle(id, { create: true });
  try {
    await ask(socket, "transfer:accept", { transfer_id: id });
    const hashes = await download(id, h, key, dir, signed, progress);
    const batch = await e2e.batchDigest(hashes);
    const mac = await e2e.verdictMac(key, signed.hash, me.userId, batch);
    const reply = await ask(socket, "transfer:verdict", { transfer_id: id, sha256: batch, mac, done: false }, VERDICT_WAIT_MS);
    if (!reply.seal) throw new ReceiveError(t("the sender's seal did not come with the verdict; the received bytes were discarded"));
    let sealed;
    try {
      sealed = (await e2e.openSeal(e2e.fromBase64(reply.seal), signed, key, sender.ed25519)).map(e2e.toHex);
    } catch (err) {
      throw new ReceiveError(t("{reason}; the received bytes were discarded", { reason: err.message }));
    }
    const bad = h.files.filter((f, i) => sealed[i] !== hashes[i]).map((f) => f.path);
    if (bad.length) {
      throw new ReceiveError(t("SHA-256 mismatch in {paths}; the received bytes were discarded", { paths: bad.slice(0, 5).join(", ") }));
    }
    const files = [];
    for (const [i, f] of h.files.entries()) {
      files.push({ path: f.path, size: f.size, sha256: hashes[i], file: await (await fileHandle(dir, f.path)).getFile() });
    }
    return files;
  } catch (err) {
    await discard(id);
    throw err;
  }
}

// A download cut off (the connection, not a record that fails) continues by itself from the
// first record not yet verified, with an HTTP Range, as the CLI's resume does: the files stay
// open and their hashes running, so nothing is read twice. It gives up after this many tries in
// a row that brought no new record.
const RETRIES = 3;
const RETRY_MS = 500;

async function download(id, h, key, dir, signed, progress) {
  const url = `/api/transfers/${encodeURIComponent(id)}/data`;
  const reader = new e2e.RecordReader(await e2e.RecordCipher.create(key, signed.hash), h.totalSize);
  const hashes = [];
  let index = -1, left = 0, hash = null, out = null, done = 0;
  const next = async () => {
    if (out) {
      await out.close();
      hashes.push(e2e.toHex(hash.digest()));
    }
    index += 1;
    if (index >= h.files.length) return;
    out = await (await fileHandle(dir, h.files[index].path)).createWritable();
    hash = e2e.sha256Stream();
    left = h.files[index].size;
  };
  const write = async (value) => {
    for (let plain of await reader.push(value)) {
      while (plain.length) {
        const n = Math.min(left, plain.length);
        const piece = plain.subarray(0, n);
        hash.update(piece);
        await out.write(piece);
        plain = plain.subarray(n);
        left -= n;
        done += n;
        while (left === 0 && index < h.files.length) await next();
      }
      progress(done, h.totalSize);
    }
  };
  try {
    await next();
    while (left === 0 && index < h.files.length) await next(); // empty files first
    let fruitless = 0;
    while (!reader.complete) {
      const before = reader.index;
      const from = reader.restart(); // a record cut in the middle comes again whole
      let response = null;
      try {
        const range = from ? { Range: `bytes=${from}-` } : {};
        response = await fetch(url, { credentials: "same-origin", headers: { ...range, ...languageHeaders() } });
      } catch {
        response = null; // unreachable: counts as a cut
      }
      if (response && !response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new ReceiveError((body.error && body.error.message) || t("the daemon answered {status}", { status: response.status }));
      }
      if (response) {
        const stream = response.body.getReader();
        for (;;) {
          let chunk;
          try {
            chunk = await stream.read();
          } catch {
            break; // cut off: fetch the rest
          }
          if (chunk.done) break;
          await write(chunk.value);
        }
      }
      if (reader.complete) break;
      fruitless = reader.index > before ? 0 : fruitless + 1;
      if (fruitless > RETRIES) throw new CutError(done, h.totalSize);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS * 2 ** fruitless));
    }
    reader.finish();
  } catch (err) {
    // An open writable holds its file: let it go, so the caller can delete everything.
    if (out && index < h.files.length) await out.abort().catch(() => undefined);
    throw err;
  }
  return hashes;
}

/** Tell the sender this page will not take the transfer, and why (one line). */
export function decline(socket, offer, reason) {
  return ask(socket, "transfer:decline", { transfer_id: offer.transfer_id, reason: reason.slice(0, 500) })
    .catch(() => undefined);
}
