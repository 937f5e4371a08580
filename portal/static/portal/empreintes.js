// "My photos and videos": fingerprints computed on her device, only hashes sent.
//
// A photo: decoded here (pdq.js decode), known by the PDQ registration variants and quality
// the server's matching.images.registration_hashes / hashes_of would give; with the hashes of
// retro_query_hashes, which the server looks up once and does not keep; and with its local
// features (sift.js: the keypoints and SIFT descriptors of matching.features
// registration_features), which find crops, collages and screenshots PDQ misses.
// A video: its MD5 (md5.js), and one frame every `sampling()` seconds (the server's
// registration sampling, matching.videos.sampling with REGISTRATION_DENSITY) seeked in a
// <video> element, shrunk to at most 256 pixels a side as the server does, hashed with PDQ and
// its quality, and hashed mirrored. Not done here (the server does at staff registration):
// extra frames at scene changes, and variants without static edges.
// Nothing but the JSON hashes and features, her label and her consent leaves the page.
(function () {
  "use strict";
  var form = document.getElementById("fingerprints-form");
  if (!form || !window.BodyguardPDQ || !window.BodyguardMD5 || !window.BodyguardSIFT) { return; }
  var PDQ = window.BodyguardPDQ, MD5 = window.BodyguardMD5, SIFT = window.BodyguardSIFT;
  var files = document.getElementById("fp-files");
  var list = document.getElementById("fp-list");
  var labelInput = document.getElementById("fp-label");
  var consent = document.getElementById("fp-consent");
  var send = document.getElementById("fp-send");
  var error = document.getElementById("fp-error");
  var done = document.getElementById("fp-done");
  var text = document.getElementById("fp-messages").dataset;
  var prints = [];
  var generation = 0;

  // matching.videos constants (registration).
  var SAMPLE_EVERY_S = 1.0, MIN_SAMPLES = 5, MAX_SAMPLED_FRAMES = 600, DENSITY = 4;
  var VIDEO_HASH_SIDE = 256, MAX_DURATION_S = 20 * 60;

  function size(bytes) {
    if (bytes < 1024 * 1024) { return Math.max(1, Math.round(bytes / 1024)) + " " + text.kb; }
    return (bytes / (1024 * 1024)).toFixed(1).replace(".", ",") + " " + text.mb;
  }

  function counted(n) {
    return n === 1 ? text.computedOne : text.computedMany.replace("{n}", String(n));
  }

  function sampling(duration) {
    var every = SAMPLE_EVERY_S;
    if (duration) {
      every = Math.min(every, duration / MIN_SAMPLES);
      every = Math.max(every, duration / MAX_SAMPLED_FRAMES);
    }
    return [every / DENSITY, MAX_SAMPLED_FRAMES * DENSITY];
  }

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

  async function photoPrint(file) {
    var image = await PDQ.decode(file);
    var result = PDQ.registrationHashes(image);
    var retro = PDQ.retroQueryHashes(image);
    var features = null;
    try {
      features = SIFT.forRequest(SIFT.registrationFeatures(image));
    } catch (e) {
      // Registered by its PDQ hashes all the same (crops then depend on PDQ's variants).
      features = null;
    }
    image = null;
    return {
      kind: "photo", hashes: result.hashes, retro_hashes: retro, quality: result.quality,
      features: features, count: result.hashes.length,
    };
  }

  async function videoPrint(file) {
    var url = URL.createObjectURL(file);
    var video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    try {
      var loaded = once(video, "loadeddata", "error");
      video.src = url;
      await loaded;
      var duration = video.duration, w = video.videoWidth, h = video.videoHeight;
      if (!isFinite(duration) || duration <= 0 || duration > MAX_DURATION_S || !w || !h) {
        throw new Error("unsupported video");
      }
      var plan = sampling(duration), every = plan[0], most = plan[1];
      var scale = Math.min(1, VIDEO_HASH_SIDE / Math.max(w, h));
      var sw = Math.max(1, roundHalfEven(w * scale)), sh = Math.max(1, roundHalfEven(h * scale));
      var canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      var frames = [], variants = [];
      for (var k = 0; frames.length < most; k++) {
        var at = k * every;
        if (at >= duration) { break; }
        var seeked = once(video, "seeked", "error");
        video.currentTime = at;
        await seeked;
        context.drawImage(video, 0, 0, w, h);
        var rgb = PDQ.rgbFromRGBA(context.getImageData(0, 0, w, h).data, w, h);
        var small = PDQ.resize(rgb, sw, sh), luma = PDQ.luma(small);
        var plain = PDQ.pdqFromLuma(luma, sh, sw);
        var flipped = PDQ.mirrored(luma, sw, sh);
        var mirror = PDQ.pdqFromLuma(flipped[0], flipped[1], flipped[2]);
        var t = Math.round(at * 1000) / 1000;
        frames.push([t, plain.hash, plain.quality]);
        variants.push([t, mirror.hash, mirror.quality]);
      }
      var md5 = await MD5.md5OfBlob(file);
      return {
        kind: "video", md5: md5, duration_s: Math.round(duration * 1000) / 1000,
        frames: frames, variants: variants, count: frames.length + variants.length + 1,
      };
    } finally {
      video.removeAttribute("src");
      video.load();
      URL.revokeObjectURL(url);
    }
  }

  function isVideo(file) { return /^video\//.test(file.type) || /\.(mp4|webm|mov|mkv|m4v|avi)$/i.test(file.name); }

  function row(file) {
    var li = document.createElement("li");
    li.className = "card";
    var name = document.createElement("span");
    name.className = "site";
    name.textContent = file.name;
    var state = document.createElement("span");
    state.className = "fp-state";
    state.textContent = " — " + size(file.size) + " — " + text.computing;
    li.appendChild(name);
    li.appendChild(state);
    list.appendChild(li);
    return state;
  }

  async function picked() {
    var mine = ++generation;
    prints = [];
    list.textContent = "";
    error.textContent = "";
    done.hidden = true;
    send.disabled = true;
    var chosen = Array.prototype.slice.call(files.files || []);
    for (var i = 0; i < chosen.length; i++) {
      var file = chosen[i], state = row(file);
      try {
        var print = isVideo(file) ? await videoPrint(file) : await photoPrint(file);
        if (mine !== generation) { return; }
        prints.push(print);
        state.textContent = " — " + size(file.size) + " — " + counted(print.count);
      } catch (e) {
        if (mine !== generation) { return; }
        state.textContent = " — " + size(file.size) + " — " + text.unreadable;
      }
    }
    // Forget the files: only their fingerprints are kept, until sent.
    files.value = "";
    send.disabled = prints.length === 0;
  }

  files.addEventListener("change", picked);
  // Files picked before this script ran are not forgotten.
  if (files.files && files.files.length) { picked(); }
  form.dataset.ready = "1";

  function csrf() {
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    error.textContent = "";
    var label = labelInput.value.trim();
    if (!label) { error.textContent = text.noLabel; labelInput.focus(); return; }
    if (consent && !consent.checked) { error.textContent = text.noConsent; consent.focus(); return; }
    send.disabled = true;
    var sent = 0;
    for (var i = 0; i < prints.length; i++) {
      var print = prints[i];
      var body = { kind: print.kind, label: prints.length > 1 ? label + " (" + (i + 1) + ")" : label,
        consent: consent ? consent.checked : false };
      if (print.kind === "photo") {
        body.hashes = print.hashes; body.retro_hashes = print.retro_hashes;
        body.quality = print.quality;
        if (print.features) { body.features = print.features; }
      } else {
        body.md5 = print.md5; body.duration_s = print.duration_s;
        body.frames = print.frames; body.variants = print.variants;
      }
      try {
        var response = await fetch(form.getAttribute("action"), {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
          body: JSON.stringify(body),
        });
        if (!response.ok) { throw new Error(String(response.status)); }
        sent++;
      } catch (e) {
        error.textContent = text.failed;
        send.disabled = false;
        return;
      }
    }
    prints = [];
    list.textContent = "";
    labelInput.value = "";
    done.textContent = text.sent;
    done.hidden = false;
    done.dataset.sent = String(sent);
  });
}());
