// markdown: converts a small Markdown subset to HTML (plugin-world v2).
//
// Blocks: ATX headings (# .. ######), paragraphs, unordered (- * +) and ordered
// (1. or 1)) lists, fenced code blocks (```), thematic breaks (---), and raw HTML
// blocks (starting with a block-level tag). Inline: code spans (`code`), strong
// (**x** or __x__), emphasis (*x* or _x_) and both (***x***).
//
// Option `safe=true` escapes all raw HTML, so untrusted Markdown cannot inject
// markup (the config key `safe` sets the default). With safe=false, the default,
// raw HTML passes through, as in CommonMark: a block-level tag (<div>, <table>, <script>...)
// starts a raw HTML block, inline tags stay in their paragraph. Code is always escaped.
import { log, getConfig } from 'toolsku:plugin-system/host-api@2.0.0';

class PluginError {
  constructor(tag, message) {
    this.tag = tag;
    this.val = message;
  }
}

const escapeAll = (s) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// Unsafe mode keeps tags and entities, but a lone `<` or `&` still becomes text.
const escapeStray = (s) =>
  s.replace(/&(?![A-Za-z][A-Za-z0-9]*;|#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};)/g, '&amp;')
    .replace(/<(?![A-Za-z/!?])/g, '&lt;');

function emphasis(s) {
  return s
    .replace(/\*\*\*(?=\S)([^]*?\S)\*\*\*/g, '<strong><em>$1</em></strong>')
    .replace(/\*\*(?=\S)([^]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^\w])__(?=\S)([^]*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
    .replace(/\*(?=\S)([^*]*?[^\s*])\*/g, '<em>$1</em>')
    .replace(/(^|[^\w])_(?=\S)([^_]*?\S)_(?!\w)/g, '$1<em>$2</em>');
}

function inline(text, safe) {
  // Odd parts are code spans: always escaped, never formatted.
  return text.split(/`([^`\n]+)`/).map((part, i) =>
    i % 2 ? `<code>${escapeAll(part)}</code>` : emphasis(safe ? escapeAll(part) : escapeStray(part)),
  ).join('');
}

const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const BULLET = /^ {0,3}([-*+])[ \t]+(.*)$/;
const ORDERED = /^ {0,3}(\d{1,9})([.)])[ \t]+(.*)$/;
const FENCE = /^ {0,3}(```+)[ \t]*([^`\s]*)[^`]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
// Block-level tags (and comments) start a raw HTML block; inline tags such as <b>
// stay inside their paragraph.
const HTML_BLOCK = new RegExp('^ {0,3}(?:<!--|<\\/?(?:address|article|aside|blockquote|details|'
  + 'dialog|div|dl|fieldset|figcaption|figure|footer|form|h[1-6]|header|hr|iframe|li|main|nav|'
  + 'ol|p|pre|script|section|style|summary|table|tbody|td|tfoot|th|thead|tr|ul)(?:[\\s/>]|$))',
  'i');
const BLANK = /^[ \t]*$/;

export function render(markdown, safe) {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let i = 0;
  const startsBlock = (line) => BLANK.test(line) || HEADING.test(line) || FENCE.test(line)
    || RULE.test(line) || BULLET.test(line) || ORDERED.test(line)
    || (!safe && HTML_BLOCK.test(line));

  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (BLANK.test(line)) {
      i++;
    } else if ((m = FENCE.exec(line))) {
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) body.push(lines[i]);
      i++; // the closing fence (or the end of the input)
      const cls = m[2] ? ` class="language-${escapeAll(m[2])}"` : '';
      blocks.push(`<pre><code${cls}>${escapeAll(body.join('\n'))}${body.length ? '\n' : ''}`
        + '</code></pre>');
    } else if ((m = HEADING.exec(line))) {
      const level = m[1].length;
      blocks.push(`<h${level}>${inline(m[2] ?? '', safe)}</h${level}>`);
      i++;
    } else if (RULE.test(line)) {
      blocks.push('<hr>');
      i++;
    } else if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = !BULLET.test(line);
      const first = ordered ? ORDERED.exec(line) : BULLET.exec(line);
      const marker = ordered ? first[2] : first[1];
      const items = [];
      while (i < lines.length) {
        const item = ordered ? ORDERED.exec(lines[i]) : BULLET.exec(lines[i]);
        if (item && (ordered ? item[2] : item[1]) === marker) {
          items.push([ordered ? item[3] : item[2]]);
          i++;
        } else if (items.length && !startsBlock(lines[i])) {
          items[items.length - 1].push(lines[i].trim()); // a continuation line
          i++;
        } else {
          break;
        }
      }
      const tag = ordered ? 'ol' : 'ul';
      const start = ordered && Number(first[1]) !== 1 ? ` start="${Number(first[1])}"` : '';
      const body = items.map((parts) => `<li>${inline(parts.join('\n').trim(), safe)}</li>`);
      blocks.push(`<${tag}${start}>\n${body.join('\n')}\n</${tag}>`);
    } else if (!safe && HTML_BLOCK.test(line)) {
      const raw = [];
      for (; i < lines.length && !BLANK.test(lines[i]); i++) raw.push(lines[i]);
      blocks.push(raw.join('\n'));
    } else {
      const para = [line.trim()];
      for (i++; i < lines.length && !startsBlock(lines[i]); i++) para.push(lines[i].trim());
      blocks.push(`<p>${inline(para.join('\n'), safe)}</p>`);
    }
  }
  return blocks;
}

function parseBool(name, value, tag) {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new PluginError(tag, `${name} must be true or false, got '${value}'`);
}

export const pluginApi = {
  initialize(config) {
    log('debug', `markdown initialized with ${config.length} config entries`);
  },

  process(req) {
    try {
      const configured = getConfig('safe');
      let safe = configured === undefined ? false
        : parseBool("config 'safe'", configured, 'not-configured');
      for (const [key, value] of req.options) {
        if (key === 'safe') safe = parseBool('option safe', value, 'invalid-input');
        else throw new PluginError('invalid-input', `unknown option '${key}' (use safe)`);
      }
      const blocks = render(req.input, safe);
      log('debug', `rendered ${blocks.length} blocks from ${req.input.length} characters `
        + `(safe=${safe})`);
      return {
        output: blocks.length ? `${blocks.join('\n')}\n` : '',
        attributes: [['blocks', String(blocks.length)], ['safe', String(safe)]],
      };
    } catch (e) {
      if (e instanceof PluginError) throw { tag: e.tag, val: e.val };
      throw { tag: 'internal', val: String(e?.message ?? e) };
    }
  },

  shutdown() {
    log('debug', 'markdown shutdown');
  },

  getMetadata() {
    return {
      name: 'markdown',
      version: '1.0.0',
      description: 'Converts a Markdown subset (headings, emphasis, code, lists) to HTML',
      capabilities: [],
    };
  },

  health() {
    return { status: 'ok', detail: undefined };
  },
};
