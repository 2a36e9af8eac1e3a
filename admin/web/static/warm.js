// Transfer to a named colleague and the warm transfer, in the console (issue 17; docs/protocol.md 5.2).
// The colleague list comes from the "colleagues" frame (who is signed in, status, load, room); an
// offer to this adviser ("transfer_offer") is listed in the sidebar and read in the pane before
// accepting or declining.

import { $, announce, cap, el, name, shortTime, t, textDir } from "./common.js";

export const W = {
  colleagues: [], // the last "colleagues" frame's advisers
  offers: new Map(), // conversation id -> transfer_offer frame, offered to me
  section: null,
  list: null,
};

/** A colleague in words: "Omar (MR) – tilgjengelig, 1 av 2 samtaler". */
export function colleagueText(c) {
  const state = c.status === "available" && !c.room ? "colleague_full" : `colleague_${c.status}`;
  return t("colleague_option", { name: c.name, service: c.service, state: t(state), n: c.active, capacity: c.capacity });
}

/** The select of colleagues in a transfer form, keeping the choice; offline ones cannot be chosen. */
export function fillColleagues(select) {
  const chosen = select.value;
  const options = [el("option", { value: "", text: "—" })];
  for (const c of W.colleagues) {
    options.push(el("option", { value: c.id, text: colleagueText(c), disabled: c.status === "offline", dataset: { room: String(c.room) } }));
  }
  select.replaceChildren(...options);
  if (chosen && W.colleagues.some((c) => c.id === chosen)) select.value = chosen;
}

/** The sidebar card of offers made to this adviser; ``open(frame)`` reads one in the pane. */
export function offersSection(open) {
  if (W.section) return W.section;
  W.list = el("ul", { className: "conv-list", id: "offer-list" });
  const heading = el("h2", { id: "offers-heading" });
  W.section = el("section", { className: "card list-card offers", "aria-labelledby": "offers-heading", hidden: true }, heading, W.list);
  W.section.open = open;
  $("conversations-heading").closest("section").before(W.section);
  renderOffers();
  return W.section;
}

export function renderOffers() {
  if (!W.section) return;
  W.section.querySelector("h2").textContent = t("offers_heading", { n: W.offers.size });
  W.list.replaceChildren(
    ...[...W.offers.values()].map((offer) => {
      const conv = offer.conversation;
      const button = el(
        "button",
        { type: "button", className: "conv-item is-new", dataset: { id: conv.id } },
        el("span", { className: "conv-line1" }, el("strong", { className: "conv-alias", text: conv.alias })),
        el("span", { className: "conv-line2", text: t("offer_from", { name: offer.from.name }) }),
      );
      button.addEventListener("click", () => W.section.open(offer));
      return el("li", {}, button);
    }),
  );
  W.section.hidden = W.offers.size === 0;
}

/** The offered conversation, read-only, with accept and decline: for the pane. */
export function offerView(offer, send) {
  const conv = offer.conversation;
  const rtl = Boolean(conv.rtl);
  const transcript = el(
    "ol",
    { className: "transcript", tabindex: "0", "aria-label": conv.alias },
    ...(conv.messages || []).map((m) => {
      if (m.sender === "system") {
        return el("li", { className: "msg msg-system" }, el("p", { className: "msg-event", text: t(`event_${m.event}`) !== `event_${m.event}` ? t(`event_${m.event}`) : t("event_other") }));
      }
      const who = m.sender === "visitor" ? conv.alias : t("adviser");
      return el(
        "li",
        { className: `msg msg-${m.sender}` },
        el(
          "div",
          { className: "bubble" },
          el("p", { className: "msg-text", dir: textDir(m.text, rtl), lang: conv.language, text: m.text }),
          el("p", { className: "msg-meta" }, el("span", { className: "msg-sender", text: who }), el("span", { className: "msg-time", text: shortTime(m.sent_at) })),
        ),
      );
    }),
  );
  const accept = el("button", { type: "button", className: "button button-primary", text: t("offer_accept") });
  const decline = el("button", { type: "button", className: "button button-secondary", text: t("offer_decline") });
  const status = el("p", { className: "field-error", role: "alert", hidden: true });
  accept.addEventListener("click", () => send({ type: "transfer_accept", conversation_id: conv.id }));
  decline.addEventListener("click", () => send({ type: "transfer_decline", conversation_id: conv.id }));
  const meta = [cap(name("languages", conv.language)), conv.region ? name("regions", conv.region) : t("unknown_region"), cap(name("audiences", conv.audience))].join(" · ");
  const element = el(
    "article",
    { className: "conversation offer-view", "aria-labelledby": `offer-${conv.id}-title` },
    el("header", { className: "conv-header" }, el("h2", { id: `offer-${conv.id}-title`, className: "conv-title", text: t("offer_title", { alias: conv.alias, name: offer.from.name }) }), el("p", { className: "conv-meta", text: meta })),
    offer.note ? el("p", { className: "transfer-note", text: t("transfer_note", { note: offer.note }) }) : null,
    el("p", { className: "notice notice-info", text: t("offer_intro", { t: shortTime(new Date().toISOString()) }) }),
    el("div", { className: "transcript-log", role: "region", "aria-label": conv.alias }, transcript),
    status,
    el("div", { className: "conv-actions" }, accept, decline),
  );
  return { element, status, accept, render() {} };
}

/** An offer to me; whether it is new (an open offer is sent again after a reconnect: not announced). */
export function offerArrived(frame) {
  const fresh = !W.offers.has(frame.conversation.id);
  W.offers.set(frame.conversation.id, frame);
  renderOffers();
  if (fresh) announce(t("offer_announce", { name: frame.from.name, alias: frame.conversation.alias }));
  return fresh;
}

export function offerGone(conversationId) {
  const offer = W.offers.get(conversationId);
  W.offers.delete(conversationId);
  renderOffers();
  return offer;
}
