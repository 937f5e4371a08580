// MD5 (RFC 1321) of a file, in the browser, a slice at a time: a video's MD5 is the value
// StopNCII and partner lists exchange as VideoMD5 (matching.videos.md5_of on the server).
// Not used for security.
(function (root) {
  "use strict";

  var S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
  var K = new Int32Array(64);
  for (var i = 0; i < 64; i++) { K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0; }

  function MD5() {
    this.state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.buffer = new Uint8Array(64);
    this.buffered = 0;
    this.length = 0; // bytes
    this.words = new Int32Array(16);
  }

  MD5.prototype.block = function (bytes, offset) {
    var m = this.words, s = this.state, j;
    for (j = 0; j < 16; j++) {
      var o = offset + 4 * j;
      m[j] = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
    }
    var a = s[0], b = s[1], c = s[2], d = s[3];
    for (j = 0; j < 64; j++) {
      var f, g;
      if (j < 16) { f = (b & c) | (~b & d); g = j; }
      else if (j < 32) { f = (d & b) | (~d & c); g = (5 * j + 1) & 15; }
      else if (j < 48) { f = b ^ c ^ d; g = (3 * j + 5) & 15; }
      else { f = c ^ (b | ~d); g = (7 * j) & 15; }
      var t = d;
      d = c;
      c = b;
      var x = (a + f + K[j] + m[g]) | 0;
      b = (b + ((x << S[j]) | (x >>> (32 - S[j])))) | 0;
      a = t;
    }
    s[0] = (s[0] + a) | 0; s[1] = (s[1] + b) | 0; s[2] = (s[2] + c) | 0; s[3] = (s[3] + d) | 0;
  };

  MD5.prototype.update = function (bytes) {
    var i = 0, n = bytes.length;
    this.length += n;
    if (this.buffered) {
      while (i < n && this.buffered < 64) { this.buffer[this.buffered++] = bytes[i++]; }
      if (this.buffered < 64) { return; }
      this.block(this.buffer, 0);
      this.buffered = 0;
    }
    for (; i + 64 <= n; i += 64) { this.block(bytes, i); }
    while (i < n) { this.buffer[this.buffered++] = bytes[i++]; }
  };

  MD5.prototype.hex = function () {
    var bits = this.length * 8;
    var pad = new Uint8Array(((this.buffered < 56 ? 56 : 120) - this.buffered) + 8);
    pad[0] = 0x80;
    var at = pad.length - 8;
    for (var j = 0; j < 8; j++) { pad[at + j] = Math.floor(bits / Math.pow(2, 8 * j)) & 0xff; }
    this.update(pad);
    var out = "";
    for (var w = 0; w < 4; w++) {
      for (var k = 0; k < 4; k++) {
        out += ("0" + ((this.state[w] >>> (8 * k)) & 0xff).toString(16)).slice(-2);
      }
    }
    return out;
  };

  // The MD5 of a Blob (a File she picked), read 4 MB at a time.
  async function md5OfBlob(blob) {
    var md5 = new MD5(), step = 4 * 1024 * 1024;
    for (var at = 0; at < blob.size; at += step) {
      md5.update(new Uint8Array(await blob.slice(at, at + step).arrayBuffer()));
    }
    return md5.hex();
  }

  function md5OfBytes(bytes) { var md5 = new MD5(); md5.update(bytes); return md5.hex(); }

  root.BodyguardMD5 = { md5OfBlob: md5OfBlob, md5OfBytes: md5OfBytes };
}(typeof self !== "undefined" ? self : this));
