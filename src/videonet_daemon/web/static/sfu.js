// A room's call through the media server (Janus VideoRoom), with janus.js from Debian's
// libjs-janus-gateway (served by the daemon as /static/janus.js, with adapter.js): we publish
// our camera and microphone once, and subscribe to each other participant's feed. The daemon
// still keeps the roster (call:joined / call:left) and decides who may join: call:join gave us
// the VideoRoom, a short-lived token and the room's pin; call:media_token refreshes them.
//
// Media through the SFU is decrypted there: there is no end-to-end encryption for such calls.

import { t } from "./i18n.js";

const PLUGIN = "janus.plugin.videoroom";
const NO_SUCH_FEED = 428; // the publisher's media is not up yet: try again shortly
const UNAUTHORIZED = 433; // the pin changed (someone lost access): fetch the new one

let initialised = null;
function initJanus() {
  if (!window.Janus) return Promise.reject(new Error(t("janus.js is not served by this daemon")));
  if (!initialised) {
    initialised = new Promise((resolve) => {
      window.Janus.init({ debug: false, dependencies: window.Janus.useDefaultDependencies(), callback: resolve });
    });
  }
  return initialised;
}

export class JanusRoom {
  constructor(call, access) {
    this.call = call; // the Call: socket, ui, local tracks, peers map, config
    this.access = access;
    this.current = access.token;
    this.janus = null;
    this.publisher = null;
    this.subscriptions = new Map(); // feed (peer) id -> plugin handle
    this.refreshTimer = null;
    this.closed = false;
  }

  // janus.js reads the token it was given on every request; this object lets a refreshed
  // token replace it (strings are used as they are: toString for the long poll's query,
  // toJSON inside request bodies).
  tokenHolder() {
    return { toString: () => this.current, toJSON: () => this.current };
  }

  async start() {
    await initJanus();
    await new Promise((resolve, reject) => {
      this.janus = new window.Janus({
        server: this.access.server,
        token: this.tokenHolder(),
        iceServers: this.call.config.iceServers,
        iceTransportPolicy: this.call.config.iceTransportPolicy,
        success: resolve,
        error: (err) => {
          if (this.janus && this.publisher) this.lost(err);
          else reject(new Error(t("the media server does not answer: {reason}", { reason: String(err) })));
        },
      });
    });
    this.scheduleRefresh();
    await this.joinAsPublisher();
  }

  // Janus went away (killed, restarted): we are still in the daemon's call, so only the media
  // part starts again, with a fresh token (the daemon makes the VideoRoom again).
  lost(err) {
    if (this.closed) return;
    this.call.ui.notice(t("the media server was lost ({reason}); reconnecting", { reason: String(err) }));
    this.call.serially(() => this.call.restartMedia()).catch(() => {});
  }

  scheduleRefresh() {
    const left = this.access.token_expires_at * 1000 - Date.now();
    this.refreshTimer = setTimeout(() => this.refresh().catch(() => {}), Math.max(5000, left / 3));
  }

  async refresh() {
    const fresh = await this.call.emit("call:media_token", {});
    this.access = fresh;
    this.current = fresh.token;
    if (!this.closed) this.scheduleRefresh();
  }

  attach(callbacks) {
    return new Promise((resolve, reject) => {
      this.janus.attach({ plugin: PLUGIN, success: resolve, error: (e) => reject(new Error(e)), ...callbacks });
    });
  }

  // One request whose answer comes as an event; resolves with [data, jsep].
  request(handle, message, jsep, expect) {
    return new Promise((resolve, reject) => {
      handle.pending = { expect, resolve, reject };
      handle.send({ message, jsep, error: (e) => reject(new Error(e)) });
    });
  }

  answerOf(handle, msg, jsep) {
    const pending = handle.pending;
    if (!pending) return false;
    if (msg.error_code) {
      handle.pending = null;
      const error = new Error(msg.error);
      error.code = msg.error_code;
      pending.reject(error);
      return true;
    }
    if (msg.videoroom === pending.expect || msg[pending.expect] !== undefined) {
      handle.pending = null;
      pending.resolve([msg, jsep]);
      return true;
    }
    return false;
  }

  async joinAsPublisher() {
    const call = this.call;
    this.publisher = await this.attach({
      onmessage: (msg, jsep) => {
        if (this.answerOf(this.publisher, msg, jsep)) return;
        for (const feed of msg.publishers || []) this.subscribe(feed);
        const gone = msg.unpublished || msg.leaving;
        if (gone === "ok" || msg.videoroom === "destroyed") {
          call.ui.notice(t("the media server ended your part in the call"));
        } else if (gone) {
          this.unsubscribe(String(gone));
        }
      },
      webrtcState: (up) => call.ui.changed(),
    });
    const [joined] = await this.request(this.publisher, {
      request: "join", ptype: "publisher", room: this.access.room, pin: this.access.pin, id: call.me,
    }, undefined, "joined");
    await this.publish();
    for (const feed of joined.publishers || []) this.subscribe(feed);
  }

  // Our camera and microphone, once, to the SFU. A kind that is off gets a placeholder (a
  // still black picture, silence) so that the feed always has both, and turning it on later is
  // a replaceTrack on the sender already negotiated: the others see video start late on a track
  // they already receive, as in the mesh.
  async publish() {
    const tracks = ["audio", "video"].map((kind) => ({
      type: kind, capture: this.call.local[kind] || this.placeholder(kind), recv: false,
    }));
    const offer = await new Promise((resolve, reject) => {
      this.publisher.createOffer({ tracks, success: resolve, error: (e) => reject(new Error(e)) });
    });
    const [, answer] = await this.request(this.publisher, { request: "publish" }, offer, "configured");
    if (answer) this.publisher.handleRemoteJsep({ jsep: answer });
  }

  placeholder(kind) {
    this.placeholders = this.placeholders || {};
    if (!this.placeholders[kind] || this.placeholders[kind].readyState === "ended") {
      if (kind === "video") {
        const canvas = document.createElement("canvas");
        canvas.width = 320;
        canvas.height = 240;
        canvas.getContext("2d").fillRect(0, 0, canvas.width, canvas.height);
        this.placeholders.video = canvas.captureStream(1).getVideoTracks()[0];
      } else {
        this.silence = this.silence || new AudioContext();
        this.placeholders.audio = this.silence.createMediaStreamDestination().stream.getAudioTracks()[0];
      }
    }
    return this.placeholders[kind];
  }

  async setTrack(kind, track) {
    const pc = this.publisher && this.publisher.webrtcStuff.pc;
    if (!pc) return;
    const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
    if (transceiver) await transceiver.sender.replaceTrack(track || this.placeholder(kind));
  }

  subscribe(feed) {
    const id = String(feed.id);
    if (id === this.call.me || this.subscriptions.has(id) || this.closed) return;
    this.subscriptions.set(id, null);
    this.call.serially(() => this.subscribeNow(feed)).catch(() => {});
  }

  async subscribeNow(feed, attempt = 0) {
    const call = this.call;
    const id = String(feed.id);
    const peer = call.known.get(id) || { peer_id: id, user_id: 0, username: feed.display || id };
    const entry = { peer, pc: null, pending: [], stream: new MediaStream(), tracks: new Map() };
    const handle = await this.attach({
      onmessage: (msg, jsep) => { this.answerOf(handle, msg, jsep); },
      onremotetrack: (track, mid, on) => {
        if (on) entry.tracks.set(mid, track);
        else entry.tracks.delete(mid);
        // A new stream object, so that the <video> reloads with the tracks it now has.
        entry.stream = new MediaStream([...entry.tracks.values()]);
        call.ui.addTile(peer, entry.stream);
      },
      webrtcState: () => call.ui.changed(),
    });
    this.subscriptions.set(id, handle);
    let offer;
    try {
      [, offer] = await this.request(handle, {
        request: "join", ptype: "subscriber", room: this.access.room, pin: this.access.pin,
        streams: [{ feed: id }],
      }, undefined, "attached");
    } catch (err) {
      handle.detach();
      this.subscriptions.delete(id);
      if (err.code === UNAUTHORIZED && attempt === 0) await this.refresh();
      else if (err.code !== NO_SUCH_FEED || attempt > 10) throw err;
      await new Promise((r) => setTimeout(r, 500));
      this.subscriptions.set(id, null);
      return this.subscribeNow(feed, attempt + 1);
    }
    const answer = await new Promise((resolve, reject) => {
      handle.createAnswer({
        jsep: offer, tracks: [{ type: "data" }], success: resolve, error: (e) => reject(new Error(e)),
      });
    });
    await this.request(handle, { request: "start" }, answer, "started");
    entry.pc = handle.webrtcStuff.pc;
    call.peers.set(id, entry);
    call.ui.addTile(peer, entry.stream);
    call.ui.changed();
  }

  unsubscribe(id) {
    const handle = this.subscriptions.get(id);
    this.subscriptions.delete(id);
    if (handle) handle.detach();
    this.call.close(id);
  }

  // Our uplink: the one publishing connection (one video stream, whatever the call's size).
  async uplink() {
    const pc = this.publisher && this.publisher.webrtcStuff.pc;
    const row = { bytesSent: 0, videoStreams: 0 };
    if (!pc) return row;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp") {
        row.bytesSent += s.bytesSent || 0;
        if (s.kind === "video" && s.packetsSent > 0) row.videoStreams += 1;
      }
    });
    return row;
  }

  stop() {
    this.closed = true;
    for (const track of Object.values(this.placeholders || {})) track.stop();
    if (this.silence) this.silence.close();
    this.silence = null;
    this.placeholders = {};
    clearTimeout(this.refreshTimer);
    if (this.janus) this.janus.destroy({ cleanupHandles: true });
    this.janus = null;
    this.subscriptions.clear();
  }
}
