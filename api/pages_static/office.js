/* The office: bulk transitions (立案, 交办 with dispatch to a department: 吹哨报到) and the
   A/B posts: "away until", 任命 (POST /grids/{code}/posts) and 结束此岗
   (POST /grids/{code}/posts/{post}/end), a refusal shown next to its form in words. */
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
  /* The API's refusals of a post change, in words the office can act on. */
  function postRefusal(e) {
    const problem = e.problem || {};
    switch (problem.rule) {
      case "post_taken": return "此岗已有人担任：勾选“同时结束现任”后再任命，或先点“结束此岗”。";
      case "other_post": return "此人已担任本网格的" + (problem.other_post || "另一") + "岗：A岗和B岗须由两人担任，请先结束该岗或另选他人。";
      case "staff": return "所选人员不存在、已不在职或不属于本区：请从列表中另选一人。";
      case "post_vacant": return "此岗已经空缺，无需结束：请刷新页面。";
      case "retired": return "该网格已撤销，岗位不能再调整。";
      default: break;
    }
    if (e.status === 401) return "登录已过期：请重新登录后再试。";
    if (e.status === 403) return "只有社区、街道、区级干部和管理员可以调整岗位。";
    if (e.status === 404) return "找不到该网格，或不在您的管辖范围内。";
    if (e.status === 422) return "请先从列表中选择一名人员。";
    return "未能保存（" + (e.status || "网络") + "）：请稍后再试。";
  }
  document.querySelectorAll(".post-admin").forEach((box) => {
    const grid = box.dataset.grid;
    const post = box.dataset.post;
    const form = box.querySelector(".appoint-form");
    const out = form.querySelector(".error");
    const select = form.querySelector("select");
    form.querySelector(".appoint-filter").addEventListener("input", (event) => {
      const wanted = event.target.value.trim();
      let first = null;
      select.querySelectorAll("option[value]:not([value=''])").forEach((o) => {
        o.hidden = Boolean(wanted) && !o.textContent.includes(wanted);
        if (!o.hidden && !first) first = o;
      });
      if (wanted && first) select.value = first.value;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      out.textContent = "";
      select.removeAttribute("aria-invalid");
      if (!select.value) { out.textContent = "请先从列表中选择一名人员。"; select.setAttribute("aria-invalid", "true"); select.focus(); return; }
      const replace = form.querySelector("input[name=replace]");
      const body = { staff_id: Number(select.value), post: post, replace: Boolean(replace && replace.checked) };
      try { await api("POST", "/grids/" + grid + "/posts", body); location.reload(); } catch (e) {
        out.textContent = postRefusal(e);
        select.setAttribute("aria-invalid", "true");
        select.focus();
      }
    });
    const end = box.querySelector(".end-post");
    if (end) end.addEventListener("click", async () => {
      out.textContent = "";
      try { await api("POST", "/grids/" + grid + "/posts/" + post + "/end"); location.reload(); } catch (e) { out.textContent = postRefusal(e); }
    });
  });
})();
