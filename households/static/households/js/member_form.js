// Member form: birth date and sex follow from an 18-character resident ID (GB 11643-1999).
// As the ID number is typed, a valid number fills the birth date and the sex when they are blank or were
// filled by this script before; a value the user typed is never overwritten (the server checks it against
// the number). Without JavaScript the server takes both from the number when they are left blank.
(function () {
  "use strict";
  var WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var CHECK = "10X98765432";

  function parse(value) {
    var number = (value || "").trim().toUpperCase();
    if (!/^\d{17}[\dX]$/.test(number)) return null;
    var sum = 0;
    for (var i = 0; i < 17; i += 1) sum += Number(number[i]) * WEIGHTS[i];
    if (CHECK[sum % 11] !== number[17]) return null;
    var year = Number(number.slice(6, 10));
    var month = Number(number.slice(10, 12));
    var day = Number(number.slice(12, 14));
    var date = new Date(Date.UTC(year, month - 1, day));
    if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
      return null;
    }
    if (date.getTime() > Date.now() || year < 1900) return null;
    return {
      birthDate: number.slice(6, 10) + "-" + number.slice(10, 12) + "-" + number.slice(12, 14),
      sex: Number(number[16]) % 2 === 1 ? "1" : "2",
    };
  }

  function fill(field, value) {
    if (!field) return;
    if (field.value && field.dataset.derived !== field.value) return; // typed by the user: keep it
    field.value = value;
    field.dataset.derived = value;
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function derive(input) {
    var resident = parse(input.value);
    if (!resident) return;
    fill(document.getElementById(input.dataset.deriveBirth), resident.birthDate);
    fill(document.getElementById(input.dataset.deriveSex), resident.sex);
  }

  function start() {
    var inputs = document.querySelectorAll("input[data-derive-birth]");
    Array.prototype.forEach.call(inputs, function (input) {
      input.addEventListener("input", function () { derive(input); });
      input.addEventListener("change", function () { derive(input); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
