// The console's "Registered, can be changed" list (issue 17): the adviser's own registrations of the
// last 7 days (GET /api/v1/registrations), each opening the amendment form in the pane.

import { $, api, cap, el, name, shortTime, t } from "./common.js";

export class MyRegistrations {
  /** ``open(reg)``: show the amendment form of that registration. */
  constructor({ open, onExpired }) {
    this.open = open;
    this.onExpired = onExpired;
    this.items = [];
    this.list = el("ul", { className: "conv-list", id: "mine-list" });
    this.empty = el("p", { className: "muted empty", id: "no-mine" });
    this.heading = el("h2", { id: "mine-heading" });
    this.section = el("section", { className: "card list-card", "aria-labelledby": "mine-heading" }, this.heading, this.list, this.empty);
    $("pending-heading").closest("section").after(this.section);
    this.render();
  }

  async refresh() {
    try {
      const data = await api("/api/v1/registrations");
      this.items = data.registrations || [];
    } catch (err) {
      if (err.status === 401) this.onExpired();
      return;
    }
    this.render();
  }

  label(reg) {
    const what = reg.alias || cap(name("channels", reg.channel));
    const kind = reg.is_case ? cap(name("categories", reg.main_category) || t("amend_kind_case")) : t("amend_kind_inquiry");
    return { what, detail: `${kind} · ${t("amend_saved_at", { t: shortTime(reg.created_at) })}` };
  }

  render() {
    const focused = document.activeElement?.closest?.("#mine-list .conv-item")?.dataset.id;
    this.heading.textContent = t("amend_list_heading");
    this.empty.textContent = t("amend_list_empty");
    const editable = this.items.filter((r) => r.editable);
    this.list.replaceChildren(
      ...editable.map((reg) => {
        const { what, detail } = this.label(reg);
        const button = el(
          "button",
          { type: "button", className: "conv-item", dataset: { id: reg.id } },
          el("span", { className: "conv-line1" }, el("strong", { className: "conv-alias", text: what })),
          el("span", { className: "conv-line2", text: detail }),
          el("span", { className: "visually-hidden", text: ` – ${t("amend_open")}` }),
        );
        button.addEventListener("click", () => this.open(reg));
        return el("li", {}, button);
      }),
    );
    this.empty.hidden = editable.length > 0;
    if (focused) this.list.querySelector(`.conv-item[data-id="${CSS.escape(focused)}"]`)?.focus();
  }
}
