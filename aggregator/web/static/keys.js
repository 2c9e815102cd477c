// Keys on a list of article cards (an <ol class="cards" data-keys>): j / k move the selection
// (aria-current="true", scrolled into view), o or Enter opens it, s stars or unstars it, m marks
// it read or unread, ? shows the keys. The writes are the article buttons' own POST routes,
// with the page's CSRF token. Keys typed into a field are the field's.
(function () {
  "use strict";
  const list = document.querySelector("ol.cards[data-keys]");
  if (!list) return;
  const token = list.dataset.csrftoken || "";
  const base = list.dataset.actionBase || "";
  const cards = () => Array.from(list.querySelectorAll("li.card"));
  let index = -1;
  let help = null;

  function select(i) {
    const all = cards();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((card, n) => {
      if (n === index) card.setAttribute("aria-current", "true");
      else card.removeAttribute("aria-current");
    });
    all[index].scrollIntoView({ block: "nearest" });
  }

  function current() {
    const all = cards();
    return index >= 0 && index < all.length ? all[index] : null;
  }

  function post(card, action) {
    const body = new URLSearchParams({ csrftoken: token });
    // redirect "manual": the answer is a redirect to the article page, which marks it read
    return fetch(base + card.dataset.id + "/" + action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "manual",
    }).then((response) => {
      if (response.type !== "opaqueredirect" && !response.ok) {
        throw new Error("the server refused: " + response.status);
      }
    });
  }

  function star(card) {
    const starred = card.dataset.starred === "1";
    post(card, starred ? "unstar" : "star").then(() => {
      card.dataset.starred = starred ? "0" : "1";
      const title = card.querySelector(".card-title");
      const mark = title && title.querySelector(".star");
      if (starred && mark) mark.remove();
      if (!starred && title && !mark) {
        const span = document.createElement("span");
        span.className = "star";
        span.title = "Starred";
        span.textContent = "★";
        title.append(" ", span);
      }
    }).catch(report);
  }

  function toggleRead(card) {
    const unread = card.dataset.state === "unread";
    post(card, unread ? "read" : "unread").then(() => {
      card.dataset.state = unread ? "read" : "unread";
      card.classList.toggle("unread", !unread);
    }).catch(report);
  }

  function report(error) {
    window.alert("Could not change the article: " + error.message);
  }

  function toggleHelp() {
    if (!help) {
      help = document.createElement("div");
      help.className = "keys-help";
      help.setAttribute("role", "dialog");
      help.setAttribute("aria-label", "Keyboard keys");
      const keys = [
        ["j", "next article"], ["k", "previous article"], ["o or Enter", "open it"],
        ["s", "star or unstar it"], ["m", "mark it read or unread"], ["?", "show or hide these keys"],
      ];
      const dl = document.createElement("dl");
      keys.forEach(([key, what]) => {
        const dt = document.createElement("dt");
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        dt.append(kbd);
        const dd = document.createElement("dd");
        dd.textContent = what;
        dl.append(dt, dd);
      });
      help.append(dl);
      document.body.append(help);
      return;
    }
    help.hidden = !help.hidden;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof Element &&
        (target.closest("input, textarea, select, [contenteditable]") || target.isContentEditable)) {
      return;
    }
    const card = current();
    switch (event.key) {
      case "j": select(index + 1); break;
      case "k": select(index < 0 ? 0 : index - 1); break;
      case "o":
      case "Enter": {
        // Enter on a link or a button is that element's
        if (event.key === "Enter" && target instanceof Element && target.closest("a, button, summary")) return;
        const link = card && card.querySelector("a.card-link");
        if (!link) return;
        window.location.href = link.href;
        break;
      }
      case "s": if (!card) return; star(card); break;
      case "m": if (!card) return; toggleRead(card); break;
      case "?": toggleHelp(); break;
      case "Escape": if (help) help.hidden = true; return;
      default: return;
    }
    event.preventDefault();
  });
})();
