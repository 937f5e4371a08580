// A video's registration fingerprint computed in the browser, as the server's staff
// registration computes it (clients/videos.py register_video, matching/videos.py):
// - frames on the registration time grid (matching.videos._sampling with REGISTRATION_DENSITY),
//   seeked in a <video> element, shrunk to at most HASH_INPUT_MAX pixels a side, hashed with
//   PDQ and its quality;
// - frames at scene changes (matching.videos._sample): where two sampled frames' 32x32 grey
//   thumbnails differ by more than SCENE_CHANGE, the cut is looked for between them (bisection
//   down to one frame) and its first frame sampled when it is MIN_SAMPLE_GAP_S from the last
//   sample. The server compares every decoded frame with the one before; seeking every frame
//   here would cost minutes, and at 4 samples a second (videos up to 10 minutes) no cut can be
//   MIN_SAMPLE_GAP_S from both neighbours, so this only runs on longer videos;
// - variants: every frame mirrored and, when static_edges() finds still bands at the edges
//   (a caption band, a letterbox), the trimmed picture and the trimmed picture mirrored;
// - keyframe local features (matching.videos.video_stills with KEYFRAME_EVERY_S and
//   MAX_KEYFRAMES, then registration_keyframes): a still every 2 s at most STILL_SIDE pixels a
//   side, its SIFT registration features (sift.js) plain ("12.00") and mirrored ("12.00m").
// Nothing of the picture leaves the page: only hashes and features (portal/registration.py).
(function (root) {
  "use strict";
  var PDQ = root.BodyguardPDQ, SIFT = root.BodyguardSIFT;

  // matching.videos constants (registration).
  var SAMPLE_EVERY_S = 1.0, MIN_SAMPLES = 5, MAX_SAMPLED_FRAMES = 600, DENSITY = 4;
  var HASH_INPUT_MAX = 256, MAX_DURATION_S = 20 * 60;
  var SCENE_CHANGE = 30.0, MIN_SAMPLE_GAP_S = 0.25;
  var STATIC_EDGE_STD = 3.0, STATIC_EDGE_SHARE = 0.1, MIN_KEPT_SIDE = 0.5;
  var KEYFRAME_EVERY_S = 2.0, MAX_KEYFRAMES = 60, STILL_SIDE = 320;
  // Bisection for a cut stops at this interval: one frame at 25 fps and more.
  var CUT_STEP_S = 0.04;
  // Sampled frames (at most 256 px a side) are kept for the trimmed variants up to this many
  // bytes; beyond, the trimmed variants seek the sampled times again.
  var KEEP_FRAMES_BYTES = 48 * 1024 * 1024;
  // A seek's new frame is presented with its "seeked" event; none comes when the seek lands
  // on the frame already shown.
  var FRAME_WAIT_MS = 250;

  // matching.videos._sampling(duration, registration=True).
  function sampling(duration) {
    var every = SAMPLE_EVERY_S;
    if (duration) {
      every = Math.min(every, duration / MIN_SAMPLES);
      every = Math.max(every, duration / MAX_SAMPLED_FRAMES);
    }
    return [every / DENSITY, MAX_SAMPLED_FRAMES * DENSITY];
  }

  // Python's round(): halves to even.
  function roundHalfEven(v) {
    var r = Math.round(v);
    if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) { r -= 1; }
    return r;
  }

  function once(target, ok, fail) {
    return new Promise(function (resolve, reject) {
      function clean() { target.removeEventListener(ok, good); target.removeEventListener(fail, bad); }
      function good() { clean(); resolve(); }
      function bad() { clean(); reject(new Error(fail)); }
      target.addEventListener(ok, good);
      target.addEventListener(fail, bad);
    });
  }

  // matching.videos._thumbnail: the frame's luma (BT.601, video range as in the decoded
  // plane), every 4th pixel, block means into 32x32.
  function videoLuma(r, g, b) { return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255; }

  function thumbnail(rgba, w, h) {
    var out = new Float32Array(32 * 32), i;
    if (w < 128 || h < 128) {
      // Small frames: the whole frame shrunk to 32x32 (the server asks swscale for it).
      var small = PDQ.resize(PDQ.rgbFromRGBA(rgba, w, h), 32, 32).data;
      for (i = 0; i < 32 * 32; i++) {
        out[i] = videoLuma(small[3 * i], small[3 * i + 1], small[3 * i + 2]);
      }
      return out;
    }
    var rows = Math.ceil(h / 4), cols = Math.ceil(w / 4);
    var bh = Math.floor(rows / 32), bw = Math.floor(cols / 32);
    for (var by = 0; by < 32; by++) {
      for (var bx = 0; bx < 32; bx++) {
        var s = 0;
        for (var y = by * bh; y < (by + 1) * bh; y++) {
          for (var x = bx * bw; x < (bx + 1) * bw; x++) {
            i = ((4 * y) * w + 4 * x) * 4;
            s += videoLuma(rgba[i], rgba[i + 1], rgba[i + 2]);
          }
        }
        out[by * 32 + bx] = s / (bh * bw);
      }
    }
    return out;
  }

  function thumbDifference(a, b) {
    var s = 0;
    for (var i = 0; i < a.length; i++) { s += Math.abs(a[i] - b[i]); }
    return s / a.length;
  }

  function mirrorRGB(image) {
    var w = image.width, h = image.height, src = image.data, out = new Uint8ClampedArray(src.length);
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        var from = (y * w + x) * 3, to = (y * w + (w - 1 - x)) * 3;
        out[to] = src[from]; out[to + 1] = src[from + 1]; out[to + 2] = src[from + 2];
      }
    }
    return { width: w, height: h, data: out };
  }

  function crop(image, top, bottom, left, right) {
    var w = right - left, h = bottom - top, out = new Uint8ClampedArray(w * h * 3);
    for (var y = 0; y < h; y++) {
      var from = ((top + y) * image.width + left) * 3;
      out.set(image.data.subarray(from, from + w * 3), y * w * 3);
    }
    return { width: w, height: h, data: out };
  }

  function hashed(image) {
    var result = PDQ.pdqFromLuma(PDQ.luma(image), image.height, image.width);
    return [result.hash, result.quality];
  }

  function median(values) {
    var sorted = Array.prototype.slice.call(values).sort(function (a, b) { return a - b; });
    var n = sorted.length, mid = n >> 1;
    return n % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  // matching.videos.static_edges, from the per-pixel sums of the sampled frames' grey (the
  // mean of R, G and B): (top, bottom, left, right) of the moving picture, or null.
  function staticEdges(stats, w, h) {
    if (stats.count < 3) { return null; }
    var n = stats.count, rows = new Float64Array(h), cols = new Float64Array(w);
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        var i = y * w + x, mean = stats.sum[i] / n;
        var std = Math.sqrt(Math.max(0, stats.squares[i] / n - mean * mean));
        rows[y] += std / w; cols[x] += std / h;
      }
    }
    function span(profile) {
      var still = Math.min(STATIC_EDGE_STD, STATIC_EDGE_SHARE * median(profile));
      var first = -1, last = -1;
      for (var k = 0; k < profile.length; k++) {
        if (profile[k] > still) { if (first < 0) { first = k; } last = k; }
      }
      return first < 0 ? [0, profile.length] : [first, last + 1];
    }
    var tb = span(rows), lr = span(cols);
    var top = tb[0], bottom = tb[1], left = lr[0], right = lr[1];
    if (top === 0 && bottom === h && left === 0 && right === w) { return null; }
    if (bottom - top < MIN_KEPT_SIDE * h || right - left < MIN_KEPT_SIDE * w) { return null; }
    return [top, bottom, left, right];
  }

  // The video she picked, seekable: each grab() draws the frame shown at `at` seconds.
  async function opened(file) {
    var url = URL.createObjectURL(file);
    var video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    var loaded = once(video, "loadeddata", "error");
    video.src = url;
    try {
      await loaded;
    } catch (e) {
      URL.revokeObjectURL(url);
      throw e;
    }
    var w = video.videoWidth, h = video.videoHeight;
    var canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    var context = canvas.getContext("2d", { willReadFrequently: true });
    var framed = typeof video.requestVideoFrameCallback === "function", shown = null;
    // The frame shown at `at` seconds: its pixels and its own time (the time of the frame's
    // presentation, as PyAV's frame.time; null where the browser does not tell). A seek that
    // lands on the frame already shown presents no new frame: then it is still that one.
    async function grab(at) {
      var presented = framed ? new Promise(function (resolve) {
        video.requestVideoFrameCallback(function (now, meta) { resolve(meta.mediaTime); });
        setTimeout(function () { resolve(shown); }, FRAME_WAIT_MS);
      }) : Promise.resolve(null);
      var seeked = once(video, "seeked", "error");
      video.currentTime = at;
      await seeked;
      shown = await presented;
      context.drawImage(video, 0, 0, w, h);
      return { rgba: context.getImageData(0, 0, w, h).data, time: shown };
    }
    function close() {
      video.removeAttribute("src");
      video.load();
      URL.revokeObjectURL(url);
    }
    return { video: video, width: w, height: h, duration: video.duration, grab: grab, close: close };
  }

  function shrunk(rgba, w, h, side) {
    var scale = Math.min(1, side / Math.max(w, h));
    var sw = Math.max(1, roundHalfEven(w * scale)), sh = Math.max(1, roundHalfEven(h * scale));
    var rgb = PDQ.rgbFromRGBA(rgba, w, h);
    return sw === w && sh === h ? rgb : PDQ.resize(rgb, sw, sh);
  }

  // registration_keyframes of one still: (tag, features) plain and mirrored.
  function keyframes(rgba, w, h, at) {
    var still = shrunk(rgba, w, h, STILL_SIDE), tag = at.toFixed(2);
    return [
      [tag, SIFT.forRequest(SIFT.registrationFeatures(still))],
      [tag + "m", SIFT.forRequest(SIFT.registrationFeatures(mirrorRGB(still)))],
    ];
  }

  // The keyframe times of video_stills(data, KEYFRAME_EVERY_S, MAX_KEYFRAMES).
  function keyframeTimes(duration) {
    var every = Math.max(KEYFRAME_EVERY_S, duration / MAX_KEYFRAMES), times = [];
    for (var i = 0; i < MAX_KEYFRAMES && i * every < duration; i++) { times.push(i * every); }
    return times;
  }

  // Where the frames are: the first frame's time and the frame duration, measured over most
  // of the video (timestamps are rounded to the millisecond: one frame's length is not
  // precise enough to find the frame 20 minutes later). Null where the browser does not tell
  // a frame's time (then each target is seeked as it is).
  async function frameClock(source, duration) {
    var first = (await source.grab(0)).time;
    if (first === null) { return null; }
    var second = (await source.grab(first + 1e-3)).time;
    var probe = (await source.grab(Math.min(first + 0.5, duration * 0.8))).time;
    if (probe === null || probe <= first) { return null; }
    var before = (await source.grab(Math.max(first, probe - 1e-4))).time;
    var step = probe - before;
    if (!(step > 0) && second > first) { step = second - first; }
    if (!(step > 0)) { return null; }
    // Ten times further each time: the count of frames is exact while the step's error stays
    // under a twentieth of a frame per ten frames.
    for (var span = 10; first + span * step < duration * 0.8; span *= 10) {
      var at = (await source.grab(first + (span + 0.5) * step)).time;
      var count = Math.round((at - first) / step);
      if (!(count > 0)) { break; }
      step = (at - first) / count;
    }
    var last = (await source.grab(duration * 0.8)).time, frames = Math.round((last - first) / step);
    if (frames > 0) { step = (last - first) / frames; }
    return { first: first, step: step };
  }

  // The first frame at or after `target` seconds (as the server's decoding loop takes it, a
  // frame `slack` seconds early counting as at it): {at, rgba}, or null past the last frame.
  async function frameFrom(source, clock, target, duration, slack) {
    if (!clock) {
      return target < duration ? { at: target, rgba: (await source.grab(target)).rgba } : null;
    }
    // A frame predicted a fiftieth of a frame early is the one at `target` (timestamps are in
    // milliseconds); the time the browser reports settles it.
    var k = Math.max(0, Math.ceil((target - clock.first) / clock.step - 0.02));
    var predicted = clock.first + k * clock.step;
    if (predicted >= duration - 1e-6) { return null; }
    var got = await source.grab(Math.min(predicted + clock.step / 2, duration - 1e-3));
    if (got.time !== null && got.time < target - slack) {
      // A frame rate that varies: the next frame is the one.
      var next = got.time + 1.5 * clock.step;
      if (next >= duration) { return null; }
      got = await source.grab(next);
    } else if (got.time !== null && got.time - clock.step >= target - slack && got.time > clock.first) {
      // ... or the frame before is at or after `target` too.
      var back = await source.grab(got.time - clock.step / 2);
      if (back.time !== null && back.time >= target - slack && back.time < got.time) { got = back; }
    }
    return { at: got.time === null ? predicted : got.time, rgba: got.rgba };
  }

  // {md5, duration_s, frames, variants, keyframes, edges, timings} of the file: what the route
  // takes (portal/registration.py), with the edges found and the milliseconds spent.
  async function fingerprint(file, options) {
    options = options || {};
    var started = performance.now(), timings = {};
    var source = await opened(file);
    try {
      var duration = source.duration, w = source.width, h = source.height;
      if (!isFinite(duration) || duration <= 0 || duration > MAX_DURATION_S || !w || !h) {
        throw new Error("unsupported video");
      }
      var clock = await frameClock(source, duration);
      var plan = sampling(duration), every = plan[0], most = plan[1];
      var keyTimes = options.keyframes === false ? [] : keyframeTimes(duration);
      var events = [];
      for (var g = 0; g * every < duration && g < most; g++) {
        events.push({ at: g * every, grid: true, key: false });
      }
      // Grid and keyframe times in one pass: a keyframe on the grid costs no extra seek.
      keyTimes.forEach(function (t) {
        var same = events.find(function (x) { return x.grid && x.at === t; });
        if (same) { same.key = true; } else { events.push({ at: t, grid: false, key: true }); }
      });
      events.sort(function (a, b) { return a.at - b.at; });

      var samples = [], keep = true, stats = null, lastAt = -1, previous = null, previousAt = 0;
      var keyed = [], lastKeyAt = -1, siftMs = 0;
      function sample(at, rgba) {
        var small = shrunk(rgba, w, h, HASH_INPUT_MAX), d = small.data;
        if (!stats) {
          var n = small.width * small.height;
          stats = { count: 0, sum: new Float64Array(n), squares: new Float64Array(n),
            width: small.width, height: small.height };
        }
        for (var i = 0, p = 0; i < stats.sum.length; i++, p += 3) {
          var grey = (d[p] + d[p + 1] + d[p + 2]) / 3;
          stats.sum[i] += grey; stats.squares[i] += grey * grey;
        }
        stats.count++;
        if (keep && (samples.length + 1) * d.length > KEEP_FRAMES_BYTES) {
          keep = false;
          samples.forEach(function (s) { s.small = null; });
        }
        samples.push({ at: Math.round(at * 1000) / 1000, plain: hashed(small),
          mirror: hashed(mirrorRGB(small)), small: keep ? small : null });
        lastAt = at;
      }
      // Two samples' thumbnails differ by more than SCENE_CHANGE: the cut between them, to the
      // frame (its time and pixels), when the frames either side of it differ that much too.
      async function cutBetween(a, ta, b, tb, rgbaB) {
        var step = clock ? clock.step * 1.5 : CUT_STEP_S;
        while (b - a > step) {
          var m = (a + b) / 2, got = await source.grab(m), tm = thumbnail(got.rgba, w, h);
          var mt = got.time === null ? m : got.time;
          if (mt <= a + 1e-6 || mt >= b - 1e-6) { break; }
          if (thumbDifference(ta, tm) >= thumbDifference(tm, tb)) {
            b = mt; tb = tm; rgbaB = got.rgba;
          } else {
            a = mt; ta = tm;
          }
        }
        return thumbDifference(ta, tb) > SCENE_CHANGE ? { at: b, rgba: rgbaB } : null;
      }
      var lookForCuts = every > MIN_SAMPLE_GAP_S;
      for (var e = 0; e < events.length; e++) {
        var event = events[e];
        // The grid takes the first frame with `at >= next_at`; video_stills skips a frame
        // while `at + 1e-6 < target` (matching.videos).
        var frame = await frameFrom(source, clock, event.at, duration, event.grid ? 0 : 1e-6);
        if (!frame) { continue; }
        if (event.grid && frame.at > lastAt + 1e-6 && samples.length < most) {
          var thumb = thumbnail(frame.rgba, w, h);
          if (lookForCuts && previous && samples.length < most - 1 &&
              thumbDifference(previous, thumb) > SCENE_CHANGE) {
            var rgba = frame.rgba;
            var cut = await cutBetween(previousAt, previous, frame.at, thumb, rgba);
            if (cut && cut.at - lastAt >= MIN_SAMPLE_GAP_S && frame.at - cut.at > 1e-6) {
              sample(cut.at, cut.rgba);
            }
          }
          previous = thumb; previousAt = frame.at;
          sample(frame.at, frame.rgba);
        }
        if (event.key && keyed && frame.at > lastKeyAt + 1e-6) {
          var t0 = performance.now();
          try {
            keyed.push.apply(keyed, keyframes(frame.rgba, w, h, frame.at));
            lastKeyAt = frame.at;
          } catch (err) {
            // Registered by its frames all the same (crops then depend on PDQ).
            keyed = null;
          }
          siftMs += performance.now() - t0;
        }
      }
      if (!samples.length) { throw new Error("no frame"); }
      timings.frames = performance.now() - started - siftMs;
      timings.sift = siftMs;

      var t1 = performance.now();
      var edges = staticEdges(stats, stats.width, stats.height);
      var frames = [], variants = [];
      for (var s = 0; s < samples.length; s++) {
        var one = samples[s];
        frames.push([one.at, one.plain[0], one.plain[1]]);
        // In the server's order: mirrored, trimmed, trimmed mirrored.
        variants.push([one.at, one.mirror[0], one.mirror[1]]);
        if (edges) {
          var small = one.small;
          if (!small) {
            var again = await frameFrom(source, clock, one.at, duration, 1e-6);
            small = shrunk(again.rgba, w, h, HASH_INPUT_MAX);
          }
          var trimmed = crop(small, edges[0], edges[1], edges[2], edges[3]);
          var plainT = hashed(trimmed), mirrorT = hashed(mirrorRGB(trimmed));
          variants.push([one.at, plainT[0], plainT[1]]);
          variants.push([one.at, mirrorT[0], mirrorT[1]]);
        }
      }
      timings.edges = performance.now() - t1;
      samples = null;
      var t2 = performance.now();
      var md5 = await root.BodyguardMD5.md5OfBlob(file);
      timings.md5 = performance.now() - t2;
      timings.total = performance.now() - started;
      return {
        md5: md5, duration_s: Math.round(duration * 1000) / 1000, frames: frames,
        variants: variants, keyframes: keyed, edges: edges, timings: timings,
      };
    } finally {
      source.close();
    }
  }

  root.BodyguardVideo = {
    fingerprint: fingerprint,
    sampling: sampling,
    staticEdges: staticEdges,
    keyframeTimes: keyframeTimes,
  };
}(typeof self !== "undefined" ? self : this));
