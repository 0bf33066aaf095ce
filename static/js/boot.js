// Runs first, before paint: lets the stylesheet show the controls that need JavaScript.
document.documentElement.classList.replace("no-js", "js");
// The browser's time zone, for times shown before the user picks one (/account).
try {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  }
} catch (e) { /* no Intl: times stay in UTC */ }
