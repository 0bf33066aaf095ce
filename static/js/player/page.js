// The page's side of the player: buttons in #content that queue tracks, the
// "now playing" mark on rows and a track page's listen count. Rows carry
// their track as JSON in data-track (app/templating.py, track_data).

const BUTTONS =
  "[data-play-row], [data-play-next], [data-add-queue], [data-play-track], [data-play-next-track], [data-play-all], [data-radio], [data-play-list]";

// player: {playList(tracks, {start, shuffle}), playNext(track), add(track), startRadio(seed)}
export function bindPageButtons(player) {
  document.addEventListener("click", (event) => {
    const target = event.target.closest(BUTTONS);
    if (!target) return;
    event.preventDefault();
    const { dataset } = target;
    if ("playList" in dataset) return player.playList(JSON.parse(dataset.playList), { start: 0 });
    if ("radio" in dataset) return player.startRadio(JSON.parse(dataset.radio));
    if ("playTrack" in dataset) return player.playList([JSON.parse(dataset.playTrack)], { start: 0 });
    if ("playNextTrack" in dataset) return player.playNext(JSON.parse(dataset.playNextTrack));
    if ("playAll" in dataset) {
      const tracks = [...document.querySelectorAll("#content tr[data-track]")].map(rowTrack);
      const shuffle = dataset.playAll === "shuffle";
      return player.playList(tracks, shuffle ? { shuffle } : { start: 0, shuffle });
    }
    const row = target.closest("tr[data-track]");
    if ("playRow" in dataset) {
      // The whole list the row is in, from this row on (a track may appear twice).
      const rows = [...(row.closest("tbody") || row.parentNode).querySelectorAll("tr[data-track]")];
      return player.playList(rows.map(rowTrack), { start: Math.max(0, rows.indexOf(row)) });
    }
    if ("playNext" in dataset) return player.playNext(rowTrack(row));
    return player.add(rowTrack(row));
  });
}

function rowTrack(row) {
  return JSON.parse(row.dataset.track);
}

export function markNowPlaying(trackId) {
  for (const row of document.querySelectorAll("tr.now-playing")) row.classList.remove("now-playing");
  if (trackId === null || trackId === undefined) return;
  for (const row of document.querySelectorAll(`tr[data-track-id="${trackId}"]`)) row.classList.add("now-playing");
}

// On the track's own page, its count of listens follows a reported listen.
export function showPlayCount(track, count) {
  const element = document.querySelector("[data-play-count]");
  if (element && location.pathname === track.page) element.textContent = String(count);
}
