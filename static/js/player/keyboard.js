// Keyboard shortcuts (listed in the bar's help dialog). They stay out of the
// way of typing, of modified keys, and of Space/Enter on a focused button.

// actions: {hasTrack(), toggle, seekBy(seconds), prev, next, mute, help}
export function bindKeyboard(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) return;
    if (event.target?.tagName === "BUTTON" && (event.key === " " || event.key === "Enter")) return;
    const hasTrack = actions.hasTrack();
    switch (event.key) {
      case " ":
        if (!hasTrack) return;
        event.preventDefault(); // the page would scroll
        actions.toggle();
        break;
      case "ArrowLeft":
      case "ArrowRight":
        if (!hasTrack) return;
        event.preventDefault();
        if (event.shiftKey) {
          if (event.key === "ArrowLeft") actions.prev();
          else actions.next();
        } else actions.seekBy(event.key === "ArrowLeft" ? -10 : 10);
        break;
      case "m":
      case "M":
        actions.mute();
        break;
      case "?":
        actions.help();
        break;
    }
  });
}

// Not a range input: on the seek and volume sliders the keys stay shortcuts.
function isTyping(target) {
  if (!target) return false;
  return target.isContentEditable || (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && target.type !== "range");
}
