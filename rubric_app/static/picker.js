/* Country picker (templates/_country_picker.html): progressive enhancement. Adds a search box
   above each picker's <select> that filters its options by name, ignoring case and accents.
   Chosen options always stay in the list, so filtering never drops a choice. Without this
   script the native <select> works as it is. */
(function () {
  "use strict";
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }
  function enhance(box, index) {
    var select = box.querySelector("select");
    if (!select || box.querySelector("input[type=search]")) return;
    var groups = Array.prototype.slice.call(select.querySelectorAll("optgroup"));
    var entries = [];
    groups.forEach(function (group) {
      Array.prototype.slice.call(group.children).forEach(function (option) {
        entries.push({group: group, option: option, key: fold(option.textContent + " " + option.value)});
      });
    });
    var searchId = select.id + "-search";
    var input = document.createElement("input");
    input.type = "search";
    input.id = searchId;
    input.className = "picker-search";
    input.autocomplete = "off";
    input.setAttribute("aria-label", box.dataset.searchLabel || "Search");
    input.setAttribute("aria-controls", select.id);
    input.placeholder = box.dataset.searchPlaceholder || "";
    var status = document.createElement("p");
    status.className = "picker-status muted";
    status.id = select.id + "-status";
    status.setAttribute("aria-live", "polite");
    input.setAttribute("aria-describedby", status.id);
    select.parentNode.insertBefore(input, select);
    select.parentNode.insertBefore(status, select);

    function filter() {
      var q = fold(input.value);
      var shown = 0;
      groups.forEach(function (group) { group.textContent = ""; });
      entries.forEach(function (e) {
        var match = !q || e.key.indexOf(q) !== -1;
        if (match || e.option.selected) {
          e.group.appendChild(e.option);
          if (match) shown += 1;
        }
      });
      groups.forEach(function (group) { group.hidden = group.children.length === 0; });
      if (!q) {
        status.textContent = "";
      } else if (shown === 0) {
        status.textContent = box.dataset.noMatch || "";
      } else if (shown === 1) {
        status.textContent = box.dataset.matchesOne || "";
      } else {
        status.textContent = (box.dataset.matchesMany || "").replace("{n}", String(shown));
      }
      return shown;
    }
    input.addEventListener("input", filter);
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        /* Enter picks the only match (single choice) instead of sending a half-filled form */
        ev.preventDefault();
        var q = fold(input.value);
        var matches = entries.filter(function (e) { return q && e.key.indexOf(q) !== -1; });
        if (matches.length === 1) {
          matches[0].option.selected = true;
          select.dispatchEvent(new Event("change", {bubbles: true}));
        }
        select.focus();
      } else if (ev.key === "ArrowDown") {
        ev.preventDefault();
        select.focus();
      }
    });
  }
  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-country-picker]"), enhance);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
