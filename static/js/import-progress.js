// An archive import's progress: while it runs, the page asks for itself again
// every second and swaps in the fresh progress section (the server renders
// it; nothing is computed here). Reloading the page shows the same state.
const EVERY_MS = 1000;

function watch(section) {
  if (section.dataset.watching) return;
  section.dataset.watching = "1";
  const url = section.dataset.refresh;
  const timer = setInterval(async () => {
    if (!section.isConnected) {
      clearInterval(timer);
      return;
    }
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("[data-import-progress]");
      if (!fresh) return;
      clearInterval(timer);
      section.replaceWith(fresh);
      initImportProgress();
    } catch {
      // Offline for a moment: the next tick tries again.
    }
  }, EVERY_MS);
}

export function initImportProgress() {
  for (const section of document.querySelectorAll("[data-import-progress][data-refresh]")) watch(section);
}
