// What the upload page sends: files chosen one by one, a chosen folder
// (<input webkitdirectory>: each File knows its webkitRelativePath) or a
// dropped folder, walked here through the File and Directory Entries API.
// Each file keeps its path inside the folder: the server files a track
// without album tags under its folder's name.

// Whether the upload page sends a file with this path, and why not.
export function classify(path, extensions) {
  const parts = path.split("/").filter(Boolean);
  const name = parts[parts.length - 1] || "";
  if (parts.some((part) => part.startsWith(".") || part === "__MACOSX")) return "hidden";
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
  if (ext === "zip") return "archive";
  return extensions.includes(ext) ? "audio" : "other";
}

// The { file, path } pairs of an <input type=file> selection.
export function fromInput(files) {
  return [...files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

function readAll(reader) {
  // readEntries answers in pieces (100 at a time in Chromium) until an empty one.
  return new Promise((resolve, reject) => {
    const found = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (!batch.length) resolve(found);
        else {
          found.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

function fileOf(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry, out) {
  if (entry.isFile) {
    out.push({ file: await fileOf(entry), path: entry.fullPath.replace(/^\/+/, "") });
  } else if (entry.isDirectory) {
    const children = await readAll(entry.createReader());
    children.sort((a, b) => a.name.localeCompare(b.name));
    for (const child of children) await walk(child, out);
  }
}

// The { file, path } pairs of a drop: folders are walked; plain files keep their name.
export async function fromDrop(dataTransfer) {
  const entries = [...(dataTransfer.items || [])]
    .filter((item) => item.kind === "file")
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((entry) => !entry)) return fromInput(dataTransfer.files || []);
  const out = [];
  for (const entry of entries) await walk(entry, out);
  return out;
}
