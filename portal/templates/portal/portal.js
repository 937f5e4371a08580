// The space's only script (served from our origin: the CSP allows no inline script).
// "Quick exit": the page is replaced by a neutral site with location.replace, so the back
// button does not bring it back; Escape does the same. The session is ended on the way out.
(function () {
  "use strict";
  var exit = document.getElementById("quick-exit");
  if (!exit) { return; }
  var target = exit.getAttribute("href");
  var leaving = false;
  function leave(event) {
    if (event) { event.preventDefault(); }
    if (leaving) { return; }
    leaving = true;
    var end = document.getElementById("quick-exit-end");
    if (end && navigator.sendBeacon) {
      try { navigator.sendBeacon(end.getAttribute("action"), new FormData(end)); } catch (e) { /* leave anyway */ }
    }
    document.body.style.visibility = "hidden";
    window.location.replace(target);
  }
  exit.addEventListener("click", leave);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" || event.key === "Esc") { leave(event); }
  });
}());
