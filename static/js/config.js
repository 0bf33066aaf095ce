// The data block the server renders (app/web/client_config.py): URLs, the
// CSRF token, the user and every sentence the scripts show. It sits outside
// #content, so navigation never replaces it and it is read once.

const EMPTY = { user: null, csrf: "", urls: {}, strings: {} };

function read() {
  const block = document.getElementById("client-config");
  if (!block) return EMPTY;
  try {
    return { ...EMPTY, ...JSON.parse(block.textContent) };
  } catch (error) {
    console.error("client-config is not valid JSON", error);
    return EMPTY;
  }
}

export const config = read();

function fill(template, values, encode) {
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? encode(String(values[name])) : whole,
  );
}

// A string by its key, with its {name} placeholders filled in.
export function t(key, values = {}) {
  const text = config.strings[key];
  if (typeof text !== "string") {
    console.warn(`client-config has no string "${key}"`);
    return key;
  }
  return fill(text, values, (v) => v);
}

// A URL by its name, with its {name} placeholders filled in (encoded).
export function url(name, values = {}) {
  const template = config.urls[name];
  if (typeof template !== "string") throw new Error(`client-config has no URL "${name}"`);
  return fill(template, values, encodeURIComponent);
}

// The values of a URL template's placeholders in `address` (a path or a full
// URL), or null when the address is not one of the template's URLs.
export function matchUrl(name, address) {
  const template = config.urls[name];
  if (typeof template !== "string") return null;
  const names = [];
  // split() with a capturing group alternates literal text and placeholder names.
  const pattern = template
    .split(/\{(\w+)\}/)
    .map((part, i) => {
      if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(part);
      return "([^/?#]+)";
    })
    .join("");
  const found = new RegExp(`^${pattern}$`).exec(new URL(address, location.href).pathname);
  if (!found) return null;
  return Object.fromEntries(names.map((key, i) => [key, decodeURIComponent(found[i + 1])]));
}
