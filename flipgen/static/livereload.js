/* flipgen serve: live reload and the error overlay.
 *
 * Injected by the preview server only (never part of `flipgen build` output). It listens to
 * /_flipgen/livereload (Server-Sent Events). Each event carries the build state:
 *   {build, versions: {slug: id}, errors: [{file, line, col, message, source}]}
 * The page reloads when its own site's version differs from the one it was served with
 * (data-build), which also covers a server restart (EventSource reconnects by itself).
 * Errors are drawn with DOM APIs and textContent only: file content is never parsed as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__flipgenLiveReload) return;
  window.__flipgenLiveReload = true;
  var pageBuild = script.getAttribute("data-build") || "";
  var site = script.getAttribute("data-site") || "";
  var reloadOn = script.getAttribute("data-reload") !== "off";
  var host = null;
  var dismissed = "";
  var reloading = false;

  function currentVersion(state) {
    if (!site) return state.build;
    return Object.prototype.hasOwnProperty.call(state.versions || {}, site) ? state.versions[site] : "";
  }

  function apply(state) {
    if (reloadOn && !reloading && currentVersion(state) !== pageBuild) {
      reloading = true;
      window.location.reload();
      return;
    }
    showErrors(state.errors || []);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function caretLine(source, col) {
    // Keep tabs as tabs so the caret lines up under the same column.
    var pad = "";
    for (var i = 0; i < Math.max(0, col - 1); i++) pad += source.charAt(i) === "\t" ? "\t" : " ";
    return pad + "^";
  }

  function showErrors(errors) {
    var key = JSON.stringify(errors);
    if (!errors.length) {
      if (host) host.remove();
      host = null;
      dismissed = "";
      return;
    }
    if (key === dismissed) return;
    if (host) host.remove();
    host = el("div");
    host.id = "flipgen-overlay";
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/_flipgen/overlay.css";
    root.appendChild(link);

    var box = el("section", "fg-overlay");
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-labelledby", "fg-title");
    // Hidden until the stylesheet arrives, so the overlay never flashes unstyled.
    box.style.visibility = "hidden";
    link.addEventListener("load", function () {
      box.style.visibility = "";
    });
    link.addEventListener("error", function () {
      box.style.visibility = "";
    });

    var head = el("header", "fg-head");
    var title = el(
      "h2",
      "fg-title",
      errors.length === 1 ? "flipgen: 1 error" : "flipgen: " + errors.length + " errors",
    );
    title.id = "fg-title";
    var close = el("button", "fg-close", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Hide until the next change");
    close.addEventListener("click", function () {
      dismissed = key;
      if (host) host.remove();
      host = null;
    });
    head.appendChild(title);
    head.appendChild(close);
    box.appendChild(head);
    box.appendChild(
      el(
        "p",
        "fg-hint",
        "The preview keeps serving the last good build. Fix the file and this page updates by itself.",
      ),
    );

    var list = el("ol", "fg-list");
    errors.forEach(function (error) {
      var item = el("li", "fg-error");
      item.appendChild(el("p", "fg-where", error.file + ":" + error.line + ":" + error.col));
      item.appendChild(el("p", "fg-message", error.message));
      if (error.source) {
        var gutter = String(error.line) + " | ";
        var blank = gutter.replace(/[^|]/g, " ");
        item.appendChild(
          el("pre", "fg-source", gutter + error.source + "\n" + blank + caretLine(error.source, error.col)),
        );
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    root.appendChild(box);
    (document.body || document.documentElement).appendChild(host);
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  }

  function fetchOnce() {
    fetch("/_flipgen/errors", { cache: "no-store" })
      .then(function (r) {
        return r.json();
      })
      .then(apply)
      .catch(function () {});
  }

  function connect() {
    var source = new EventSource("/_flipgen/livereload");
    function onState(event) {
      var state = parse(event);
      if (state) apply(state);
    }
    source.addEventListener("hello", onState);
    source.addEventListener("build", onState);
    source.addEventListener("error", function () {
      // The browser retries by itself while the stream is CONNECTING; start over if it gave up.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, 1000);
      }
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }

  if (reloadOn && window.EventSource) connect();
  else fetchOnce();
})();
