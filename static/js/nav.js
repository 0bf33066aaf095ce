// Navigation swaps only #content (htmx), so what the server marks outside it
// (the menu's current section) is kept up to date here.

// The menu entry whose address is the longest prefix of this page's is
// current (the server's rule in app/templating.py).
export function markNav() {
  let best = null;
  let bestLength = -1;
  for (const link of document.querySelectorAll(".site-nav a")) {
    link.removeAttribute("aria-current");
    const path = new URL(link.href).pathname;
    const inside = location.pathname === path || location.pathname.startsWith(`${path.replace(/\/$/, "")}/`);
    if (inside && path.length > bestLength) {
      best = link;
      bestLength = path.length;
    }
  }
  if (best) best.setAttribute("aria-current", "page");
}

// afterSwap() runs whenever new page content has settled.
export function bindNavigation(afterSwap) {
  // Back and forward: htmx keeps no snapshots (historyCacheSize 0), so fetch
  // the page and swap #content as a click would, and the player plays on.
  document.body.addEventListener("htmx:historyCacheMiss", (event) => {
    event.preventDefault();
    window.htmx
      .ajax("GET", event.detail.path, { target: "#content", select: "#content", swap: "outerHTML" })
      .then(afterSwap);
  });
  document.body.addEventListener("htmx:afterSettle", afterSwap);
}
