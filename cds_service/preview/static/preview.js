// Card preview page: pick a fixture request and/or patient and order codes, evaluate, draw the cards.
// Text goes in with textContent; only the card detail is HTML, rendered by the server from
// markdown with raw HTML disabled.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let requests = [];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  async function loadFixtures() {
    const response = await fetch("api/fixtures", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`fixtures: HTTP ${response.status}`);
    const data = await response.json();
    requests = data.requests;
    for (const request of requests) {
      const label = `${request.name} · ${request.hook} · ${request.orders.length} order(s)`;
      $("request").append(el("option", { value: request.name, text: label }));
    }
    for (const patient of data.patients) $("patient").append(el("option", { value: patient, text: patient }));
  }

  function onRequestChange() {
    const chosen = requests.find((r) => r.name === $("request").value);
    $("codes").value = "";  // a fixture request brings its own orders: codes typed before would be added to them
    if (!chosen) return;
    if (chosen.patient) $("patient").value = chosen.patient;
    if (chosen.hook) $("hook").value = chosen.hook;
  }

  function renderCard(card) {
    if (card.error) {
      return el("article", { class: "card card-error", "data-rule": card.rule },
        el("div", { class: "card-head" }, el("span", { class: "badge", text: "error" }),
          el("h3", { class: "summary", text: `${card.rule}: card could not be rendered` })),
        el("pre", { text: card.error }));
    }
    const article = el("article", { class: `card card-${card.indicator}`, "data-rule": card.rule, "data-indicator": card.indicator });
    article.append(el("div", { class: "card-head" },
      el("span", { class: "badge", text: card.indicator }),
      el("h3", { class: "summary", text: card.summary })));
    const detail = el("div", { class: "detail" });
    detail.innerHTML = card.detailHtml || "";
    for (const link of detail.querySelectorAll("a")) {
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
    article.append(detail);
    if (card.suggestions && card.suggestions.length) {
      const box = el("div", { class: "suggestions" });
      for (const suggestion of card.suggestions) {
        const actions = (suggestion.actions || []).map((a) => `${a.type}: ${a.description}`);
        const button = el("button", {
          type: "button",
          class: suggestion.isRecommended ? "suggestion recommended" : "suggestion",
          title: actions.join("\n"),
          text: suggestion.label,
        });
        button.addEventListener("click", () => {
          $("status").textContent = `Accepting “${suggestion.label}” would: ${actions.join("; ") || "nothing"}.`;
        });
        box.append(button);
      }
      article.append(box);
    }
    if (card.links && card.links.length) {
      const list = el("ul", { class: "links" });
      for (const link of card.links) {
        list.append(el("li", {}, el("a", { href: safeUrl(link.url), target: "_blank", rel: "noopener noreferrer", text: link.label })));
      }
      article.append(list);
    }
    if (card.overrideReasons && card.overrideReasons.length) {
      const select = el("select", { "aria-label": "Override reason" }, el("option", { value: "", text: "Override reason…" }));
      for (const reason of card.overrideReasons) select.append(el("option", { value: reason.code, text: reason.display || reason.code }));
      const dismiss = el("button", { type: "button", text: "Dismiss" });
      dismiss.addEventListener("click", () => {
        const reason = select.selectedOptions[0];
        $("status").textContent = `Dismissed ${card.rule}${select.value ? ` (reason: ${reason.textContent})` : ""}.`;
      });
      article.append(el("div", { class: "override" }, select, dismiss));
    }
    const source = el("div", { class: "source" }, el("span", { class: "rule", text: card.rule }), "Source: ");
    const url = safeUrl(card.source.url);
    source.append(url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: card.source.label })
      : el("span", { text: card.source.label }));
    article.append(source);
    return article;
  }

  function renderResult(data) {
    const context = $("context");
    context.replaceChildren(el("div", { text: `Patient ${data.patient}${data.age !== null ? ` (${data.age} years)` : ""} · hook ${data.hook} · content ${data.contentVersion}` }));
    const list = el("ul");
    for (const order of data.orders) {
      list.append(el("li", { class: order.selected ? "" : "unselected" }, `${order.display} `, el("code", { text: order.ref })));
    }
    context.append(list);
    // Appropriateness ratings of spine imaging orders (the system actions an EHR's imaging workflow applies).
    const ratings = el("ul", { id: "ratings", class: "ratings" });
    for (const r of data.ratings || []) {
      ratings.append(el("li", { class: `rating rating-${r.rating || "unrated"}` }, "Appropriateness rating: ",
        el("strong", { text: r.rating || "not rated (the record could not be wholly read or understood, or a card names another study)" }),
        ` — ${r.display} `, el("code", { text: r.ref })));
    }
    if ((data.ratings || []).length) context.append(ratings);
    const shown = data.cards.filter((c) => c.mode !== "shadow");
    const shadow = data.cards.filter((c) => c.mode === "shadow");
    $("cards").replaceChildren(...(shown.length ? shown.map(renderCard) : [el("p", { class: "empty", text: "No cards." })]));
    $("shadow").replaceChildren(...shadow.map(renderCard));
    $("shadow-title").hidden = shadow.length === 0;
    $("cards-title").textContent = `Cards (${shown.length})`;
    $("status").textContent = "";
    $("result").hidden = false;
  }

  async function evaluate(event) {
    event.preventDefault();
    showError("");
    const codes = $("codes").value.split(/[\s,;]+/).filter(Boolean);
    const body = {
      patient: $("patient").value || null,
      requests: $("request").value ? [$("request").value] : [],
      codes,
      hook: $("hook").value,
    };
    $("evaluate").disabled = true;
    try {
      const response = await fetch("api/evaluate", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      if (!response.ok) {
        const issue = data.issue && data.issue[0];
        throw new Error(data.error || (issue && issue.diagnostics) || `HTTP ${response.status}`);
      }
      renderResult(data);
    } catch (error) {
      $("result").hidden = true;  // the cards shown belong to the previous question, not this one
      $("cards").replaceChildren();
      $("shadow").replaceChildren();
      showError(error.message);
    } finally {
      $("evaluate").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("request").addEventListener("change", onRequestChange);
    $("form").addEventListener("submit", evaluate);
    loadFixtures().then(() => document.body.setAttribute("data-ready", "true"), (error) => showError(error.message));
  });
})();
