// Sending from the page, as `videonet send` does (transfer/sender.py, offering.py), with the
// same format, so `videonet receive` takes it unchanged:
//
// 1. Who gets the key is decided here: every other member of the room whose identity is pinned
//    here (a first-seen identity is shown and must be confirmed; a changed one stops the send),
//    each of their devices that identity certified, this account's other certified devices and
//    this browser. The daemon's lists are only where to look.
// 2. A fresh transfer id, stream id and file key; the signed header (this browser's Ed25519 key);
//    the key wrapped for each device with HPKE.
// 3. The files read one after the other and sealed into 1 MiB records into the origin's private
//    file system (on disk: never the whole file in memory), each file hashed as it is read.
//    Chromium streams a request body only over HTTP/2, so the records go up as one PUT of that
//    file once sealed, with progress.
// 4. The seal (each file's SHA-256, MAC'd and signed); then each receiver's verdict is counted
//    only with a MAC under the file key over the digest this browser sealed.
import * as e2e from "./e2e.js";
import { call, decodeKey, loadAll, remove, same, save } from "./device.js";
import { headers as languageHeaders, t } from "./i18n.js";
import * as trust from "./trust.js";

const OUTGOING = "outgoing";
const JOURNAL = "send:";
const MODE = 0o644;

/** A send this page refuses or that failed: `message` is one line for people. */
export class SendError extends Error {
  constructor(message) {
    super(message);
    this.name = "SendError";
  }
}

function ask(socket, event, body, ms = 30000) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit(event, body, (err, ack) => {
      if (err) reject(new SendError(t("{event}: no answer from the daemon", { event })));
      else if (!ack.ok) reject(new SendError(ack.error.message));
      else resolve(ack);
    });
  });
}

const hex = (n) => e2e.toHex(crypto.getRandomValues(new Uint8Array(n)));

/**
 * The devices the file key is wrapped for: `{ devices, skipped, notices }`. `confirmNew(list)`
 * is asked about first-seen identities (`[{ username, fingerprint }]`) and returns true to pin
 * them; otherwise nothing is sent.
 */
export async function chooseRecipients(roomId, me, confirmNew) {
  const members = await call("GET", `/api/rooms/${encodeURIComponent(roomId)}/members`);
  const own = await call("GET", "/api/keys");
  if (own.user_id !== me.userId) throw new SendError(t("the daemon listed another account's devices as yours"));
  if (!same(decodeKey(own.identity_key), me.identity)) {
    throw new SendError(t("the daemon lists another identity for your own account than the one this browser restored: not sending"));
  }
  const devices = [{
    userId: me.userId, username: me.username, deviceId: me.device.deviceId, label: me.device.label,
    x25519: me.device.x25519Public, ed25519: me.device.ed25519Public, fingerprint: me.fingerprint,
  }];
  const skipped = [];
  const notices = [];
  for (const info of own.devices) {
    if (info.device_id === me.device.deviceId) continue;
    const checked = await trust.checkDevice(info, me.userId, me.username, me.identity, null);
    if (checked.device) devices.push(checked.device);
    else skipped.push(t("your device {device}: {reason}", { device: trust.deviceName(info.label, info.device_id), reason: checked.skipped }));
  }
  const users = [];
  for (const member of members) {
    if (member.user_id === me.userId) continue;
    const listed = await call("GET", `/api/users/${encodeURIComponent(member.username)}/keys`);
    if (listed.user_id !== member.user_id) {
      throw new SendError(t("the daemon answered for {name} with another account", { name: member.username }));
    }
    const identity = decodeKey(listed.identity_key);
    if (!identity) {
      skipped.push(t("{name}: no identity yet", { name: listed.username }));
      continue;
    }
    const pin = await trust.pinOf(listed.user_id);
    if (pin && !same(pin.identityPublic, identity)) throw new SendError(trust.changedIdentity(listed.username).message);
    users.push({ listed, identity, pin });
  }
  const fresh = users.filter((u) => !u.pin);
  if (fresh.length) {
    const shown = await Promise.all(fresh.map(async (u) => ({
      username: u.listed.username, fingerprint: await e2e.keyFingerprint(u.identity),
    })));
    if (!await confirmNew(shown)) throw new SendError(t("not sending: the new identities were not confirmed"));
    for (const u of fresh) {
      u.pin = trust.firstUsePin(u.listed.username, u.identity);
      await trust.savePin(u.listed.user_id, u.pin);
    }
  }
  for (const u of users) {
    const revoked = u.pin.revoked.length;
    for (const info of u.listed.devices) {
      const checked = await trust.checkDevice(info, u.listed.user_id, u.listed.username, u.identity, u.pin);
      if (checked.device) devices.push(checked.device);
      else {
        skipped.push(t("{name}'s device {device}: {reason}", {
          name: u.listed.username, device: trust.deviceName(info.label, info.device_id), reason: checked.skipped,
        }));
      }
    }
    if (u.pin.revoked.length !== revoked) await trust.savePin(u.listed.user_id, u.pin);
  }
  return { devices, skipped, notices };
}

/**
 * What is sent: `{ kind, name, files, entries }`. Loose files go under their names; the files
 * of one picked folder (`webkitRelativePath` "top/sub/x") as the directory "top", with paths
 * relative to it, in path order (as the CLI walks a directory in name order).
 */
export function manifest(picked) {
  if (!picked.length) throw new SendError(t("no files to send"));
  if (picked.length > e2e.TRANSFER_BATCH_MAX_FILES) {
    throw new SendError(t("at most {most} files in one send (send its subfolders separately)", { most: e2e.TRANSFER_BATCH_MAX_FILES }));
  }
  const relative = picked.map((f) => f.webkitRelativePath || "");
  const tops = new Set(relative.map((r) => r.split("/")[0]));
  const folder = relative.every((r) => r.includes("/")) && tops.size === 1 ? [...tops][0] : null;
  if (!folder && relative.some((r) => r)) throw new SendError(t("pick one folder, or loose files"));
  let items = picked.map((file, i) => ({ file, path: folder ? relative[i].slice(folder.length + 1) : file.name }));
  if (folder) items = items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set();
  for (const { path } of items) {
    const problem = e2e.pathProblem(path) || (seen.has(path) ? t("a duplicate") : null);
    if (problem) throw new SendError(t("{path}: {problem}; rename it or leave it out", { path, problem }));
    seen.add(path);
  }
  if (folder && e2e.pathProblem(folder)) {
    throw new SendError(t("{path}: {problem}; rename it", { path: folder, problem: e2e.pathProblem(folder) }));
  }
  return {
    kind: folder ? "directory" : "files",
    name: folder || items[0].path,
    files: items.map((i) => i.file),
    entries: items.map(({ file, path }) => ({ path, size: file.size, mode: MODE })),
  };
}

async function outgoing() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(OUTGOING, { create: true });
}

async function forget(transferId) {
  try {
    await (await outgoing()).removeEntry(transferId);
  } catch {
    // nothing there
  }
}

/** Seal the files' bytes into records, on disk; returns each file's SHA-256 (hex) and the File. */
async function sealRecords(files, cipher, totalSize, handle, progress) {
  const out = await handle.createWritable();
  const layout = e2e.layout(totalSize);
  const record = new Uint8Array(e2e.E2E_RECORD_BYTES);
  let fill = 0, index = 0, read = 0;
  const hashes = [];
  const flush = async (final) => {
    await out.write(await cipher.encrypt(index, record.subarray(0, fill), final));
    index += 1;
    fill = 0;
  };
  try {
    for (const file of files) {
      const hash = e2e.sha256Stream();
      const reader = file.stream().getReader();
      let got = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        got += value.length;
        if (got > file.size) throw new SendError(t("{name} grew while it was read; send it again", { name: file.name }));
        hash.update(value);
        let pos = 0;
        while (pos < value.length) {
          const n = Math.min(e2e.E2E_RECORD_BYTES - fill, value.length - pos);
          record.set(value.subarray(pos, pos + n), fill);
          fill += n;
          pos += n;
          read += n;
          if (fill === e2e.E2E_RECORD_BYTES && index < layout.last) await flush(false);
        }
        progress("sealing", read, totalSize);
      }
      if (got !== file.size) throw new SendError(t("{name} shrank while it was read; send it again", { name: file.name }));
      hashes.push(e2e.toHex(hash.digest()));
    }
    await flush(true);
    await out.close();
  } catch (err) {
    await out.abort().catch(() => undefined);
    throw err;
  }
  return { hashes, records: await handle.getFile() };
}

/** The upload ended before the daemon had every byte: the journal keeps the transfer. */
class UploadCut extends Error {}

function upload(transferId, body, offset, size, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/transfers/${encodeURIComponent(transferId)}/data?offset=${offset}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    for (const [name, value] of Object.entries(languageHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => progress("uploading", offset + e.loaded, size);
    xhr.onload = () => {
      if (xhr.status < 300) resolve();
      else {
        let message = t("the daemon answered {status}", { status: xhr.status });
        try { message = JSON.parse(xhr.responseText).error.message; } catch { /* not JSON */ }
        reject(xhr.status >= 500 ? new UploadCut(message) : new SendError(message));
      }
    };
    xhr.onerror = () => reject(new UploadCut(t("the upload was cut off")));
    xhr.send(body);
  });
}

/**
 * Send `files` (File objects) to the room. `ui`: `{ progress(stage, done, total), confirmNew,
 * recipients(list), verdict(result) }`. Resolves once sealed; verdicts come later through
 * `ui.verdict` ({ username, ok, reason }), each checked here.
 */
export async function send(socket, roomId, picked, me, ui) {
  const { kind, name, files, entries } = manifest(picked);
  const chosen = await chooseRecipients(roomId, me, ui.confirmNew);
  ui.recipients(chosen);
  const transferId = hex(16);
  const streamId = hex(16);
  const fileKey = crypto.getRandomValues(new Uint8Array(32));
  const header = {
    transferId, roomId, senderUserId: me.userId, senderUsername: me.username,
    senderDeviceId: me.device.deviceId,
    recipients: chosen.devices.map((d) => ({ userId: d.userId, deviceId: d.deviceId, fingerprint: d.fingerprint })),
    kind, name, streamId,
    // A resume re-sends the records sealed once (below), never seals again: nothing to fingerprint.
    source: crypto.getRandomValues(new Uint8Array(32)),
    files: entries,
  };
  const sealed = await e2e.sealHeader(header, fileKey, me.device.ed25519.privateKey);
  const totalSize = entries.reduce((n, f) => n + f.size, 0);
  const estimate = navigator.storage.estimate ? await navigator.storage.estimate() : null;
  if (estimate && estimate.quota - estimate.usage < e2e.layout(totalSize).ciphertextSize) {
    throw new SendError(t("not enough room in this browser's storage to seal {name} ({size} bytes; "
      + "a private window has little, a normal one more)", { name, size: totalSize }));
  }
  const cipher = await e2e.RecordCipher.create(fileKey, sealed.hash);
  const handle = await (await outgoing()).getFileHandle(transferId, { create: true });
  let entry;
  try {
    const { hashes } = await sealRecords(files, cipher, totalSize, handle, ui.progress);
    const keys = [];
    for (const d of chosen.devices) {
      keys.push({ user_id: d.userId, device_id: d.deviceId,
        wrapped: e2e.toBase64(await e2e.wrapFileKey(fileKey, d.x25519, streamId, d.deviceId)) });
    }
    entry = {
      transferId, roomId, streamId, fileKey, header: sealed.blob, headerHash: sealed.hash, hashes,
      batch: await e2e.batchDigest(hashes), name, kind, fileCount: entries.length, totalSize, keys,
      created: Date.now(),
    };
  } catch (err) {
    await forget(transferId);
    throw err;
  }
  // The journal (IndexedDB, this site only, as the CLI's transfer-journal.json): what a reload
  // needs to finish this very transfer from the records already sealed.
  await save(JOURNAL + transferId, entry);
  return deliver(socket, entry, me, ui, false);
}

/** This room's sends a reload interrupted (sealed on disk, not yet sealed on the daemon). */
export async function unfinished(roomId) {
  return (await loadAll(JOURNAL)).filter((e) => e.roomId === roomId);
}

/** Finish an interrupted send: the same transfer, the same records, from where the daemon's copy ends. */
export function resume(socket, entry, me, ui) {
  return deliver(socket, entry, me, ui, true);
}

/** Give up an interrupted send: the daemon deletes its copy, the page its records and journal. */
export async function discardSend(socket, entry) {
  await ask(socket, "transfer:abort", { transfer_id: entry.transferId }).catch(() => undefined);
  await finished(entry.transferId);
}

async function finished(transferId) {
  await remove(JOURNAL + transferId);
  await forget(transferId);
}

async function deliver(socket, entry, me, ui, resuming) {
  const { transferId, streamId, fileKey, headerHash, batch } = entry;
  const size = e2e.layout(entry.totalSize).ciphertextSize;
  const results = new Map();
  socket.on("transfer:result", async (result) => {
    if (!result || result.transfer_id !== transferId || results.has(result.user_id)) return;
    let ok = false, reason = result.reason || "";
    if (result.ok) {
      const expected = await e2e.verdictMac(fileKey, headerHash, result.user_id, batch);
      ok = result.sha256 === batch && result.mac === expected;
      if (!ok) reason = t("its verdict is not authenticated (no MAC under the file key): ignored");
    }
    results.set(result.user_id, ok);
    ui.verdict({ username: result.username, ok, reason });
  });
  let offered = false;
  try {
    const records = await (await (await outgoing()).getFileHandle(transferId)).getFile();
    if (records.size !== size) throw new SendError(t("the sealed records of {name} are gone: send it again", { name: entry.name }));
    const reply = await ask(socket, "transfer:offer", {
      version: e2e.TRANSFER_PROTOCOL_VERSION, transfer_id: transferId, room_id: entry.roomId,
      name: entry.name, size, kind: entry.kind, file_count: entry.fileCount,
      e2e: { stream_id: streamId, plain_size: entry.totalSize, keys: entry.keys },
      header: e2e.toBase64(entry.header),
    });
    const got = reply.transfer || {};
    if (got.transfer_id !== transferId || !got.e2e || got.e2e.stream_id !== streamId) {
      throw new SendError(t("the daemon answered the offer with another transfer than the one offered: refused"));
    }
    const offset = reply.offset;
    if (!Number.isInteger(offset) || offset < 0 || offset > size || (!resuming && (reply.resumed || offset))) {
      throw new SendError(t("the daemon answered the offer with an offset this page cannot use: refused"));
    }
    offered = true;
    // The bytes from `offset` on are the records sealed once, read back: the same key never
    // seals other bytes, whatever offset the daemon names (a lie only spoils this transfer).
    await upload(transferId, records.slice(offset), offset, size, ui.progress);
    const seal = await e2e.makeSeal(headerHash, entry.hashes.map((h) => hexBytes(h)), fileKey, me.device.ed25519.privateKey);
    await ask(socket, "transfer:seal", { transfer_id: transferId, sha256: batch, seal: e2e.toBase64(seal) });
    await finished(transferId);
    return { transferId, sha256: batch };
  } catch (err) {
    if (err instanceof UploadCut) throw new SendError(t("{reason}; Resume continues it", { reason: err.message })); // kept
    if (offered) await ask(socket, "transfer:abort", { transfer_id: transferId }).catch(() => undefined);
    await finished(transferId);
    throw err;
  }
}

function hexBytes(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
