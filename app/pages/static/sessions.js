// The Sessions section of /account: list them, end one, end them all.
import * as api from "./api.js";
import { $, element, onClick, say, when } from "./ui.js";

function describe(session) {
  const where = [session.userAgent || "Unknown browser", session.ip].filter(Boolean).join(" · ");
  return `${where}. Signed in ${when(session.createdAt)}, last used ${when(session.lastUsedAt)}.`;
}

function row(session) {
  const item = element("li", { attributes: { "data-session-id": session.id } });
  item.append(element("span", { text: describe(session) }));
  if (session.current) {
    item.append(element("strong", { text: " This device", className: "current" }));
    return item;
  }
  const end = element("button", {
    text: "End",
    className: "secondary",
    attributes: { type: "button", "aria-label": `End the session: ${describe(session)}` },
  });
  onClick(end, $("sessions-error"), async () => {
    await api.call("DELETE", `/me/sessions/${encodeURIComponent(session.id)}`);
    say($("sessions-notice"), "The session has ended.");
    await loadSessions();
  });
  item.append(end);
  return item;
}

/** Fetch the live sessions and list them, this one marked. */
export async function loadSessions() {
  const { sessions } = await api.call("GET", "/me/sessions");
  $("sessions-list").replaceChildren(...sessions.map(row));
}

/** Wire "Sign out everywhere"; `signedOut` runs once every session has ended. */
export function setUpSessions(signedOut) {
  onClick($("end-all"), $("sessions-error"), async () => {
    await api.call("POST", "/auth/logout-all");
    api.forget();
    signedOut();
  });
}
