// Files in the room's timeline: offers checked and received (receive.js), sends with each
// receiver's verdict and the Resume of an interrupted one (send.js). docs/web.md says how.
import { t, tn } from "./i18n.js";
import * as receiving from "./receive.js";
import * as sending from "./send.js";

/** The room page's file parts, given the page's state and its DOM helpers. */
export function filesUi({ state, $, el, userText, status, guard }) {
  // --- files offered in the room (receive.js): shown from the verified header only -------------
  function size(bytes) {
    const units = ["bytes", "kB", "MB", "GB", "TB"]; // international symbols: not translated
    let n = bytes, u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u += 1; }
    return u ? `${n.toFixed(1)} ${units[u]}` : tn("{n} byte", "{n} bytes", n);
  }

  function addOffer(socket, offer) {
    // Once per transfer in the timeline shown (a resumed offer comes again under the same id).
    const shown = [...$("messages").querySelectorAll("li.offer")].some((li) => li.dataset.transferId === offer.transfer_id);
    if (shown || offer.state === "aborted") return;
    const item = el("li", "offer");
    item.dataset.transferId = offer.transfer_id;
    const line = el("span", "offer-text");
    const stateText = el("span", "offer-state");
    item.append(userText("author", offer.sender_name), line, stateText);
    $("messages").append(item);
    let checking = false;
    // The line follows the sender's name: "alice offered a file" (ko "alice 님이 …").
    const offered = () => ` ${t("offered a file")}`;
    const fail = (err) => {
      if (checking) line.textContent = offered();
      checking = false;
      item.classList.add("failed");
      stateText.textContent = err.message || String(err);
    };
    const me = state.device;
    if (!me || !me.linked) {
      line.textContent = offered();
      const reason = me ? me.reason : t("this browser is not a device of yours yet");
      fail(new Error(t("not for this browser: {reason}", { reason })));
      return;
    }
    checking = true;
    line.textContent = ` ${t("offers a file: checking its signed header…")}`;
    receiving.verifiedOffer(socket, offer, state.room.id, me).then((verified) => {
      checking = false;
      const h = verified.signed.header;
      const count = h.files.length;
      let what = h.files[0].path;
      if (h.kind === "directory") {
        what = tn("the directory {name}/ ({n} file)", "the directory {name}/ ({n} files)", count, { name: h.name });
      } else if (count !== 1) {
        what = tn("{name} and more ({n} file)", "{name} and more ({n} files)", count, { name: h.name });
      }
      const from = verified.sender.trust === "own" ? t("from you")
        : t("from {name} (device {device}, identity {trust})", {
          name: verified.sender.username, device: verified.sender.label, trust: trustWord(verified.sender.trust),
        });
      line.textContent = ` ${t("offers {what}, {size} — {from}", { what, size: size(h.totalSize), from })} `;
      const button = el("button", "take", t("Receive"));
      item.insertBefore(button, stateText);
      const start = () => {
        button.remove();
        item.classList.remove("failed");
        const progress = (done, total) => {
          stateText.textContent = t("{done} of {total}", { done: size(done), total: size(total) });
        };
        receiving.take(socket, offer, verified, me, progress).then((files) => {
          item.classList.add("verified");
          stateText.textContent = `${t("✓ verified (SHA-256 as sealed by the sender):")} `;
          for (const f of files) {
            const link = el("a", "save", t("Save {path}", { path: f.path }));
            link.href = URL.createObjectURL(f.file);
            link.download = f.path.split("/").pop();
            link.dataset.sha256 = f.sha256;
            stateText.append(link, " ");
          }
        }).catch(async (err) => {
          fail(err);
          if (err instanceof receiving.CutError) {
            item.insertBefore(button, stateText); // the offer stands: the sender still waits
            return;
          }
          await receiving.decline(socket, offer, err.message);
        });
      };
      button.addEventListener("click", start);
    }).catch(async (err) => {
      fail(err);
      await receiving.decline(socket, offer, err.message);
    });
  }

  // --- sending files (send.js): drop them on the room or pick them ---------------------------------
  function confirmNew(list) {
    const lines = list.map((f) => t("{name} — first use, identity {fingerprint}", { name: f.username, fingerprint: f.fingerprint }));
    return window.confirm(`${t("Encrypting to people this browser has not seen before:")}\n${lines.join("\n")}\n\n`
      + t("Compare safety numbers with them to be sure (videonet keys verify). Send to them?"));
  }

  // One send in the timeline: its line, its state, each receiver's verdict.
  function sendItem(me, text) {
    const item = el("li", "sending");
    const line = el("span", "send-text", text);
    const stateText = el("span", "send-state", ` — ${t("checking who gets the key…")}`);
    const verdicts = el("ul", "verdicts");
    item.append(line, stateText, verdicts);
    $("messages").append(item);
    const ui = {
      confirmNew,
      recipients(chosen) {
        const people = [...new Set(chosen.devices.filter((d) => d.userId !== me.userId).map((d) => d.username))];
        line.textContent = people.length
          ? t("{what}, to {people}", { what: text, people: people.join(", ") })
          : t("{what}, to your own devices", { what: text });
        for (const reason of chosen.skipped) verdicts.append(el("li", "skipped", t("not encrypting to {reason}", { reason })));
      },
      progress(stage, done, all) {
        const fields = { done: size(done), total: size(all) };
        stateText.textContent = ` — ${stage === "sealing" ? t("sealing {done} of {total}", fields) : t("uploading {done} of {total}", fields)}`;
      },
      verdict(result) {
        const node = el("li", result.ok ? "verdict ok" : "verdict bad");
        node.append(userText("who", result.username),
          el("span", null, result.ok ? ` ${t("✓ verified (SHA-256 matches, authenticated)")}` : ` ✗ ${result.reason}`));
        verdicts.append(node);
      },
      track(promise) {
        item.classList.remove("failed", "interrupted");
        return promise.then((sent) => {
          item.dataset.transferId = sent.transferId;
          item.classList.add("sealed");
          stateText.textContent = ` — ${t("uploaded and sealed; waiting for the receivers' verdicts")}`;
        }).catch((err) => {
          item.classList.add("failed");
          stateText.textContent = ` — ${err.message}`;
        });
      },
    };
    return { item, stateText, ui };
  }

  function sendFiles(files) {
    const me = state.device;
    if (!me || !me.linked) {
      const reason = me ? me.reason : t("this browser is not a device of yours yet");
      status(t("cannot send files from here: {reason}", { reason }), true);
      return;
    }
    const total = files.reduce((n, f) => n + f.size, 0);
    const top = files[0].webkitRelativePath ? files[0].webkitRelativePath.split("/")[0] : null;
    let what = files[0].name;
    if (top) what = tn("the folder {name}/ ({n} file)", "the folder {name}/ ({n} files)", files.length, { name: top });
    else if (files.length > 1) {
      what = tn("{name} and {n} more file", "{name} and {n} more files", files.length - 1, { name: files[0].name });
    }
    const { ui } = sendItem(me, t("you send {what}, {size}", { what, size: size(total) }));
    ui.track(sending.send(state.socket, state.room.id, files, me, ui));
  }

  // Sends a reload interrupted: the same transfer continues from the records sealed before.
  async function offerResumes(socket) {
    const me = state.device;
    if (!me || !me.linked) return;
    for (const entry of await sending.unfinished(state.room.id)) {
      if (document.querySelector(`li.sending[data-transfer-id="${entry.transferId}"]`)) continue;
      const { item, stateText, ui } = sendItem(me, t("you send {what}, {size}", { what: entry.name, size: size(entry.totalSize) }));
      item.dataset.transferId = entry.transferId;
      item.classList.add("interrupted");
      stateText.textContent = ` — ${t("interrupted (the page was closed or reloaded)")} `;
      const resume = el("button", "resume", t("Resume"));
      const discard = el("button", "discard", t("Discard"));
      stateText.append(resume, " ", discard);
      resume.addEventListener("click", () => {
        stateText.textContent = ` — ${t("resuming…")}`;
        ui.track(sending.resume(socket, entry, me, ui));
      });
      discard.addEventListener("click", () => guard(async () => {
        await sending.discardSend(socket, entry);
        item.remove();
      }));
    }
  }

  // How far the page trusts a sender's identity (trust.js's pin states).
  function trustWord(state) {
    if (state === "first use") return t("first use");
    if (state === "verified") return t("verified");
    return state;
  }

  return { addOffer, sendFiles, offerResumes, sweep: receiving.sweep };
}
