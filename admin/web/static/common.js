// Shared by the agent console and the supervisor dashboard: texts, DOM helpers, the HTTP client
// with the CSRF header, the login form, reference labels and a reconnecting websocket.
// Every text from the server goes into the page with textContent, never as HTML.

import { STRINGS } from "./strings.js";

const UI_KEY = "nora-admin.ui";

export const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ text

export const i18n = {
  lang: "nb",
  listeners: [],
  onChange(fn) {
    this.listeners.push(fn);
  },
  set(code) {
    if (!STRINGS[code]) return;
    this.lang = code;
    try {
      localStorage.setItem(UI_KEY, code);
    } catch {
      /* ignore */
    }
    applyStatic();
    for (const fn of this.listeners) fn();
  },
  load() {
    try {
      const saved = localStorage.getItem(UI_KEY);
      if (saved && STRINGS[saved]) this.lang = saved;
    } catch {
      /* ignore */
    }
  },
};

export function t(key, vars = {}) {
  const table = STRINGS[i18n.lang] || STRINGS.nb;
  const text = table[key] ?? STRINGS.nb[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function has(key) {
  return key in STRINGS.nb;
}

export function applyStatic(root = document) {
  if (root === document) {
    document.documentElement.lang = i18n.lang;
    const titleKey = document.body.dataset.titleKey;
    if (titleKey) document.title = t(titleKey);
  }
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  for (const button of root.querySelectorAll("[data-ui-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.uiLang === i18n.lang));
  }
  const connection = root.querySelector?.("#connection");
  if (connection?.dataset.state) showConnection(connection.dataset.state); // its label follows the language
}

export function bindLanguageSwitch() {
  for (const button of document.querySelectorAll("[data-ui-lang]")) {
    button.addEventListener("click", () => i18n.set(button.dataset.uiLang));
  }
}

/** First letter upper-case (reference labels are lower-case in running text). */
export function cap(text) {
  return text ? text.charAt(0).toLocaleUpperCase(locale()) + text.slice(1) : text;
}

/**
 * Direction of a message text. In a conversation in a right-to-left language the text is marked
 * dir="rtl", unless its first strong letter is left-to-right (an adviser writing Norwegian in an
 * Arabic chat), which would otherwise have its punctuation flipped. Elsewhere the browser decides.
 */
const RTL_LETTER = /[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Adlam}]/u;
export function textDir(text, rtlConversation) {
  if (!rtlConversation) return "auto";
  const first = String(text).match(/\p{L}/u);
  return !first || RTL_LETTER.test(first[0]) ? "rtl" : "ltr";
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

export function locale() {
  return i18n.lang === "nb" ? "nb-NO" : "en-GB";
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return t("none");
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("seconds", { n: s });
  if (s < 3600) return t("minutes", { m: Math.floor(s / 60), s: s % 60 });
  return t("hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

export function clock(iso) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date);
}

export function shortTime(iso) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(date);
}

export function announce(text) {
  const node = $("announcer");
  if (!node) return;
  // Clear first so that the same text twice is announced twice.
  node.textContent = "";
  setTimeout(() => {
    node.textContent = text;
  }, 50);
}

// ------------------------------------------------------------------ reference labels

export const ref = { data: null, own: [] }; // own: the signed-in adviser's service's own categories

/** The categories of the adviser's own service (GET /api/v1/service-categories), offered in the
 * registration form beside the common ones; none where they cannot be read. */
export async function loadOwnCategories() {
  try {
    const body = await api("/api/v1/service-categories");
    ref.own = Array.isArray(body?.categories) ? body.categories : [];
  } catch {
    ref.own = [];
  }
  return ref.own;
}

export async function loadReference() {
  const response = await fetch("/api/v1/reference", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`reference ${response.status}`);
  ref.data = await response.json();
  return ref.data;
}

export function entry(kind, code) {
  const common = ref.data?.[kind]?.find((e) => e.code === code);
  return common || (kind === "categories" ? ref.own.find((e) => e.code === code) : null) || null;
}

export function name(kind, code) {
  if (code === null || code === undefined) return null;
  const found = entry(kind, code);
  const names = found?.name;
  if (names) return names[i18n.lang] || names.nb || code;
  const fallbackKey = { age_groups: "age_", genders: "gender_", forms: "form_" }[kind];
  if (fallbackKey && has(fallbackKey + code)) return t(fallbackKey + code);
  return code;
}

export function regionName(code) {
  return code ? name("regions", code) : t("unknown_region");
}

export function isRtl(language) {
  return Boolean(entry("languages", language)?.rtl);
}

// ------------------------------------------------------------------ HTTP

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || "http_error";
    this.fields = body?.fields || null;
    this.retryAfter = null;
  }
}

export const session = { csrf: null, user: null };

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    const error = new ApiError(0, { error: "network", message: t("network_error") });
    throw error;
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    error.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw error;
  }
  return data;
}

// ------------------------------------------------------------------ login / logout

// The staff pages by the role each needs; a signed-in user on a page not for them is shown the others.
const STAFF_PAGES = {
  adviser: ["/console", "page_console"],
  supervisor: ["/supervisor", "page_supervisor"],
  admin: ["/admin", "page_admin"],
};

/**
 * Wire the login view. ``role`` is the role the page needs; ``onReady(user)`` runs once logged in
 * (after a fresh login or because the cookie session is still valid).
 */
export function setupAuth({ role, wrongRoleKey, onReady, onLoggedOut, beforeLogout = null }) {
  const form = $("login-form");
  const error = $("login-error");

  let elsewherePages = [];

  function showElsewhere(data) {
    const pages = Object.entries(STAFF_PAGES)
      .filter(([r, [href]]) => data?.user?.roles?.includes(r) && href !== location.pathname)
      .map(([, page]) => page);
    if (!pages.length) return false;
    elsewherePages = pages;
    session.csrf = data.csrf_token;
    session.user = data.user;
    $("app-view").hidden = true;
    $("login-view").hidden = true;
    $("account").hidden = true;
    let view = $("elsewhere-view");
    if (!view) {
      view = el("section", { id: "elsewhere-view", className: "login", "aria-labelledby": "elsewhere-heading" });
      $("login-view").after(view);
      i18n.onChange(() => {
        if (!view.hidden && session.user) renderElsewhere(view, session.user, elsewherePages);
      });
    }
    renderElsewhere(view, data.user, pages);
    view.hidden = false;
    $("elsewhere-heading").focus();
    return true;
  }

  function renderElsewhere(view, user, pages) {
    const logout = el("button", { type: "button", className: "button button-quiet", text: t("logout") });
    logout.addEventListener("click", async () => {
      try {
        await api("/api/v1/auth/logout", { method: "POST" });
      } catch {
        /* the session may be gone already */
      }
      session.csrf = null;
      session.user = null;
      showLogin(null);
    });
    view.replaceChildren(
      el(
        "div",
        { className: "card login-card" },
        el("h1", { id: "elsewhere-heading", tabindex: "-1", text: t(`page_not_for_${[].concat(role)[0]}`) }),
        el("p", { text: t("elsewhere_signed_in", { name: user.name }) }),
        el("p", { text: t("elsewhere_pages") }),
        el("ul", { className: "page-list" }, ...pages.map(([href, key]) => el("li", {}, el("a", { href, text: t(key) })))),
        el("div", { className: "form-actions" }, logout),
      ),
    );
  }

  function showLogin(messageKey) {
    const elsewhere = $("elsewhere-view");
    if (elsewhere) elsewhere.hidden = true;
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    $("account").hidden = true;
    error.hidden = !messageKey;
    error.textContent = messageKey ? t(messageKey) : "";
    error.dataset.key = messageKey || "";
    // Never pull focus away from someone already typing in the form.
    if (!form.contains(document.activeElement)) $("username").focus();
  }

  function accept(data) {
    // ``role`` may be a list: the page opens for any of them (the canned replies page, issue 17).
    if (![].concat(role).some((r) => data?.user?.roles?.includes(r))) {
      // Logged in, but not for this page: keep the login and point to the pages this account can use.
      if (showElsewhere(data)) return false;
      // No page at all for these roles: end that session again rather than leave it open.
      session.csrf = data?.csrf_token || null;
      api("/api/v1/auth/logout", { method: "POST" }).catch(() => {});
      session.csrf = null;
      showLogin(wrongRoleKey);
      return false;
    }
    session.csrf = data.csrf_token;
    session.user = data.user;
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("account").hidden = false;
    $("account-name").textContent = data.user.name;
    onReady(data.user);
    return true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) {
      error.textContent = t("login_missing");
      error.dataset.key = "login_missing";
      error.hidden = false;
      return;
    }
    const button = $("login-button");
    button.disabled = true;
    button.textContent = t("logging_in");
    try {
      const data = await api("/api/v1/auth/login", { method: "POST", body: { username, password } });
      $("password").value = "";
      accept(data);
    } catch (err) {
      let key = "network_error";
      if (err.code === "invalid_credentials" || err.code === "invalid") key = "login_failed";
      else if (err.code === "too_many_attempts" || err.status === 429) key = "login_throttled";
      error.textContent = t(key, { s: err.retryAfter || 60 });
      error.dataset.key = key;
      error.hidden = false;
      $("password").value = "";
      $("password").focus();
    } finally {
      button.disabled = false;
      button.textContent = t("login");
    }
  });

  $("logout-button").addEventListener("click", async () => {
    if (beforeLogout && !beforeLogout()) return;
    try {
      await api("/api/v1/auth/logout", { method: "POST" });
    } catch {
      /* the session may be gone already; log out locally anyway */
    }
    session.csrf = null;
    session.user = null;
    onLoggedOut();
    showLogin(null);
  });

  return {
    showLogin,
    async check() {
      try {
        const data = await api("/api/v1/me");
        accept(data);
      } catch (err) {
        showLogin(err.status === 0 ? "network_error" : null);
      }
    },
    async expired() {
      // Called when a socket closes: is the session still alive?
      try {
        const data = await api("/api/v1/me");
        session.csrf = data.csrf_token;
        return false;
      } catch (err) {
        if (err.status === 401) {
          session.csrf = null;
          onLoggedOut();
          showLogin("session_expired");
          return true;
        }
        return false;
      }
    },
  };
}

// ------------------------------------------------------------------ a websocket that reconnects

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export class Socket {
  constructor(path, { onOpen, onFrame, onDown, onState }) {
    this.path = path;
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onDown = onDown; // async () => boolean: true means "stop, do not reconnect"
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
  }

  url() {
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${this.path}`;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.onState("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.onState("connected");
      this.onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame.type === "string") this.onFrame(frame);
    });
    ws.addEventListener("close", async () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.onState("disconnected");
      if (await this.onDown()) {
        this.stopped = true;
        return;
      }
      const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this.timer = setTimeout(() => this.open(), Math.round(base * (0.75 + Math.random() * 0.5)));
    });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  get isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }
}

export function showConnection(state) {
  const node = $("connection");
  if (!node) return;
  node.dataset.state = state;
  node.textContent = t(state === "connected" ? "connected" : state === "connecting" ? "connecting" : "disconnected");
}

export function initPage() {
  i18n.load();
  applyStatic();
  bindLanguageSwitch();
}
