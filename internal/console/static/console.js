// The console works without this script; it only adds a "choose all"
// box to lists and asks before destructive buttons.
document.addEventListener("change", function (e) {
  var all = e.target.getAttribute && e.target.getAttribute("data-all");
  if (!all) return;
  var boxes = e.target.form.querySelectorAll('input[name="' + all + '"]');
  for (var i = 0; i < boxes.length; i++) boxes[i].checked = e.target.checked;
});
document.addEventListener("click", function (e) {
  var b = e.target;
  if (b.tagName === "BUTTON" && b.classList.contains("danger") && !window.confirm(b.textContent + "?")) {
    e.preventDefault();
  }
});
