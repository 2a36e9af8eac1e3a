// nora-chat admin page (/admin, role admin): accounts, opening hours, reference data, the guideline,
// the audit log, retention and statistics. Each part lives in its own module; this one logs in, loads
// them and relabels them when the language changes.

import { $, api, el, i18n, initPage, loadReference, setupAuth, t } from "./common.js";
import { loadAccounts, openForm, relabelAccounts, users } from "./admin-accounts.js";
import { when } from "./admin-forms.js";
import { fillAuditChoices, loadAudit, renderAudit, setupAudit } from "./admin-audit.js";
import { loadGuideline, renderGuideline } from "./admin-guideline.js";
import { loadHours, renderHours } from "./admin-hours.js";
import { loadReferenceKind, relabelReference, setupReference } from "./admin-reference.js";
import { renderStats, setupStats } from "./admin-stats.js";

const P = { retention: null, ready: false, user: null };
let auth;

const PAGES = [
  ["adviser", "/console", "page_console"],
  ["supervisor", "/supervisor", "page_supervisor"],
];

function renderPageLinks(user) {
  $("page-links").replaceChildren(
    ...PAGES.filter(([role]) => user.roles.includes(role)).map(([, href, key]) => el("a", { href, text: t(key) })),
  );
}

// ------------------------------------------------------------------ retention

function renderRetention() {
  const r = P.retention;
  if (!r) return;
  const facts = [
    [t("retention_transcripts"), t("retention_hours_value", { n: r.transcript_hours }), r.transcript_setting],
    [t("retention_registrations"), t("retention_registrations_value", { n: r.registration_years, from: r.registrations_kept_from }), r.registration_setting],
    [t("retention_audit"), t("retention_audit_value", { n: r.audit_years, from: when(r.audit_kept_from, i18n.lang) }), r.audit_setting],
  ];
  $("retention-facts").replaceChildren(
    ...facts.map(([term, value, setting]) =>
      el("div", { className: "fact" }, el("dt", { text: term }), el("dd", {}, el("strong", { text: value }), " ", el("span", { className: "muted", text: t("retention_set_by", { name: setting }) }))),
    ),
  );
}

async function loadRetention() {
  P.retention = await api("/api/v1/retention");
  renderRetention();
}

// ------------------------------------------------------------------ start-up

async function section(task) {
  try {
    await task();
  } catch (err) {
    if (err.status === 401) {
      await auth.expired();
      return;
    }
    const node = $("admin-notice");
    node.textContent = t("error_generic", { message: err.message });
    node.className = "notice notice-error";
    node.hidden = false;
  }
}

async function start(user) {
  renderPageLinks(user);
  setupStats(user);
  await section(loadAccounts);
  fillAuditChoices(users());
  await Promise.all([
    section(loadHours),
    section(() => loadReferenceKind()),
    section(loadGuideline),
    section(loadRetention),
    section(loadAudit),
  ]);
  P.ready = true;
  document.documentElement.classList.add("ready");
}

function relabel() {
  if (!P.ready) return;
  if (P.user) renderPageLinks(P.user);
  relabelAccounts();
  renderHours();
  relabelReference();
  renderGuideline();
  fillAuditChoices(users());
  renderAudit();
  renderRetention();
  renderStats();
}

async function init() {
  initPage();
  i18n.onChange(relabel);
  setupAudit();
  setupReference(async () => {
    try {
      await loadReference(); // the labels the other lists show follow a change at once
    } catch {
      /* labels fall back to codes */
    }
  });
  $("account-new").addEventListener("click", () => openForm(null));
  try {
    await loadReference();
  } catch {
    /* labels fall back to codes */
  }
  auth = setupAuth({
    role: "admin",
    wrongRoleKey: "login_wrong_role_admin",
    onReady: (user) => {
      P.user = user;
      start(user);
    },
    onLoggedOut: () => {
      P.ready = false;
      P.user = null;
    },
  });
  await auth.check();
  if ($("app-view").hidden) document.documentElement.classList.add("ready");
}

init();
