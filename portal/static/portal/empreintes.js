// "My photos and videos": fingerprints computed on her device, only hashes sent.
//
// A photo: decoded here (pdq.js decode), known by the PDQ registration variants and quality
// the server's matching.images.registration_hashes / hashes_of would give; with the hashes of
// retro_query_hashes, which the server looks up once and does not keep; and with its local
// features (sift.js: the keypoints and SIFT descriptors of matching.features
// registration_features), which find crops, collages and screenshots PDQ misses.
// A video (video.js): what the server's registration (clients.videos.register_video) gives,
// its MD5, its frames on the registration grid and at scene changes hashed with PDQ, their
// variants (mirrored; without static edges such as a caption band, plain and mirrored), and
// the local features of a still every 2 s, plain and mirrored, for cropped copies.
// Nothing but the JSON hashes and features, her label and her consent leaves the page.
(function () {
  "use strict";
  var form = document.getElementById("fingerprints-form");
  if (!form || !window.BodyguardPDQ || !window.BodyguardMD5 || !window.BodyguardSIFT ||
      !window.BodyguardVideo) { return; }
  var PDQ = window.BodyguardPDQ, SIFT = window.BodyguardSIFT, VIDEO = window.BodyguardVideo;
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

  function size(bytes) {
    if (bytes < 1024 * 1024) { return Math.max(1, Math.round(bytes / 1024)) + " " + text.kb; }
    return (bytes / (1024 * 1024)).toFixed(1).replace(".", ",") + " " + text.mb;
  }

  function counted(n) {
    return n === 1 ? text.computedOne : text.computedMany.replace("{n}", String(n));
  }

  async function photoPrint(file) {
    var image = await PDQ.decode(file);
    var result = PDQ.registrationHashes(image);
    var retro = PDQ.retroQueryHashes(image);
    var parts = PDQ.retroPartHashes(image);
    var features = null;
    try {
      features = SIFT.forRequest(SIFT.registrationFeatures(image));
    } catch (e) {
      // Registered by its PDQ hashes all the same (crops then depend on PDQ's variants).
      features = null;
    }
    image = null;
    return {
      kind: "photo", hashes: result.hashes, retro_hashes: retro, retro_parts: parts,
      quality: result.quality,
      features: features, count: result.hashes.length,
    };
  }

  async function videoPrint(file) {
    var print = await VIDEO.fingerprint(file);
    var count = print.frames.length + print.variants.length + 1;
    return {
      kind: "video", md5: print.md5, duration_s: print.duration_s, frames: print.frames,
      variants: print.variants, keyframes: print.keyframes, count: count,
    };
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
        body.retro_parts = print.retro_parts;
        body.quality = print.quality;
        if (print.features) { body.features = print.features; }
      } else {
        body.md5 = print.md5; body.duration_s = print.duration_s;
        body.frames = print.frames; body.variants = print.variants;
        if (print.keyframes && print.keyframes.length) { body.keyframes = print.keyframes; }
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
