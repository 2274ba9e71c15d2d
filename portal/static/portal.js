// Progressive enhancement only: every page works without this file.
// With it, ticking a filter or changing the sort runs the search at once, empty fields stay
// out of the URL, and keyboard focus returns to the control that was changed.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var form = document.getElementById("search");
  if (!form) return;

  // On a small screen the filters start folded, so the results come first.
  var panel = form.querySelector("details.filters-panel");
  if (panel && window.matchMedia("(max-width: 50rem)").matches) panel.open = false;

  form.addEventListener("submit", function () {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && (el.type === "number" || el.type === "search" || el.type === "hidden") && el.value === "") {
        el.disabled = true;
      }
    });
  });

  form.addEventListener("change", function (event) {
    var el = event.target;
    if (el.type === "checkbox" || el.type === "radio" || el.tagName === "SELECT") {
      // Values re-order as counts change, so remember the control by name and value.
      sessionStorage.setItem("cellfed-focus", JSON.stringify([el.name, el.value]));
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });

  var last = sessionStorage.getItem("cellfed-focus");
  if (last) {
    sessionStorage.removeItem("cellfed-focus");
    var named = JSON.parse(last);
    var target = Array.prototype.find.call(form.elements, function (el) {
      return el.name === named[0] && (el.tagName === "SELECT" || el.value === named[1]);
    });
    if (target) target.focus();
  }
})();
