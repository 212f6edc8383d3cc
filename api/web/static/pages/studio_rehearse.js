// The studio's rehearsal step (issue 19 "Rehearse", docs/studio.md): run the draft against simulated
// candidates on a simulated clock before it is deployed (POST /studio/rehearsals). Being built.
import { h } from "../dom.js";

export function drawRehearse(editor, pane) {
  pane.append(h("p", { class: "hint", id: "studio-rehearse" }, ""));
}
