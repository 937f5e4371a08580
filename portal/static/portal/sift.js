// SIFT local features computed in the browser, as the server's registration computes them
// (matching.features.registration_features): Pillow's "L" conversion and BILINEAR resizing to
// at most 320 and 128 pixels a side, then OpenCV 4.x SIFT with its defaults (cv2.SIFT.create():
// 3 layers an octave, sigma 1.6, contrast threshold 0.04, edge threshold 10, the image doubled
// first), the strongest keypoints by response kept in the same order as the server keeps them.
//
// Written for Bodyguard from the published algorithm (Lowe 2004) and the behaviour of
// OpenCV's modules/features2d/src/sift.dispatch.cpp and sift.simd.hpp: the same pyramid, the
// same extremum test and sub-pixel refinement, the same orientation histogram (OpenCV's
// polynomial atan2, 36 bins smoothed, peaks above 80% of the highest) and the same 4x4x8
// descriptor (trilinear interpolation, normalised, clipped at 0.2, scaled by 512, rounded).
// Arithmetic is 32-bit float where OpenCV's is (Float32Array storage, Math.fround), so keypoints
// agree with the server's to a small fraction of a pixel; see docs/adr/0025-sift-on-device.md.
// No eval, no WebAssembly: plain code that runs under the page's Content-Security-Policy.
(function (root) {
  "use strict";

  var f32 = Math.fround;

  // matching.features constants.
  var REGISTER_SIDE = 320;
  var REGISTERED_FEATURES = 96;
  var SMALL_REGISTERED_FEATURES = 40;
  var SMALL_REGISTER_SIDE = 128;
  var DESCRIPTOR_SIZE = 128;

  // OpenCV SIFT defaults and internal constants.
  var N_OCTAVE_LAYERS = 3;
  var SIGMA = 1.6;
  var CONTRAST_THRESHOLD = 0.04;
  var EDGE_THRESHOLD = 10;
  var INIT_SIGMA = 0.5;
  var IMG_BORDER = 5;
  var MAX_INTERP_STEPS = 5;
  var ORI_HIST_BINS = 36;
  var ORI_SIG_FCTR = 1.5;
  var ORI_RADIUS = 4.5;
  var ORI_PEAK_RATIO = f32(0.8);
  var DESCR_WIDTH = 4;
  var DESCR_HIST_BINS = 8;
  var DESCR_SCL_FCTR = 3;
  var DESCR_MAG_THR = f32(0.2);
  var INT_DESCR_FCTR = 512;
  var FLT_EPSILON = 1.1920928955078125e-7;

  // C's rounding of cvRound (to nearest, halves to even) and Python's round().
  function roundEven(v) {
    var r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) { r -= 1; }
    return r;
  }

  // -- what Pillow does before SIFT -----------------------------------------------------------

  // Image.convert("L") of an RGB image {width, height, data: 3 bytes a pixel}: ITU-R 601-2 luma
  // in Pillow's fixed point.
  function greyOf(image) {
    var n = image.width * image.height, out = new Uint8Array(n), d = image.data;
    for (var i = 0; i < n; i++) {
      out[i] = (d[3 * i] * 19595 + d[3 * i + 1] * 38470 + d[3 * i + 2] * 7471 + 0x8000) >>> 16;
    }
    return { width: image.width, height: image.height, data: out };
  }

  // Pillow's resampling (src/libImaging/Resample.c) with its bilinear (triangle) filter, support
  // widened by the reduction factor, weights normalised in double then turned into 22-bit fixed
  // point, sums rounded by adding half and shifting.
  var PRECISION_BITS = 32 - 8 - 2;
  var FIXED_ONE = 1 << PRECISION_BITS;

  function fixedCoefficients(inSize, outSize) {
    var scale = inSize / outSize, filterScale = scale < 1.0 ? 1.0 : scale;
    var support = 1.0 * filterScale, ss = 1.0 / filterScale;
    var starts = new Int32Array(outSize), lists = [];
    for (var xx = 0; xx < outSize; xx++) {
      var centre = (xx + 0.5) * scale;
      var xmin = Math.trunc(centre - support + 0.5);
      if (xmin < 0) { xmin = 0; }
      var xmax = Math.trunc(centre + support + 0.5);
      if (xmax > inSize) { xmax = inSize; }
      xmax -= xmin;
      var weights = new Float64Array(xmax), total = 0.0, x;
      for (x = 0; x < xmax; x++) {
        var t = Math.abs((x + xmin - centre + 0.5) * ss);
        var w = t < 1.0 ? 1.0 - t : 0.0;
        weights[x] = w; total += w;
      }
      var fixed = new Int32Array(xmax);
      for (x = 0; x < xmax; x++) {
        var k = total !== 0.0 ? weights[x] / total : weights[x];
        fixed[x] = k < 0 ? Math.trunc(-0.5 + k * FIXED_ONE) : Math.trunc(0.5 + k * FIXED_ONE);
      }
      starts[xx] = xmin;
      lists.push(fixed);
    }
    return { starts: starts, weights: lists };
  }

  function clip8(sum) {
    var v = Math.floor(sum / FIXED_ONE);
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }

  // Image.resize((width, height), BILINEAR) of a grey image: horizontal pass, then vertical.
  function resizeGrey(grey, width, height) {
    var w0 = grey.width, h0 = grey.height, mid = grey.data, x, y, k;
    if (width !== w0) {
      var cx = fixedCoefficients(w0, width);
      mid = new Uint8Array(width * h0);
      for (y = 0; y < h0; y++) {
        var row = y * w0;
        for (x = 0; x < width; x++) {
          var kx = cx.weights[x], sx = row + cx.starts[x], s = FIXED_ONE / 2;
          for (k = 0; k < kx.length; k++) { s += grey.data[sx + k] * kx[k]; }
          mid[y * width + x] = clip8(s);
        }
      }
    }
    if (height === h0) { return { width: width, height: height, data: mid }; }
    var cy = fixedCoefficients(h0, height), out = new Uint8Array(width * height);
    for (y = 0; y < height; y++) {
      var ky = cy.weights[y], sy = cy.starts[y];
      for (x = 0; x < width; x++) {
        var t = FIXED_ONE / 2;
        for (k = 0; k < ky.length; k++) { t += mid[(sy + k) * width + x] * ky[k]; }
        out[y * width + x] = clip8(t);
      }
    }
    return { width: width, height: height, data: out };
  }

  // -- OpenCV's image operations, on Float32Array planes ------------------------------------

  // cv::borderInterpolate with BORDER_REFLECT_101 (OpenCV's default border).
  function reflect101(p, len) {
    if (len === 1) { return 0; }
    while (p < 0 || p >= len) { p = p < 0 ? -p : 2 * len - 2 - p; }
    return p;
  }

  // cv::getGaussianKernel(n, sigma, CV_32F): computed in double, normalised, stored as float.
  function gaussianKernel(sigma) {
    var n = roundEven(sigma * 4 * 2 + 1) | 1, half = (n - 1) >> 1;
    var values = new Float64Array(n), sum = 0.0, i;
    var scale2X = -0.125 / (sigma * sigma);
    for (i = 0; i < half; i++) {
      var x = 2 * i + 1 - n;
      values[i] = Math.exp(x * x * scale2X);
      sum += values[i];
    }
    sum = sum * 2 + 1;
    var inv = 1 / sum, kernel = new Float32Array(n);
    for (i = 0; i < half; i++) { kernel[i] = kernel[n - 1 - i] = values[i] * inv; }
    kernel[half] = inv;
    return kernel;
  }

  // cv::GaussianBlur(src, dst, Size(), sigma, sigma) on a float plane: rows, then columns
  // (sums in double, each pass stored as float; the kernel is symmetric, so taps are paired).
  function gaussianBlur(src, w, h, sigma) {
    var kernel = gaussianKernel(sigma), n = kernel.length, half = n >> 1;
    var tmp = new Float32Array(w * h), out = new Float32Array(w * h), x, y, j, s;
    var centre = kernel[half], padded = new Float64Array(w + 2 * half);
    for (y = 0; y < h; y++) {
      var row = y * w;
      for (x = 0; x < w + 2 * half; x++) { padded[x] = src[row + reflect101(x - half, w)]; }
      for (x = 0; x < w; x++) {
        var c = x + half;
        s = centre * padded[c];
        for (j = 1; j <= half; j++) { s += kernel[half + j] * (padded[c - j] + padded[c + j]); }
        tmp[row + x] = s;
      }
    }
    var ys = new Int32Array(h + n - 1);
    for (y = 0; y < h + n - 1; y++) { ys[y] = reflect101(y - half, h) * w; }
    var acc = new Float64Array(w);
    for (y = 0; y < h; y++) {
      var middle = ys[y + half];
      for (x = 0; x < w; x++) { acc[x] = centre * tmp[middle + x]; }
      for (j = 1; j <= half; j++) {
        var weight = kernel[half + j], above = ys[y + half - j], below = ys[y + half + j];
        for (x = 0; x < w; x++) { acc[x] += weight * (tmp[above + x] + tmp[below + x]); }
      }
      out.set(acc, y * w);
    }
    return out;
  }

  // cv::resize(src, dst, Size(2w, 2h), 0, 0, INTER_LINEAR) of a float plane.
  function upsample(src, w, h) {
    function taps(size) {
      var n = size * 2, index = new Int32Array(n), frac = new Float32Array(n);
      for (var d = 0; d < n; d++) {
        var f = f32((d + 0.5) * 0.5 - 0.5), s = Math.floor(f);
        f = f32(f - s);
        if (s < 0) { f = 0; s = 0; }
        if (s >= size - 1) { f = 0; s = size - 1; }
        index[d] = s; frac[d] = f;
      }
      return [index, frac];
    }
    var W = w * 2, H = h * 2, tx = taps(w), ty = taps(h), x, y;
    var rows = new Float32Array(W * h);
    for (y = 0; y < h; y++) {
      for (x = 0; x < W; x++) {
        var sx = tx[0][x], fx = tx[1][x], a = src[y * w + sx];
        var b = fx === 0 ? 0 : src[y * w + sx + 1];
        rows[y * W + x] = f32(f32(a * f32(1 - fx)) + f32(b * fx));
      }
    }
    var out = new Float32Array(W * H);
    for (y = 0; y < H; y++) {
      var sy = ty[0][y], fy = ty[1][y], r0 = sy * W, r1 = fy === 0 ? r0 : (sy + 1) * W;
      var b0 = f32(1 - fy);
      for (x = 0; x < W; x++) {
        out[y * W + x] = f32(f32(rows[r0 + x] * b0) + f32(rows[r1 + x] * fy));
      }
    }
    return out;
  }

  // cv::resize(src, dst, Size(w/2, h/2), 0, 0, INTER_NEAREST).
  function halve(src, w, h) {
    var W = w >> 1, H = h >> 1, out = new Float32Array(W * H);
    var ifx = 1 / (W / w), ify = 1 / (H / h);
    for (var y = 0; y < H; y++) {
      var sy = Math.min(Math.floor(y * ify), h - 1) * w;
      for (var x = 0; x < W; x++) {
        out[y * W + x] = src[sy + Math.min(Math.floor(x * ifx), w - 1)];
      }
    }
    return out;
  }

  // cv::hal::fastAtan2 (degrees, 0 to 360): OpenCV's polynomial, in float.
  var ATAN_P1 = f32(f32(0.9997878412794807) * f32(180 / Math.PI));
  var ATAN_P3 = f32(f32(-0.3258083974640975) * f32(180 / Math.PI));
  var ATAN_P5 = f32(f32(0.1555786518463281) * f32(180 / Math.PI));
  var ATAN_P7 = f32(f32(-0.04432655554792128) * f32(180 / Math.PI));
  var ATAN_EPS = f32(2.220446049250313e-16);

  function fastAtan2(y, x) {
    var ax = Math.abs(x), ay = Math.abs(y), c, c2, a;
    if (ax >= ay) {
      c = f32(ay / f32(ax + ATAN_EPS));
      c2 = f32(c * c);
      a = f32(f32(f32(f32(f32(f32(f32(ATAN_P7 * c2) + ATAN_P5) * c2) + ATAN_P3) * c2) + ATAN_P1) * c);
    } else {
      c = f32(ax / f32(ay + ATAN_EPS));
      c2 = f32(c * c);
      a = f32(90 - f32(f32(f32(f32(f32(f32(f32(ATAN_P7 * c2) + ATAN_P5) * c2) + ATAN_P3) * c2) + ATAN_P1) * c));
    }
    if (x < 0) { a = f32(180 - a); }
    if (y < 0) { a = f32(360 - a); }
    return a;
  }

  // -- SIFT -------------------------------------------------------------------------------------

  function Pyramid(grey) {
    var w = grey.width, h = grey.height, base = new Float32Array(w * h), i, o;
    for (i = 0; i < w * h; i++) { base[i] = grey.data[i]; }
    var sigma = f32(SIGMA);
    var sigDiff = f32(Math.sqrt(Math.max(f32(f32(sigma * sigma) - INIT_SIGMA * INIT_SIGMA * 4), f32(0.01))));
    w *= 2; h *= 2;
    base = gaussianBlur(upsample(base, grey.width, grey.height), w, h, sigDiff);
    var octaves = roundEven(Math.log(Math.min(w, h)) / Math.log(2) - 2) + 1;
    var layers = N_OCTAVE_LAYERS + 3, sig = [SIGMA], k = Math.pow(2, 1 / N_OCTAVE_LAYERS);
    for (i = 1; i < layers; i++) {
      var prev = Math.pow(k, i - 1) * SIGMA, total = prev * k;
      sig.push(Math.sqrt(total * total - prev * prev));
    }
    this.gauss = []; this.dog = []; this.widths = []; this.heights = [];
    for (o = 0; o < octaves; o++) {
      if (o > 0) {
        var from = this.gauss[(o - 1) * layers + N_OCTAVE_LAYERS];
        base = halve(from, w, h);
        w >>= 1; h >>= 1;
      }
      this.widths.push(w); this.heights.push(h);
      this.gauss.push(base);
      for (i = 1; i < layers; i++) {
        this.gauss.push(gaussianBlur(this.gauss[o * layers + i - 1], w, h, sig[i]));
      }
      for (i = 0; i < layers - 1; i++) {
        var a = this.gauss[o * layers + i], b = this.gauss[o * layers + i + 1];
        var d = new Float32Array(w * h);
        for (var p = 0; p < w * h; p++) { d[p] = b[p] - a[p]; }
        this.dog.push(d);
      }
    }
    this.octaves = octaves;
  }

  // A 3x3x3 extremum, as OpenCV tests it (>= its 26 neighbours, or <= them).
  function isExtremum(cur, prev, next, p, offsets) {
    var val = cur[p], q, j;
    if (val > 0) {
      for (j = 0; j < 9; j++) {
        q = p + offsets[j];
        if ((j !== 4 && val < cur[q]) || val < prev[q] || val < next[q]) { return false; }
      }
      return true;
    }
    for (j = 0; j < 9; j++) {
      q = p + offsets[j];
      if ((j !== 4 && val > cur[q]) || val > prev[q] || val > next[q]) { return false; }
    }
    return true;
  }

  // Cramer's rule, as OpenCV's Matx33f::solve does for a 3x3 system.
  function solve3(a, b) {
    var det = a[0] * (a[4] * a[8] - a[7] * a[5]) - a[1] * (a[3] * a[8] - a[6] * a[5]) +
      a[2] * (a[3] * a[7] - a[6] * a[4]);
    det = f32(det);
    if (det === 0) { return null; }
    var d = f32(1 / det);
    return [
      f32(d * (b[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (b[1] * a[8] - a[5] * b[2]) +
        a[2] * (b[1] * a[7] - a[4] * b[2]))),
      f32(d * (a[0] * (b[1] * a[8] - a[5] * b[2]) - b[0] * (a[3] * a[8] - a[5] * a[6]) +
        a[2] * (a[3] * b[2] - b[1] * a[6]))),
      f32(d * (a[0] * (a[4] * b[2] - b[1] * a[7]) - a[1] * (a[3] * b[2] - b[1] * a[6]) +
        b[0] * (a[3] * a[7] - a[4] * a[6]))),
    ];
  }

  var IMG_SCALE = f32(1 / 255);
  var DERIV_SCALE = f32(IMG_SCALE * 0.5);
  var CROSS_SCALE = f32(IMG_SCALE * 0.25);

  // Sub-pixel refinement of an extremum (Lowe section 4), the contrast and edge tests.
  function refine(pyr, o, layer, r, c) {
    var w = pyr.widths[o], h = pyr.heights[o], base = o * (N_OCTAVE_LAYERS + 2);
    var xi = 0, xr = 0, xc = 0, i, img, prev, next, p;
    for (i = 0; i < MAX_INTERP_STEPS; i++) {
      img = pyr.dog[base + layer]; prev = pyr.dog[base + layer - 1]; next = pyr.dog[base + layer + 1];
      p = r * w + c;
      var dD = [
        f32(f32(img[p + 1] - img[p - 1]) * DERIV_SCALE),
        f32(f32(img[p + w] - img[p - w]) * DERIV_SCALE),
        f32(f32(next[p] - prev[p]) * DERIV_SCALE),
      ];
      var v2 = f32(img[p] * 2);
      var dxx = f32(f32(f32(img[p + 1] + img[p - 1]) - v2) * IMG_SCALE);
      var dyy = f32(f32(f32(img[p + w] + img[p - w]) - v2) * IMG_SCALE);
      var dss = f32(f32(f32(next[p] + prev[p]) - v2) * IMG_SCALE);
      var dxy = f32(f32(img[p + w + 1] - img[p + w - 1] - img[p - w + 1] + img[p - w - 1]) * CROSS_SCALE);
      var dxs = f32(f32(next[p + 1] - next[p - 1] - prev[p + 1] + prev[p - 1]) * CROSS_SCALE);
      var dys = f32(f32(next[p + w] - next[p - w] - prev[p + w] + prev[p - w]) * CROSS_SCALE);
      var X = solve3([dxx, dxy, dxs, dxy, dyy, dys, dxs, dys, dss], dD) || [0, 0, 0];
      xi = -X[2]; xr = -X[1]; xc = -X[0];
      if (Math.abs(xi) < 0.5 && Math.abs(xr) < 0.5 && Math.abs(xc) < 0.5) { break; }
      var big = 2147483647 / 3;
      if (Math.abs(xi) > big || Math.abs(xr) > big || Math.abs(xc) > big) { return null; }
      c += roundEven(xc); r += roundEven(xr); layer += roundEven(xi);
      if (layer < 1 || layer > N_OCTAVE_LAYERS || c < IMG_BORDER || c >= w - IMG_BORDER ||
          r < IMG_BORDER || r >= h - IMG_BORDER) {
        return null;
      }
    }
    if (i >= MAX_INTERP_STEPS) { return null; }
    img = pyr.dog[base + layer]; prev = pyr.dog[base + layer - 1]; next = pyr.dog[base + layer + 1];
    p = r * w + c;
    var gx = f32(f32(img[p + 1] - img[p - 1]) * DERIV_SCALE);
    var gy = f32(f32(img[p + w] - img[p - w]) * DERIV_SCALE);
    var gs = f32(f32(next[p] - prev[p]) * DERIV_SCALE);
    var t = f32(gx * xc + gy * xr + gs * xi);
    var contr = f32(f32(img[p] * IMG_SCALE) + f32(t * 0.5));
    if (Math.abs(contr) * N_OCTAVE_LAYERS < CONTRAST_THRESHOLD) { return null; }
    var w2 = f32(img[p] * 2);
    var exx = f32(f32(f32(img[p + 1] + img[p - 1]) - w2) * IMG_SCALE);
    var eyy = f32(f32(f32(img[p + w] + img[p - w]) - w2) * IMG_SCALE);
    var exy = f32(f32(img[p + w + 1] - img[p + w - 1] - img[p - w + 1] + img[p - w - 1]) * CROSS_SCALE);
    var tr = f32(exx + eyy), det = f32(f32(exx * eyy) - f32(exy * exy));
    if (det <= 0 || f32(f32(tr * tr) * EDGE_THRESHOLD) >= f32((EDGE_THRESHOLD + 1) * (EDGE_THRESHOLD + 1) * det)) {
      return null;
    }
    var unit = 1 << o;
    return {
      x: f32(f32(c + xc) * unit),
      y: f32(f32(r + xr) * unit),
      octave: o + (layer << 8) + (roundEven(f32((xi + 0.5) * 255)) << 16),
      layer: layer,
      size: f32(f32(f32(SIGMA) * f32(Math.pow(2, f32(f32(layer + xi) / N_OCTAVE_LAYERS)))) * unit * 2),
      response: Math.abs(contr),
      r: r,
      c: c,
    };
  }

  // The 36-bin gradient orientation histogram around (r, c), smoothed; returns its maximum.
  function orientationHistogram(img, w, h, r, c, radius, sigma, hist) {
    var n = ORI_HIST_BINS, temp = new Float32Array(n + 4), expScale = f32(-1 / f32(f32(2 * sigma) * sigma));
    var binsPerDegree = f32(n / 360);
    for (var i = -radius; i <= radius; i++) {
      var y = r + i;
      if (y <= 0 || y >= h - 1) { continue; }
      for (var j = -radius; j <= radius; j++) {
        var x = c + j;
        if (x <= 0 || x >= w - 1) { continue; }
        var p = y * w + x;
        var dx = f32(img[p + 1] - img[p - 1]), dy = f32(img[p - w] - img[p + w]);
        var weight = f32(Math.exp(f32((i * i + j * j) * expScale)));
        var ori = fastAtan2(dy, dx), mag = f32(Math.sqrt(f32(f32(dx * dx) + f32(dy * dy))));
        var bin = roundEven(f32(binsPerDegree * ori));
        if (bin >= n) { bin -= n; }
        if (bin < 0) { bin += n; }
        temp[bin + 2] = temp[bin + 2] + f32(weight * mag);
      }
    }
    temp[1] = temp[n + 1]; temp[0] = temp[n]; temp[n + 2] = temp[2]; temp[n + 3] = temp[3];
    var max = 0;
    for (var b = 0; b < n; b++) {
      hist[b] = f32(f32(f32(temp[b] + temp[b + 4]) * f32(1 / 16)) +
        f32(f32(temp[b + 1] + temp[b + 3]) * f32(4 / 16)) + f32(temp[b + 2] * f32(6 / 16)));
      if (b === 0 || hist[b] > max) { max = hist[b]; }
    }
    return max;
  }

  function findKeypoints(pyr) {
    var keypoints = [], hist = new Float32Array(ORI_HIST_BINS), n = ORI_HIST_BINS;
    var threshold = Math.floor(0.5 * CONTRAST_THRESHOLD / N_OCTAVE_LAYERS * 255);
    for (var o = 0; o < pyr.octaves; o++) {
      var w = pyr.widths[o], h = pyr.heights[o];
      for (var layer = 1; layer <= N_OCTAVE_LAYERS; layer++) {
        var idx = o * (N_OCTAVE_LAYERS + 2) + layer;
        var cur = pyr.dog[idx], prev = pyr.dog[idx - 1], next = pyr.dog[idx + 1];
        var offsets = new Int32Array([-w - 1, -w, -w + 1, -1, 0, 1, w - 1, w, w + 1]);
        for (var r = IMG_BORDER; r < h - IMG_BORDER; r++) {
          for (var c = IMG_BORDER; c < w - IMG_BORDER; c++) {
            var p = r * w + c;
            if (!(Math.abs(cur[p]) > threshold) || !isExtremum(cur, prev, next, p, offsets)) { continue; }
            var kpt = refine(pyr, o, layer, r, c);
            if (!kpt) { continue; }
            var sclOctv = f32(f32(kpt.size * 0.5) / (1 << o));
            var omax = orientationHistogram(
              pyr.gauss[o * (N_OCTAVE_LAYERS + 3) + kpt.layer], w, h, kpt.r, kpt.c,
              roundEven(f32(ORI_RADIUS * sclOctv)), f32(ORI_SIG_FCTR * sclOctv), hist);
            var magThr = f32(omax * ORI_PEAK_RATIO);
            for (var j = 0; j < n; j++) {
              var left = j > 0 ? j - 1 : n - 1, right = j < n - 1 ? j + 1 : 0;
              if (hist[j] > hist[left] && hist[j] > hist[right] && hist[j] >= magThr) {
                var bin = f32(j + f32(f32(0.5 * f32(hist[left] - hist[right])) /
                  f32(f32(hist[left] - f32(2 * hist[j])) + hist[right])));
                bin = bin < 0 ? f32(n + bin) : bin >= n ? f32(bin - n) : bin;
                var angle = f32(360 - f32(f32(360 / n) * bin));
                if (Math.abs(angle - 360) < FLT_EPSILON) { angle = 0; }
                keypoints.push({
                  x: kpt.x, y: kpt.y, size: kpt.size, angle: angle, response: kpt.response,
                  octave: kpt.octave,
                });
              }
            }
          }
        }
      }
    }
    return keypoints;
  }

  // KeyPointsFilter::removeDuplicatedSorted: sorted by position, size (larger first), angle,
  // response, octave; exact duplicates dropped.
  function sortAndDeduplicate(keypoints) {
    keypoints.sort(function (a, b) {
      if (a.x !== b.x) { return a.x - b.x; }
      if (a.y !== b.y) { return a.y - b.y; }
      if (a.size !== b.size) { return b.size - a.size; }
      if (a.angle !== b.angle) { return a.angle - b.angle; }
      if (a.response !== b.response) { return b.response - a.response; }
      return b.octave - a.octave;
    });
    var out = [];
    for (var i = 0; i < keypoints.length; i++) {
      var k = keypoints[i], last = out[out.length - 1];
      if (!last || last.x !== k.x || last.y !== k.y || last.size !== k.size || last.angle !== k.angle) {
        out.push(k);
      }
    }
    return out;
  }

  // The 4x4x8 descriptor of a keypoint (OpenCV's calcSIFTDescriptor), into out[at..at+128).
  function descriptor(img, w, h, px, py, ori, scl, out, at) {
    var d = DESCR_WIDTH, n = DESCR_HIST_BINS;
    var ptx = roundEven(px), pty = roundEven(py);
    var rad = f32(ori * f32(Math.PI / 180));
    var cosT = f32(Math.cos(rad)), sinT = f32(Math.sin(rad));
    var binsPerDeg = f32(n / 360), expScale = f32(-1 / (d * d * 0.5));
    var histWidth = f32(DESCR_SCL_FCTR * scl);
    var radius = roundEven(f32(f32(f32(histWidth * f32(1.4142135623730951)) * (d + 1)) * 0.5));
    radius = Math.min(radius, Math.trunc(Math.sqrt(w * w + h * h)));
    cosT = f32(cosT / histWidth); sinT = f32(sinT / histWidth);
    var side = d + 2, hist = new Float32Array(side * side * (n + 2)), i, j;
    for (i = -radius; i <= radius; i++) {
      for (j = -radius; j <= radius; j++) {
        var cRot = f32(f32(j * cosT) - f32(i * sinT)), rRot = f32(f32(j * sinT) + f32(i * cosT));
        var rbin = f32(f32(rRot + d / 2) - 0.5), cbin = f32(f32(cRot + d / 2) - 0.5);
        var r = pty + i, c = ptx + j;
        if (!(rbin > -1 && rbin < d && cbin > -1 && cbin < d && r > 0 && r < h - 1 && c > 0 && c < w - 1)) {
          continue;
        }
        var p = r * w + c;
        var dx = f32(img[p + 1] - img[p - 1]), dy = f32(img[p - w] - img[p + w]);
        var weight = f32(Math.exp(f32(f32(f32(cRot * cRot) + f32(rRot * rRot)) * expScale)));
        var mag = f32(f32(Math.sqrt(f32(f32(dx * dx) + f32(dy * dy)))) * weight);
        var obin = f32(f32(fastAtan2(dy, dx) - ori) * binsPerDeg);
        var r0 = Math.floor(rbin), c0 = Math.floor(cbin), o0 = Math.floor(obin);
        rbin = f32(rbin - r0); cbin = f32(cbin - c0); obin = f32(obin - o0);
        if (o0 < 0) { o0 += n; }
        if (o0 >= n) { o0 -= n; }
        var vr1 = f32(mag * rbin), vr0 = f32(mag - vr1);
        var vrc11 = f32(vr1 * cbin), vrc10 = f32(vr1 - vrc11);
        var vrc01 = f32(vr0 * cbin), vrc00 = f32(vr0 - vrc01);
        var v111 = f32(vrc11 * obin), v110 = f32(vrc11 - v111);
        var v101 = f32(vrc10 * obin), v100 = f32(vrc10 - v101);
        var v011 = f32(vrc01 * obin), v010 = f32(vrc01 - v011);
        var v001 = f32(vrc00 * obin), v000 = f32(vrc00 - v001);
        var idx = ((r0 + 1) * side + c0 + 1) * (n + 2) + o0;
        hist[idx] += v000; hist[idx + 1] += v001;
        hist[idx + n + 2] += v010; hist[idx + n + 3] += v011;
        hist[idx + side * (n + 2)] += v100; hist[idx + side * (n + 2) + 1] += v101;
        hist[idx + (side + 1) * (n + 2)] += v110; hist[idx + (side + 1) * (n + 2) + 1] += v111;
      }
    }
    var raw = new Float32Array(d * d * n), k;
    for (i = 0; i < d; i++) {
      for (j = 0; j < d; j++) {
        var base = ((i + 1) * side + (j + 1)) * (n + 2);
        hist[base] += hist[base + n];
        hist[base + 1] += hist[base + n + 1];
        for (k = 0; k < n; k++) { raw[(i * d + j) * n + k] = hist[base + k]; }
      }
    }
    var norm = 0;
    for (k = 0; k < raw.length; k++) { norm = f32(norm + f32(raw[k] * raw[k])); }
    var thr = f32(f32(Math.sqrt(norm)) * DESCR_MAG_THR);
    norm = 0;
    for (k = 0; k < raw.length; k++) {
      var v = raw[k] < thr ? raw[k] : thr;
      raw[k] = v;
      norm = f32(norm + f32(v * v));
    }
    var factor = f32(INT_DESCR_FCTR / Math.max(f32(Math.sqrt(norm)), FLT_EPSILON));
    for (k = 0; k < raw.length; k++) {
      var q = roundEven(f32(raw[k] * factor));
      out[at + k] = q < 0 ? 0 : q > 255 ? 255 : q;
    }
  }

  // cv2.SIFT.create().detectAndCompute(grey) and matching.features.extract's selection: the
  // `limit` strongest keypoints by response (stable, in OpenCV's sorted order), their positions
  // in the image's pixels and their descriptors.
  function strongest(grey, limit) {
    var pyr = new Pyramid(grey);
    var keypoints = sortAndDeduplicate(findKeypoints(pyr));
    var order = keypoints.map(function (k, i) { return i; });
    order.sort(function (a, b) {
      var ra = keypoints[a].response, rb = keypoints[b].response;
      return ra !== rb ? rb - ra : a - b;
    });
    order = order.slice(0, limit);
    var count = order.length, points = new Float32Array(count * 2);
    var descriptors = new Uint8Array(count * DESCRIPTOR_SIZE);
    for (var i = 0; i < count; i++) {
      var k = keypoints[order[i]];
      // Keypoints were found in the doubled image: bring them back to the image's pixels.
      points[2 * i] = k.x * 0.5; points[2 * i + 1] = k.y * 0.5;
      var octave = (k.octave & 255) - 1, layer = (k.octave >> 8) & 255;
      var scale = octave >= 0 ? 1 / (1 << octave) : 2;
      var o = octave + 1, img = pyr.gauss[o * (N_OCTAVE_LAYERS + 3) + layer];
      var angle = f32(360 - k.angle);
      if (Math.abs(angle - 360) < FLT_EPSILON) { angle = 0; }
      var size = f32(f32(k.size * 0.5) * scale);
      descriptor(img, pyr.widths[o], pyr.heights[o], f32(points[2 * i] * scale),
        f32(points[2 * i + 1] * scale), angle, f32(size * 0.5), descriptors, i * DESCRIPTOR_SIZE);
    }
    return { width: grey.width, height: grey.height, points: points, descriptors: descriptors };
  }

  // matching.features.extract: the grey image seen at `side` pixels at most.
  function extract(grey, limit, side) {
    var scale = Math.min(1.0, side / Math.max(grey.width, grey.height));
    if (scale < 1.0) {
      grey = resizeGrey(grey, Math.max(1, roundEven(grey.width * scale)),
        Math.max(1, roundEven(grey.height * scale)));
    }
    return strongest(grey, limit);
  }

  // matching.features.registration_features of a decoded RGB image (pdq.js decode): the 56
  // strongest keypoints at 320 pixels, then the 40 strongest at 128 pixels with positions
  // brought to the 320-pixel frame.
  function registrationFeatures(image) {
    var grey = greyOf(image);
    var large = extract(grey, REGISTERED_FEATURES - SMALL_REGISTERED_FEATURES, REGISTER_SIDE);
    var small = extract(grey, SMALL_REGISTERED_FEATURES, SMALL_REGISTER_SIDE);
    var ratio = f32(large.width / small.width), n = large.points.length / 2, m = small.points.length / 2;
    var points = new Float32Array((n + m) * 2), descriptors = new Uint8Array((n + m) * DESCRIPTOR_SIZE);
    points.set(large.points);
    for (var i = 0; i < m * 2; i++) { points[n * 2 + i] = small.points[i] * ratio; }
    descriptors.set(large.descriptors);
    descriptors.set(small.descriptors, n * DESCRIPTOR_SIZE);
    return { width: large.width, height: large.height, points: points, descriptors: descriptors };
  }

  function base64(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  // The JSON the registration route takes (portal/registration.py _features): the size of the
  // analysed image, positions as [x, y] pairs (32-bit floats, exactly as stored), descriptors
  // as the base64 of n*128 bytes.
  function forRequest(features) {
    var points = [];
    for (var i = 0; i < features.points.length; i += 2) {
      points.push([features.points[i], features.points[i + 1]]);
    }
    return {
      width: features.width, height: features.height, points: points,
      descriptors: base64(features.descriptors),
    };
  }

  root.BodyguardSIFT = {
    greyOf: greyOf,
    resizeGrey: resizeGrey,
    extract: extract,
    registrationFeatures: registrationFeatures,
    forRequest: forRequest,
    REGISTERED_FEATURES: REGISTERED_FEATURES,
  };
}(typeof self !== "undefined" ? self : this));
