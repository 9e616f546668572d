/* flipgen embed for "{{ site.slug }}": <script src=".../{{ site.slug }}/embed.js" async></script>
   Optional attributes: data-target="#css-selector" (where to put the iframe),
   data-query="ref=abc" (query parameters for the journey). Of the host page's own query, only
   the parameters the site declares are forwarded: a host page's session token or tracking
   ids never reach the journey host (nor its logs). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var SITE = "{{ site.slug }}";
  var page = new URL("./", script.src);
  var DECLARED = {{ site.params | map(attribute="name") | list | tojson }};
  var query = new URLSearchParams();
  var keep = function (v, k) { if (DECLARED.indexOf(k) >= 0) query.set(k, v); };
  new URLSearchParams(location.search).forEach(keep);
  new URLSearchParams(script.getAttribute("data-query") || "").forEach(keep);
  page.search = query.toString();
  var frame = document.createElement("iframe");
  frame.src = page.href;
  frame.title = {{ site.title | tojson }};
  frame.setAttribute("data-flipgen", SITE);
  frame.style.cssText = "display:block;width:100%;height:640px;border:0;overflow:hidden";
  var sel = script.getAttribute("data-target");
  var target = sel && document.querySelector(sel);
  if (target) target.appendChild(frame); else script.parentNode.insertBefore(frame, script.nextSibling);
  window.addEventListener("message", function (e) {
    var d = e.data;
    if (e.source !== frame.contentWindow || e.origin !== page.origin || !d || d.site !== SITE) return;
    if (d.type === "flipgen:resize" && d.height > 0) frame.style.height = Math.ceil(d.height) + "px";
    if (typeof d.type === "string" && d.type.indexOf("flipgen:") === 0 && d.type !== "flipgen:resize") {
      frame.dispatchEvent(new CustomEvent(d.type, { bubbles: true, detail: d }));
    }
  });
})();
