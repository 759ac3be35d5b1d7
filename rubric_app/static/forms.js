// Two helpers for long forms with a sticky bar of buttons at the bottom (class "actions").
// 1. A field that gets the focus is never left hidden behind the sticky bar (WCAG 2.4.11): the
//    page's scroll-padding-bottom follows the bar's height, and a focused field still under the
//    bar is scrolled into view above it.
// 2. A form marked data-warn-unsaved asks before the page is left while it holds changes that are
//    not saved (the browser's own "leave the page?" dialog, only while there is something to lose).
(function () {
  var root = document.documentElement;

  function stickyBars() {
    return Array.prototype.filter.call(document.querySelectorAll(".actions"), function (bar) {
      return getComputedStyle(bar).position === "sticky" && bar.offsetParent !== null;
    });
  }
  function measure() {
    var height = 0;
    stickyBars().forEach(function (bar) { height = Math.max(height, bar.getBoundingClientRect().height); });
    if (height) root.style.setProperty("--sticky-bar-height", Math.ceil(height) + "px");
    reveal(document.activeElement);  // a bar that grew (a message in it) may now cover the field in use
  }
  function reveal(target) {
    if (!target || !target.getBoundingClientRect || target === document.body) return;
    stickyBars().forEach(function (bar) {
      if (bar.contains(target)) return;
      var box = target.getBoundingClientRect(), cover = bar.getBoundingClientRect();
      // the bar covers the field when it sits over the field's lower edge
      if (cover.top < window.innerHeight && box.bottom > cover.top - 4 && box.top < cover.bottom) {
        window.scrollBy(0, Math.min(box.bottom - cover.top + 12, box.top - 12));
      }
    });
  }
  measure();
  window.addEventListener("resize", measure);
  if (window.ResizeObserver) {
    var observer = new ResizeObserver(measure);
    stickyBars().forEach(function (bar) { observer.observe(bar); });
  }

  document.addEventListener("focusin", function (event) { reveal(event.target); });

  document.querySelectorAll("form[data-warn-unsaved]").forEach(function (form) {
    var note = form.querySelector(".unsaved-note");
    var dirty = false;
    function warn(event) {
      event.preventDefault();
      event.returnValue = "";  // older browsers need a value to show their dialog
      return "";
    }
    function setDirty(value) {
      if (value === dirty) return;
      dirty = value;
      if (note) note.hidden = !dirty;
      if (dirty) window.addEventListener("beforeunload", warn);
      else window.removeEventListener("beforeunload", warn);
    }
    form.addEventListener("input", function () { setDirty(true); });
    form.addEventListener("change", function () { setDirty(true); });
    form.addEventListener("submit", function () { setDirty(false); });
    // a page shown again with the person's values (conflict, refused field) holds unsaved changes
    if (form.dataset.dirty === "1") setDirty(true);
  });
})();
