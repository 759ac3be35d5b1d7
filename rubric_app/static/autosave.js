// Saves the dimension page as a draft whenever an answer changes, so closing the browser loses nothing.
// Each criterion carries the version and the fingerprints of the values the page started from
// (ver_<id>, base_<id>): the server writes only what this person changed, merges what others saved
// meanwhile, and reports a field both changed as a conflict shown at the criterion.
// It also keeps each criterion's fields in step with its answer (reason and target, see naToggle).
(function () {
  var form = document.querySelector("form[data-autosave]");
  if (!form) return;
  var status = document.getElementById("autosave-status");
  var timer = null, pending = false, running = false;
  // The status says "saved" only when nothing is waiting: no save scheduled, running or queued
  // (someone who waits for it before closing the browser loses nothing).
  function saving() {
    if (status.textContent === status.dataset.saved) status.textContent = status.dataset.saving || "";
  }

  function naToggle(fieldset) {
    var na = fieldset.querySelector('input[type=radio][value=na]');
    var reason = fieldset.querySelector('.na-reason');
    if (reason) reason.hidden = !(na && na.checked);
    targetToggle(fieldset);
  }
  // The target list keeps every level, but offers none below the level chosen (the server refuses
  // them), and the target field is hidden while "not applicable" is chosen (it has no target then).
  function targetToggle(fieldset) {
    var select = fieldset.querySelector("select[data-level-field]");
    if (!select) return;
    var checked = fieldset.querySelector('input[name="' + select.dataset.levelField + '"]:checked');
    var choice = checked ? checked.value : "";
    var box = select.closest(".field");
    if (box) box.hidden = choice === "na";
    var level = /^[1-9]$/.test(choice) ? parseInt(choice, 10) : 0;
    Array.prototype.forEach.call(select.options, function (option) {
      option.disabled = option.value !== "" && parseInt(option.value, 10) < level;
    });
    var chosen = select.options[select.selectedIndex];
    if (chosen && chosen.disabled) select.value = "";  // back to the default (current + 1)
  }
  form.querySelectorAll("fieldset.criterion").forEach(function (fs) {
    naToggle(fs);
    fs.addEventListener("change", function () { naToggle(fs); });
  });
  if (!window.fetch) return;  // no autosave: the buttons save the page

  function field(name) { return form.elements.namedItem(name); }
  function getValue(cid, key) {
    if (key === "choice") {
      var checked = form.querySelector('input[name="crit_' + cid + '"]:checked');
      return checked ? checked.value : "";
    }
    var el = field((key === "target" ? "target_" : key + "_") + cid);
    return el ? el.value : "";
  }
  function asText(key, value) {
    if (value === null || value === undefined) return "";
    return String(value);
  }
  function setValue(cid, key, value) {
    var text = asText(key, value);
    if (key === "choice") {
      form.querySelectorAll('input[name="crit_' + cid + '"]').forEach(function (r) { r.checked = r.value === text; });
      var fs = document.getElementById("c-" + cid);
      if (fs) naToggle(fs);
      return;
    }
    var el = field((key === "target" ? "target_" : key + "_") + cid);
    if (el) el.value = text;
  }
  var KEYS = ["choice", "na_reason", "evidence", "target"];
  function snapshot() {
    var snap = {};
    form.querySelectorAll("fieldset[data-criterion]").forEach(function (fs) {
      var cid = fs.dataset.criterion, values = {};
      KEYS.forEach(function (k) { values[k] = getValue(cid, k); });
      snap[cid] = values;
    });
    return snap;
  }

  function showConflict(cid, state) {
    var box = document.getElementById("conflict-" + cid);
    if (!box) return;
    var rows = state.conflicts.map(function (c) {
      var tr = document.createElement("tr"), th = document.createElement("th"), mine = document.createElement("td"), theirs = document.createElement("td");
      th.scope = "row"; th.textContent = c.label; mine.textContent = c.mine; theirs.textContent = c.theirs;
      tr.appendChild(th); tr.appendChild(mine); tr.appendChild(theirs);
      return tr;
    });
    var body = box.querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (tr) { body.appendChild(tr); });
    box.querySelector(".conflict-actions").hidden = false;
    var hint = box.querySelector(".muted");
    if (hint) hint.hidden = true;
    box.hidden = false;
    box.dataset.base = state.base;
    box.dataset.version = state.version;
    box.dataset.theirs = JSON.stringify(state.conflicts.map(function (c) { return [c.field, c.theirs_raw]; }));
  }
  form.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-keep]");
    if (!button) return;
    var box = button.closest(".conflict"), cid = box.id.slice("conflict-".length);
    if (button.dataset.keep === "theirs") {
      JSON.parse(box.dataset.theirs || "[]").forEach(function (pair) { setValue(cid, pair[0], pair[1]); });
    }
    field("base_" + cid).value = box.dataset.base;
    field("ver_" + cid).value = box.dataset.version;
    box.hidden = true;
    var fs = document.getElementById("c-" + cid);
    if (fs) fs.classList.remove("has-error");
    if (button.dataset.keep === "mine") save();
    else status.textContent = status.dataset.saved;
  });

  function apply(sent, body) {
    Object.keys(body.criteria || {}).forEach(function (cid) {
      var state = body.criteria[cid], fs = document.getElementById("c-" + cid), err = document.getElementById("err-" + cid);
      if (err) { err.textContent = state.error || ""; err.hidden = !state.error; }
      if (state.conflicts && state.conflicts.length) { showConflict(cid, state); if (fs) fs.classList.add("has-error"); return; }
      if (state.error) { if (fs) fs.classList.add("has-error"); return; }
      if (fs) fs.classList.remove("has-error");
      var box = document.getElementById("conflict-" + cid);
      if (box) box.hidden = true;
      // Take in what others saved, except where this person typed since the request left.
      KEYS.forEach(function (k) {
        var now = getValue(cid, k), was = sent[cid] ? sent[cid][k] : now, stored = asText(k, state.values[k]);
        if (now === was && now !== stored) setValue(cid, k, state.values[k]);
      });
      field("base_" + cid).value = state.base;
      field("ver_" + cid).value = state.version;
    });
  }

  function save() {
    clearTimeout(timer);
    timer = null;
    if (running) { pending = true; return; }
    running = true;
    var sent = snapshot();
    var data = new FormData(form);
    data.set("go", "save");
    fetch(form.action || window.location.href, {
      method: "POST", body: data, credentials: "same-origin",
      headers: {"X-Requested-With": "fetch", "Accept": "application/json"}
    }).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (res) {
      if (res.body.criteria) apply(sent, res.body);
      if (res.ok) {
        status.textContent = pending || timer !== null ? (status.dataset.saving || "") : status.dataset.saved;
      } else {
        var message = res.body.message || (res.body.error && res.body.error.message) || "";
        status.textContent = status.dataset.failed + " " + message;
      }
      var bar = document.getElementById("progress-bar");
      if (bar && res.body.answered !== undefined) {
        bar.value = res.body.answered;
        var label = document.querySelector("label[for=progress-bar]");
        if (label) label.textContent = label.textContent.replace(/\d+(\D+)\d+/, res.body.answered + "$1" + res.body.total);
      }
    }).catch(function () {
      status.textContent = status.dataset.failed;
    }).finally(function () {
      running = false;
      if (pending) { pending = false; save(); }
    });
  }
  function soon(delay) { clearTimeout(timer); timer = setTimeout(save, delay); saving(); }
  form.addEventListener("change", function () { soon(150); });
  form.addEventListener("input", function (e) { if (e.target.tagName === "TEXTAREA") soon(800); });
  window.addEventListener("pagehide", function () {
    if (timer !== null || running) { clearTimeout(timer); var d = new FormData(form); d.set("go", "save");
      navigator.sendBeacon && navigator.sendBeacon(form.action || window.location.href, d); }
  });
})();
