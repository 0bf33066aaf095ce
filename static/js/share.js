// A shared playlist: one player, the list plays in order.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var audio = document.querySelector(".share-audio");
    var buttons = Array.prototype.slice.call(document.querySelectorAll(".share-track"));
    var current = -1;
    function play(i) {
      if (i < 0 || i >= buttons.length) return;
      current = i;
      buttons.forEach(function (b, j) { b.setAttribute("aria-current", j === i ? "true" : "false"); });
      audio.src = buttons[i].dataset.src;
      audio.play();
    }
    buttons.forEach(function (b, i) { b.addEventListener("click", function () { play(i); }); });
    audio.addEventListener("ended", function () { play(current + 1); });
    if (buttons.length) {  // the player's own play button starts at the top
      current = 0;
      audio.src = buttons[0].dataset.src;
    }
  });
})();
