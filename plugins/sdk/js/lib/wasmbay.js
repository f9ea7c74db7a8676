// wasmbay.js - helpers for JavaScript plugins, staged beside your source by
// `wasmbay build` (so `import { readText } from './wasmbay.js'` always resolves).
//
// JavaScript inside a component has no file API of its own; these read files
// through wasi:filesystem from the folders the user granted (fs-read=HOST:GUEST),
// by their guest path. A path outside every granted folder is refused, exactly
// as the host would refuse it.
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const CHUNK = 65536n;

function openForReading(path) {
  const dirs = getDirectories();
  for (const [dir, guest] of dirs) {
    const prefix = guest.endsWith('/') ? guest : guest + '/';
    if (path === guest || path.startsWith(prefix)) {
      const rel = path === guest ? '.' : path.slice(prefix.length);
      try {
        return dir.openAt({ symlinkFollow: false }, rel, {}, { read: true });
      } catch (e) {
        throw new Error(`${path}: ${e.payload ?? e.message ?? e}`);
      }
    }
  }
  throw new Error(`${path}: no granted folder contains it (granted: ${
    dirs.map(([, g]) => g).join(', ') || 'none'})`);
}

/** The bytes of the file at guest path `path` (a Uint8Array). */
export function readBytes(path) {
  const file = openForReading(path);
  const chunks = [];
  let total = 0;
  let offset = 0n;
  for (;;) {
    let bytes, end;
    try {
      [bytes, end] = file.read(CHUNK, offset);
    } catch (e) {
      throw new Error(`${path}: ${e.payload ?? e.message ?? e}`);
    }
    chunks.push(bytes);
    total += bytes.length;
    offset += BigInt(bytes.length);
    if (end || bytes.length === 0) break;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The text (UTF-8) of the file at guest path `path`. */
export function readText(path) {
  return new TextDecoder().decode(readBytes(path));
}
