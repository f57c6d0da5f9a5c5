/* The queue's buttons: each is a transition the workflow allows from the state
   (POST /issues/{id}/transitions); the note field gives the reason, decision or what was
   done, as the transition requires. Department replies are timeline notes. */
"use strict";
(function () {
  const { api, toast } = window.geogrid;
  const FIELD = { rejected: "note", decided: "decision", resolved: "resolution" };
  async function act(item, button) {
    const id = item.dataset.id;
    const noteEl = item.querySelector(".note, .reply-text");
    const note = noteEl ? noteEl.value.trim() : "";
    try {
      if (button.classList.contains("escalate")) {
        await api("POST", "/issues/" + id + "/escalate", note ? { note: note } : {});
      } else if (button.classList.contains("reply")) {
        const text = note || (button.dataset.kind === "dept_accepted" ? "已签收" : "");
        if (!text) { toast("请填写答复内容。"); return; }
        await api("POST", "/issues/" + id + "/replies", { kind: button.dataset.kind, note: text });
      } else {
        const to = button.dataset.to;
        const body = { to: to };
        const field = FIELD[to];
        if (field) {
          if (!note) { toast("请先填写处理说明。"); noteEl && noteEl.focus(); return; }
          body[field] = note;
        } else if (note) {
          body.note = note;
        }
        await api("POST", "/issues/" + id + "/transitions", body);
      }
      toast("已保存");
      location.reload();
    } catch (e) { toast(e.message); }
  }
  document.querySelectorAll("#queue .issue").forEach((item) => {
    item.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => act(item, b)));
  });
})();
