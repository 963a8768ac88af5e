/* Call billing add-on: small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  function checked(form, name) {
    return form.querySelectorAll('input[type=checkbox][name="' + name + '"]:checked').length;
  }

  // "select all" boxes in list headers
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var form = box.form || document;
      form.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]').forEach(function (b) {
        b.checked = box.checked;
      });
      updateCounts();
    });
  });

  // "all that match, on every page" replaces the ticks of this page
  function everyPage(form) {
    var box = form.querySelector('input[type=checkbox][name="all"]');
    return box && box.checked ? box : null;
  }

  function updateCounts() {
    document.querySelectorAll("[data-selection-count]").forEach(function (el) {
      var form = el.closest("form"), n = checked(form, "n"), all = everyPage(form);
      // the texts come in the page's language from the template (English without it)
      el.textContent = all ? "" : n ? (el.dataset.selected || "{count} selected").replace("{count}", n)
        : el.dataset.none || "Select extensions to recharge or edit them together.";
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches('input[type=checkbox][name="n"], input[type=checkbox][name="all"]')) updateCounts();
  });
  updateCounts();

  // confirmation for bulk and destructive actions; "select at least one" checks
  document.addEventListener("submit", function (e) {
    var form = e.target, button = e.submitter || null;
    if (button && button.hasAttribute("data-no-confirm")) return;
    var need = (button && button.dataset.needSelection) || form.dataset.needSelection;
    if (need && !checked(form, need) && !everyPage(form)) {
      e.preventDefault();
      window.alert((button && button.dataset.needSelectionMessage) || form.dataset.needSelectionMessage || "Select at least one row first.");
      return;
    }
    var message = (button && button.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) e.preventDefault();
  });

  // uploads: say at once when a file is too large (the server refuses it anyway)
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () {
      var max = parseInt(input.dataset.maxBytes, 10), f = input.files && input.files[0];
      var message = input.dataset.tooLarge || "The file is too large (limit {kb} KB).";
      input.setCustomValidity(f && f.size > max ? message.replace("{kb}", Math.round(max / 1024)) : "");
    });
  });

  // extension picker of the rate form: filter box, "all extensions" greys the list
  document.querySelectorAll("[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () {
      var text = input.value.toLowerCase();
      document.querySelectorAll(input.dataset.filter).forEach(function (label) {
        label.hidden = text && label.textContent.toLowerCase().indexOf(text) < 0;
      });
    });
  });
  var all = document.getElementById("all_extensions"), choices = document.getElementById("ext-choices");
  if (all && choices) {
    var sync = function () { if (all.checked) choices.setAttribute("data-disabled", ""); else choices.removeAttribute("data-disabled"); };
    all.addEventListener("change", sync);
    sync();
  }

  // Statistics: each By choice has its own range; dates picked for another would cut
  // its periods, so changing By clears them (the page then shows that choice's range)
  var statBy = document.getElementById("stat-by");
  if (statBy) {
    statBy.addEventListener("change", function () {
      ["stat-from", "stat-to"].forEach(function (id) { document.getElementById(id).value = ""; });
    });
  }

  // a form that reached the box after the session ended: fill in again what was typed,
  // in the form it came from (same action, same hidden fields); the user sends it
  var saved = document.getElementById("saved-form");
  if (saved) {
    var given = {};
    JSON.parse(saved.dataset.values || "[]").forEach(function (pair) {
      (given[pair[0]] = given[pair[0]] || []).push(pair[1]);
    });
    var has = function (name, value) { return (given[name] || []).indexOf(value) >= 0; };
    var form = Array.prototype.filter.call(document.forms, function (f) {
      return f.getAttribute("action") === saved.dataset.action &&
        Array.prototype.every.call(f.querySelectorAll("input[type=hidden]"), function (h) {
          return h.name === "csrf" || !h.name || has(h.name, h.value);
        });
    })[0];
    if (form) {
      var left = {};
      Object.keys(given).forEach(function (name) { left[name] = given[name].slice(); });
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || /^(hidden|password|file|submit|button|reset)$/.test(el.type)) return;
        if (el.type === "checkbox" || el.type === "radio") el.checked = has(el.name, el.value);
        else if (el.multiple) Array.prototype.forEach.call(el.options, function (o) { o.selected = has(el.name, o.value); });
        else if ((left[el.name] || []).length) el.value = left[el.name].shift();
      });
      updateCounts();
    }
  }

  document.querySelectorAll("[data-back]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      if (window.history.length > 1) { e.preventDefault(); window.history.back(); }
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // an auditor's pages (read-only): the controls of every form that would change
  // something are disabled; the box refuses such a POST anyway (web/roles.py)
  if (document.body.classList.contains("read-only")) {
    document.querySelectorAll('main form[method="post"]').forEach(function (form) {
      form.querySelectorAll("button, input, select, textarea").forEach(function (el) {
        el.disabled = true;
      });
    });
  }
})();
