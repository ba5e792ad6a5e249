// The page: log in, pick a room, chat with history and presence, take part in the room's call.
import { api, ApiError } from "./api.js";
import { Call } from "./call.js";
import * as device from "./device.js";
import { filesUi } from "./files.js";
import * as i18n from "./i18n.js";
import { t, tn } from "./i18n.js";
import { sentence, user } from "./text.js";

const $ = (id) => document.getElementById(id);
const views = ["login-view", "join-view", "rooms-view", "room-view"];
const state = { user: null, device: null, room: null, socket: null, lastId: 0, seen: new Set(), online: new Map(), call: null, recording: null };
// ?ice=relay: send media only through the TURN servers the daemon hands out (hides addresses).
const icePolicy = new URLSearchParams(location.search).get("ice") === "relay" ? "relay" : "all";

function show(view) {
  for (const id of views) $(id).hidden = id !== view;
  $("logout").hidden = !state.user;
  $("device-panel").hidden = !state.user;
  setUserText($("whoami"), state.user ? state.user.username : "");
}

// `text`: a string, or a list of strings and user(...) parts (see text.js), or a function that
// makes one: that line is made again in the new language when the language changes (a string
// stays as it is: the daemon's own words, in the language of the request that got them).
let statusLine = null;
function status(text, error = false) {
  statusLine = typeof text === "function" ? { make: text, error } : null;
  const words = typeof text === "function" ? text() : text;
  $("status").replaceChildren(...sentence(words || ""));
  $("status").classList.toggle("error", error);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // always text, never HTML: names are user data
  return node;
}

// A string someone typed (a name, a message), isolated from what is around it: its own
// direction (dir=auto), and nothing in it — a right-to-left override, Arabic digits — reorders
// the text before or after it. <bdi> is the element for this; CSS adds `unicode-bidi: isolate`.
function userText(className, text) {
  const node = el("bdi", className, text);
  node.dir = "auto";
  return node;
}

function setUserText(node, text) {
  node.textContent = text;
  node.dir = "auto";
}

async function guard(task) {
  try {
    status("");
    return await task();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      state.user = null;
      show("login-view");
    }
    status(err.message || String(err), true);
    return undefined;
  }
}

const files = filesUi({ state, $, el, userText, status, guard });

// --- login --------------------------------------------------------------------------------
$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  guard(async () => {
    const reply = await api.login(form.get("email"), form.get("password"));
    state.user = reply.user;
    e.target.reset();
    await accountLanguage();
    await showRooms();
    refreshDevice();
  });
});

// --- an invite link (ORIGIN/#join=CODE): the code stays in the fragment, never sent to a server
const inviteCode = new URLSearchParams(location.hash.slice(1)).get("join");

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  if (form.get("password") !== form.get("again")) {
    status(() => t("the two passwords do not match"), true);
    return;
  }
  guard(async () => {
    const made = await api.register(form.get("email"), form.get("username"), form.get("password"), inviteCode);
    const reply = await api.login(form.get("email"), form.get("password"));
    state.user = reply.user;
    e.target.reset();
    await accountLanguage();
    history.replaceState(null, "", location.pathname); // the spent code leaves the address bar
    await showRooms();
    if (made.room) status(() => t("You joined {room}.", { room: user(made.room.name) }));
  });
});

$("logout").addEventListener("click", () =>
  guard(async () => {
    await leaveRoom();
    await api.logout();
    state.user = null;
    show("login-view");
  }),
);

// --- the language (i18n.js): the switch saves it to the account, or to this browser ----------
// The switch's options are each language's own name, written into index.html by the daemon.
const knownLanguages = () => Object.fromEntries([...$("language").options].map((o) => [o.value, o.text]));

$("language").addEventListener("change", (e) => {
  const shown = statusLine; // guard clears the status line; a switch keeps it, in the new words
  return guard(async () => {
    if (shown) status(shown.make, shown.error);
    const lang = e.target.value;
    i18n.storeLanguage(lang);
    if (state.user) await api.setLanguage(lang);
    await i18n.use(lang);
    // The page's marked words are translated by i18n.js; the views made here are made again.
    if (state.socket && state.socket.connected) $("connection").textContent = t("connected");
    if (!$("rooms-view").hidden) await showRooms();
    if (state.user) await refreshDevice();
  });
});

// Logged in: the account's saved language wins; none saved yet, the choice made on this
// browser before logging in becomes the account's.
async function accountLanguage() {
  const saved = (await api.language()).language;
  const stored = i18n.storedLanguage();
  if (saved) {
    i18n.storeLanguage(saved);
    if (saved !== i18n.language()) await i18n.use(saved);
  } else if (stored && stored in knownLanguages()) {
    await api.setLanguage(stored);
  }
}

i18n.onChange((lang) => {
  $("language").value = lang;
  // The lines drawn from what happened, drawn again in the new language.
  if (statusLine) status(statusLine.make, statusLine.error);
  if (state.device) renderDevice(state.device);
  drawRecordingBadge();
});

// --- this browser as a device (device.js): file keys only once the identity certified it ------
function renderDevice(standing) {
  state.device = standing;
  const line = $("device-status");
  line.classList.toggle("error", !standing.linked);
  line.textContent = standing.linked
    ? t("This browser is a linked device of {username} ({fingerprint}): it can receive and send files.",
      { username: standing.username, fingerprint: standing.fingerprint })
    : t("No file transfers here: {reason}.", { reason: standing.reason });
  $("recovery-form").hidden = standing.linked || Boolean(standing.changed);
}

function refreshDevice() {
  return device.enroll().then(renderDevice).catch((err) => {
    state.device = null;
    $("device-status").textContent = t("No file transfers here: {reason}", { reason: err.message });
  });
}

$("recovery-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = e.target.elements.recovery;
  const text = input.value;
  input.value = ""; // not kept in the page longer than it takes to check it
  guard(async () => renderDevice(await device.restore(text)));
});

// --- rooms --------------------------------------------------------------------------------
async function showRooms() {
  show("rooms-view");
  const rooms = await api.rooms();
  const list = $("room-list");
  list.replaceChildren();
  for (const room of rooms) {
    const item = el("li");
    item.dataset.roomId = room.id;
    const members = tn("{n} member", "{n} members", room.participant_count);
    item.append(userText("name", room.name), el("span", "muted", members));
    const button = el("button", null, room.is_joined ? t("Open") : t("Join"));
    button.addEventListener("click", () => guard(() => openRoom(room)));
    item.append(button);
    list.append(item);
  }
  if (!rooms.length) list.append(el("li", "muted", t("No rooms yet: create one.")));
}

$("create-room-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = new FormData(e.target).get("name");
  guard(async () => {
    const room = await api.createRoom(name);
    e.target.reset();
    await openRoom(room);
  });
});

$("back").addEventListener("click", () => guard(async () => {
  await leaveRoom();
  await showRooms();
}));

// --- a room: chat, presence, call ------------------------------------------------------------
async function openRoom(room) {
  if (!room.is_joined) room = await api.joinRoom(room.id);
  state.room = room;
  state.lastId = 0;
  state.seen = new Set();
  setUserText($("room-name"), room.name);
  $("messages").replaceChildren();
  show("room-view");
  const page = await api.history(room.id);
  for (const message of page.messages) addMessage(message);
  connect();
}

function connect() {
  // The cookie set at login authenticates the WebSocket too (same origin).
  const socket = io({ path: "/socket.io", transports: ["websocket"] });
  state.socket = socket;
  socket.on("connect", () => guard(() => enterRoom(socket)));
  socket.on("disconnect", () => {
    $("connection").textContent = t("reconnecting…");
  });
  socket.on("connect_error", (err) => status(() => t("cannot connect: {reason}", { reason: err.message }), true));
  socket.on("chat:message", (message) => {
    if (state.room && message.room_id === state.room.id) addMessage(message);
  });
  socket.on("presence", (event) => {
    if (!state.room || event.room_id !== state.room.id) return;
    if (event.status === "online") state.online.set(event.user_id, event.username);
    else state.online.delete(event.user_id);
    renderOnline();
  });
  socket.on("room:removed", () => guard(async () => {
    await leaveRoom();
    status(() => t("you left this room"));
    await showRooms();
  }));
  socket.on("room:renamed", (event) => {
    if (!state.room || event.room_id !== state.room.id) return;
    state.room.name = event.name;
    setUserText($("room-name"), event.name);
    status(() => t("this room is now called {name}", { name: user(event.name) }));
  });
  socket.on("room:deleted", (event) => {
    if (!state.room || event.room_id !== state.room.id) return;
    guard(async () => {
      await leaveRoom(); // the daemon has ended our part in its call already
      await showRooms();
      status(() => t("the room {name} was deleted by its creator", { name: user(event.name) }));
    });
  });
  socket.on("vn:error", (error) => status(error.message, true));
  socket.on("transfer:offer", (offer) => {
    if (state.room && offer.room_id === state.room.id) files.addOffer(socket, offer);
  });
}

function ask(socket, event, body) {
  return new Promise((resolve, reject) => {
    socket.timeout(10000).emit(event, body, (err, ack) => {
      if (err) reject(new Error(t("{event}: no answer from the daemon", { event })));
      else if (!ack.ok) reject(new Error(ack.error.message));
      else resolve(ack);
    });
  });
}

// On every (re)connect: join the room's channel with `since`, so missed messages come first.
async function enterRoom(socket) {
  const ack = await ask(socket, "room:join", { room_id: state.room.id, since: state.lastId });
  $("connection").textContent = t("connected");
  state.online = new Map(ack.online.map((u) => [u.user_id, u.username]));
  renderOnline();
  if (state.call) await state.call.rejoin(); // the new socket is a new participant
  if (state.device === null) await refreshDevice();
  await files.offerResumes(socket);
}

function addMessage(message) {
  if (state.seen.has(message.id)) return; // after a reconnect the backlog may overlap
  state.seen.add(message.id);
  state.lastId = Math.max(state.lastId, message.id);
  const item = el("li");
  item.dataset.id = message.id;
  const time = i18n.timeOfDay(new Date(message.created_at));
  item.append(userText("author", message.username), userText("text", message.text), el("span", "time", time));
  const list = $("messages");
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("send-files");
  const picked = [...input.files];
  input.value = "";
  files.sendFiles(picked);
});

$("send-folder-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("send-folder");
  const picked = [...input.files];
  input.value = "";
  files.sendFiles(picked);
});

$("room-view").addEventListener("dragover", (e) => e.preventDefault());
$("room-view").addEventListener("drop", (e) => {
  e.preventDefault();
  const picked = [...e.dataTransfer.files];
  if (picked.length) files.sendFiles(picked);
});

function renderOnline() {
  const names = [...state.online.values()].sort();
  $("online").replaceChildren(...names.map((name) => {
    const item = el("li", "who", name); // isolated by CSS, as a <bdi> is
    item.dir = "auto";
    return item;
  }));
}

$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = e.target.elements.text;
  const text = input.value;
  guard(async () => {
    const ack = await ask(state.socket, "chat:send", { room_id: state.room.id, text });
    addMessage(ack.message);
    input.value = "";
  });
});

async function leaveRoom() {
  if (state.call) await state.call.leave();
  if (state.socket) state.socket.disconnect();
  state.socket = null;
  state.room = null;
}

// --- the call -------------------------------------------------------------------------------
const tiles = new Map();

function tile(key, label) {
  let node = tiles.get(key);
  if (!node) {
    node = el("div", "tile");
    const video = el("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = el("div", "label");
    caption.append(userText("who", label), el("span", "state"));
    node.append(video, caption);
    node.dataset.peer = key;
    $("tiles").append(node);
    tiles.set(key, node);
  }
  return node;
}

// A peer connection's state (RTCPeerConnection.connectionState), in the page's words.
function connectionState(name) {
  const words = {
    new: t("new"),
    connecting: t("connecting"),
    connected: t("connected"),
    disconnected: t("disconnected"),
    failed: t("failed"),
    closed: t("closed"),
  };
  return words[name] || name;
}

function recordingWords(recording) {
  return t("● Recording: {name} is recording this call on the media server",
    { name: user(recording.by.username) });
}

function drawRecordingBadge() {
  const badge = $("recording-badge");
  badge.hidden = !state.recording;
  if (state.recording) badge.replaceChildren(...sentence(recordingWords(state.recording)));
  else badge.replaceChildren();
}

const ui = {
  addTile(peer, stream) {
    const video = tile(peer.peer_id, peer.username).querySelector("video");
    if (video.srcObject !== stream) {
      video.srcObject = stream;
      // After "Join call" (a user gesture) the browser lets remote audio play.
      video.play().catch((err) => {
        // AbortError: a newer stream replaced this one before it started; that one plays.
        if (err.name !== "AbortError") {
          status(() => t("cannot play {name}'s media: {reason}", { name: user(peer.username), reason: err.message }), true);
        }
      });
    }
  },
  removeTile(peerId) {
    const node = tiles.get(peerId);
    if (node) node.remove();
    tiles.delete(peerId);
  },
  localChanged(stream) {
    const node = tile("local", t("you"));
    node.classList.add("local");
    const video = node.querySelector("video");
    video.muted = true; // never play our own microphone back
    video.srcObject = stream;
  },
  notice: status,
  peerState(d) {
    const node = tiles.get(d.peer.peer_id);
    if (!node) return;
    node.classList.toggle("speaking", d.speaking);
    // The name stays as it is (isolated); the devices that are off go in a span of their own.
    let flags = node.querySelector(".devices");
    if (!flags) {
      flags = el("span", "devices");
      node.querySelector(".label").append(flags);
    }
    const off = ["audio", "video"].filter((k) => !d[k]);
    flags.textContent = off.map((k) => (k === "audio" ? t("mic off") : t("camera off"))).join(", ");
  },
  recording(recording) {
    state.recording = recording || null;
    drawRecordingBadge();
    if (recording) status(() => recordingWords(recording));
  },
  changed() {
    if (!state.call) return;
    for (const { peer, pc } of state.call.peers.values()) {
      const node = tiles.get(peer.peer_id);
      if (node && pc) node.querySelector(".state").textContent = connectionState(pc.connectionState);
    }
  },
  ended() {
    for (const key of [...tiles.keys()]) ui.removeTile(key);
    state.call = null;
    $("join-call").hidden = false;
    $("leave-call").hidden = true;
  },
};

$("join-call").addEventListener("click", () => guard(async () => {
  const call = new Call(state.socket, state.room.id, ui);
  call.policy = icePolicy;
  state.call = call;
  $("join-call").hidden = true;
  $("leave-call").hidden = false;
  try {
    await call.start({ audio: $("with-mic").checked, video: $("with-camera").checked });
  } catch (err) {
    call.stop();
    throw err;
  }
}));

$("leave-call").addEventListener("click", () => guard(() => state.call && state.call.leave()));

for (const [box, kind] of [["with-camera", "video"], ["with-mic", "audio"]]) {
  $(box).addEventListener("change", (e) => guard(async () => {
    if (state.call) await state.call.setTrack(kind, e.target.checked);
  }));
}

// For scripts and tests: the live call's per-peer receive statistics.
window.videonet = {
  stats: () => (state.call ? state.call.stats() : Promise.resolve([])),
  uplink: () => (state.call ? state.call.uplink() : Promise.resolve(null)),
  mode: () => (state.call ? (state.call.janus ? "sfu" : "mesh") : null),
  device: () => state.device && { linked: state.device.linked, deviceId: state.device.device.deviceId },
  peerStates: () => (state.call ? state.call.peerStates() : []),
};

// --- start ----------------------------------------------------------------------------------
guard(async () => {
  try {
    state.user = await api.me();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) throw err;
  }
  const saved = state.user ? (await api.language()).language : null;
  const known = knownLanguages();
  const stored = i18n.storedLanguage();
  await i18n.use(saved || (stored in known ? stored : i18n.browserLanguage(known)));
  if (!state.user) {
    show(inviteCode ? "join-view" : "login-view");
    return;
  }
  await showRooms();
  await refreshDevice();
  await files.sweep().catch(() => undefined);
});
