// The documented REST API, same origin: the login cookie (HttpOnly) authenticates every call,
// so no token is ever visible to this page's scripts.
import { headers as languageHeaders, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...languageHeaders() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", t("the daemon cannot be reached"));
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new ApiError(response.status, error.code || "http_error", error.message || response.statusText);
  }
  return data;
}

const room = (id) => encodeURIComponent(id);

export const api = {
  login: (email, password) => request("POST", "/api/auth/login", { email, password }),
  register: (email, username, password, invite_code) =>
    request("POST", "/api/auth/register", { email, username, password, invite_code }),
  logout: () => request("POST", "/api/auth/logout"),
  me: () => request("GET", "/api/auth/me"),
  // The account's saved language ({language: "ko"} or null): the switch on the page saves it.
  language: () => request("GET", "/api/auth/me/language"),
  setLanguage: (language) => request("PUT", "/api/auth/me/language", { language }),
  // Every room the user can see: the list is paged (at most 500 a page), so follow the cursor.
  rooms: async () => {
    const all = [];
    let cursor = null;
    do {
      const query = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
      const page = await request("GET", `/api/rooms${query}`);
      all.push(...page.rooms);
      cursor = page.next_cursor;
    } while (cursor && all.length < 20000);
    return all;
  },
  createRoom: (name) => request("POST", "/api/rooms/create", { name }),
  joinRoom: (id) => request("POST", `/api/rooms/${room(id)}/join`),
  history: (id, limit = 50) => request("GET", `/api/rooms/${room(id)}/messages?limit=${limit}`),
};
