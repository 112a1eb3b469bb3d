// Guichet's buyer pages. Served by Guichet with an integrity hash; no inline script anywhere.
// The pages work without it (plain forms); with it: the means of payment switch in place, card
// fields are checked before they leave for the provider (Luhn, expiry, CVV length), and the
// buyer's choices (terms accepted, installment plan) are kept in sessionStorage while the card
// form is at the provider, so that the card-return page can finish the payment at once.
(function () {
  "use strict";

  var KEY = "guichet.pay.";
  var MAX_AGE_MS = 30 * 60 * 1000;

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function remember(key, value) {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage off: the card-return page asks again */ }
  }
  function recall(key) {
    try {
      var raw = sessionStorage.getItem(key);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  all("[data-js-only]").forEach(function (el) { el.hidden = false; });
  all("[data-no-js]").forEach(function (el) { el.hidden = true; });

  // ---- means of payment: one tap shows the chosen panel --------------------------------
  function showPanel(key) {
    all("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-panel") !== key;
    });
    try {
      var url = new URL(window.location.href);
      url.searchParams.set("means", key);
      url.searchParams.delete("error");
      url.searchParams.delete("card_error");
      window.history.replaceState(null, "", url.toString());
    } catch (e) { /* old browser: the URL simply stays */ }
  }
  all("form[data-means-choice]").forEach(function (chooser) {
    chooser.addEventListener("change", function (ev) {
      if (ev.target && ev.target.name === "means") showPanel(ev.target.value);
    });
    chooser.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var checked = chooser.querySelector("input[name=means]:checked");
      if (checked) showPanel(checked.value);
    });
  });

  // ---- field errors, announced next to their field ---------------------------------------
  function setError(input, message) {
    var box = document.getElementById(input.id + "-error");
    if (box) box.textContent = message || "";
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    return message ? input : null;
  }
  function msg(form, name) {
    return form.getAttribute("data-msg-" + name) || "";
  }
  // A field the buyer corrects loses its error.
  function clearOnEdit(ev) {
    var el = ev.target;
    if (el && el.id && el.getAttribute("aria-invalid") === "true") setError(el, "");
  }
  document.addEventListener("input", clearOnEdit);
  document.addEventListener("change", clearOnEdit);

  // ---- cards -------------------------------------------------------------------------
  function digits(value) { return (value || "").replace(/\D/g, ""); }
  function luhn(number) {
    var sum = 0;
    var double = false;
    for (var i = number.length - 1; i >= 0; i -= 1) {
      var d = number.charCodeAt(i) - 48;
      if (double) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
      double = !double;
    }
    return sum % 10 === 0;
  }
  function brandOf(number) {
    if (/^4/.test(number)) return "visa";
    if (/^(5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)/.test(number)) return "mastercard";
    if (/^3[47]/.test(number)) return "amex";
    return "";
  }
  function lengthOk(number, brand) {
    if (brand === "amex") return number.length === 15;
    if (brand === "mastercard") return number.length === 16;
    if (brand === "visa") return number.length === 13 || number.length === 16 || number.length === 19;
    return number.length >= 12 && number.length <= 19;
  }
  function parseExpiry(value) {
    var m = /^\s*(\d{1,2})\s*[\/\-]?\s*(\d{2}|\d{4})\s*$/.exec(value || "");
    if (!m) return null;
    var month = parseInt(m[1], 10);
    var year = parseInt(m[2], 10);
    if (year < 100) year += 2000;
    if (month < 1 || month > 12) return null;
    return { month: month, year: year };
  }
  function expired(exp) {
    var now = new Date();
    return exp.year < now.getFullYear() ||
      (exp.year === now.getFullYear() && exp.month < now.getMonth() + 1);
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // The payment page (not the card-return page), for "try again" after a refusal.
  function rememberPage() {
    if (/^\/pay\/[A-Za-z0-9_-]+$/.test(window.location.pathname)) {
      remember(KEY + "url", window.location.pathname + window.location.search);
    }
  }

  function checkedPlan(form) {
    var plan = form.querySelector("input[data-plan]:checked");
    return plan && /^[0-9a-f-]{36}$/.test(plan.value) ? plan.value : "";
  }

  function checkTerms(form) {
    var terms = form.querySelector("input[data-terms]");
    if (!terms) return null;
    return setError(terms, terms.checked ? "" : msg(form, "terms"));
  }

  function checkCard(form) {
    var bad = [];
    var holder = form.querySelector("input[name=CN]");
    var number = form.querySelector("input[name=CARDNO]");
    var expiry = form.querySelector("input[name=ED]");
    var cvc = form.querySelector("input[name=CVC]");
    var brand = form.getAttribute("data-brand") || "";
    if (holder) {
      bad.push(setError(holder, holder.value.trim() ? "" : msg(form, "required")));
    }
    if (number) {
      var n = digits(number.value);
      brand = brandOf(n);
      var problem = "";
      if (!n) problem = msg(form, "required");
      else if (!lengthOk(n, brand) || !luhn(n)) problem = msg(form, "number");
      bad.push(setError(number, problem));
    }
    if (expiry) {
      var exp = parseExpiry(expiry.value);
      var p = "";
      if (!expiry.value.trim()) p = msg(form, "required");
      else if (!exp || expired(exp)) p = msg(form, "expiry");
      bad.push(setError(expiry, p));
    }
    if (cvc) {
      var c = digits(cvc.value);
      var want = brand === "amex" ? 4 : 3;
      var q = "";
      if (!cvc.value.trim()) q = msg(form, "required");
      else if (c !== cvc.value.trim() || (brand ? c.length !== want : (c.length < 3 || c.length > 4))) q = msg(form, "cvc");
      bad.push(setError(cvc, q));
    }
    bad.push(checkTerms(form));
    return bad.filter(Boolean);
  }

  function busy(form) {
    all("button[type=submit]", form).forEach(function (b) {
      if (b.hasAttribute("form")) return;
      b.disabled = true;
      if (b.getAttribute("data-busy-label")) b.textContent = b.getAttribute("data-busy-label");
    });
    all("[data-busy]", form).forEach(function (el) { el.hidden = false; });
  }

  all("form[data-card-form]").forEach(function (form) {
    form.noValidate = true;
    var save = form.querySelector("input[data-save]");
    var number = form.querySelector("input[name=CARDNO]");
    var expiry = form.querySelector("input[name=ED]");
    var cvc = form.querySelector("input[name=CVC]");
    var brands = form.querySelector("[data-brands]");

    // "Save this card" and installment plans pick which signed hidden fields go with the card
    // (the provider keeps the card only through the form that says so).
    function sync() {
      var plan = checkedPlan(form);
      if (save) {
        if (plan) { save.checked = true; save.disabled = true; } else { save.disabled = false; }
      }
      var keep = !!(save && save.checked);
      all("fieldset[data-fields]", form).forEach(function (fs) {
        fs.disabled = (fs.getAttribute("data-fields") === "save") !== keep;
      });
    }
    form.addEventListener("change", sync);
    sync();

    if (number) {
      number.addEventListener("input", function () {
        var n = digits(number.value).slice(0, 19);
        var brand = brandOf(n);
        if (brands) {
          brands.classList.toggle("known", !!brand);
          all("img[data-brand]", brands).forEach(function (img) {
            img.classList.toggle("on", img.getAttribute("data-brand") === brand);
          });
        }
        if (cvc) cvc.maxLength = brand === "amex" ? 4 : 3;
        if (number.selectionStart === number.value.length) {
          var groups = brand === "amex" ? [4, 6, 5] : [4, 4, 4, 4, 3];
          var out = [];
          var at = 0;
          for (var i = 0; i < groups.length && at < n.length; i += 1) {
            out.push(n.slice(at, at + groups[i]));
            at += groups[i];
          }
          number.value = out.join(" ");
        }
      });
    }
    if (expiry) {
      expiry.addEventListener("input", function (ev) {
        if (ev.inputType && ev.inputType.indexOf("delete") === 0) return;
        if (expiry.selectionStart !== expiry.value.length) return;
        var d = digits(expiry.value).slice(0, 4);
        expiry.value = d.length > 2 || (d.length === 2 && /\d$/.test(expiry.value)) ? d.slice(0, 2) + "/" + d.slice(2) : d;
      });
    }

    form.addEventListener("submit", function (ev) {
      var bad = checkCard(form);
      if (bad.length) {
        ev.preventDefault();
        bad[0].focus();
        return;
      }
      // What the provider receives: digits only, expiry as MM/YY.
      if (number) number.value = digits(number.value);
      if (expiry) {
        var exp = parseExpiry(expiry.value);
        expiry.value = pad(exp.month) + "/" + pad(exp.year % 100);
      }
      remember(KEY + form.getAttribute("data-order"), {
        terms: true,
        plan: checkedPlan(form),
        at: Date.now()
      });
      rememberPage();
      busy(form);
    });
  });

  // Forms that post to Guichet: the terms box, then no double submission.
  all("form[data-pay-form]").forEach(function (form) {
    form.noValidate = true;
    form.addEventListener("submit", function (ev) {
      var bad = checkTerms(form);
      if (bad) {
        ev.preventDefault();
        bad.focus();
        return;
      }
      rememberPage();
      busy(form);
    });
  });

  // The pay button says what is charged now (the first installment with a plan).
  document.addEventListener("change", function (ev) {
    var radio = ev.target;
    if (!radio || !radio.hasAttribute || !radio.hasAttribute("data-pay-label") || !radio.checked) return;
    var form = radio.closest("form[data-card-form], form[data-pay-form]");
    var button = form && form.querySelector("button.primary:not([form])");
    if (button) button.textContent = radio.getAttribute("data-pay-label");
  });

  // 3-D Secure browser data for the payments Guichet sends to the provider.
  all("input[data-browser]").forEach(function (input) {
    input.value = [screen.colorDepth, screen.width, screen.height,
      new Date().getTimezoneOffset()].join("|");
  });

  // ---- back from the provider's card form: finish with the choices kept -------------------
  all("form[data-auto-confirm]").forEach(function (form) {
    var key = KEY + form.getAttribute("data-order");
    var kept = recall(key);
    remember(key, null);
    if (!kept || !kept.terms || !(Date.now() - kept.at < MAX_AGE_MS)) return;
    if (kept.plan && /^[0-9a-f-]{36}$/.test(kept.plan)) {
      var radio = form.querySelector('input[data-plan][value="' + kept.plan + '"]');
      if (!radio) return; // the plan is no longer offered: the buyer chooses again
      radio.checked = true;
    }
    var terms = form.querySelector("input[data-terms]");
    if (terms) terms.checked = true;
    if (form.requestSubmit) form.requestSubmit();
    else { busy(form); form.submit(); }
  });

  // A provider's hosted page or a 3-D Secure step that has to be posted from the browser.
  all("form[data-autopost]").forEach(function (form) { form.submit(); });

  // A refused payment: back to the payment page the buyer came from.
  all("a[data-retry]").forEach(function (link) {
    var url = recall(KEY + "url");
    if (typeof url === "string" && /^\/pay\/[A-Za-z0-9_-]+(\?[A-Za-z0-9_=&%.-]*)?$/.test(url)) {
      link.href = url;
      link.hidden = false;
    }
  });
})();
