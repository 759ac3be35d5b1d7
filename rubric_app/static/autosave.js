// Saves the dimension page as a draft whenever an answer changes, so closing the browser loses nothing.
(function () {
  var form = document.querySelector("form[data-autosave]");
  if (!form || !window.fetch) return;
  var status = document.getElementById("autosave-status");
  var timer = null, pending = false, running = false;

  function naToggle(fieldset) {
    var na = fieldset.querySelector('input[type=radio][value=na]');
    var reason = fieldset.querySelector('.na-reason');
    if (reason) reason.hidden = !(na && na.checked);
  }
  form.querySelectorAll("fieldset.criterion").forEach(function (fs) {
    naToggle(fs);
    fs.addEventListener("change", function () { naToggle(fs); });
  });

  function save() {
    if (running) { pending = true; return; }
    running = true;
    var data = new FormData(form);
    data.set("go", "save");
    fetch(form.action || window.location.href, {
      method: "POST", body: data, credentials: "same-origin",
      headers: {"X-Requested-With": "fetch", "Accept": "application/json"}
    }).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (res) {
      if (res.ok) {
        status.textContent = status.dataset.saved;
        var bar = document.getElementById("progress-bar");
        if (bar && res.body.answered !== undefined) {
          bar.value = res.body.answered;
          var label = document.querySelector("label[for=progress-bar]");
          if (label) label.textContent = label.textContent.replace(/\d+(\D+)\d+/, res.body.answered + "$1" + res.body.total);
        }
      } else {
        var details = (res.body.error && res.body.error.details || []).map(function (d) { return d.message; });
        status.textContent = status.dataset.failed + " " + (details.join("; ") || res.body.error.message);
      }
    }).catch(function () {
      status.textContent = status.dataset.failed;
    }).finally(function () {
      running = false;
      if (pending) { pending = false; save(); }
    });
  }
  function soon(delay) { clearTimeout(timer); timer = setTimeout(save, delay); }
  form.addEventListener("change", function () { soon(150); });
  form.addEventListener("input", function (e) { if (e.target.tagName === "TEXTAREA") soon(800); });
  window.addEventListener("pagehide", function () {
    if (timer) { clearTimeout(timer); var d = new FormData(form); d.set("go", "save");
      navigator.sendBeacon && navigator.sendBeacon(form.action || window.location.href, d); }
  });
})();
