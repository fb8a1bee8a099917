// The list of requests follows the request log: rows rendered by the server arrive as
// server-sent events ("rows", oldest first) and go on top. EventSource reconnects by itself,
// sending the last event's id, so no row is missed or shown twice; a row sent again (its
// stream has ended) replaces the one shown.
(function () {
  "use strict";
  const rows = document.getElementById("rows");
  if (!rows || !window.EventSource) return;
  const state = document.getElementById("live-state");
  const source = new EventSource(rows.dataset.live);
  source.onopen = function () { if (state) state.textContent = "live"; };
  source.onerror = function () { if (state) state.textContent = "reconnecting…"; };
  source.addEventListener("rows", function (event) {
    const template = document.createElement("template");
    template.innerHTML = "<table><tbody>" + event.data + "</tbody></table>";
    for (const row of Array.from(template.content.querySelectorAll("tr"))) {
      const shown = document.getElementById(row.id);
      if (shown) shown.replaceWith(row); // a stream that has ended since
      else rows.prepend(row);
    }
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
  });
})();
