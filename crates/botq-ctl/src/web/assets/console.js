// botq console: progressive enhancement only. Every page works without it.
// - "select all" checkboxes toggle the row checkboxes of their form;
// - pages marked data-refresh="N" reload every N seconds while the
//   auto-refresh box is ticked (remembered in this browser).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    const form = document.getElementById(all.dataset.selectAll);
    if (!form) continue;
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll(`input[name="id"][form="${form.id}"], #${form.id} input[name="id"]`)) {
        box.checked = all.checked;
      }
    });
  }
  const page = document.querySelector("[data-refresh]");
  const toggle = document.getElementById("auto-refresh");
  if (page && toggle) {
    toggle.hidden = false;
    toggle.parentElement.hidden = false;
    toggle.checked = localStorage.getItem("botq-auto-refresh") !== "off";
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      if (toggle.checked) timer = setTimeout(() => location.reload(), Number(page.dataset.refresh) * 1000);
    };
    toggle.addEventListener("change", () => {
      localStorage.setItem("botq-auto-refresh", toggle.checked ? "on" : "off");
      arm();
    });
    arm();
  }
});
