// Files in the room's timeline: offers checked and received (receive.js), sends with each
// receiver's verdict and the Resume of an interrupted one (send.js). docs/web.md says how.
import * as receiving from "./receive.js";
import * as sending from "./send.js";

/** The room page's file parts, given the page's state and its DOM helpers. */
export function filesUi({ state, $, el, userText, status, guard }) {
  // --- files offered in the room (receive.js): shown from the verified header only -------------
  function size(bytes) {
    const units = ["bytes", "kB", "MB", "GB", "TB"];
    let n = bytes, u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u += 1; }
    return u ? `${n.toFixed(1)} ${units[u]}` : `${n} bytes`;
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
    const fail = (err) => {
      if (line.textContent.includes("checking")) line.textContent = " offered a file";
      item.classList.add("failed");
      stateText.textContent = err.message || String(err);
    };
    const me = state.device;
    if (!me || !me.linked) {
      line.textContent = " offered a file";
      fail(new Error(`not for this browser: ${me ? me.reason : "this browser is not a device of yours yet"}`));
      return;
    }
    line.textContent = " offers a file: checking its signed header…";
    receiving.verifiedOffer(socket, offer, state.room.id, me).then((verified) => {
      const h = verified.signed.header;
      const what = h.files.length === 1 && h.kind === "files"
        ? h.files[0].path : `${h.kind === "directory" ? "the directory " + h.name + "/" : h.name + " and more"} (${h.files.length} files)`;
      const from = verified.sender.trust === "own" ? "from you"
        : `from ${verified.sender.username} (device ${verified.sender.label}, identity ${verified.sender.trust})`;
      line.textContent = ` offers ${what}, ${size(h.totalSize)} — ${from} `;
      const button = el("button", "take", "Receive");
      item.insertBefore(button, stateText);
      const start = () => {
        button.remove();
        item.classList.remove("failed");
        const progress = (done, total) => { stateText.textContent = `${size(done)} of ${size(total)}`; };
        receiving.take(socket, offer, verified, me, progress).then((files) => {
          item.classList.add("verified");
          stateText.textContent = "✓ verified (SHA-256 as sealed by the sender): ";
          for (const f of files) {
            const link = el("a", "save", `Save ${f.path}`);
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
    const lines = list.map((f) => `${f.username} — first use, identity ${f.fingerprint}`);
    return window.confirm(`Encrypting to people this browser has not seen before:\n${lines.join("\n")}\n\n`
      + "Compare safety numbers with them to be sure (videonet keys verify). Send to them?");
  }

  // One send in the timeline: its line, its state, each receiver's verdict.
  function sendItem(me, text) {
    const item = el("li", "sending");
    const line = el("span", "send-text", text);
    const stateText = el("span", "send-state", " — checking who gets the key…");
    const verdicts = el("ul", "verdicts");
    item.append(line, stateText, verdicts);
    $("messages").append(item);
    const ui = {
      confirmNew,
      recipients(chosen) {
        const people = [...new Set(chosen.devices.filter((d) => d.userId !== me.userId).map((d) => d.username))];
        line.textContent = `${text}, to ${people.length ? people.join(", ") : "your own devices"}`;
        for (const reason of chosen.skipped) verdicts.append(el("li", "skipped", `not encrypting to ${reason}`));
      },
      progress(stage, done, all) { stateText.textContent = ` — ${stage} ${size(done)} of ${size(all)}`; },
      verdict(result) {
        const node = el("li", result.ok ? "verdict ok" : "verdict bad");
        node.append(userText("who", result.username),
          el("span", null, result.ok ? " ✓ verified (SHA-256 matches, authenticated)" : ` ✗ ${result.reason}`));
        verdicts.append(node);
      },
      track(promise) {
        item.classList.remove("failed", "interrupted");
        return promise.then((sent) => {
          item.dataset.transferId = sent.transferId;
          item.classList.add("sealed");
          stateText.textContent = " — uploaded and sealed; waiting for the receivers' verdicts";
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
      status(`cannot send files from here: ${me ? me.reason : "this browser is not a device of yours yet"}`, true);
      return;
    }
    const total = files.reduce((n, f) => n + f.size, 0);
    const top = files[0].webkitRelativePath ? files[0].webkitRelativePath.split("/")[0] : null;
    const what = top ? `the folder ${top}/ (${files.length} files)`
      : files.length === 1 ? files[0].name : `${files[0].name} and ${files.length - 1} more files`;
    const { ui } = sendItem(me, `you send ${what}, ${size(total)}`);
    ui.track(sending.send(state.socket, state.room.id, files, me, ui));
  }

  // Sends a reload interrupted: the same transfer continues from the records sealed before.
  async function offerResumes(socket) {
    const me = state.device;
    if (!me || !me.linked) return;
    for (const entry of await sending.unfinished(state.room.id)) {
      if (document.querySelector(`li.sending[data-transfer-id="${entry.transferId}"]`)) continue;
      const { item, stateText, ui } = sendItem(me, `you send ${entry.name}, ${size(entry.totalSize)}`);
      item.dataset.transferId = entry.transferId;
      item.classList.add("interrupted");
      stateText.textContent = " — interrupted (the page was closed or reloaded) ";
      const resume = el("button", "resume", "Resume");
      const discard = el("button", "discard", "Discard");
      stateText.append(resume, " ", discard);
      resume.addEventListener("click", () => {
        stateText.textContent = " — resuming…";
        ui.track(sending.resume(socket, entry, me, ui));
      });
      discard.addEventListener("click", () => guard(async () => {
        await sending.discardSend(socket, entry);
        item.remove();
      }));
    }
  }

  return { addOffer, sendFiles, offerResumes, sweep: receiving.sweep };
}
