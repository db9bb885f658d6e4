// Concur's Launch URL behaviour: open the launch in a 400x400 popup, and refresh the form
// when the popup closes so the value the connector wrote shows.
"use strict";
(function () {
  var POPUP_NAME = "concur_launch";
  var popup = null;
  var timer = null;

  function watch() {
    if (timer !== null) {
      return;
    }
    timer = window.setInterval(function () {
      if (popup === null || popup.closed) {
        window.clearInterval(timer);
        timer = null;
        popup = null;
        document.body.classList.add("refreshing");
        window.location.reload();
      }
    }, 300);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var link = target && target.closest ? target.closest("a[data-launch]") : null;
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    var opened = window.open(link.href, POPUP_NAME, "width=400,height=400");
    var blocked = document.getElementById("popup-blocked");
    if (!opened) {
      if (blocked) {
        blocked.hidden = false;
      }
      return;
    }
    if (blocked) {
      blocked.hidden = true;
    }
    popup = opened;
    popup.focus();
    document.body.classList.add("launched");
    watch();
  });
})();
