/* The office's admin pages: the catalogue, departments and the holiday calendar. Every form
   is sent to the JSON API (POST/PATCH /categories, /departments, POST/DELETE /calendar/days),
   so a page write passes the API's validation, access rule and audit. A refusal is shown next
   to the form in words the person can act on, naming the field at fault. */
"use strict";
(function () {
  const { api, toast } = window.geogrid;
  const FIELDS = {
    code: ["编码", "请填写2–16位数字或字母（部门编码可用下划线）。"],
    name: ["名称", "请填写名称（1–200字，日子的名称最多100字）。"],
    deadline_hours: ["办理期限（小时）", "请填写大于0的整数小时数，如 72。"],
    department_code: ["承办部门", "请从列表中选择一个部门，或选“不指定”。"],
    parent_code: ["所属大类", "请从列表中选择大类，或选“无”。"],
    kind: ["类型", "类型最多32个字符。"],
    phone: ["办公电话", "电话最多32个字符。"],
    date: ["日期", "请选择一个日期。"],
    district: ["适用范围", "请选择本区或全国。"],
  };
  function fieldOf(error) {
    const parts = String(error.field || "").split(".");
    return parts.reverse().find((p) => p in FIELDS) || "";
  }
  function explain(e) {
    const problem = e.problem || {};
    if (e.status === 401) return "登录已过期：请重新登录后再保存。";
    if (e.status === 403) return "只有管理员可以修改类别、部门和节假日；请用管理员账号登录。";
    if (Array.isArray(problem.errors) && problem.errors.length) {
      return problem.errors.map((x) => {
        const f = FIELDS[fieldOf(x)];
        return f ? "「" + f[0] + "」" + f[1] : "填写有误：" + x.message;
      }).join(" ");
    }
    if (e.status === 409) return "这个编码已经存在：请换一个编码，或在下面的列表中修改已有的那一条。";
    if (e.status === 404) return "找不到这一条（可能已被他人删除）：请刷新页面后再试。";
    if (e.status === 422) return "未能保存，请检查填写的内容：" + e.message;
    return "未能保存（" + (e.status || "网络") + "）：请稍后再试；若一再出现，请联系系统管理员。";
  }
  function bodyOf(form) {
    const body = {};
    form.querySelectorAll("input[name], select[name]").forEach((el) => {
      if (el.type === "checkbox") body[el.name] = el.checked;
      else if (el.type === "radio") { if (el.checked) body[el.name] = el.value === "true"; }
      else if (el.dataset.type === "int") body[el.name] = el.value === "" ? null : Number(el.value);
      else if (el.value.trim() === "" && "null" in el.dataset) body[el.name] = null;
      else body[el.name] = el.value.trim();
    });
    if (form.dataset.shape === "calendar") {
      // POST /calendar/days takes a list of days for one district (none: the national calendar)
      return {
        district: body.district,
        days: [{ date: body.date, is_workday: body.is_workday, name: body.name }],
      };
    }
    return body;
  }
  function mark(form, error) {
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    const out = form.querySelector(".error");
    out.textContent = error ? explain(error) : "";
    if (!error) return;
    const problem = error.problem || {};
    const names = (problem.errors || []).map(fieldOf).filter(Boolean);
    if (error.status === 409) names.push("code");
    const bad = names.map((n) => form.querySelector("[name=" + n + "]")).filter(Boolean);
    bad.forEach((el) => el.setAttribute("aria-invalid", "true"));
    if (bad.length) bad[0].focus();
  }
  document.querySelectorAll("form.admin-form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await api(form.dataset.method, form.dataset.action, bodyOf(form));
        mark(form, null);
        if ("reload" in form.dataset) { location.reload(); return; }
        toast("已保存。");
      } catch (e) {
        mark(form, e);
      } finally {
        button.disabled = false;
      }
    });
  });
  document.querySelectorAll("button.remove").forEach((button) => {
    button.addEventListener("click", async () => {
      const query = button.dataset.district ? "?district=" + encodeURIComponent(button.dataset.district) : "";
      try {
        await api("DELETE", "/calendar/days/" + button.dataset.date + query);
        location.reload();
      } catch (e) {
        toast(explain(e));
      }
    });
  });
})();
