// Measure form: the sub-type select offers only the sub-types of the chosen category. Each sub-type option
// names its category (data-category); the others are hidden and disabled, and a sub-type of another
// category is cleared. Without JavaScript every sub-type is listed under its category's heading and the
// server refuses a pair that does not belong together.
(function () {
  "use strict";

  function follow(subtype, category) {
    var chosen = category.value;
    var options = subtype.querySelectorAll("option[data-category]");
    Array.prototype.forEach.call(options, function (option) {
      var offered = !chosen || option.dataset.category === chosen;
      option.hidden = !offered;
      option.disabled = !offered;
    });
    Array.prototype.forEach.call(subtype.querySelectorAll("optgroup"), function (group) {
      group.hidden = !group.querySelector("option:not([hidden])");
    });
    var selected = subtype.options[subtype.selectedIndex];
    if (selected && selected.disabled) subtype.value = "";
  }

  function start() {
    var selects = document.querySelectorAll("select[data-follows]");
    Array.prototype.forEach.call(selects, function (subtype) {
      var category = document.getElementById(subtype.dataset.follows);
      if (!category) return;
      category.addEventListener("change", function () { follow(subtype, category); });
      follow(subtype, category);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
