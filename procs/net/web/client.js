// venomrt browser client: protocol version 3 (docs/PROTOCOL.md), no
// framework, no build step. It joins the game net serves this page from,
// decodes each binary snapshot against the one it acknowledged, draws
// bodies, agents, the players' cursors and a HUD on a canvas,
// interpolating between the two newest snapshots, and sends clicks as
// spawns and right-clicks as explosions. window.venom exposes its state
// (the tests read it).
'use strict';

const VERSION = 3;
const SUBPIXEL = 16;
const KEEP = 64; // snapshots kept as bases (the server remembers as many)

// ---- decoding -------------------------------------------------------------

class BadMessage extends Error {}

function bad(what) {
  throw new BadMessage(what);
}

// Reader reads the byte-aligned parts of a message.
class Reader {
  constructor(buf) {
    this.b = new Uint8Array(buf);
    this.dv = new DataView(buf);
    this.i = 0;
  }
  u8(what) {
    if (this.i >= this.b.length) bad(what + ': message ends');
    return this.b[this.i++];
  }
  // uvarint reads a LEB128 varint of at most 10 bytes, no larger than max
  // (exact up to 2^53; larger ticks lose precision, which only shows).
  uvarint(what, max) {
    let v = 0, mul = 1;
    for (let n = 0; n < 10; n++) {
      const c = this.u8(what);
      v += (c & 0x7f) * mul;
      if (c < 0x80) {
        if (n > 0 && c === 0) bad(what + ': overlong varint');
        if (v > max) bad(what + ' ' + v + ', at most ' + max);
        return v;
      }
      mul *= 128;
    }
    bad(what + ': varint too long');
  }
  f32(what) {
    if (this.i + 4 > this.b.length) bad(what + ': message ends');
    const v = this.dv.getFloat32(this.i, true);
    this.i += 4;
    if (!Number.isFinite(v)) bad(what + ' is not finite');
    return v;
  }
  str(what, max) {
    const n = this.u8(what);
    if (n > max) bad(what + ' of ' + n + ' bytes, at most ' + max);
    if (this.i + n > this.b.length) bad(what + ': message ends');
    const s = utf8.decode(this.b.subarray(this.i, this.i + n));
    this.i += n;
    return s;
  }
}

const utf8 = new TextDecoder();
const MAX_U32 = 4294967295;
const MAX_FIXED = 1073741823; // 2^30 - 1
const MAX_PREDICT = 2097152; // 2^21
const MAX_ITEMS = 65536;
const MAX_CURSOR = 16777216; // 2^24

// The contexts' state, reused by every table (one is decoded at a time).
const ctxA = new Int32Array(16), ctxN = new Int32Array(16), ctxK = new Int32Array(16);

// Bits reads a bit stream most significant bit first, with a 32-bit
// window, and decodes adaptive Rice codes. The contexts (one per field of
// each list) are slots of three arrays: their sums, counts and k.
class Bits {
  constructor(b, start, end, contexts) {
    this.b = b;
    this.i = start;
    this.end = end;
    this.acc = 0; // the next n bits at the top, zeros below
    this.n = 0;
    this.ca = ctxA.fill(1);
    this.cn = ctxN.fill(1);
    this.ck = ctxK.fill(0);
  }
  refill() {
    while (this.n <= 24 && this.i < this.end) {
      this.acc = (this.acc | (this.b[this.i++] << (24 - this.n))) >>> 0;
      this.n += 8;
    }
  }
  // read returns k ≤ 24 bits.
  read(k) {
    if (k === 0) return 0;
    if (this.n < k) {
      this.refill();
      if (this.n < k) bad('bit stream ends inside a value');
    }
    const v = this.acc >>> (32 - k);
    this.acc = (this.acc << k) >>> 0;
    this.n -= k;
    return v;
  }
  // rice reads one value with context c.
  rice(c) {
    if (this.n <= 24) this.refill();
    const k = this.ck[c];
    const z = Math.clz32(this.acc);
    let u;
    if (z < 16) {
      if (z >= this.n) bad('bit stream ends inside a value');
      const used = z + 1 + k;
      if (used <= this.n) { // the common case: the whole code is in the window
        u = ((this.acc << (z + 1)) >>> (32 - k)) | (z << k);
        if (k === 0) u = z;
        this.acc = used === 32 ? 0 : (this.acc << used) >>> 0;
        this.n -= used;
      } else {
        this.acc = (this.acc << (z + 1)) >>> 0;
        this.n -= z + 1;
        u = z * (1 << k) + this.read(k);
      }
    } else {
      if (this.n < 16) bad('bit stream ends inside a value');
      this.acc = (this.acc << 16) >>> 0;
      this.n -= 16;
      const l = this.read(6);
      if (l === 0 || l > 40) bad('escaped value of ' + l + ' bits');
      const m = l - 1;
      u = m <= 24 ? 2 ** m + this.read(m) : 2 ** m + this.read(m - 24) * 16777216 + this.read(24);
    }
    // The context's update, exactly as the encoder's.
    let a = this.ca[c] + (u < 16777216 ? u : 16777216), n = this.cn[c] + 1;
    if (n === 16) {
      a >>>= 1;
      n = 8;
    }
    this.ca[c] = a;
    this.cn[c] = n;
    let nk = 0; // the smallest k with n·2^k ≥ a, at most 24
    while (nk < 24 && n << nk < a) nk++;
    this.ck[c] = nk;
    return u;
  }
  // signed reads a zigzag value within ±limit.
  signed(c, limit, what) {
    const u = this.rice(c);
    const v = u < 0x80000000 ? (u >>> 1) ^ -(u & 1) : u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    if (v < -limit || v > limit) bad(what + ': value ' + v + ' out of range');
    return v;
  }
  // id reads the next id of a list: the previous one plus one plus a gap.
  id(c, prev, what) {
    const id = prev + 1 + this.rice(c);
    if (id > MAX_U32) bad(what + ': id ' + id + ' out of range');
    return id;
  }
  done() {
    this.refill();
    if (this.i !== this.end || this.n >= 8 || this.acc !== 0) bad('bit stream: bits left over');
  }
}

// Rice contexts of a table.
const RM_ID = 0, ADD_ID = 1, ADD_ATTR = 2, ADD_X = 3, ADD_Y = 4, ADD_VX = 5, ADD_VY = 6, ADD_R = 7,
  MV_ID = 8, MV_VX = 9, MV_VY = 10, MV_X = 11, MV_Y = 12, RS_ID = 13, RS_ATTR = 14, RS_R = 15, CONTEXTS = 16;

function unzigzag(u) {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

// A table is columns: id, attr (flags or kind), x, y, vx, vy, r, in one
// buffer.
function newTable(n) {
  const buf = new ArrayBuffer(28 * n);
  return {n, id: new Uint32Array(buf, 0, n), attr: new Uint32Array(buf, 4 * n, n), x: new Int32Array(buf, 8 * n, n),
    y: new Int32Array(buf, 12 * n, n), vx: new Int32Array(buf, 16 * n, n), vy: new Int32Array(buf, 20 * n, n),
    r: new Int32Array(buf, 24 * n, n)};
}

const EMPTY = newTable(0);

function inFixed(v) {
  return v >= -MAX_FIXED && v <= MAX_FIXED;
}

// Scratch space for the lists of a table, reused from message to message.
let scratch = new Float64Array(1024);
function scratchFor(n) {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

// readTable decodes a table against base (the same table of the base
// snapshot, or an empty one).
function readTable(rd, base, hasR, what) {
  const nRemoved = rd.uvarint(what + ': removed', base.n);
  const nAdded = rd.uvarint(what + ': added', MAX_ITEMS);
  const nMoved = rd.uvarint(what + ': moved', base.n);
  const nRestyled = rd.uvarint(what + ': restyled', base.n);
  const p = rd.uvarint(what + ': predictor', MAX_PREDICT);
  const size = rd.uvarint(what + ': bit stream bytes', rd.b.length - rd.i);
  const need = nRemoved + nAdded * (hasR ? 7 : 6) + nMoved * 5 + nRestyled * (hasR ? 3 : 2);
  if (need > size * 8) bad(what + ': ' + need + ' values cannot fit ' + size + ' bytes');
  if (nAdded + base.n - nRemoved > MAX_ITEMS) bad(what + ': more than ' + MAX_ITEMS + ' items');
  const bits = new Bits(rd.b, rd.i, rd.i + size, CONTEXTS);
  rd.i += size;
  // Lists, one after the other in the scratch space: removed ids; moves
  // (id, dvx, dvy, rx, ry); restyles (id, attr, dr).
  const sc = scratchFor(nRemoved + 5 * nMoved + 3 * nRestyled);
  const mvAt = nRemoved, rsAt = nRemoved + 5 * nMoved;
  let prev = -1;
  for (let i = 0; i < nRemoved; i++) sc[i] = prev = bits.id(RM_ID, prev, what);
  const added = nAdded ? newTable(nAdded) : EMPTY;
  prev = -1;
  for (let i = 0; i < nAdded; i++) {
    added.id[i] = prev = bits.id(ADD_ID, prev, what);
    const attr = bits.rice(ADD_ATTR);
    if (attr > MAX_U32) bad(what + ': value ' + attr + ' out of range');
    added.attr[i] = attr;
    added.x[i] = bits.signed(ADD_X, MAX_FIXED, what);
    added.y[i] = bits.signed(ADD_Y, MAX_FIXED, what);
    added.vx[i] = bits.signed(ADD_VX, MAX_FIXED, what);
    added.vy[i] = bits.signed(ADD_VY, MAX_FIXED, what);
    if (hasR) added.r[i] = bits.signed(ADD_R, MAX_FIXED, what);
  }
  prev = -1;
  for (let i = 0, o = mvAt; i < nMoved; i++, o += 5) {
    sc[o] = prev = bits.id(MV_ID, prev, what);
    sc[o + 1] = bits.signed(MV_VX, 2 * MAX_FIXED, what);
    sc[o + 2] = bits.signed(MV_VY, 2 * MAX_FIXED, what);
    sc[o + 3] = bits.signed(MV_X, 549755813888, what); // 2^39
    sc[o + 4] = bits.signed(MV_Y, 549755813888, what);
  }
  prev = -1;
  for (let i = 0, o = rsAt; i < nRestyled; i++, o += 3) {
    sc[o] = prev = bits.id(RS_ID, prev, what);
    const attr = bits.rice(RS_ATTR);
    if (attr > MAX_U32) bad(what + ': value ' + attr + ' out of range');
    sc[o + 1] = attr;
    sc[o + 2] = hasR ? bits.signed(RS_R, 2 * MAX_FIXED, what) : 0;
  }
  bits.done();

  // Merge: the base's items in id order, less the removed, restyled and
  // moved as told, with the added ones in their places.
  const out = newTable(base.n - nRemoved + nAdded);
  const oid = out.id, oattr = out.attr, ox = out.x, oy = out.y, ovx = out.vx, ovy = out.vy, or = out.r;
  const bid = base.id, battr = base.attr, bx = base.x, by = base.y, bvx = base.vx, bvy = base.vy, br = base.r;
  let o = 0, ai = 0, ri = 0, mi = mvAt, si = rsAt;
  const mvEnd = mvAt + 5 * nMoved, rsEnd = rsAt + 3 * nRestyled;
  for (let i = 0; i < base.n; i++) {
    const id = bid[i];
    while (ai < nAdded && added.id[ai] < id) {
      oid[o] = added.id[ai]; oattr[o] = added.attr[ai]; ox[o] = added.x[ai]; oy[o] = added.y[ai];
      ovx[o] = added.vx[ai]; ovy[o] = added.vy[ai]; or[o] = added.r[ai];
      o++;
      ai++;
    }
    if (ai < nAdded && added.id[ai] === id) bad(what + ': added id ' + id + ' is in the base');
    if (ri < nRemoved && sc[ri] === id) {
      ri++;
      continue;
    }
    oid[o] = id; oattr[o] = battr[i]; or[o] = br[i];
    if (si < rsEnd && sc[si] === id) {
      oattr[o] = sc[si + 1];
      const r = br[i] + sc[si + 2];
      if (!inFixed(r)) bad(what + ': radius of ' + id + ' out of range');
      or[o] = r;
      si += 3;
    }
    if (mi < mvEnd && sc[mi] === id) {
      const vbx = bvx[i], vby = bvy[i];
      const vx = vbx + sc[mi + 1], vy = vby + sc[mi + 2];
      if (!inFixed(vx) || !inFixed(vy)) bad(what + ': velocity of ' + id + ' out of range');
      // (vb + v)·P + 2^16 < 2^53: exact in a double, as is the division.
      const x = bx[i] + Math.floor(((vbx + vx) * p + 65536) / 131072) + sc[mi + 3];
      const y = by[i] + Math.floor(((vby + vy) * p + 65536) / 131072) + sc[mi + 4];
      if (!inFixed(x) || !inFixed(y)) bad(what + ': position of ' + id + ' out of range');
      ox[o] = x; oy[o] = y; ovx[o] = vx; ovy[o] = vy;
      mi += 5;
    } else {
      ox[o] = bx[i]; oy[o] = by[i]; ovx[o] = bvx[i]; ovy[o] = bvy[i];
    }
    o++;
  }
  while (ai < nAdded) {
    oid[o] = added.id[ai]; oattr[o] = added.attr[ai]; ox[o] = added.x[ai]; oy[o] = added.y[ai];
    ovx[o] = added.vx[ai]; ovy[o] = added.vy[ai]; or[o] = added.r[ai];
    o++;
    ai++;
  }
  if (ri !== nRemoved || mi !== mvEnd || si !== rsEnd) bad(what + ': ids not in the base (or out of order)');
  return out;
}

function readPlayers(rd, base) {
  const n = rd.uvarint('players', 1024);
  const out = [];
  let prev = -1, bi = 0;
  for (let i = 0; i < n; i++) {
    const id = prev + 1 + rd.uvarint('player id gap', MAX_U32);
    if (id > MAX_U32) bad('player id out of range');
    prev = id;
    while (bi < base.length && base[bi].id < id) bi++;
    const was = bi < base.length && base[bi].id === id ? base[bi] : null;
    const p = was ? Object.assign({}, was) : {id, name: '', color: 0, cx: 0, cy: 0, rtt: 0};
    const bits = rd.u8('player bits');
    if (bits & ~3) bad('player bits ' + bits);
    if (!was && !(bits & 1)) bad('player ' + id + ' is new but has no name');
    if (bits & 1) {
      p.name = rd.str('player name', 16);
      p.color = (rd.u8('player color') << 16) | (rd.u8('player color') << 8) | rd.u8('player color');
    }
    p.cx = (was ? was.cx : 0) + unzigzag(rd.uvarint('cursor x', 4 * MAX_CURSOR));
    p.cy = (was ? was.cy : 0) + unzigzag(rd.uvarint('cursor y', 4 * MAX_CURSOR));
    if (Math.abs(p.cx) > MAX_CURSOR || Math.abs(p.cy) > MAX_CURSOR) bad('cursor of player ' + id + ' out of range');
    if (bits & 2) p.rtt = rd.uvarint('rtt', 2 ** 53);
    out.push(p);
  }
  return out;
}

function readChildren(rd) {
  const n = rd.uvarint('children', 128);
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = {name: rd.str('child name', 16), state: rd.str('child state', 16), pid: rd.uvarint('pid', MAX_U32),
      restarts: rd.uvarint('restarts', MAX_U32), tick: rd.uvarint('tick', 2 ** 64), age: -1};
    const age = rd.uvarint('age', 2 ** 53);
    if (age > 0) c.age = age - 1; // µs
    c.reason = rd.str('child reason', 48);
    out.push(c);
  }
  return out;
}

// decode decodes a server message; bases maps seq → snapshot.
function decode(buf, bases) {
  const rd = new Reader(buf);
  const kind = rd.u8('kind');
  let id = 0;
  if (kind === 1) id = rd.uvarint('player id', MAX_U32);
  else if (kind !== 2) bad('unknown message kind ' + kind);
  const seq = rd.uvarint('seq', 2 ** 53);
  const baseSeq = rd.uvarint('base', 2 ** 53);
  if (seq === 0) bad('seq 0');
  if (baseSeq >= seq) bad('base ' + baseSeq + ' is not before seq ' + seq);
  if (kind === 1 && baseSeq !== 0) bad('a welcome must be full');
  let base = null;
  if (baseSeq !== 0) {
    base = bases.get(baseSeq);
    if (!base) bad('delta against snapshot ' + baseSeq + ', which the client does not hold');
  }
  const s = {welcome: kind === 1, id, seq, baseSeq, tick: rd.uvarint('tick', 2 ** 64),
    physicsTick: rd.uvarint('physics tick', 2 ** 64), aiTick: rd.uvarint('ai tick', 2 ** 64),
    w: rd.f32('width'), h: rd.f32('height')};
  s.bodies = readTable(rd, base ? base.bodies : EMPTY, true, 'bodies');
  s.agents = readTable(rd, base ? base.agents : EMPTY, false, 'agents');
  s.players = readPlayers(rd, base ? base.players : []);
  s.children = readChildren(rd);
  if (rd.i !== rd.b.length) bad((rd.b.length - rd.i) + ' bytes after the world');
  return s;
}

function ackMessage(seq) {
  const b = [1];
  let v = seq;
  while (v >= 128) {
    b.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  b.push(v);
  return new Uint8Array(b);
}

function inputMessage(cursor, spawn, explode) {
  const m = new Uint8Array(cursor ? 10 : 2);
  m[0] = 2;
  m[1] = (cursor ? 1 : 0) | (spawn ? 2 : 0) | (explode ? 4 : 0);
  if (cursor) {
    const dv = new DataView(m.buffer);
    dv.setFloat32(2, cursor[0], true);
    dv.setFloat32(6, cursor[1], true);
  }
  return m;
}

// viewMessage tells the server the player's view (area of interest):
// the rectangle of the world the canvas shows, world px. The server sends
// only the bodies in it (and a margin), at most a few thousand.
function viewMessage(x, y, w, h) {
  const m = new Uint8Array(17);
  m[0] = 3;
  const dv = new DataView(m.buffer);
  [x, y, w, h].forEach((v, i) => dv.setFloat32(1 + 4 * i, v, true));
  return m;
}

// ---- the game -------------------------------------------------------------

const params = new URLSearchParams(location.search);
const name = (params.get('name') || 'browser').slice(0, 16);
const wsURL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?v=' + VERSION +
  '&name=' + encodeURIComponent(name);

const state = {
  url: wsURL, name, state: 'connecting', id: 0, snapshots: 0, reconnects: 0, closes: 0, lastClose: '',
  bodies: 0, agents: 0, players: [], decodeMs: 0, bytes: 0, physicsTick: 0, drawn: 0,
  view: '', // the view last sent: "x,y,w,h"
};
window.venom = state;
window.venomDecode = decode; // for the tests' decoding benchmark

let ws = null;
let bases = new Map();
let prev = null, cur = null; // the two newest snapshots, with .at (ms)
let interval = 50;
let cursor = null, cursorSent = 0, cursorDirty = false;
const pending = []; // clicks made while not connected (at most 16)
let hud = true;
let borders = false; // the debug key B: the borders between physics's regions

// regionBorders is where the borders between physics's regions lie, in
// world px: the world is cut into as many vertical strips of equal width
// as the status names members physics-0 … physics-N-1 (none for a world
// of one region). Net's stream is one world; only this debug view shows
// the cut.
function regionBorders(children, width) {
  let n = 0;
  for (const c of children || []) {
    const m = /^physics-(\d+)$/.exec(c.name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  const xs = [];
  for (let k = 1; k < n; k++) xs.push((width * k) / n);
  return xs;
}
window.venomBorders = regionBorders; // for the tests
let backoff = 250;
let refused = false;
const rate = {t0: performance.now(), snaps: 0, bytes: 0, perSec: 0, bytesPerSec: 0};

function connect() {
  state.state = state.reconnects > 0 || state.closes > 0 ? 'reconnecting' : 'connecting';
  const sock = new WebSocket(wsURL);
  sock.binaryType = 'arraybuffer';
  let ours = false; // we closed it for a bad message: join again
  ws = sock;
  bases = new Map();
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    if (typeof ev.data === 'string') {
      ours = true;
      sock.close(4000, 'text frame: protocol version 3 sends binary frames');
      return;
    }
    let s;
    const t0 = performance.now();
    try {
      s = decode(ev.data, bases);
    } catch (e) {
      if (!(e instanceof BadMessage)) throw e;
      ours = true;
      sock.close(4000, ('bad message: ' + e.message).slice(0, 120));
      return;
    }
    const dt = performance.now() - t0;
    state.decodeMs = state.decodeMs ? 0.9 * state.decodeMs + 0.1 * dt : dt;
    bases.set(s.seq, s);
    for (const k of bases.keys()) if (k < s.baseSeq || k + KEEP <= s.seq) bases.delete(k);
    sock.send(ackMessage(s.seq));
    if (s.welcome) {
      state.id = s.id;
      state.state = 'connected';
      state.view = ''; // a new connection: say the view again
      backoff = 250;
      for (const m of pending.splice(0)) sock.send(m);
    }
    const now = performance.now();
    s.at = now;
    if (cur) interval = Math.min(200, Math.max(10, 0.8 * interval + 0.2 * (now - cur.at)));
    prev = cur && !s.welcome ? cur : s;
    cur = s;
    state.snapshots++;
    state.bytes += ev.data.byteLength;
    state.bodies = s.bodies.n;
    state.agents = s.agents.n;
    state.physicsTick = s.physicsTick;
    state.players = s.players.map((p) => ({id: p.id, name: p.name, x: p.cx / SUBPIXEL, y: p.cy / SUBPIXEL}));
    rate.snaps++;
    rate.bytes += ev.data.byteLength;
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    state.closes++;
    state.lastClose = (ours ? 'ours ' : '') + ev.code + (ev.reason ? ' ' + ev.reason : '');
    if (ev.code === 1008 && !ours) { // the server refuses us: say why, do not retry
      refused = true;
      state.state = 'refused: ' + ev.reason;
      return;
    }
    state.state = 'reconnecting';
    const wait = ev.code === 1013 ? 2000 : backoff;
    backoff = Math.min(2000, backoff * 2);
    setTimeout(() => {
      state.reconnects++;
      connect();
    }, wait);
  };
}

function send(m) {
  if (ws && ws.readyState === WebSocket.OPEN && state.state === 'connected') ws.send(m);
  else if (pending.length < 16) pending.push(m);
}

// ---- drawing --------------------------------------------------------------

const canvas = document.getElementById('c');
const g = canvas.getContext('2d', {alpha: false});
let view = {sx: 1, ox: 0, oy: 0};

function resize() {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(innerWidth * dpr);
  canvas.height = Math.round(innerHeight * dpr);
}
addEventListener('resize', resize);
resize();

// speedColor is the window's: blue, cyan, green, yellow, red up to 700 px/s.
const stops = [[40, 110, 255], [0, 210, 230], [50, 220, 70], [250, 215, 30], [255, 50, 40]];
const speedColors = [];
for (let i = 0; i < 64; i++) {
  const t = (i / 63) * (stops.length - 1);
  const j = Math.min(Math.floor(t), stops.length - 2), f = t - j;
  const c = stops[j].map((a, k) => Math.round(a + (stops[j + 1][k] - a) * f));
  speedColors.push('rgb(' + c.join(',') + ')');
}
const agentColors = {1: '#f5f5f5', 2: '#f5d7e1', 3: '#d2e1f5'};

// sendView sends the part of the world the canvas shows (all of it,
// scaled to fit: a wider world is drawn smaller) when it changed.
function sendView(ww, wh, W, H) {
  if (!ws || state.state !== 'connected') return;
  const x0 = Math.max(0, -view.ox / view.sx), y0 = Math.max(0, -view.oy / view.sx);
  const x1 = Math.min(ww, (W - view.ox) / view.sx), y1 = Math.min(wh, (H - view.oy) / view.sx);
  if (!(x1 > x0 && y1 > y0)) return;
  const v = [x0, y0, x1 - x0, y1 - y0].map((f) => Math.round(f)).join(',');
  if (v === state.view) return;
  ws.send(viewMessage(Math.round(x0), Math.round(y0), Math.round(x1 - x0), Math.round(y1 - y0)));
  state.view = v;
}

function hex(c) {
  return '#' + c.toString(16).padStart(6, '0');
}

function draw() {
  requestAnimationFrame(draw);
  const W = canvas.width, H = canvas.height;
  g.fillStyle = '#0e1016';
  g.fillRect(0, 0, W, H);
  if (!cur) {
    hudText(['venomrt — ' + state.state + ' ' + wsURL]);
    return;
  }
  const ww = cur.w || 1280, wh = cur.h || 720;
  const sx = Math.min(W / ww, H / wh);
  const ox = (W - ww * sx) / 2, oy = (H - wh * sx) / 2;
  view = {sx, ox, oy};
  sendView(ww, wh, W, H);
  g.fillStyle = '#141821';
  g.fillRect(ox, oy, ww * sx, wh * sx);
  const down = state.state !== 'connected';
  // Interpolate: one snapshot interval behind, from prev to cur.
  const t = Math.min(1, Math.max(0, (performance.now() - cur.at) / interval));
  const a = prev.bodies, b = cur.bodies;
  const k = sx / SUBPIXEL;
  g.globalAlpha = down ? 0.5 : 1;
  let j = 0;
  for (let i = 0; i < b.n; i++) {
    const id = b.id[i];
    while (j < a.n && a.id[j] < id) j++;
    let x = b.x[i], y = b.y[i];
    if (j < a.n && a.id[j] === id) {
      x = a.x[j] + (x - a.x[j]) * t;
      y = a.y[j] + (y - a.y[j]) * t;
    }
    const speed = Math.hypot(b.vx[i], b.vy[i]);
    g.fillStyle = speedColors[Math.min(63, Math.round((speed / 700) * 63))];
    g.beginPath();
    g.arc(ox + x * k, oy + y * k, Math.max(0.75, b.r[i] * k), 0, 2 * Math.PI);
    g.fill();
  }
  const pa = prev.agents, ca = cur.agents;
  j = 0;
  for (let i = 0; i < ca.n; i++) {
    const id = ca.id[i];
    while (j < pa.n && pa.id[j] < id) j++;
    let x = ca.x[i], y = ca.y[i];
    if (j < pa.n && pa.id[j] === id) {
      x = pa.x[j] + (x - pa.x[j]) * t;
      y = pa.y[j] + (y - pa.y[j]) * t;
    }
    const ang = Math.atan2(ca.vy[i], ca.vx[i]);
    g.save();
    g.translate(ox + x * k, oy + y * k);
    g.rotate(ang);
    g.fillStyle = agentColors[ca.attr[i]] || '#c8c8c8';
    g.beginPath();
    const s = 6 * Math.max(1, sx);
    g.moveTo(s, 0);
    g.lineTo(-s * 0.8, s * 0.6);
    g.lineTo(-s * 0.8, -s * 0.6);
    g.closePath();
    g.fill();
    g.restore();
  }
  g.globalAlpha = 1;
  if (borders) {
    const xs = regionBorders(cur.children, ww);
    g.strokeStyle = g.fillStyle = '#ff00ff';
    g.lineWidth = 1;
    g.font = '12px sans-serif';
    xs.forEach((x, i) => {
      g.beginPath();
      g.moveTo(ox + x * sx, oy);
      g.lineTo(ox + x * sx, oy + wh * sx);
      g.stroke();
      g.fillText('region ' + (i + 1), ox + x * sx + 4, oy + 14);
    });
    if (xs.length) g.fillText('region 0', ox + 4, oy + 14);
    state.borders = xs.length;
  }
  g.font = Math.round(12 * Math.max(1, sx)) + 'px sans-serif';
  for (const p of cur.players) {
    const x = ox + (p.cx / SUBPIXEL) * sx, y = oy + (p.cy / SUBPIXEL) * sx;
    g.strokeStyle = g.fillStyle = hex(p.color);
    g.lineWidth = 3;
    g.beginPath();
    g.moveTo(x - 8, y); g.lineTo(x + 8, y);
    g.moveTo(x, y - 8); g.lineTo(x, y + 8);
    g.stroke();
    g.fillText(p.name + (p.id === state.id ? ' (you)' : ''), x + 10, y - 8);
  }
  state.drawn++;
  if (hud) drawHUD();
}

function drawHUD() {
  const now = performance.now();
  if (now - rate.t0 >= 1000) {
    rate.perSec = (rate.snaps * 1000) / (now - rate.t0);
    rate.bytesPerSec = (rate.bytes * 1000) / (now - rate.t0);
    rate.t0 = now;
    rate.snaps = rate.bytes = 0;
  }
  const lines = [
    'venomrt  ' + name + ' #' + state.id + '  ' + state.state + (state.reconnects ? '  reconnects ' + state.reconnects : ''),
    'bodies ' + cur.bodies.n + '  agents ' + cur.agents.n + '  players ' + cur.players.length + '  snapshots/s ' +
      rate.perSec.toFixed(1) + '  ' + (rate.bytesPerSec / 1000).toFixed(1) + ' kB/s  decode ' + state.decodeMs.toFixed(2) + ' ms',
  ];
  for (const c of cur.children) {
    let l = c.name.padEnd(8) + ' ' + c.state.padEnd(8) + ' pid ' + c.pid + '  restarts ' + c.restarts + '  tick ' + c.tick;
    if (c.age >= 0) l += '  age ' + (c.age / 1000).toFixed(0) + ' ms';
    if (c.reason && c.state !== 'running') l += '  ' + c.reason;
    lines.push(l);
  }
  lines.push('click: spawn  right-click: explode  H: HUD  B: region borders');
  hudText(lines);
}

function hudText(lines) {
  const px = Math.round(13 * (window.devicePixelRatio || 1));
  g.font = px + 'px monospace';
  let w = 0;
  for (const l of lines) w = Math.max(w, g.measureText(l).width);
  g.fillStyle = 'rgba(0,0,0,0.66)';
  g.fillRect(0, 0, w + px, lines.length * px * 1.3 + px * 0.6);
  g.fillStyle = '#e6e6e6';
  lines.forEach((l, i) => g.fillText(l, px / 2, px * 1.3 * (i + 1)));
}

// ---- input ----------------------------------------------------------------

function worldAt(ev) {
  const r = canvas.getBoundingClientRect();
  const dpr = canvas.width / r.width;
  return [((ev.clientX - r.left) * dpr - view.ox) / view.sx, ((ev.clientY - r.top) * dpr - view.oy) / view.sx];
}

canvas.addEventListener('mousemove', (ev) => {
  cursor = worldAt(ev);
  cursorDirty = true;
});
canvas.addEventListener('mousedown', (ev) => {
  cursor = worldAt(ev);
  if (ev.button === 0) send(inputMessage(cursor, true, false));
  if (ev.button === 2) send(inputMessage(cursor, false, true));
  cursorSent = performance.now();
  cursorDirty = false;
  ev.preventDefault();
});
canvas.addEventListener('contextmenu', (ev) => ev.preventDefault());
addEventListener('keydown', (ev) => {
  if (ev.key === 'h' || ev.key === 'H') hud = !hud;
  if (ev.key === 'b' || ev.key === 'B') {
    borders = !borders;
    state.borders = 0;
  }
});
// The cursor goes out 20 times a second at most: well inside the
// server's input rate, with room for clicks.
setInterval(() => {
  if (cursorDirty && ws && state.state === 'connected' && performance.now() - cursorSent >= 50) {
    ws.send(inputMessage(cursor, false, false));
    cursorSent = performance.now();
    cursorDirty = false;
  }
}, 50);

connect();
requestAnimationFrame(draw);
