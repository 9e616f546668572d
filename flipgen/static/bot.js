/* The bot check before a mint (site `bot_protection`, Cloudflare Turnstile), loaded only by
 * the pages of such sites, after flip.js and before Cloudflare's api.js (render=explicit).
 *
 * It draws the check into the [data-flip-turnstile] box of the Wink screen on view and keeps
 * the check's token on the box (data-token). flip.js sends that token once, in the mint
 * request (`turnstile`), then dispatches `flipgen:bot-used` on the box: the token is dropped
 * and the widget reset for the next attempt.
 */
(() => {
  "use strict";

  const block = document.getElementById("flip-journey");
  const bot = block && JSON.parse(block.textContent).bot_protection;
  if (!bot) return;

  function render(box) {
    if (!box || box.dataset.widget || !window.turnstile) return;
    const forget = () => delete box.dataset.token;
    box.dataset.widget = window.turnstile.render(box, {
      sitekey: bot.site_key,
      action: "mint",
      callback: (token) => {
        box.dataset.token = token;
      },
      "expired-callback": forget,
      "error-callback": forget,
    });
  }

  const onView = () => render(document.querySelector("[data-flip-screen]:not([hidden]) [data-flip-turnstile]"));
  // Cloudflare's script runs after this one: the first screen is drawn once the page loaded.
  window.addEventListener("load", onView);
  document.addEventListener("flipgen:step", onView);
  document.addEventListener("flipgen:bot-used", (e) => {
    delete e.target.dataset.token;
    if (window.turnstile && e.target.dataset.widget) window.turnstile.reset(e.target.dataset.widget);
  });
})();
