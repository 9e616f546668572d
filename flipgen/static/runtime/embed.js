/* Embedded in another page (embed.js puts the journey in an iframe): tell the parent about
   steps, completion and the page height, so the frame can grow with its content. Messages go
   only to the origins the project allows (flipgen.yaml `embed.allowed_origins`): with none,
   the page posts nothing. A message never carries a Smile user id. */
import { page } from "./state.js";

const parentOrigins = () => (window.parent !== window && page.journey.embed.allowed_origins) || [];

export const framed = () => parentOrigins().length > 0;

/** Post to the parent; the browser delivers it only if the parent has an allowed origin. */
export function post(message) {
  for (const origin of parentOrigins()) window.parent.postMessage({ site: page.journey.site, ...message }, origin);
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
