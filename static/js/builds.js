// The publisher's build upload (templates/library/builds.html, docs/builds.md).
// The file goes up in chunks: PUT to this site with ?offset= (local storage), or PUT to
// presigned part URLs of an S3 multipart upload. After a lost connection the script
// waits, asks the server how far the upload got, and goes on from there; a build left
// half-uploaded resumes with its Resume button and the same file. The SHA-256 is
// computed here, chunk by chunk (Web Crypto has no incremental digest), and the server
// checks it by reading the stored file back.
(function () {
  "use strict";

  var t = window.Playcation.t;  // static/js/catalog.js, loaded before this script
  var fmt = new Intl.NumberFormat(document.documentElement.lang || "ko", { maximumFractionDigits: 1 });
  function size(n) {
    if (n >= 1073741824) return fmt.format(n / 1073741824) + " GB";  // units of 1024, as the server shows
    if (n >= 1048576) return fmt.format(n / 1048576) + " MB";
    if (n >= 1024) return fmt.format(n / 1024) + " KB";
    return fmt.format(n) + " B";
  }

  // --- SHA-256, incremental (FIPS 180-4) ------------------------------------------------
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

  function Sha256() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Uint32Array(64);
    this.buf = new Uint8Array(64);
    this.fill = 0;
    this.length = 0;  // bytes; below 2^53, so exact
  }
  Sha256.prototype.block = function (d, p) {
    var w = this.w, h = this.h, i, s0, s1, t1, t2;
    for (i = 0; i < 16; i++) w[i] = (d[p + 4 * i] << 24) | (d[p + 4 * i + 1] << 16) | (d[p + 4 * i + 2] << 8) | d[p + 4 * i + 3];
    for (i = 16; i < 64; i++) {
      s0 = ((w[i - 15] >>> 7) | (w[i - 15] << 25)) ^ ((w[i - 15] >>> 18) | (w[i - 15] << 14)) ^ (w[i - 15] >>> 3);
      s1 = ((w[i - 2] >>> 17) | (w[i - 2] << 15)) ^ ((w[i - 2] >>> 19) | (w[i - 2] << 13)) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = h[0], b = h[1], c = h[2], e = h[4], f = h[5], g = h[6], dd = h[3], hh = h[7];
    for (i = 0; i < 64; i++) {
      s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      t1 = (hh + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += dd; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  };
  Sha256.prototype.update = function (data) {
    var p = 0, n = data.length;
    this.length += n;
    if (this.fill) {
      var take = Math.min(64 - this.fill, n);
      this.buf.set(data.subarray(0, take), this.fill);
      this.fill += take; p = take;
      if (this.fill < 64) return;
      this.block(this.buf, 0); this.fill = 0;
    }
    for (; p + 64 <= n; p += 64) this.block(data, p);
    if (p < n) { this.buf.set(data.subarray(p), 0); this.fill = n - p; }
  };
  Sha256.prototype.hex = function () {
    var bits = this.length * 8, pad = new Uint8Array(((this.fill < 56) ? 56 : 120) - this.fill + 8);
    pad[0] = 0x80;
    var hi = Math.floor(bits / 4294967296), lo = bits >>> 0, end = pad.length;
    pad[end - 8] = hi >>> 24; pad[end - 7] = hi >>> 16; pad[end - 6] = hi >>> 8; pad[end - 5] = hi;
    pad[end - 4] = lo >>> 24; pad[end - 3] = lo >>> 16; pad[end - 2] = lo >>> 8; pad[end - 1] = lo;
    var length = this.length;
    this.update(pad);
    this.length = length;
    return Array.prototype.map.call(this.h, function (v) { return (v >>> 0).toString(16).padStart(8, "0"); }).join("");
  };
  window.PlaycationSha256 = Sha256;  // the browser journey checks it against the server's

  // --- the upload ----------------------------------------------------------------------
  var form = document.querySelector("[data-builds-upload]");
  if (!form) return;
  var fileInput = document.getElementById("build-file");
  var bar = document.getElementById("build-progress");
  var line = document.getElementById("build-progress-text");
  var button = document.getElementById("build-submit");
  var resumeInput = document.getElementById("build-resume");
  var csrf = form.querySelector("[name=csrf_token]").value;

  function show(text) { form.querySelector(".build-progress").hidden = false; line.textContent = text; }
  function progress(done, total) {
    bar.value = total ? Math.floor(done * 100 / total) : 100;
    show(t("upload_progress", "{percent}% · {sent} of {total}",
           { percent: bar.value, sent: size(done), total: size(total) }));
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function read(file, start, end) { return file.slice(start, end).arrayBuffer().then(function (b) { return new Uint8Array(b); }); }

  function api(url, options) {
    options = options || {};
    options.headers = Object.assign({ "Accept": "application/json", "X-CSRFToken": csrf }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (res.status >= 500 || res.status === 429) { var err = new Error("server"); err.retry = true; throw err; }
        body.httpStatus = res.status;
        return body;
      });
    }, function () { var err = new Error("network"); err.retry = true; throw err; });
  }

  // Retry what fails for the connection (or a 5xx), with growing pauses, telling the user.
  function patiently(step) {
    var wait = 1;
    function attempt() {
      return step().catch(function (err) {
        if (!err.retry) throw err;
        var left = wait;
        show(t("upload_retry", "Connection lost. Retrying in {seconds} s…", { seconds: left }));
        wait = Math.min(wait * 2, 30);
        return sleep(left * 1000).then(attempt);
      });
    }
    return attempt();
  }

  function Hasher(file) { this.file = file; this.sha = new Sha256(); this.done = 0; }
  // Make the digest cover exactly bytes [0, upTo): hash what is missing, or start again.
  Hasher.prototype.through = function (upTo, chunk) {
    var self = this;
    if (self.done > upTo) { self.sha = new Sha256(); self.done = 0; }
    if (self.done >= upTo) return Promise.resolve();
    var end = Math.min(upTo, self.done + chunk);
    return read(self.file, self.done, end).then(function (data) {
      self.sha.update(data); self.done = end;
      return self.through(upTo, chunk);
    });
  };

  function uploadLocal(plan, file, hasher) {
    var offset = plan.received;
    function next() {
      progress(offset, plan.size);
      if (offset >= plan.size) return Promise.resolve();
      var end = Math.min(plan.size, offset + plan.chunk_size);
      return hasher.through(offset, plan.chunk_size).then(function () { return read(file, offset, end); }).then(function (data) {
        // A PUT that seemed lost may have landed: then the server answers 409 with where it is.
        return patiently(function () {
          return api(plan.upload_url + "?offset=" + offset, { method: "PUT", body: data,
                     headers: { "Content-Type": "application/octet-stream" } });
        });
      }).then(function (body) {
        if (body.httpStatus !== 200 && body.httpStatus !== 409) throw new Error(body.error || body.message || "error");
        offset = body.received;
        return next();
      });
    }
    return next().then(function () { return hasher.through(plan.size, plan.chunk_size); });
  }

  function uploadS3(plan, file, hasher) {
    var count = Math.max(1, Math.ceil(plan.size / plan.chunk_size));
    var have = {}, urls = {}, sent = 0;
    plan.parts.forEach(function (n) { have[n] = true; sent += Math.min(plan.chunk_size, plan.size - (n - 1) * plan.chunk_size); });
    function urlFor(n) {
      if (urls[n]) return Promise.resolve(urls[n]);
      return patiently(function () { return api(plan.parts_url + "?first=" + n + "&count=50"); }).then(function (body) {
        if (!body.urls) throw new Error(body.error || "error");
        Object.keys(body.urls).forEach(function (k) { urls[k] = body.urls[k]; });
        return urls[n];
      });
    }
    function part(n) {
      progress(sent, plan.size);
      if (n > count) return Promise.resolve();
      var start = (n - 1) * plan.chunk_size, end = Math.min(plan.size, start + plan.chunk_size);
      return hasher.through(start, plan.chunk_size).then(function () { return read(file, start, end); }).then(function (data) {
        hasher.sha.update(data); hasher.done = end;
        if (have[n]) return part(n + 1);
        return urlFor(n).then(function (url) {
          return patiently(function () {
            return fetch(url, { method: "PUT", body: data }).then(function (res) {
              if (!res.ok) { var err = new Error("s3 " + res.status); err.retry = res.status >= 500 || res.status === 403; if (res.status === 403) delete urls[n]; throw err; }
            }, function () { var err = new Error("network"); err.retry = true; throw err; });
          });
        }).then(function () { have[n] = true; sent += end - start; return part(n + 1); });
      });
    }
    return part(1);
  }

  function finish(plan, digest) {
    show(t("upload_verifying", "Checking the file on the server…"));
    var body = new FormData();
    body.append("csrf_token", csrf);
    body.append("sha256", digest);
    return patiently(function () { return api(plan.complete_url, { method: "POST", body: body }); }).then(function (res) {
      if (res.httpStatus !== 200) throw new Error(res.error || res.message || "error");
      return poll(plan);
    });
  }

  function poll(plan) {
    return sleep(1000).then(function () { return patiently(function () { return api(plan.upload_url); }); }).then(function (status) {
      if (status.status === "verifying") return poll(plan);
      show(status.status === "ready" ? t("upload_ready", "Uploaded and verified. You can publish it now.")
                                     : t("upload_failed", "The upload failed: {error}", { error: status.status }));
      form.dataset.finished = status.status;
      return sleep(800).then(function () { window.location.reload(); });
    });
  }

  function start(file) {
    var resume = resumeInput.value;
    if (resume) {
      return api("/publisher/builds/" + resume + "/upload").then(function (plan) {
        if (plan.size !== file.size) throw new Error(t("upload_not_same_file", "That is not the file this build was started with."));
        return plan;
      });
    }
    var body = new FormData(form);
    body.delete("file"); body.delete("resume");
    body.append("filename", file.name);
    body.append("size", String(file.size));
    return api(form.action, { method: "POST", body: body }).then(function (plan) {
      if (plan.httpStatus !== 201) throw new Error(plan.error || plan.message || "error");
      return plan;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = fileInput.files[0];
    if (!file) { show(t("upload_choose_file", "Choose the file to upload.")); return; }
    button.disabled = true;
    bar.value = 0;
    show(t("upload_preparing", "Starting the upload…"));
    start(file).then(function (plan) {
      var hasher = new Hasher(file);
      return (plan.mode === "s3" ? uploadS3(plan, file, hasher) : uploadLocal(plan, file, hasher)).then(function () {
        return finish(plan, hasher.sha.hex());
      });
    }).catch(function (err) {
      button.disabled = false;
      show(t("upload_failed", "The upload failed: {error}", { error: err.message }));
    });
  });

  document.addEventListener("click", function (event) {
    var resume = event.target.closest && event.target.closest("[data-resume-build]");
    if (!resume) return;
    resumeInput.value = resume.getAttribute("data-resume-build");
    show(t("upload_resume_hint", "Choose {filename} again and press Upload: the upload goes on where it stopped.",
           { filename: resume.getAttribute("data-filename") }));
    fileInput.focus();
  });
})();
