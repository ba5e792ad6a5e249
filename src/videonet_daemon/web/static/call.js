import { JanusRoom } from "./sfu.js";

// A room's call as a mesh: one RTCPeerConnection per other participant. The daemon relays
// offer/answer/candidate/hang-up to one peer at a time; the newcomer offers to everyone listed
// at call:join, and the others wait for its offer (so two peers never offer to each other).
//
// Every connection gets an audio and a video transceiver from the start, sending whatever local
// track exists (or nothing yet): turning the camera on later is a replaceTrack, with no
// renegotiation, and the remote side sees video start late on a track it already knows.
//
// When the daemon has a media server (call:join answers with `media`), the call goes through
// Janus instead (sfu.js): one upload, a subscription per other participant; the roster, the
// tiles and the stats stay the same.

import { t } from "./i18n.js";
import { user } from "./text.js";

const KINDS = ["audio", "video"];
const SPEAKING_RMS = 0.02; // of the microphone's samples (-1..1): about -34 dBFS
const HANGOVER_MS = 800;

export class Call {
  constructor(socket, roomId, ui) {
    this.socket = socket;
    this.roomId = roomId;
    this.ui = ui; // {addTile(peer, stream), removeTile(peerId), notice(text), changed()}
    this.me = null;
    this.config = { iceServers: [] };
    this.peers = new Map(); // peer_id -> {peer, pc, pending: [], stream}
    this.known = new Map(); // peer_id -> peer, from the daemon's roster
    this.janus = null; // the call through the media server, if the daemon has one
    this.states = new Map(); // peer_id -> its last call:state (audio, video, speaking)
    this.speaking = false;
    this.meter = null;
    this.local = { audio: null, video: null };
    this.handlers = {
      "call:joined": (d) => {
        this.known.set(d.peer.peer_id, d.peer);
        this.ui.notice(() => t("{name} joined the call", { name: user(d.peer.username) }));
        this.sendState(); // the newcomer learns our mute and speaking state
      },
      // Theirs: the same event in a mesh and through the media server.
      "call:state": (d) => {
        this.states.set(d.peer.peer_id, d);
        this.ui.peerState(d);
      },
      "call:left": (d) => this.onLeft(d),
      "call:offer": (d) => this.onOffer(d),
      "call:answer": (d) => this.onAnswer(d),
      "call:candidate": (d) => this.onCandidate(d),
      "call:hangup": (d) => this.onHangup(d),
    };
    for (const [event, handler] of Object.entries(this.handlers)) {
      socket.on(event, (data) => {
        if (data && data.room_id === this.roomId && data.peer) this.serially(() => handler(data));
      });
    }
    // Recording on the media server: a notice to everyone, before and while it happens.
    socket.on("call:recording", (data) => {
      if (data && data.room_id === this.roomId) this.ui.recording(data.recording || null);
    });
    this.queue = Promise.resolve();
  }

  // Signaling events are handled one at a time, in order: a candidate never overtakes its offer.
  serially(task) {
    this.queue = this.queue.then(task).catch((err) => this.ui.notice(() => t("call: {reason}", { reason: err.message || String(err) })));
    return this.queue;
  }

  emit(event, body) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(10000).emit(event, { room_id: this.roomId, ...body }, (err, ack) => {
        if (err) reject(new Error(t("{event}: no answer from the daemon", { event })));
        else if (!ack.ok) reject(new Error(ack.error ? ack.error.message : t("{event} refused", { event })));
        else resolve(ack);
      });
    });
  }

  async start({ audio, video }) {
    if (audio) await this.setTrack("audio", true);
    if (video) await this.setTrack("video", true);
    await this.join();
  }

  // For scripts and tests: what the others said about their microphone, camera and speaking.
  peerStates() {
    return [...this.states.values()].map((d) => ({
      peer_id: d.peer.peer_id, username: d.peer.username, audio: d.audio, video: d.video, speaking: d.speaking,
    }));
  }

  async join() {
    const reply = await this.emit("call:join", {});
    this.me = reply.peer_id;
    this.config = { iceServers: reply.ice_servers || [], iceTransportPolicy: this.policy || "all" };
    for (const peer of reply.participants) this.known.set(peer.peer_id, peer);
    this.ui.recording(reply.recording || null);
    this.sendState();
    if (reply.media) {
      this.ui.notice(() => t("this call goes through the media server: encrypted on the way, but decrypted "
        + "there (no end-to-end encryption)"));
      this.janus = new JanusRoom(this, reply.media);
      await this.janus.start();
      return;
    }
    for (const peer of reply.participants) {
      await this.serially(() => this.offerTo(peer));
    }
  }

  // Camera or microphone on/off: every connection's sender of that kind follows.
  async setTrack(kind, on) {
    const old = this.local[kind];
    if (on && !old) {
      const media = await navigator.mediaDevices.getUserMedia({ [kind]: true });
      this.local[kind] = media.getTracks()[0];
    } else if (!on && old) {
      old.stop();
      this.local[kind] = null;
    } else {
      return;
    }
    if (this.janus) {
      await this.janus.setTrack(kind, this.local[kind]);
    } else {
      for (const { pc } of this.peers.values()) {
        const sender = senderOf(pc, kind);
        if (sender) await sender.replaceTrack(this.local[kind]);
      }
    }
    this.ui.localChanged(this.localStream());
    if (kind === "audio") this.measure();
    this.sendState();
  }

  // Mute state and speaking, to the others through the daemon (once in the call).
  sendState() {
    if (!this.me) return;
    const body = { audio: !!this.local.audio, video: !!this.local.video, speaking: this.speaking };
    this.emit("call:state", body).catch(() => {});
  }

  // Speaking: the microphone's level, every 200 ms, with a hang-over before it stops.
  measure() {
    if (this.meter) {
      clearInterval(this.meter.timer);
      this.meter.context.close();
      this.meter = null;
    }
    if (!this.local.audio) {
      if (this.speaking) { this.speaking = false; this.sendState(); }
      return;
    }
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(new MediaStream([this.local.audio])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let loudAt = 0;
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
      const now = Date.now();
      if (rms >= SPEAKING_RMS) loudAt = now;
      const speaking = now - loudAt <= HANGOVER_MS;
      if (speaking !== this.speaking) {
        this.speaking = speaking;
        this.sendState();
      }
    }, 200);
    this.meter = { context, timer };
  }

  localStream() {
    const tracks = KINDS.map((k) => this.local[k]).filter(Boolean);
    return tracks.length ? new MediaStream(tracks) : null;
  }

  link(peer) {
    const pc = new RTCPeerConnection(this.config);
    const entry = { peer, pc, pending: [], stream: new MediaStream() };
    this.peers.set(peer.peer_id, entry);
    pc.onicecandidate = (e) => {
      // null is the end of our candidates: the far side stops waiting for more.
      const candidate = e.candidate ? e.candidate.toJSON() : null;
      this.emit("call:candidate", { to: peer.peer_id, candidate }).catch(() => {});
    };
    pc.ontrack = (e) => {
      // A new stream object, so that the <video> reloads with the video track it now has.
      entry.stream = new MediaStream([...entry.stream.getTracks(), e.track]);
      this.ui.addTile(peer, entry.stream);
    };
    pc.onconnectionstatechange = () => {
      this.ui.changed();
      if (pc.connectionState === "failed" && this.peers.get(peer.peer_id) === entry) {
        this.serially(() => this.hangUp(peer.peer_id, t("the connection failed")));
      }
    };
    this.ui.addTile(peer, entry.stream);
    return entry;
  }

  async offerTo(peer) {
    const { pc } = this.link(peer);
    for (const kind of KINDS) {
      const transceiver = pc.addTransceiver(kind, { direction: "sendrecv" });
      if (this.local[kind]) await transceiver.sender.replaceTrack(this.local[kind]);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await this.emit("call:offer", { to: peer.peer_id, sdp: pc.localDescription.sdp });
  }

  async onOffer(data) {
    let entry = this.peers.get(data.peer.peer_id);
    if (entry && entry.pc.signalingState !== "stable") {
      this.close(data.peer.peer_id);
      entry = null;
    }
    if (!entry) entry = this.link(data.peer);
    const { pc } = entry;
    await pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      transceiver.direction = "sendrecv";
      if (!transceiver.sender.track && this.local[kind]) {
        await transceiver.sender.replaceTrack(this.local[kind]);
      }
    }
    await this.flush(entry);
    await pc.setLocalDescription(await pc.createAnswer());
    await this.emit("call:answer", { to: data.peer.peer_id, sdp: pc.localDescription.sdp });
  }

  async onAnswer(data) {
    const entry = this.peers.get(data.peer.peer_id);
    if (!entry || entry.pc.signalingState !== "have-local-offer") return;
    await entry.pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
    await this.flush(entry);
  }

  async onCandidate(data) {
    const entry = this.peers.get(data.peer.peer_id);
    if (!entry) return;
    if (!entry.pc.remoteDescription) {
      entry.pending.push(data.candidate);
      return;
    }
    await this.addCandidate(entry, data.candidate);
  }

  async flush(entry) {
    const pending = entry.pending;
    entry.pending = [];
    for (const candidate of pending) await this.addCandidate(entry, candidate);
  }

  async addCandidate(entry, candidate) {
    // null (or an empty candidate) ends the peer's candidates; the browser takes it as such.
    await entry.pc.addIceCandidate(candidate && candidate.candidate ? candidate : null);
  }

  onLeft(data) {
    if (data.peer.peer_id === this.me) {
      this.ui.notice(() => t("you are no longer in the call"));
      this.stop();
      return;
    }
    if (this.janus) this.janus.unsubscribe(data.peer.peer_id);
    if (this.close(data.peer.peer_id)) this.ui.notice(() => t("{name} left the call", { name: user(data.peer.username) }));
  }

  onHangup(data) {
    if (this.close(data.peer.peer_id)) {
      this.ui.notice(() => t("{name} hung up: {reason}", { name: user(data.peer.username), reason: user(data.reason || t("hung up")) }));
    }
  }

  async hangUp(peerId, reason) {
    const entry = this.peers.get(peerId);
    if (!entry || !this.close(peerId)) return;
    this.ui.notice(() => t("connection to {name} ended: {reason}", { name: user(entry.peer.username), reason }));
    await this.emit("call:hangup", { to: peerId, reason }).catch(() => {});
  }

  close(peerId) {
    const entry = this.peers.get(peerId);
    if (!entry) return false;
    this.peers.delete(peerId);
    if (entry.pc && !this.janus) entry.pc.close(); // through Janus: its handle closes it
    this.ui.removeTile(peerId);
    this.ui.changed();
    return true;
  }

  // The media server was lost: keep our place in the daemon's call, connect to Janus again
  // (every few seconds until it answers, for a minute).
  async restartMedia() {
    for (const peerId of [...this.peers.keys()]) this.close(peerId);
    if (this.janus) this.janus.stop();
    this.janus = null;
    await this.recapture();
    for (let attempt = 0; attempt < 20 && this.me; attempt += 1) {
      try {
        const access = await this.emit("call:media_token", {});
        const room = new JanusRoom(this, access);
        this.janus = room;
        await room.start();
        this.ui.notice(() => t("connected to the media server again"));
        return;
      } catch (err) {
        if (this.janus) this.janus.stop();
        this.janus = null;
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
    this.ui.notice(() => t("the media server does not answer: leave the call and join again later"));
  }

  // janus.js stops the tracks of the handles it tears down: capture again what was on.
  async recapture() {
    let recaptured = false;
    for (const kind of KINDS) {
      const track = this.local[kind];
      if (track && track.readyState === "ended") {
        const media = await navigator.mediaDevices.getUserMedia({ [kind]: true });
        this.local[kind] = media.getTracks()[0];
        recaptured = true;
      }
    }
    if (recaptured) {
      this.ui.localChanged(this.localStream());
      this.measure();
    }
  }

  // The daemon forgot us (a reconnect gives a new socket): drop every connection and join again.
  async rejoin() {
    for (const peerId of [...this.peers.keys()]) this.close(peerId);
    if (this.janus) this.janus.stop();
    this.janus = null;
    await this.join();
  }

  async leave() {
    if (this.socket.connected && this.me) await this.emit("call:leave", {}).catch(() => {});
    this.stop();
  }

  stop() {
    for (const peerId of [...this.peers.keys()]) this.close(peerId);
    if (this.janus) this.janus.stop();
    this.janus = null;
    for (const kind of KINDS) {
      if (this.local[kind]) this.local[kind].stop();
      this.local[kind] = null;
    }
    for (const event of Object.keys(this.handlers)) this.socket.off(event);
    this.socket.off("call:recording");
    this.ui.recording(null);
    if (this.meter) {
      clearInterval(this.meter.timer);
      this.meter.context.close();
      this.meter = null;
    }
    this.me = null;
    this.ui.ended();
  }

  // What we upload (bytes, and how many video streams: one per peer in a mesh, one through
  // the media server), from getStats: for tests and the benchmark.
  async uplink() {
    if (this.janus) return this.janus.uplink();
    const row = { bytesSent: 0, videoStreams: 0 };
    for (const { pc } of this.peers.values()) {
      (await pc.getStats()).forEach((s) => {
        if (s.type !== "outbound-rtp") return;
        row.bytesSent += s.bytesSent || 0;
        if (s.kind === "video" && s.packetsSent > 0) row.videoStreams += 1;
      });
    }
    return row;
  }

  // What each connection receives, from getStats: for the page's status line and for tests.
  async stats() {
    const rows = [];
    for (const { peer, pc } of this.peers.values()) {
      if (!pc) continue;
      const row = { peer_id: peer.peer_id, username: peer.username, state: pc.connectionState,
        framesDecoded: 0, audioSamples: 0, bytesReceived: 0, width: 0, height: 0, route: null };
      const report = await pc.getStats();
      report.forEach((s) => {
        // The local end of the pair in use: "host", "srflx" or "relay" (through TURN).
        if (s.type === "transport" && s.selectedCandidatePairId) {
          const pair = report.get(s.selectedCandidatePairId);
          const local = pair && report.get(pair.localCandidateId);
          if (local) row.route = local.candidateType;
        }
        if (s.type !== "inbound-rtp") return;
        row.bytesReceived += s.bytesReceived || 0;
        if (s.kind === "video") {
          row.framesDecoded += s.framesDecoded || 0;
          row.width = s.frameWidth || row.width;
          row.height = s.frameHeight || row.height;
        } else {
          row.audioSamples += s.totalSamplesReceived || 0;
        }
      });
      rows.push(row);
    }
    return rows;
  }
}

function senderOf(pc, kind) {
  const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
  return transceiver ? transceiver.sender : null;
}
