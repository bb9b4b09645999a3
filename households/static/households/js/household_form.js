// Household form: a field marked data-shown-with="risk_types=04" (the disaster type) is shown only while the
// checkbox it belongs to is ticked; unticking clears it, so the pair the server refuses cannot be sent by
// accident. Without JavaScript the field is always there and the server explains a wrong pair.
(function () {
  "use strict";

  function follow(field, boxes, wanted) {
    var ticked = Array.prototype.some.call(boxes, function (box) { return box.checked && box.value === wanted; });
    var group = field.closest("[data-field]") || field;
    group.hidden = !ticked;
    if (!ticked) field.value = "";
  }

  function start() {
    var fields = document.querySelectorAll("[data-shown-with]");
    Array.prototype.forEach.call(fields, function (field) {
      var rule = field.dataset.shownWith.split("=");
      var boxes = field.form ? field.form.querySelectorAll('input[name="' + rule[0] + '"]') : [];
      if (!boxes.length) return;
      Array.prototype.forEach.call(boxes, function (box) {
        box.addEventListener("change", function () { follow(field, boxes, rule[1]); });
      });
      follow(field, boxes, rule[1]);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
