/* Embedded in another page (embed.js puts the journey in an iframe): tell the parent about
   steps, completion and the page height, so the frame can grow with its content. */
import { page } from "./state.js";

export const framed = () => window.parent !== window;

export function post(message) {
  if (framed()) window.parent.postMessage({ site: page.journey.site, ...message }, "*");
}

/** Report the page height to the parent whenever it changes. */
export function watchHeight() {
  const el = document.getElementById("flip-page") || document.body;
  let last = 0;
  document.documentElement.classList.add("flip-embedded");
  new ResizeObserver(() => {
    const height = Math.ceil(el.getBoundingClientRect().height);
    if (height !== last) post({ type: "flipgen:resize", height: (last = height) });
  }).observe(el);
}
