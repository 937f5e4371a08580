// PDQ (Meta's perceptual hash for photos, 256 bits with a quality score), written for the
// browser from Meta's published algorithm (facebook/ThreatExchange, pdq/README and the
// reference C++ in pdq/cpp/hashing/pdqhashing.cpp): luminance, Jarosz box-filter downsampling
// to 64x64, a 16x16 DCT (the DC row and column left out), a bit per coefficient above the
// median, and a quality from the sum of gradients. Checked against Meta's reference hashes
// and against the server's `pdqhash` in tests/portal/test_pdq_port.py.
//
// Also here: the resizing the server does before hashing (Pillow's antialiased bilinear,
// matching.images._hash_input) and the registration variants of matching.images
// registration_hashes, with the same geometry, so a photo hashed on her device is known by
// the same hashes as one registered by the team.
(function (root) {
  "use strict";

  // -- PDQ proper -----------------------------------------------------------------------------

  var DCT = (function () {
    var m = new Float64Array(16 * 64);
    var scale = Math.sqrt(2.0 / 64.0);
    for (var i = 0; i < 16; i++) {
      for (var j = 0; j < 64; j++) {
        m[i * 64 + j] = scale * Math.cos((Math.PI / 2 / 64.0) * (i + 1) * (2 * j + 1));
      }
    }
    return m;
  }());

  function jaroszWindow(oldDimension, newDimension) {
    return Math.floor((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
  }

  // One pass of a box filter along a vector of `length` values `stride` apart.
  function box1D(input, output, start, length, stride, fullWindow) {
    var half = Math.floor((fullWindow + 2) / 2);
    var phase1 = half - 1;
    var phase2 = fullWindow - half + 1;
    var phase3 = length - fullWindow;
    var phase4 = half - 1;
    var li = start, ri = start, oi = start;
    var sum = 0.0, size = 0, i;
    for (i = 0; i < phase1; i++) { sum += input[ri]; size++; ri += stride; }
    for (i = 0; i < phase2; i++) {
      sum += input[ri]; size++; output[oi] = sum / size; ri += stride; oi += stride;
    }
    for (i = 0; i < phase3; i++) {
      sum += input[ri]; sum -= input[li]; output[oi] = sum / size;
      li += stride; ri += stride; oi += stride;
    }
    for (i = 0; i < phase4; i++) {
      sum -= input[li]; size--; output[oi] = sum / size; li += stride; oi += stride;
    }
  }

  function jarosz(buffer1, buffer2, rows, cols, windowAlongRows, windowAlongCols) {
    for (var pass = 0; pass < 2; pass++) {
      var r, c;
      for (r = 0; r < rows; r++) { box1D(buffer1, buffer2, r * cols, cols, 1, windowAlongRows); }
      for (c = 0; c < cols; c++) { box1D(buffer2, buffer1, c, rows, cols, windowAlongCols); }
    }
  }

  function decimate(input, rows, cols) {
    var out = new Float64Array(64 * 64);
    for (var i = 0; i < 64; i++) {
      var ini = Math.floor(((i + 0.5) * rows) / 64);
      for (var j = 0; j < 64; j++) {
        var inj = Math.floor(((j + 0.5) * cols) / 64);
        out[i * 64 + j] = input[ini * cols + inj];
      }
    }
    return out;
  }

  function quality(b) {
    var sum = 0, i, j, d;
    for (i = 0; i < 63; i++) {
      for (j = 0; j < 64; j++) {
        d = Math.trunc(((b[i * 64 + j] - b[(i + 1) * 64 + j]) * 100) / 255);
        sum += Math.abs(d);
      }
    }
    for (i = 0; i < 64; i++) {
      for (j = 0; j < 63; j++) {
        d = Math.trunc(((b[i * 64 + j] - b[i * 64 + j + 1]) * 100) / 255);
        sum += Math.abs(d);
      }
    }
    return Math.min(100, Math.floor(sum / 90));
  }

  function dct16(a) {
    var t = new Float64Array(16 * 64), out = new Float64Array(256), i, j, k, s;
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 64; j++) {
        s = 0;
        for (k = 0; k < 64; k++) { s += DCT[i * 64 + k] * a[k * 64 + j]; }
        t[i * 64 + j] = s;
      }
    }
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 16; j++) {
        s = 0;
        for (k = 0; k < 64; k++) { s += t[i * 64 + k] * DCT[j * 64 + k]; }
        out[i * 16 + j] = s;
      }
    }
    return out;
  }

  function hex4(word) { return ("000" + word.toString(16)).slice(-4); }

  // The reference's Hash256 is sixteen 16-bit words, bit k = coefficient k (row-major); its
  // hex is word 15 first. The server's hex (numpy packbits of pdqhash's vector) is the same.
  function bitsToHex(coefficients) {
    var sorted = Array.prototype.slice.call(coefficients).sort(function (x, y) { return x - y; });
    var median = sorted[127]; // Torben's median of 256 values: the 128th smallest
    var words = new Array(16).fill(0);
    for (var k = 0; k < 256; k++) {
      if (coefficients[k] > median) { words[k >> 4] |= 1 << (k & 15); }
    }
    var text = "";
    for (var w = 15; w >= 0; w--) { text += hex4(words[w]); }
    return text;
  }

  // PDQ of a luminance buffer (rows x cols, row-major, values 0-255): {hash, quality}.
  function pdqFromLuma(luma, rows, cols) {
    var b64;
    if (rows === 64 && cols === 64) {
      b64 = Float64Array.from(luma);
    } else {
      var b1 = Float64Array.from(luma), b2 = new Float64Array(rows * cols);
      jarosz(b1, b2, rows, cols, jaroszWindow(cols, 64), jaroszWindow(rows, 64));
      b64 = decimate(b1, rows, cols);
    }
    return { hash: bitsToHex(dct16(b64)), quality: quality(b64) };
  }

  // -- Pixels ---------------------------------------------------------------------------------
  // An RGB image here is {width, height, data: Uint8ClampedArray of width*height*3}.

  function rgbFromRGBA(rgba, width, height) {
    var n = width * height, out = new Uint8ClampedArray(n * 3);
    for (var i = 0; i < n; i++) {
      out[3 * i] = rgba[4 * i]; out[3 * i + 1] = rgba[4 * i + 1]; out[3 * i + 2] = rgba[4 * i + 2];
    }
    return { width: width, height: height, data: out };
  }

  function luma(image) {
    var n = image.width * image.height, out = new Float64Array(n), d = image.data;
    for (var i = 0; i < n; i++) {
      out[i] = Math.fround(d[3 * i] * 0.299 + d[3 * i + 1] * 0.587 + d[3 * i + 2] * 0.114);
    }
    return out;
  }

  function pdqOfImage(image) { return pdqFromLuma(luma(image), image.height, image.width); }

  function crop(image, x0, y0, x1, y1) {
    var w = x1 - x0, h = y1 - y0, out = new Uint8ClampedArray(w * h * 3);
    for (var y = 0; y < h; y++) {
      var from = ((y0 + y) * image.width + x0) * 3;
      out.set(image.data.subarray(from, from + w * 3), y * w * 3);
    }
    return { width: w, height: h, data: out };
  }

  // Pillow's resampling coefficients for its bilinear filter (antialiased when shrinking).
  function coefficients(inSize, outSize) {
    var scale = inSize / outSize, filterScale = Math.max(scale, 1.0);
    var support = filterScale, list = [];
    for (var xx = 0; xx < outSize; xx++) {
      var centre = (xx + 0.5) * scale, ss = 1.0 / filterScale;
      var xmin = Math.max(0, Math.trunc(centre - support + 0.5));
      var xmax = Math.min(inSize, Math.trunc(centre + support + 0.5)) - xmin;
      var weights = new Float64Array(xmax), total = 0;
      for (var x = 0; x < xmax; x++) {
        var t = Math.abs((x + xmin - centre + 0.5) * ss);
        var w = t < 1 ? 1 - t : 0;
        weights[x] = w; total += w;
      }
      for (x = 0; x < xmax; x++) { weights[x] = total ? weights[x] / total : 0; }
      list.push({ start: xmin, weights: weights });
    }
    return list;
  }

  function clip8(value) { return value <= 0 ? 0 : value >= 255 ? 255 : Math.floor(value + 0.5); }

  // Pillow's Image.resize(size, BILINEAR): horizontal pass, then vertical, 8-bit in between.
  function resize(image, width, height) {
    var src = image.data, w0 = image.width, h0 = image.height, mid = src, c, x, y, k;
    if (width !== w0) {
      var cx = coefficients(w0, width);
      mid = new Uint8ClampedArray(width * h0 * 3);
      for (y = 0; y < h0; y++) {
        for (x = 0; x < width; x++) {
          var fx = cx[x];
          for (c = 0; c < 3; c++) {
            var s = 0;
            for (k = 0; k < fx.weights.length; k++) {
              s += src[(y * w0 + fx.start + k) * 3 + c] * fx.weights[k];
            }
            mid[(y * width + x) * 3 + c] = clip8(s);
          }
        }
      }
    }
    if (height === h0) { return { width: width, height: height, data: mid }; }
    var cy = coefficients(h0, height), out = new Uint8ClampedArray(width * height * 3);
    for (y = 0; y < height; y++) {
      var fy = cy[y];
      for (x = 0; x < width; x++) {
        for (c = 0; c < 3; c++) {
          var t = 0;
          for (k = 0; k < fy.weights.length; k++) {
            t += mid[((fy.start + k) * width + x) * 3 + c] * fy.weights[k];
          }
          out[(y * width + x) * 3 + c] = clip8(t);
        }
      }
    }
    return { width: width, height: height, data: out };
  }

  // Pillow's Image.thumbnail((side, side)): the largest size within the box, same aspect.
  function thumbnailSize(width, height, side) {
    if (width <= side && height <= side) { return [width, height]; }
    var aspect = width / height, x = side, y = side;
    function pick(number, key) {
      var lo = Math.floor(number), hi = Math.ceil(number);
      return Math.max(key(hi) < key(lo) ? hi : lo, 1);
    }
    if (x / y >= aspect) {
      x = pick(y * aspect, function (n) { return Math.abs(aspect - n / y); });
    } else {
      y = pick(x / aspect, function (n) { return n === 0 ? 0 : Math.abs(aspect - x / n); });
    }
    return [x, y];
  }

  var HASH_INPUT_MAX = 512; // matching.images.HASH_INPUT_MAX
  var CAPTION_BAND = 0.15; // matching.images.CAPTION_BAND

  function hashInput(image, side) {
    var size = thumbnailSize(image.width, image.height, side || HASH_INPUT_MAX);
    if (size[0] === image.width && size[1] === image.height) { return image; }
    return resize(image, size[0], size[1]);
  }

  // Python's round(): halves to even (crop boxes are rounded this way on the server).
  function roundHalfEven(v) {
    var r = Math.round(v);
    if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) { r -= 1; }
    return r;
  }

  // The eight dihedral transforms of a luminance buffer, in matching.images' order: as is,
  // then Pillow's FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, ROTATE_90, ROTATE_180, ROTATE_270,
  // TRANSPOSE, TRANSVERSE. Each returns [buffer, rows, cols].
  function dihedral(l, w, h) {
    function make(ow, oh, from) {
      var out = new Float64Array(ow * oh);
      for (var y = 0; y < oh; y++) {
        for (var x = 0; x < ow; x++) {
          var p = from(x, y);
          out[y * ow + x] = l[p[1] * w + p[0]];
        }
      }
      return [out, oh, ow];
    }
    return [
      [l, h, w],
      make(w, h, function (x, y) { return [w - 1 - x, y]; }),
      make(w, h, function (x, y) { return [x, h - 1 - y]; }),
      make(h, w, function (x, y) { return [w - 1 - y, x]; }),
      make(w, h, function (x, y) { return [w - 1 - x, h - 1 - y]; }),
      make(h, w, function (x, y) { return [y, h - 1 - x]; }),
      make(h, w, function (x, y) { return [y, x]; }),
      make(h, w, function (x, y) { return [w - 1 - y, h - 1 - x]; }),
    ];
  }

  function mirrored(l, w, h) { return dihedral(l, w, h)[1]; }

  // matching.images.registration_hashes + hashes_of's quality, for an RGB image as the server
  // decodes it: {hashes: [hex...] without repeats, quality}.
  function registrationHashes(image) {
    var small = hashInput(image);
    var smallLuma = luma(small);
    var first = pdqFromLuma(smallLuma, small.height, small.width);
    var hashes = [first.hash];
    dihedral(smallLuma, small.width, small.height).slice(1).forEach(function (v) {
      hashes.push(pdqFromLuma(v[0], v[1], v[2]).hash);
    });
    var w = image.width, h = image.height, boxes = [];
    [0.9, 0.8].forEach(function (keep) {
      var dx = (w * (1 - keep)) / 2, dy = (h * (1 - keep)) / 2;
      boxes.push([dx, dy, w - dx, h - dy]);
    });
    [[0, 0], [1, 0], [0, 1], [1, 1]].forEach(function (f) {
      var cw = w * 0.85, ch = h * 0.85, x0 = f[0] * (w - cw), y0 = f[1] * (h - ch);
      boxes.push([x0, y0, x0 + cw, y0 + ch]);
    });
    var keep = Math.trunc(h * (1 - CAPTION_BAND));
    var pieces = boxes.map(function (b) {
      return [roundHalfEven(b[0]), roundHalfEven(b[1]), roundHalfEven(b[2]), roundHalfEven(b[3])];
    });
    pieces.push([0, 0, w, keep], [0, h - keep, w, h]);
    pieces.forEach(function (b) {
      var piece = hashInput(crop(image, b[0], b[1], b[2], b[3]));
      var l = luma(piece);
      hashes.push(pdqFromLuma(l, piece.height, piece.width).hash);
      var m = mirrored(l, piece.width, piece.height);
      hashes.push(pdqFromLuma(m[0], m[1], m[2]).hash);
    });
    var unique = hashes.filter(function (value, index) { return hashes.indexOf(value) === index; });
    return { hashes: unique, quality: first.quality };
  }

  // Pillow's Image.rotate(angle, BILINEAR) (same size, corners black): an affine map of each
  // output pixel's centre back into the picture, bilinear there.
  function rotate(image, angle) {
    var w = image.width, h = image.height, src = image.data;
    var rad = -(((angle % 360) + 360) % 360) * Math.PI / 180;
    var a = Math.cos(rad), b = Math.sin(rad), d = -Math.sin(rad), e = Math.cos(rad);
    var cx = w / 2, cy = h / 2;
    var c = a * -cx + b * -cy + cx, f = d * -cx + e * -cy + cy;
    var out = new Uint8ClampedArray(w * h * 3);
    function clipX(v) { return v < 0 ? 0 : v >= w ? w - 1 : v; }
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        var xin = a * (x + 0.5) + b * (y + 0.5) + c, yin = d * (x + 0.5) + e * (y + 0.5) + f;
        if (xin < 0 || xin >= w || yin < 0 || yin >= h) { continue; }
        xin -= 0.5; yin -= 0.5;
        var x0 = Math.floor(xin), y0 = Math.floor(yin), dx = xin - x0, dy = yin - y0;
        var r0 = Math.min(Math.max(y0, 0), h - 1), r1 = y0 + 1 < h && y0 + 1 >= 0 ? y0 + 1 : -1;
        var c0 = clipX(x0), c1 = clipX(x0 + 1);
        for (var k = 0; k < 3; k++) {
          var top = src[(r0 * w + c0) * 3 + k] + (src[(r0 * w + c1) * 3 + k] - src[(r0 * w + c0) * 3 + k]) * dx;
          var bottom = r1 < 0 ? top
            : src[(r1 * w + c0) * 3 + k] + (src[(r1 * w + c1) * 3 + k] - src[(r1 * w + c0) * 3 + k]) * dx;
          out[(y * w + x) * 3 + k] = clip8(top + (bottom - top) * dy);
        }
      }
    }
    return { width: w, height: h, data: out };
  }

  var SIDE_CROPS = [0.12, 0.22]; // matching.images.SIDE_CROPS
  var ROTATIONS = [-9.0, -6.0, -3.0, 3.0, 6.0, 9.0]; // matching.images.ROTATIONS

  // matching.images.retro_query_hashes: one-sided crops, the square centre and small
  // rotations of the photo, looked up once among crawled images at registration, not kept.
  function retroQueryHashes(image) {
    var small = hashInput(image), w = small.width, h = small.height, boxes = [];
    SIDE_CROPS.forEach(function (share) {
      var dx = roundHalfEven(w * share), dy = roundHalfEven(h * share);
      boxes.push([dx, 0, w, h], [0, 0, w - dx, h], [0, dy, w, h], [0, 0, w, h - dy]);
    });
    var side = Math.min(w, h), x0 = Math.floor((w - side) / 2), y0 = Math.floor((h - side) / 2);
    boxes.push([x0, y0, x0 + side, y0 + side]);
    var hashes = boxes.map(function (b) { return pdqOfImage(crop(small, b[0], b[1], b[2], b[3])).hash; });
    ROTATIONS.forEach(function (angle) {
      var rotated = rotate(small, angle), r = Math.abs(angle) * Math.PI / 180;
      var keep = 1 / (Math.cos(r) + Math.sin(r) * Math.max(w / h, h / w));
      var dx = (w * (1 - keep)) / 2, dy = (h * (1 - keep)) / 2;
      hashes.push(pdqOfImage(crop(rotated, roundHalfEven(dx), roundHalfEven(dy),
        roundHalfEven(w - dx), roundHalfEven(h - dy))).hash);
    });
    return hashes.filter(function (value, index) { return hashes.indexOf(value) === index; });
  }

  var PART_INPUT = 256; // matching.images.PART_INPUT
  var PART_MIN_QUALITY = 50; // matching.images.PART_MIN_QUALITY
  // matching.images.PART_BOXES: quadrants, halves, centre quarter (x0, y0, x1, y1 shares).
  var PART_BOXES = [
    [0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5], [0, 0.5, 0.5, 1], [0.5, 0.5, 1, 1],
    [0, 0, 0.5, 1], [0.5, 0, 1, 1], [0, 0, 1, 0.5], [0, 0.5, 1, 1], [0.25, 0.25, 0.75, 0.75],
  ];

  // matching.images.retro_part_hashes: the photo's pieces, compared at registration with the
  // same pieces of crawled images (a stickered copy keeps most of them); flat pieces left out.
  function retroPartHashes(image) {
    var small = hashInput(image, PART_INPUT), w = small.width, h = small.height, hashes = [];
    PART_BOXES.forEach(function (b) {
      var x0 = roundHalfEven(w * b[0]), y0 = roundHalfEven(h * b[1]);
      var x1 = roundHalfEven(w * b[2]), y1 = roundHalfEven(h * b[3]);
      if (x1 - x0 < 8 || y1 - y0 < 8) { return; }
      var pdq = pdqOfImage(crop(small, x0, y0, x1, y1));
      if (pdq.quality >= PART_MIN_QUALITY && hashes.indexOf(pdq.hash) < 0) { hashes.push(pdq.hash); }
    });
    return hashes;
  }

  // Pillow's JPEG draft mode (matching.images.decode asks for 1024x1024): a JPEG at least
  // twice that size is decoded at 1/2, 1/4 or 1/8 scale. Emulated by averaging blocks.
  var DECODE_SIDE = 1024;

  function draftScale(width, height) {
    var scale = Math.min(Math.floor(width / DECODE_SIDE), Math.floor(height / DECODE_SIDE));
    var options = [8, 4, 2, 1];
    for (var i = 0; i < options.length; i++) { if (scale >= options[i]) { return options[i]; } }
    return 1;
  }

  function reduceBy(image, factor) {
    if (factor <= 1) { return image; }
    var w = Math.ceil(image.width / factor), h = Math.ceil(image.height / factor);
    var out = new Uint8ClampedArray(w * h * 3), d = image.data;
    for (var y = 0; y < h; y++) {
      for (var x = 0; x < w; x++) {
        for (var c = 0; c < 3; c++) {
          var s = 0, n = 0;
          for (var yy = y * factor; yy < Math.min(image.height, (y + 1) * factor); yy++) {
            for (var xx = x * factor; xx < Math.min(image.width, (x + 1) * factor); xx++) {
              s += d[(yy * image.width + xx) * 3 + c]; n++;
            }
          }
          out[(y * w + x) * 3 + c] = clip8(s / n);
        }
      }
    }
    return { width: w, height: h, data: out };
  }

  root.BodyguardPDQ = {
    pdqFromLuma: pdqFromLuma,
    pdqOfImage: pdqOfImage,
    rgbFromRGBA: rgbFromRGBA,
    luma: luma,
    resize: resize,
    thumbnailSize: thumbnailSize,
    hashInput: hashInput,
    mirrored: mirrored,
    registrationHashes: registrationHashes,
    retroQueryHashes: retroQueryHashes,
    retroPartHashes: retroPartHashes,
    draftScale: draftScale,
    reduceBy: reduceBy,
  };
}(typeof self !== "undefined" ? self : this));

// Decoding in the browser as matching.images.decode does on the server: EXIF orientation
// applied, no colour-profile conversion, alpha dropped, JPEGs in Pillow's draft mode.
(function (root) {
  "use strict";
  var PDQ = root.BodyguardPDQ;

  function isJpeg(head) { return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff; }

  PDQ.decode = async function (blob) {
    var head = new Uint8Array(await blob.slice(0, 3).arrayBuffer());
    var bitmap = await createImageBitmap(blob, {
      imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
    var width = bitmap.width, height = bitmap.height;
    var canvas = typeof OffscreenCanvas !== "undefined"
      ? new OffscreenCanvas(width, height) : document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    var rgba = context.getImageData(0, 0, width, height).data;
    var image = PDQ.rgbFromRGBA(rgba, width, height);
    return isJpeg(head) ? PDQ.reduceBy(image, PDQ.draftScale(width, height)) : image;
  };
}(typeof self !== "undefined" ? self : this));
