// Icons are <use> references into the sprite whose (fingerprinted) URL the
// server gives; the button around an icon carries its label.
import { config } from "./config.js";

const SVG = "http://www.w3.org/2000/svg";

export function iconHref(name) {
  return `${config.urls.icons}#${name}`;
}

export function setIcon(button, name) {
  const use = button.querySelector("use");
  if (use) use.setAttribute("href", iconHref(name));
}

export function iconButton(name, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "icon-button small";
  button.setAttribute("aria-label", label);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", iconHref(name));
  svg.appendChild(use);
  button.appendChild(svg);
  return button;
}
