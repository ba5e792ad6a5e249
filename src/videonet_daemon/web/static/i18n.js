// The page's words in the reader's language (docs/i18n.md). The sentences in the code are
// English, written `t("…")` and `tn("…", "…", n)` so that scripts/i18n.py (Babel) extracts them
// into the `videonet_web` catalogue; the daemon serves each language's compiled catalogue as
// /static/i18n-LANG.json. index.html's own words carry `data-i18n` (the element's text) and
// `data-i18n-attrs` (attributes such as placeholder or aria-label) and are translated here.
//
// The first language: the account's saved setting (the language switch saves it), else the
// one chosen on this browser before logging in (localStorage), else the browser's languages.

const STORED = "videonet.language";
const FIELD = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

let current = "en";
let settled = false; // until the first use(), the browser's own Accept-Language goes out
let messages = {};
let plurals = {};
let names = { en: "English" };
const sources = new WeakMap(); // element -> its English text and attributes, read once
const listeners = [];

/** The language the page speaks now ("en", "ko", "ja"). */
export const language = () => current;
/** Each language's own name, as the daemon lists them (videonet_protocol.i18n.LANGUAGE_NAMES). */
export const languageNames = () => names;

/** The headers that ask the daemon for its error messages in the page's language. */
export function headers() {
  return settled ? { "Accept-Language": current } : {};
}

/** The choice made on this browser before logging in, if any. */
export function storedLanguage() {
  try {
    return localStorage.getItem(STORED);
  } catch {
    return null; // storage refused (a sandboxed frame): the browser's languages decide
  }
}

export function storeLanguage(lang) {
  try {
    localStorage.setItem(STORED, lang);
  } catch {
    // nothing to keep it in
  }
}

/** The first of the browser's languages the page speaks, else English. */
export function browserLanguage(known = names) {
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const base = String(tag).toLowerCase().split(/[-_]/)[0];
    if (base in known) return base;
  }
  return "en";
}

function fill(text, fields) {
  if (!fields) return text;
  const parts = [];
  let last = 0;
  let people = false;
  for (const match of text.matchAll(FIELD)) {
    const value = fields[match[1]];
    if (value === undefined) continue;
    parts.push(text.slice(last, match.index));
    if (typeof value === "object" && value !== null && "user" in value) people = true;
    parts.push(value);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  // A user(...) field keeps the sentence as parts (text.js's sentence() isolates each name).
  return people ? parts.filter((p) => p !== "") : parts.map((p) => String(p)).join("");
}

/**
 * `message` in the page's language, its `{name}` fields filled from `fields` after translating.
 * A field given as text.js's user(name) makes the result a list of parts for sentence().
 */
export function t(message, fields) {
  const text = Object.hasOwn(messages, message) && messages[message] ? messages[message] : message;
  return fill(text, fields);
}

/** The form of `singular`/`plural` for the count `n` (a `{n}` field is filled with it). */
export function tn(singular, plural, n, fields) {
  const forms = Object.hasOwn(plurals, singular) ? plurals[singular] : null;
  let text;
  if (forms && forms.length === 1) text = forms[0]; // Korean and Japanese: one form
  else if (forms && forms.length > 1) text = forms[n === 1 ? 0 : 1];
  else text = n === 1 ? singular : plural;
  return fill(text, { n, ...(fields || {}) });
}

/** Run `fn` after every change of language (views re-render their words). */
export function onChange(fn) {
  listeners.push(fn);
}

/** Translate index.html's marked elements under `root` (their English is read once). */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll("[data-i18n], [data-i18n-attrs]")) {
    let source = sources.get(node);
    if (!source) {
      source = { text: null, attrs: {} };
      if (node.hasAttribute("data-i18n")) source.text = node.textContent.replace(/\s+/g, " ").trim();
      for (const attr of (node.dataset.i18nAttrs || "").split(/\s+/).filter(Boolean)) {
        source.attrs[attr] = node.getAttribute(attr) || "";
      }
      sources.set(node, source);
    }
    if (source.text !== null) node.textContent = t(source.text);
    for (const [attr, text] of Object.entries(source.attrs)) node.setAttribute(attr, t(text));
  }
}

/**
 * Speak `lang` from now on: fetch its catalogue (the daemon's JSON; English has none to
 * apply), set <html lang>, translate the page, tell the views. Unknown languages are English.
 */
export async function use(lang) {
  let catalogue = null;
  try {
    const response = await fetch(`/static/i18n-${encodeURIComponent(lang)}.json`, {
      credentials: "same-origin",
    });
    if (response.ok) catalogue = await response.json();
  } catch {
    catalogue = null; // unreachable: the page stays in the language it speaks
  }
  if (!catalogue) {
    if (lang !== "en") return use("en");
    catalogue = { language: "en", messages: {}, plurals: {}, languages: names };
  }
  current = catalogue.language || "en";
  settled = true;
  messages = catalogue.messages || {};
  plurals = catalogue.plurals || {};
  names = catalogue.languages || names;
  document.documentElement.lang = current;
  translatePage();
  for (const fn of listeners) fn(current);
  return current;
}

/** A time of day as the page's language writes it. */
export function timeOfDay(date) {
  return date.toLocaleTimeString(current);
}
