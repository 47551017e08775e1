// A runbook opened from an alert (runbook_url?alertname=X&instance=host:port) fills its "Before you
// start" variables in for the backend that fired: BACKEND_URL and BACKEND_WS_URL, in the page and in
// what the copy button gives, marked "from the alert", with a way back to the defaults.
// Only known parameters are read, and only values of a strict shape are used: the copied text is
// pasted into a shell at 3AM, so a quote, a space, `$(...)` or a newline is refused, visibly, and
// the page keeps its defaults. What the tests prove on the page stays the defaults.
(function () {
  "use strict";

  var LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  var HOST = "(?:" + LABEL + "(?:\\." + LABEL + ")*|\\[[0-9A-Fa-f:.]{2,45}\\])";
  var INSTANCE = new RegExp("^" + HOST + ":([0-9]{1,5})$");
  var ALERTNAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

  function valid(name, value) {
    if (name === "alertname") return ALERTNAME.test(value);
    var match = INSTANCE.exec(value);
    return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65535;
  }

  // The blocks of the "Before you start" section that set BACKEND_URL.
  function settingBlocks() {
    var heading = document.getElementById("before-you-start");
    var blocks = [];
    for (var node = heading && heading.nextElementSibling; node && node.tagName !== "H2";
         node = node.nextElementSibling) {
      node.querySelectorAll("pre > code").forEach(function (code) {
        if (/\bBACKEND_URL=/.test(code.textContent)) blocks.push(code);
      });
    }
    return blocks;
  }

  function note(kind, title, body) {
    var box = document.createElement("div");
    box.className = "admonition " + kind + " alert-context";
    var head = document.createElement("p");
    head.className = "admonition-title";
    head.textContent = title;
    box.appendChild(head);
    body.forEach(function (part) { box.appendChild(part); });
    var heading = document.getElementById("before-you-start");
    heading.parentNode.insertBefore(box, heading.nextSibling);
    return box;
  }

  function paragraph(text) {
    var p = document.createElement("p");
    p.textContent = text;
    return p;
  }

  function apply(values, blocks) {
    var originals = blocks.map(function (code) { return code.innerHTML; });
    var url = "http://" + values.instance;
    blocks.forEach(function (code) {
      code.textContent = code.textContent
        .replace(/\bBACKEND_URL=\S+/g, "BACKEND_URL=" + url)
        .replace(/\bBACKEND_WS_URL=\S+/g, "BACKEND_WS_URL=ws://" + values.instance + "/ws");
      code.classList.add("from-alert");
      var details = code.closest("details");
      if (details) details.open = true;
    });
    var back = document.createElement("a");
    back.href = location.pathname;
    back.className = "alert-context-reset";
    back.textContent = "Use the page's defaults instead";
    back.addEventListener("click", function (event) {
      event.preventDefault();
      blocks.forEach(function (code, i) {
        code.innerHTML = originals[i];
        code.classList.remove("from-alert");
      });
      history.replaceState(null, "", location.pathname + location.hash);
      box.remove();
    });
    var from = values.alertname ? "the alert " + values.alertname : "the link";
    var box = note("info", "From " + from + ": BACKEND_URL=" + url,
                   [paragraph("The commands below are filled in for instance " + values.instance +
                              " (from the alert). Check it is the backend you are on before you run them."),
                    back]);
  }

  function start() {
    var blocks = settingBlocks();
    if (!blocks.length || !location.search) return;
    var query = new URLSearchParams(location.search);
    var values = {};
    var refused = [];
    ["instance", "alertname"].forEach(function (name) {
      if (!query.has(name)) return;
      var value = query.get(name);
      if (valid(name, value)) values[name] = value;
      else refused.push(name);
    });
    if (refused.length) {
      note("warning", "Link parameters refused: " + refused.join(", "),
           [paragraph("They are not a plain host:port or alert name, so nothing was filled in; " +
                      "the commands below keep their defaults. Set BACKEND_URL yourself.")]);
      return;
    }
    if (values.instance) apply(values, blocks);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
