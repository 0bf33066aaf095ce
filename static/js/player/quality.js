// Which sound quality the player asks /stream/<id> for: the user's choice for
// the web player, or the one for a metered connection when the browser says
// the connection is metered or slow (Network Information API, where the
// browser has it) or the user turned "metered" on in the bar (remembered in
// localStorage). Pure functions, unit-tested in tests/js/quality.test.mjs.

export const METERED_KEY = "musiccloud.metered";
const SLOW = new Set(["slow-2g", "2g", "3g"]);

// Whether to use the metered quality: the toggle, data saver, a cellular link or a slow one.
export function isMetered(toggle, connection) {
  if (toggle) return true;
  if (!connection) return false;
  return Boolean(connection.saveData) || connection.type === "cellular" || SLOW.has(connection.effectiveType);
}

// The quality name ("original", "high", "medium", "low") to ask for.
export function chooseQuality(settings, metered) {
  const choice = metered ? settings?.metered : settings?.web;
  return typeof choice === "string" && choice ? choice : "original";
}

// The stream address at `quality`; players without Opus ask for the MP3 variants.
// The original keeps the plain address (the server's fast seek path).
export function streamUrl(stream, quality, opus) {
  if (!quality || quality === "original") return stream;
  const params = new URLSearchParams({ quality });
  if (!opus) params.set("format", "mp3");
  return `${stream}${stream.includes("?") ? "&" : "?"}${params}`;
}

// Whether this browser decodes Opus in Ogg.
export function canPlayOpus(audio) {
  return Boolean(audio?.canPlayType && audio.canPlayType('audio/ogg; codecs="opus"') !== "");
}
