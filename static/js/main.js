// The one script base.html loads (as a module, so after the page is parsed
// and after htmx). Each feature lives in its own module; this only starts
// them. Modules import each other by relative URL, with no build step.
import { bindCopyButtons } from "./copy-link.js";
import { bindFavouriteForms } from "./favourites.js";
import { bindLikeForms } from "./likes.js";
import { bindNavigation, markNav } from "./nav.js";
import { startPlayer } from "./player/player.js";
import { initReorder } from "./playlist-reorder.js";
import { initBulkSelect } from "./bulk-select.js";
import { initImportProgress } from "./import-progress.js";
import { initUploads } from "./upload.js";

// htmx:load fires for the first page and for every swapped-in fragment.
document.addEventListener("htmx:load", () => {
  initUploads();
  initImportProgress();
  initBulkSelect();
});
initUploads();
initImportProgress();
initBulkSelect();

// The bar is rendered for signed-in users only; so is everything below.
const root = document.getElementById("player");
if (root) {
  const player = startPlayer(root);
  bindFavouriteForms();
  bindLikeForms();
  bindCopyButtons();
  initReorder();
  bindNavigation(() => {
    markNav();
    player.markRows();
    initReorder();
  });
}
