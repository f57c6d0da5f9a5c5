/* The office: bulk transitions (立案, 交办 with dispatch to a department: 吹哨报到) and the
   A/B posts' "away until". */
"use strict";
(function () {
  const { api, toast } = window.geogrid;
  document.getElementById("bulk-go").addEventListener("click", async () => {
    const picked = Array.from(document.querySelectorAll("#queue .pick:checked")).map((c) => c.value);
    if (!picked.length) { toast("请先勾选问题。"); return; }
    const to = document.getElementById("bulk-to").value;
    const dept = document.getElementById("dispatch-dept").value;
    const failed = [];
    for (const id of picked) {
      const body = { to: to };
      if (to === "in_progress" && dept) body.department = dept;
      try { await api("POST", "/issues/" + id + "/transitions", body); } catch (e) { failed.push("#" + id + "：" + e.message); }
    }
    if (failed.length) toast(failed.join("；")); else location.reload();
  });
  document.querySelectorAll(".away-form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const until = form.querySelector("input[type=date]").value;
      const body = { away: true, away_until: until ? until + "T23:59:59+08:00" : null };
      try { await api("POST", "/office/staff/" + form.dataset.staff + "/away", body); location.reload(); } catch (e) { toast(e.message); }
    });
    form.querySelector(".back").addEventListener("click", async () => {
      try { await api("POST", "/office/staff/" + form.dataset.staff + "/away", { away: false }); location.reload(); } catch (e) { toast(e.message); }
    });
  });
})();
