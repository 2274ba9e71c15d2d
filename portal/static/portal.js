// Progressive enhancement only: every page works without this file.
// With it, ticking a filter or changing the sort runs the search at once, empty fields stay
// out of the URL, and keyboard focus returns to the control that was changed.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var form = document.getElementById("search");
  if (!form) return;

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
      if (el.id) sessionStorage.setItem("cellfed-focus", el.id);
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });

  var last = sessionStorage.getItem("cellfed-focus");
  if (last) {
    sessionStorage.removeItem("cellfed-focus");
    var target = document.getElementById(last);
    if (target) target.focus();
  }
})();
